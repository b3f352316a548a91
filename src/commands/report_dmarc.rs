//! `report --dmarc`: the DMARC results of mail whose header From is a
//! protected brand's own or authorised domain, from the `dmarc` and
//! `dmarc_report` fields of the verdict lines. The bank sees how much of
//! its mail passes, what its policy made us do, and who sends as it and
//! fails: the sources to chase before it moves to `p=reject`.

use crate::commands::report::{Csv, Sighting};
use crate::commands::report_group::network;
use crate::policy::data::Brand;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Failing sources printed per domain in the table, most messages first
/// (CSV and JSON have them all).
pub const TOP_SOURCES: usize = 10;
/// Failing networks remembered per domain: a botnet's spread must not
/// take the reporting host's memory. Past it the failures are still
/// counted, and the count of what was not kept is shown.
pub const MAX_SOURCES: usize = 10_000;
/// Client addresses remembered per failing network.
const MAX_HOSTS: usize = 256;

/// One network that sent as the domain and failed DMARC.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Source {
    /// The client's /24 (IPv4) or /48 (IPv6).
    pub network: String,
    pub messages: usize,
    /// The client addresses (at most 256 kept).
    pub hosts: BTreeSet<String>,
    /// `domain result` of SPF (the MAIL FROM or HELO domain), by messages.
    pub spf: BTreeMap<String, usize>,
    /// `domain result` of each DKIM signature, `(unsigned)` for none.
    pub dkim: BTreeMap<String, usize>,
    /// What we did with them.
    pub dispositions: BTreeMap<String, usize>,
}

/// One policy domain.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DomainRow {
    /// Where the DMARC record was found; for mail with no DMARC result,
    /// the protected domain its header From is under.
    pub domain: String,
    /// Whose domain it is: brand ids, `(authorised)` for a third party's.
    pub brands: BTreeSet<String>,
    pub messages: usize,
    pub pass: usize,
    pub fail: usize,
    /// No DMARC result: no record, a DNS error, or not evaluated.
    pub none: usize,
    /// The owner's policy as evaluated (`none`, `quarantine`, `reject`).
    pub policies: BTreeMap<String, usize>,
    /// What we did (`none`, `quarantine`, `reject`).
    pub dispositions: BTreeMap<String, usize>,
    /// Why we did not follow the policy (RFC 9990's reasons).
    pub overrides: BTreeMap<String, usize>,
    /// The networks whose mail failed, most messages first.
    pub failing_sources: Vec<Source>,
    /// Failing messages from networks past [`MAX_SOURCES`].
    pub failing_not_kept: usize,
    #[serde(skip)]
    sources: BTreeMap<String, Source>,
}

/// The view, filled line by line.
#[derive(Debug, Default)]
pub struct DmarcView {
    /// Each protected domain and whose it is: `smbc`, or `smbc
    /// (authorised)` for a third party's domain.
    protected: HashMap<String, BTreeSet<String>>,
    since: Option<String>,
    domains: BTreeMap<String, DomainRow>,
}

/// DMARC's verdict of a line: `pass`, `fail` or `none`.
fn result(s: &Sighting) -> &'static str {
    match s.dmarc.as_str() {
        "pass" => "pass",
        "fail" => "fail",
        // Lines whose writer did not say: the row's alignment does.
        "" => match &s.dmarc_row {
            Some(r) if r.dkim_aligned || r.spf_aligned => "pass",
            Some(_) => "fail",
            None => "none",
        },
        _ => "none",
    }
}

impl DmarcView {
    /// The domains of `brands` (only the brand `only`, when given), lines of
    /// the UTC day `since` or later.
    pub fn new(
        brands: &[Brand],
        only: Option<&str>,
        since: Option<String>,
    ) -> Result<DmarcView, String> {
        if let Some(b) = only {
            if !brands.iter().any(|x| x.id == b) {
                return Err(format!("--brand {b:?}: the policy has no such brand"));
            }
        }
        let mut protected: HashMap<String, BTreeSet<String>> = HashMap::new();
        for b in brands.iter().filter(|b| only.is_none_or(|o| o == b.id)) {
            for d in &b.domains {
                let owners = protected.entry(d.to_ascii_lowercase()).or_default();
                owners.insert(b.id.clone());
            }
            for d in &b.authorized {
                let owners = protected.entry(d.to_ascii_lowercase()).or_default();
                owners.insert(format!("{} (authorised)", b.id));
            }
        }
        Ok(DmarcView {
            protected,
            since,
            domains: BTreeMap::new(),
        })
    }

    /// Takes one verdict line if its header From is a protected domain.
    pub fn add(&mut self, s: &Sighting) {
        if self.since.as_deref().is_some_and(|d| s.day() < d) {
            return;
        }
        let from = match &s.dmarc_row {
            Some(r) if !r.header_from.is_empty() => r.header_from.to_ascii_lowercase(),
            _ => s.from_domain.to_ascii_lowercase(),
        };
        // The From domain, then each parent: the nearest protected one.
        // A lookup per label, not a scan of every brand, per line.
        let mut at = from.as_str();
        let (listed, owners) = loop {
            if let Some(owners) = self.protected.get(at) {
                break (at.to_string(), owners);
            }
            match at.split_once('.') {
                Some((_, parent)) if !parent.is_empty() => at = parent,
                _ => return,
            }
        };
        let key = s
            .dmarc_row
            .as_ref()
            .map(|r| r.policy_domain.to_ascii_lowercase())
            .filter(|d| !d.is_empty())
            .unwrap_or(listed);
        let d = self
            .domains
            .entry(key.clone())
            .or_insert_with(|| DomainRow {
                domain: key,
                ..Default::default()
            });
        d.brands.extend(owners.iter().cloned());
        d.messages += 1;
        let verdict = result(s);
        match verdict {
            "pass" => d.pass += 1,
            "fail" => d.fail += 1,
            _ => d.none += 1,
        }
        if let Some(r) = &s.dmarc_row {
            *d.policies.entry(r.policy.clone()).or_default() += 1;
            *d.dispositions.entry(r.disposition.clone()).or_default() += 1;
            if let Some(reason) = &r.reason {
                *d.overrides.entry(reason.kind.clone()).or_default() += 1;
            }
        }
        if verdict != "fail" {
            return;
        }
        let net = network(&s.client_ip);
        let room = d.sources.len() < MAX_SOURCES;
        let src = match d.sources.get_mut(&net) {
            Some(src) => src,
            None if room => d.sources.entry(net.clone()).or_insert_with(|| Source {
                network: net,
                ..Default::default()
            }),
            None => {
                d.failing_not_kept += 1;
                return;
            }
        };
        src.messages += 1;
        if src.hosts.len() < MAX_HOSTS && !s.client_ip.is_empty() {
            src.hosts.insert(s.client_ip.clone());
        }
        match &s.dmarc_row {
            Some(r) => {
                let spf = format!("{} {}", or_dash(&r.spf.domain), r.spf.result);
                *src.spf.entry(spf).or_default() += 1;
                if r.dkim.is_empty() {
                    *src.dkim.entry("(unsigned)".into()).or_default() += 1;
                }
                for k in &r.dkim {
                    let dkim = format!("{} {}", or_dash(&k.domain), k.result);
                    *src.dkim.entry(dkim).or_default() += 1;
                }
                *src.dispositions.entry(r.disposition.clone()).or_default() += 1;
            }
            None => {
                *src.spf.entry("(not recorded)".into()).or_default() += 1;
                *src.dkim.entry("(not recorded)".into()).or_default() += 1;
            }
        }
    }

    /// The domains, in name order, each one's failing sources most
    /// messages first.
    pub fn rows(self) -> Vec<DomainRow> {
        let mut out: Vec<DomainRow> = self.domains.into_values().collect();
        for d in &mut out {
            let mut sources: Vec<Source> = std::mem::take(&mut d.sources).into_values().collect();
            sources.sort_by_key(|s| std::cmp::Reverse(s.messages));
            d.failing_sources = sources;
        }
        out
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() {
        "-"
    } else {
        s
    }
}

/// `key=count …`; empty for none (a CSV cell `-` would read as a formula).
fn counted(m: &BTreeMap<String, usize>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, n)| format!("{k}={n}")).collect();
    parts.join(" ")
}

/// [`counted`] for the table, `-` for none.
fn shown(m: &BTreeMap<String, usize>) -> String {
    if m.is_empty() {
        "-".into()
    } else {
        counted(m)
    }
}

/// The table: one block per domain, its failing sources beneath.
pub fn table(rows: &[DomainRow], policy: &str, verdicts: usize) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if rows.is_empty() {
        let _ = writeln!(
            s,
            "no mail from the protected brands' domains ({policy}) in {verdicts} verdict line(s)"
        );
        return s;
    }
    let _ = writeln!(
        s,
        "DMARC of mail from the protected brands' domains ({policy})"
    );
    for d in rows {
        let brands: Vec<&str> = d.brands.iter().map(String::as_str).collect();
        let _ = writeln!(s, "\n{}  ({})", d.domain, brands.join(", "));
        let _ = writeln!(
            s,
            "    {} message(s): {} pass, {} fail, {} none",
            d.messages, d.pass, d.fail, d.none
        );
        let _ = writeln!(
            s,
            "    policy evaluated: {}   disposition applied: {}   overrides: {}",
            shown(&d.policies),
            shown(&d.dispositions),
            shown(&d.overrides)
        );
        if d.failing_sources.is_empty() {
            continue;
        }
        let _ = writeln!(s, "    failed DMARC, by network:");
        for src in d.failing_sources.iter().take(TOP_SOURCES) {
            let hosts: Vec<&str> = src.hosts.iter().take(5).map(String::as_str).collect();
            let more = if src.hosts.len() > 5 { " …" } else { "" };
            let _ = writeln!(
                s,
                "      {}  {} message(s) from {} host(s): {}{more}",
                src.network,
                src.messages,
                src.hosts.len(),
                hosts.join(" ")
            );
            let _ = writeln!(
                s,
                "          spf: {}   dkim: {}   disposition: {}",
                shown(&src.spf),
                shown(&src.dkim),
                shown(&src.dispositions)
            );
        }
        let rest = d.failing_sources.len().saturating_sub(TOP_SOURCES);
        if rest > 0 {
            let _ = writeln!(
                s,
                "      … and {rest} more network(s) (--format csv lists them)"
            );
        }
        if d.failing_not_kept > 0 {
            let _ = writeln!(
                s,
                "      {} failing message(s) from networks past the bound of {MAX_SOURCES}",
                d.failing_not_kept
            );
        }
    }
    s
}

/// One CSV row per domain and failing network; a domain without failures
/// has one row with the network cells empty, so every domain is listed.
pub fn csv(rows: &[DomainRow]) -> Result<String, String> {
    let mut w = Csv::default();
    w.row([
        "domain",
        "brands",
        "messages",
        "pass",
        "fail",
        "none",
        "policies",
        "dispositions",
        "overrides",
        "failing_network",
        "failing_messages",
        "failing_hosts",
        "spf",
        "dkim",
        "failing_dispositions",
    ])?;
    for d in rows {
        let head = [
            d.domain.clone(),
            d.brands.iter().cloned().collect::<Vec<_>>().join(" "),
            d.messages.to_string(),
            d.pass.to_string(),
            d.fail.to_string(),
            d.none.to_string(),
            counted(&d.policies),
            counted(&d.dispositions),
            counted(&d.overrides),
        ];
        if d.failing_sources.is_empty() {
            w.row(
                head.iter()
                    .cloned()
                    .chain(std::iter::repeat_n(String::new(), 6)),
            )?;
        }
        for src in &d.failing_sources {
            let tail = [
                src.network.clone(),
                src.messages.to_string(),
                src.hosts.iter().cloned().collect::<Vec<_>>().join(" "),
                counted(&src.spf),
                counted(&src.dkim),
                counted(&src.dispositions),
            ];
            w.row(head.iter().cloned().chain(tail))?;
        }
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::report::{classify, Line};

    fn brand() -> Brand {
        Brand {
            id: "kinko".into(),
            names: vec!["Kinko".into()],
            domains: vec!["kinko-bank.example".into()],
            authorized: vec!["mailer.example".into()],
            action: None,
            spoof_action: None,
            banner: None,
        }
    }

    fn sighting(line: &str) -> Sighting {
        match classify(line) {
            Line::Verdict(s) => *s,
            other => panic!("not a verdict line: {other:?}"),
        }
    }

    /// The bank's own mail (pass), a spoof from an outside network (fail,
    /// rejected), the bank's mail forwarded with its signature intact
    /// (SPF fails at the forwarder, DKIM passes: DMARC passes), mail from
    /// an unrelated domain (not in the view), and an older line of a day
    /// before `--since`.
    const LINES: &str = concat!(
        r#"{"timestamp":"2026-12-07T09:00:00Z","fields":{"message":"verdict","client_ip":"192.0.2.10","from_domain":"kinko-bank.example","action":"accept","dmarc":"pass","dmarc_report":{"source_ip":"192.0.2.10","header_from":"kinko-bank.example","policy_domain":"kinko-bank.example","policy":"reject","disposition":"none","dkim_aligned":true,"spf_aligned":true,"spf":{"domain":"kinko-bank.example","scope":"mfrom","result":"pass"},"dkim":[{"domain":"kinko-bank.example","selector":"s1","result":"pass"}]}}}"#,
        "\n",
        r#"{"timestamp":"2026-12-07T10:00:00Z","fields":{"message":"verdict","client_ip":"203.0.113.66","from_domain":"kinko-bank.example","action":"reject","policy_action":"reject","findings":["dmarc-reject"],"brands":["kinko"],"dmarc":"fail","dmarc_report":{"source_ip":"203.0.113.66","header_from":"kinko-bank.example","envelope_from":"evil.example","policy_domain":"kinko-bank.example","policy":"reject","disposition":"reject","dkim_aligned":false,"spf_aligned":false,"spf":{"domain":"evil.example","scope":"mfrom","result":"pass"},"dkim":[]}}}"#,
        "\n",
        r#"{"timestamp":"2026-12-07T11:00:00Z","fields":{"message":"verdict","client_ip":"198.51.100.5","from_domain":"kinko-bank.example","action":"accept","dmarc":"pass","dmarc_report":{"source_ip":"198.51.100.5","header_from":"kinko-bank.example","envelope_from":"kinko-bank.example","policy_domain":"kinko-bank.example","policy":"reject","disposition":"none","dkim_aligned":true,"spf_aligned":false,"spf":{"domain":"kinko-bank.example","scope":"mfrom","result":"fail"},"dkim":[{"domain":"kinko-bank.example","selector":"s1","result":"pass"}]}}}"#,
        "\n",
        r#"{"timestamp":"2026-12-07T12:00:00Z","fields":{"message":"verdict","client_ip":"192.0.2.99","from_domain":"shop.example","action":"accept","dmarc":"pass","dmarc_report":{"source_ip":"192.0.2.99","header_from":"shop.example","policy_domain":"shop.example","policy":"none","disposition":"none","dkim_aligned":true,"spf_aligned":true,"spf":{"domain":"shop.example","scope":"mfrom","result":"pass"},"dkim":[]}}}"#,
        "\n",
        r#"{"timestamp":"2026-12-01T12:00:00Z","fields":{"message":"verdict","client_ip":"203.0.113.1","from_domain":"kinko-bank.example","action":"reject","dmarc":"fail"}}"#,
        "\n",
        "2026-12-07T13:00:00.1Z  INFO kinko_milter::daemon::session: verdict client_ip=203.0.113.70 from_domain=\"news.mailer.example\" action=\"accept\" dmarc=\"none\" dmarc_report=\"\"\n",
    );

    fn view(only: Option<&str>) -> Vec<DomainRow> {
        let mut v = DmarcView::new(&[brand()], only, Some("2026-12-02".into())).unwrap();
        for line in LINES.lines() {
            v.add(&sighting(line));
        }
        v.rows()
    }

    #[test]
    fn pass_fail_and_forwarded_mail_are_counted_per_protected_domain() {
        let rows = view(None);
        let domains: Vec<&str> = rows.iter().map(|d| d.domain.as_str()).collect();
        assert_eq!(domains, ["kinko-bank.example", "mailer.example"]);
        let bank = &rows[0];
        assert_eq!(
            (bank.messages, bank.pass, bank.fail, bank.none),
            (3, 2, 1, 0)
        );
        assert_eq!(counted(&bank.policies), "reject=3");
        assert_eq!(counted(&bank.dispositions), "none=2 reject=1");
        // Only the outside network failed; the forwarder's mail passed on
        // its DKIM signature and is no failing source.
        assert_eq!(bank.failing_sources.len(), 1);
        let src = &bank.failing_sources[0];
        assert_eq!(src.network, "203.0.113.0/24");
        assert_eq!(src.hosts.iter().collect::<Vec<_>>(), ["203.0.113.66"]);
        assert_eq!(counted(&src.spf), "evil.example pass=1");
        assert_eq!(counted(&src.dkim), "(unsigned)=1");
        // The text line of the authorised sender's subdomain, no DMARC result.
        let mailer = &rows[1];
        assert_eq!(
            mailer.brands.iter().collect::<Vec<_>>(),
            ["kinko (authorised)"]
        );
        assert_eq!((mailer.messages, mailer.none), (1, 1));

        let t = table(&rows, "policy test", 6);
        assert!(t.contains("3 message(s): 2 pass, 1 fail, 0 none"), "{t}");
        assert!(
            t.contains("203.0.113.0/24  1 message(s) from 1 host(s): 203.0.113.66"),
            "{t}"
        );
        let c = csv(&rows).unwrap();
        assert_eq!(c.lines().count(), 3, "{c}");
        assert!(
            c.contains("kinko-bank.example,kinko,3,2,1,0,reject=3,none=2 reject=1,,203.0.113.0/24,1,203.0.113.66,evil.example pass=1,(unsigned)=1,reject=1"),
            "{c}"
        );
    }

    #[test]
    fn brand_and_since_pick_the_lines() {
        // Without --since the December 1st spoof counts too.
        let mut v = DmarcView::new(&[brand()], Some("kinko"), None).unwrap();
        for line in LINES.lines() {
            v.add(&sighting(line));
        }
        let rows = v.rows();
        assert_eq!((rows[0].messages, rows[0].fail), (4, 2));
        assert_eq!(rows[0].failing_sources[0].messages, 2);
        assert!(DmarcView::new(&[brand()], Some("other"), None).is_err());
        assert!(table(&[], "p", 0).starts_with("no mail from the protected"));
    }
}
