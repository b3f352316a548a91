//! Indicators of flagged mail for the security team's report and the
//! takedown export: the lookalike sender domain and the hosts and URLs the
//! mail links to off the brands' own sites.
//!
//! They go into the `verdict` log line, so nothing here may carry a
//! recipient: URLs lose user info, query and fragment (phishing links often
//! carry the victim's address there), and a path naming an address is cut
//! to `/`.

use crate::analysis::Analysis;
use crate::vocab::findings::FindingKind;
pub use crate::vocab::sanitize::shareable_url;
use serde::Serialize;

/// At most this many URLs and hosts per message: a log line stays bounded.
pub const MAX_PER_MESSAGE: usize = 8;
/// At most this many link hosts of any judged mail, flagged or not: enough
/// to answer "who received this URL", bounded for the log line.
pub const MAX_LINK_HOSTS: usize = 20;
pub use crate::vocab::sanitize::MAX_URL_CHARS;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Indicators {
    pub lookalike_domains: Vec<String>,
    pub url_hosts: Vec<String>,
    pub urls: Vec<String>,
    /// Each indicator with the finding that points at it: what the export
    /// reads. At most [`MAX_PER_MESSAGE`] sender and as many link ones.
    pub entries: Vec<Indicator>,
}

/// One indicator and its evidence: `kind` is the finding that points at
/// `value`, `on` where it was seen (`header-from`, `envelope-from`,
/// `reply-to`, `sender`, `dkim-d` for a sender domain; `link`, `qr`,
/// `form` for a link).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Indicator {
    pub kind: FindingKind,
    pub value: String,
    pub on: Vec<&'static str>,
    pub confidence: Confidence,
}

/// How sure a takedown request can be of an indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// Points at the brand by construction or by someone's list: a
    /// homograph, typo or TLD swap of a protected domain, a link host that
    /// imitates one, a feed hit.
    High,
    /// A real sign that needs a person's look: a brand name combined into a
    /// domain, a credential page, a bare IP, a form target, in mail that
    /// claims a brand.
    Medium,
}

impl Confidence {
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::High => "high",
            Confidence::Medium => "medium",
        }
    }
}

fn confidence(kind: FindingKind) -> Confidence {
    use FindingKind::*;
    match kind {
        Homograph | Typo | TldSwap | LinkLookalike | LinkFeed => Confidence::High,
        _ => Confidence::Medium,
    }
}

/// Sender findings that make a sender-side domain itself a lookalike.
fn lookalike_sender(kind: FindingKind) -> bool {
    use FindingKind::*;
    matches!(kind, Homograph | Typo | TldSwap | Combo | Subdomain)
}

/// Link findings that judge the link itself (its host imitates a brand, it
/// opens a credential page, it is a bare IP, a feed lists it, a form sends
/// to it): only links these name are indicators. A link that merely sits in
/// flagged mail (the list footer, the brand's real site, a newsletter's
/// click tracker) is not, or a takedown request would name innocent sites.
fn pointing_link(kind: FindingKind) -> bool {
    use FindingKind::*;
    matches!(
        kind,
        LinkLookalike | LinkCredentialPath | LinkIpHost | LinkFeed | FormExternalAction
    )
}

/// Mailing-list furniture that a list adds to every message it relays,
/// phishing or not.
fn list_footer(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["/listinfo/", "/mailman/", "unsubscribe", "/options/"]
        .iter()
        .any(|p| lower.contains(p))
}

/// The examples of `evidence` (`what: EXAMPLE, EXAMPLE (+n more)`).
fn examples(evidence: &str) -> impl Iterator<Item = &str> {
    let examples = evidence.split_once(": ").map_or(evidence, |(_, e)| e);
    examples
        .split(", ")
        .map(|e| e.trim_start_matches(|c: char| c.is_whitespace()))
}

/// The host an example starts with.
fn example_host(e: &str) -> &str {
    e.split([' ', '/', '~']).next().unwrap_or("")
}

/// Whether `evidence` (`what: EXAMPLE, EXAMPLE (+n more)`, each example
/// starting with the host) names `host`.
fn names_host(evidence: &str, host: &str) -> bool {
    examples(evidence).any(|e| {
        let in_url = e.match_indices("://").any(|(at, _)| {
            let rest = &e[at + 3..];
            rest.get(..host.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(host))
                && rest[host.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| matches!(c, '/' | ':' | ' ' | '?' | '#'))
        });
        example_host(e).eq_ignore_ascii_case(host) || in_url
    })
}

/// Whether an example of `evidence` naming `host` was read from a QR code.
fn from_qr(evidence: &str, host: &str) -> bool {
    examples(evidence)
        .any(|e| e.contains("(QR code in ") && example_host(e).eq_ignore_ascii_case(host))
}

/// `d` as a URL's host (lower-case, IDNA A-labels), if it is a host name.
fn as_host(d: &str) -> Option<String> {
    let u = url::Url::parse(&format!("http://{d}/")).ok()?;
    let host = u.host_str()?;
    (host.eq_ignore_ascii_case(d.trim_end_matches('.')) || !d.is_ascii())
        .then(|| host.to_string())
        .filter(|h| crate::vocab::domain::is_plausible_host(h))
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if list.len() < MAX_PER_MESSAGE && !list.contains(&item) {
        list.push(item);
    }
}

/// The indicators of one message; the caller decides that it is flagged.
/// `own` tells a protected brand's own domains and the parties it
/// authorised (its family): never an indicator, whatever links to them.
pub fn of(analysis: &Analysis, own: &dyn Fn(&str) -> bool) -> Indicators {
    let mut out = Indicators::default();
    let mut senders = 0;
    for f in &analysis.findings {
        if !lookalike_sender(f.kind) || senders >= MAX_PER_MESSAGE {
            continue;
        }
        // The domain the finding was raised on (MAIL FROM or Reply-To may
        // be the lookalike while the header From is the brand's own). A
        // finding without one (written by hand, older code) is not guessed
        // at: the From domain may be the brand's.
        let Some(d) = f.domain.as_ref() else {
            continue;
        };
        // A takedown list and a feed take host names only: an address's
        // domain can be anything (`pedido%correiosbr.net` was one).
        let Some(d) = as_host(d) else {
            continue;
        };
        if own(&d) {
            continue;
        }
        push_unique(&mut out.lookalike_domains, d.clone());
        senders += 1;
        out.entries.push(Indicator {
            kind: f.kind,
            value: d,
            on: f.on.clone(),
            confidence: confidence(f.kind),
        });
    }
    // Mail that names no brand has no impersonation to report, except what
    // a feed already lists.
    let names_brand = analysis.findings.iter().any(|f| f.brand.is_some());
    let pointing: Vec<&crate::vocab::findings::Finding> = analysis
        .findings
        .iter()
        .filter(|f| pointing_link(f.kind) && (names_brand || f.kind == FindingKind::LinkFeed))
        .collect();
    let mut links = 0;
    for link in &analysis.offsite {
        // The strongest finding that names this link, in order of
        // confidence: one row per URL.
        let mut naming: Vec<&&crate::vocab::findings::Finding> = pointing
            .iter()
            .filter(|f| names_host(&f.evidence, &link.host) || f.evidence.contains(&link.url))
            .collect();
        naming.sort_by_key(|f| confidence(f.kind));
        let Some(f) = naming.first() else {
            continue;
        };
        if own(&link.host) {
            continue;
        }
        let Some(url) = shareable_url(&link.url) else {
            continue;
        };
        if list_footer(&url) {
            continue;
        }
        let host = crate::vocab::sanitize::one_line(&link.host, 253);
        push_unique(&mut out.url_hosts, host.clone());
        if out.urls.contains(&url) || links >= MAX_PER_MESSAGE {
            continue;
        }
        out.urls.push(url.clone());
        links += 1;
        // A host that imitates a brand or a feed lists is the phishing
        // site whole; otherwise the page the mail opens is.
        let value = if matches!(f.kind, FindingKind::LinkLookalike) {
            format!("http://{host}")
        } else {
            url
        };
        let on = if from_qr(&f.evidence, &link.host) {
            "qr"
        } else {
            "link"
        };
        out.entries.push(Indicator {
            kind: f.kind,
            value,
            on: vec![on],
            confidence: confidence(f.kind),
        });
    }
    // A form's target is not a link: its host is the example itself.
    for f in pointing
        .iter()
        .filter(|f| f.kind == FindingKind::FormExternalAction)
    {
        for e in examples(&f.evidence) {
            let host = example_host(e).to_ascii_lowercase();
            if links >= MAX_PER_MESSAGE
                || !crate::vocab::domain::is_plausible_host(&host)
                || own(&host)
            {
                continue;
            }
            let value = format!("http://{host}");
            if out.entries.iter().any(|i| i.value == value) {
                continue;
            }
            links += 1;
            out.entries.push(Indicator {
                kind: f.kind,
                value,
                on: vec!["form"],
                confidence: confidence(f.kind),
            });
        }
    }
    out
}

/// The hosts off the brands' sites that any judged message links to, at
/// most [`MAX_LINK_HOSTS`], for the verdict line of every message: which
/// customers received a URL is a question about delivered mail too. Hosts
/// only: a path or query may name the recipient.
pub fn link_hosts(analysis: &Analysis) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for link in &analysis.offsite {
        if out.len() >= MAX_LINK_HOSTS {
            break;
        }
        let host = crate::vocab::sanitize::one_line(&link.host, 253);
        if !out.contains(&host) {
            out.push(host);
        }
    }
    out
}

/// Free text (a finding's evidence) with every URL in it reduced as
/// [`shareable_url`] does, for log lines: evidence may quote a link whose
/// query or path names the recipient. A URL that does not parse becomes
/// `(url)`.
pub fn reduce_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = url_start(rest) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let len = tail
            .find(|c: char| c.is_whitespace() || "\"'<>".contains(c))
            .unwrap_or(tail.len());
        // Punctuation that closes the sentence around the URL stays text.
        let url = tail[..len].trim_end_matches([',', ';', ')', '.']);
        out.push_str(shareable_url(url).as_deref().unwrap_or("(url)"));
        rest = &tail[url.len()..];
    }
    out.push_str(rest);
    out
}

/// Byte offset of the next `http://` or `https://`, in any case.
fn url_start(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    ["http://", "https://"]
        .iter()
        .filter_map(|scheme| lower.find(scheme))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Offsite;
    use crate::vocab::findings::Finding;

    fn offsite(host: &str, url: &str) -> Offsite {
        Offsite {
            host: host.into(),
            url: url.into(),
        }
    }

    /// Issue #22 items 1 and 2: the lookalike is the domain the finding was
    /// raised on, and only links a finding judged are exported.
    #[test]
    fn indicators_are_what_findings_point_at() {
        let analysis = Analysis {
            findings: vec![
                Finding::new(
                    FindingKind::TldSwap,
                    "MAIL FROM domain smbc.co.com imitates smbc.co.jp (brand smbc): tld",
                )
                .with_brand("smbc")
                .with_domain_on("smbc.co.com", vec!["envelope-from"]),
                Finding::new(
                    FindingKind::LinkCredentialPath,
                    "link to a credential page: smbc-login.example (login)",
                ),
                Finding::new(
                    FindingKind::LinkHosting,
                    "link to a free hosting or form service: tracker.example",
                ),
            ],
            from_domain: Some("smbc.co.jp".into()),
            offsite: vec![
                offsite(
                    "smbc-login.example",
                    "https://smbc-login.example/login?u=a@b.jp",
                ),
                offsite("lists.example", "https://lists.example/lists/listinfo/x"),
                offsite("tracker.example", "https://tracker.example/c/1"),
                offsite("www.smbc-group.example", "https://www.smbc-group.example/"),
            ],
            ..Default::default()
        };
        let ind = of(&analysis, &|_| false);
        assert_eq!(ind.lookalike_domains, ["smbc.co.com"]);
        assert_eq!(ind.urls, ["https://smbc-login.example/login"]);
        assert_eq!(ind.url_hosts, ["smbc-login.example"]);
        let rows: Vec<(&str, &str, &[&str], &str)> = ind
            .entries
            .iter()
            .map(|i| {
                (
                    i.kind.as_str(),
                    i.value.as_str(),
                    &i.on[..],
                    i.confidence.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("tld-swap", "smbc.co.com", &["envelope-from"][..], "high"),
                (
                    "link-credential-path",
                    "https://smbc-login.example/login",
                    &["link"][..],
                    "medium"
                ),
            ]
        );
        assert_eq!(
            link_hosts(&analysis),
            [
                "smbc-login.example",
                "lists.example",
                "tracker.example",
                "www.smbc-group.example"
            ]
        );
    }

    /// The brand's own sites and its authorised parties are never reported,
    /// whatever finding names them; a QR code's target says so.
    #[test]
    fn the_brands_family_is_never_an_indicator_and_qr_targets_are_marked() {
        let analysis = Analysis {
            findings: vec![
                Finding::new(FindingKind::DisplayName, "claims smbc").with_brand("smbc"),
                Finding::new(
                    FindingKind::LinkCredentialPath,
                    "link to a credential page: www.smbc-card.example (login), qr-bad.example (login) (QR code in image.png: https://qr-bad.example/login)",
                ),
                Finding::new(FindingKind::LinkLookalike, "link host imitates a protected domain: smbc-card.example.evil ~ smbc-card.example (combo)")
                    .with_brand("smbc"),
                Finding::new(FindingKind::Combo, "no domain recorded").with_brand("smbc"),
                Finding::new(FindingKind::FormExternalAction, "form submits to an external host: collect.example"),
            ],
            from_domain: Some("smbc.co.jp".into()),
            offsite: vec![
                offsite("www.smbc-card.example", "https://www.smbc-card.example/login"),
                offsite("qr-bad.example", "https://qr-bad.example/login"),
                offsite("smbc-card.example.evil", "https://smbc-card.example.evil/a"),
            ],
            ..Default::default()
        };
        let ind = of(&analysis, &|h| h.ends_with("smbc-card.example"));
        let rows: Vec<(&str, &str, &str)> = ind
            .entries
            .iter()
            .map(|i| (i.kind.as_str(), i.value.as_str(), i.on[0]))
            .collect();
        assert_eq!(
            rows,
            [
                ("link-credential-path", "https://qr-bad.example/login", "qr"),
                ("link-lookalike", "http://smbc-card.example.evil", "link"),
                ("form-external-action", "http://collect.example", "form"),
            ]
        );
        // A lookalike finding with no domain names none: the From domain
        // may be the brand's own.
        assert!(ind.lookalike_domains.is_empty());
        assert_eq!(as_host("Smbc.CO.com"), Some("smbc.co.com".into()));
        assert_eq!(as_host("pedido%correiosbr.net"), None);
        assert_eq!(as_host("a b.example"), None);
        assert_eq!(as_host("x.example/path"), None);
    }

    #[test]
    fn mail_naming_no_brand_exports_only_feed_hits_and_never_list_footers() {
        let analysis = Analysis {
            findings: vec![
                Finding::new(
                    FindingKind::LinkCredentialPath,
                    "link to a credential page: shop.example (login), lists.example (login)",
                ),
                Finding::new(
                    FindingKind::LinkFeed,
                    "link listed in a phishing feed: https://known-bad.example/x",
                ),
            ],
            offsite: vec![
                offsite("shop.example", "https://shop.example/login"),
                offsite("known-bad.example", "https://known-bad.example/x"),
            ],
            ..Default::default()
        };
        assert_eq!(
            of(&analysis, &|_| false).urls,
            ["https://known-bad.example/x"]
        );
        assert!(list_footer("https://lists.example/mailman/options/x"));
        assert!(names_host(
            "a: x.example (login), y.example ~ z (tld)",
            "y.example"
        ));
        assert!(!names_host("a: x.example.evil (login)", "x.example"));
        assert!(!names_host("feed: https://x.example.evil/", "x.example"));
    }

    #[test]
    fn evidence_keeps_its_words_and_loses_what_urls_say_of_the_recipient() {
        assert_eq!(
            reduce_urls("link listed in a phishing feed: HTTPS://evil.example/l?u=alice@bank.jp, http://x.example/a#b (+1 more)"),
            "link listed in a phishing feed: https://evil.example/l, http://x.example/a (+1 more)"
        );
        assert_eq!(
            reduce_urls("shown \"https://alice@bank.jp@evil.example/\" -> evil.example"),
            "shown \"https://evil.example/\" -> evil.example"
        );
        assert_eq!(reduce_urls("no link here"), "no link here");
        assert_eq!(reduce_urls("broken https:// here"), "broken (url) here");
    }
}
