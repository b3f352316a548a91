//! `dmarc-report`: DMARC aggregate reports (RFC 9990) from the verdict
//! lines every MX host already logs.
//!
//! No store of our own: the lines are the input, gathered by whatever log
//! pipeline the site runs (files, `journalctl -o json` of each host), so
//! ten MX hosts report as one. A line seen twice (the same host and queue
//! id, e.g. two exports of one journal) counts once.

use crate::vocab::report_row::DmarcRow;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;

/// Distinct rows kept per policy domain and period, and in all: a flood of
/// unique sources must not take the reporting host's memory (a row is
/// about half a kilobyte; 100,000 of them about 50 MB). A report of
/// 10,000 rows is some 200 KB compressed, within what receivers accept.
pub const MAX_ROWS_PER_DOMAIN: usize = 10_000;
pub const MAX_ROWS: usize = 100_000;

/// One policy domain's period: its rows with their message counts.
#[derive(Debug, Default)]
pub struct Domain {
    pub rows: HashMap<DmarcRow, u64>,
    /// Rows past [`MAX_ROWS_PER_DOMAIN`], counted, not kept.
    pub dropped: u64,
}

/// What the input held for one period.
#[derive(Debug, Default)]
pub struct Aggregate {
    pub domains: BTreeMap<String, Domain>,
    pub lines: u64,
    pub rows: u64,
    pub duplicates: u64,
    /// Distinct rows kept, over all domains.
    pub distinct: usize,
    /// Lines that are not JSON at all.
    pub unreadable: u64,
    /// Hashes of (host, queue id) seen: 8 bytes a message, not two strings,
    /// so a day of a large site stays in tens of megabytes.
    seen: HashSet<u64>,
}

fn seen_key(host: &str, queue_id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (host, queue_id).hash(&mut h);
    h.finish()
}

impl Aggregate {
    /// Adds one log line if it is a verdict of the day (`YYYY-MM-DD`, UTC)
    /// with a report row.
    pub fn add_line(&mut self, line: &str, day: &str) {
        self.lines += 1;
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            self.unreadable += 1;
            return;
        };
        // journalctl -o json: the daemon's line is MESSAGE, the host its own.
        let (v, host) = match v.get("MESSAGE").and_then(Value::as_str) {
            Some(inner) => match serde_json::from_str::<Value>(inner) {
                Ok(inner) => {
                    let host = v.get("_HOSTNAME").and_then(Value::as_str).unwrap_or("");
                    let host = host.to_string();
                    (inner, host)
                }
                Err(_) => return,
            },
            None => (v, String::new()),
        };
        let fields = v.get("fields").unwrap_or(&v);
        if fields.get("message").and_then(Value::as_str) != Some("verdict") {
            return;
        }
        let stamp = v.get("timestamp").and_then(Value::as_str).unwrap_or("");
        if !stamp.starts_with(day) {
            return;
        }
        let Some(row) = fields
            .get("dmarc_report")
            .filter(|r| r.is_object())
            .and_then(|r| DmarcRow::deserialize(r).ok())
        else {
            return;
        };
        let queue_id = fields.get("queue_id").and_then(Value::as_str).unwrap_or("");
        if !queue_id.is_empty() && !self.seen.insert(seen_key(&host, queue_id)) {
            self.duplicates += 1;
            return;
        }
        self.rows += 1;
        let d = self.domains.entry(row.policy_domain.clone()).or_default();
        let full = d.rows.len() >= MAX_ROWS_PER_DOMAIN || self.distinct >= MAX_ROWS;
        match d.rows.get_mut(&row) {
            Some(n) => *n += 1,
            None if full => d.dropped += 1,
            None => {
                d.rows.insert(row, 1);
                self.distinct += 1;
            }
        }
    }

    pub fn read(&mut self, input: impl BufRead, day: &str) -> std::io::Result<()> {
        for line in input.lines() {
            self.add_line(&line?, day);
        }
        Ok(())
    }
}

/// The published record's tags a report states (RFC 9990 `policy_published`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub domain: String,
    pub p: String,
    pub sp: Option<String>,
    pub np: Option<String>,
    pub adkim: String,
    pub aspf: String,
    pub testing: bool,
    pub fo: Option<String>,
    /// `mailto:` destinations of `rua`, with no size suffix.
    pub rua: Vec<String>,
}

impl Published {
    /// Reads a DMARC record's text; `None` when it is not one.
    pub fn parse(domain: &str, text: &str) -> Option<Published> {
        let mut tags = text.split(';').map(str::trim).filter(|t| !t.is_empty());
        let first = tags.next()?;
        if !first.replace(' ', "").eq_ignore_ascii_case("v=DMARC1") {
            return None;
        }
        let mut p = Published {
            domain: domain.to_string(),
            p: "none".into(),
            sp: None,
            np: None,
            adkim: "r".into(),
            aspf: "r".into(),
            testing: false,
            fo: None,
            rua: Vec::new(),
        };
        for tag in tags {
            let Some((k, v)) = tag.split_once('=') else {
                continue;
            };
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            let policy = |v: &str| {
                let v = v.to_ascii_lowercase();
                matches!(v.as_str(), "none" | "quarantine" | "reject").then_some(v)
            };
            match k.as_str() {
                "p" => p.p = policy(v).unwrap_or_else(|| "none".into()),
                "sp" => p.sp = policy(v),
                "np" => p.np = policy(v),
                "adkim" if v.eq_ignore_ascii_case("s") => p.adkim = "s".into(),
                "aspf" if v.eq_ignore_ascii_case("s") => p.aspf = "s".into(),
                "t" => p.testing = v.eq_ignore_ascii_case("y"),
                "fo" => p.fo = Some(v.to_string()),
                "rua" => {
                    p.rua = v
                        .split(',')
                        .filter_map(|u| {
                            let u = u.trim();
                            u.get(..7).filter(|s| s.eq_ignore_ascii_case("mailto:"))?;
                            // `!10m` asks for a size limit: ours is lower anyway.
                            let addr = u[7..].split('!').next().unwrap_or("").trim();
                            addr.contains('@').then(|| addr.to_string())
                        })
                        .collect()
                }
                _ => {}
            }
        }
        Some(p)
    }
}

/// Text safe inside an XML element.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not XML 1.0 text.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// Who reports.
#[derive(Debug, Clone)]
pub struct Reporter {
    pub org_name: String,
    pub email: String,
    /// The receiving domain, in file names (`receiver!…`).
    pub receiver: String,
}

/// The RFC 9990 XML of one domain's period.
pub fn xml_report(
    reporter: &Reporter,
    published: &Published,
    domain: &Domain,
    report_id: &str,
    begin: i64,
    end: i64,
) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = write!(
        s,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">\n\
         <version>1.0</version>\n\
         <report_metadata>\n<org_name>{}</org_name>\n<email>{}</email>\n\
         <report_id>{}</report_id>\n<date_range>\n<begin>{begin}</begin>\n<end>{end}</end>\n</date_range>\n\
         <generator>kinko-milter {}</generator>\n</report_metadata>\n",
        xml(&reporter.org_name),
        xml(&reporter.email),
        xml(report_id),
        env!("CARGO_PKG_VERSION"),
    );
    let _ = write!(
        s,
        "<policy_published>\n<domain>{}</domain>\n<p>{}</p>\n",
        xml(&published.domain),
        published.p
    );
    if let Some(sp) = &published.sp {
        let _ = writeln!(s, "<sp>{sp}</sp>");
    }
    if let Some(np) = &published.np {
        let _ = writeln!(s, "<np>{np}</np>");
    }
    let _ = write!(
        s,
        "<adkim>{}</adkim>\n<aspf>{}</aspf>\n<discovery_method>treewalk</discovery_method>\n<testing>{}</testing>\n",
        published.adkim,
        published.aspf,
        if published.testing { "y" } else { "n" }
    );
    if let Some(fo) = &published.fo {
        let _ = writeln!(s, "<fo>{}</fo>", xml(fo));
    }
    s.push_str("</policy_published>\n");
    // Most messages first, then a fixed order: the same input gives the
    // same bytes.
    let mut rows: Vec<(&DmarcRow, &u64)> = domain.rows.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    for (row, count) in rows {
        let pass = |b: bool| if b { "pass" } else { "fail" };
        let _ = write!(
            s,
            "<record>\n<row>\n<source_ip>{}</source_ip>\n<count>{count}</count>\n<policy_evaluated>\n\
             <disposition>{}</disposition>\n<dkim>{}</dkim>\n<spf>{}</spf>\n",
            xml(&row.source_ip),
            row.disposition,
            pass(row.dkim_aligned),
            pass(row.spf_aligned)
        );
        if let Some(r) = &row.reason {
            let _ = write!(s, "<reason>\n<type>{}</type>\n", xml(&r.kind));
            if !r.comment.is_empty() {
                let _ = writeln!(s, "<comment>{}</comment>", xml(&r.comment));
            }
            s.push_str("</reason>\n");
        }
        s.push_str("</policy_evaluated>\n</row>\n<identifiers>\n");
        if !row.envelope_to.is_empty() {
            let _ = writeln!(s, "<envelope_to>{}</envelope_to>", xml(&row.envelope_to));
        }
        if !row.envelope_from.is_empty() {
            let _ = writeln!(
                s,
                "<envelope_from>{}</envelope_from>",
                xml(&row.envelope_from)
            );
        }
        let _ = write!(
            s,
            "<header_from>{}</header_from>\n</identifiers>\n<auth_results>\n",
            xml(&row.header_from)
        );
        for d in &row.dkim {
            let _ = write!(
                s,
                "<dkim>\n<domain>{}</domain>\n<selector>{}</selector>\n<result>{}</result>\n</dkim>\n",
                xml(&d.domain),
                xml(&d.selector),
                xml(&d.result)
            );
        }
        let _ = write!(
            s,
            "<spf>\n<domain>{}</domain>\n<scope>{}</scope>\n<result>{}</result>\n</spf>\n</auth_results>\n</record>\n",
            xml(&row.spf.domain),
            xml(&row.spf.scope),
            xml(&row.spf.result)
        );
    }
    s.push_str("</feedback>\n");
    s
}

/// RFC 9990's file name: `receiver!policy-domain!begin!end!id.xml.gz`.
pub fn file_name(receiver: &str, domain: &str, begin: i64, end: i64, id: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            .collect()
    };
    format!(
        "{}!{}!{begin}!{end}!{}.xml.gz",
        clean(receiver),
        clean(domain),
        clean(id)
    )
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// The report's message: a short text and the gzipped XML, as RFC 9990
/// §5 asks (Subject naming domain, submitter and report id).
pub fn message(
    reporter: &Reporter,
    to: &[String],
    domain: &str,
    report_id: &str,
    file: &str,
    gz: &[u8],
    date: &str,
) -> Vec<u8> {
    let boundary = format!(
        "kinko-dmarc-{}",
        crate::vocab::header_text::base64(report_id.as_bytes()).replace(['=', '+', '/'], "")
    );
    let body = crate::vocab::header_text::base64(gz);
    let mut wrapped = String::with_capacity(body.len() + body.len() / 76 * 2);
    for chunk in body.as_bytes().chunks(76) {
        wrapped.push_str(std::str::from_utf8(chunk).unwrap_or(""));
        wrapped.push_str("\r\n");
    }
    format!(
        "From: {org} <{from}>\r\nTo: {to}\r\nDate: {date}\r\n\
         Subject: Report Domain: {domain} Submitter: {submitter} Report-ID: <{report_id}>\r\n\
         Message-ID: <{report_id}@{receiver}>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         This is a DMARC aggregate report (RFC 9990) for {domain} from {submitter}.\r\n\r\n\
         --{boundary}\r\nContent-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{file}\"\r\n\r\n{wrapped}--{boundary}--\r\n",
        org = reporter.org_name.replace(['\r', '\n', '<', '>'], ""),
        from = reporter.email,
        to = to.join(", "),
        submitter = reporter.receiver,
        receiver = reporter.receiver,
    )
    .into_bytes()
}

/// Report ids made from the period and domain: a rerun makes the same id,
/// which the state file has already recorded as sent.
pub fn report_id(receiver: &str, domain: &str, day: &str) -> String {
    format!("{day}.{domain}.{receiver}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: &str, qid: &str, ip: &str, domain: &str) -> String {
        serde_json::json!({
            "timestamp": ts,
            "fields": {
                "message": "verdict",
                "queue_id": qid,
                "dmarc_report": {
                    "source_ip": ip, "header_from": domain, "policy_domain": domain,
                    "policy": "none", "disposition": "none",
                    "dkim_aligned": true, "spf_aligned": false,
                    "spf": {"domain": domain, "scope": "mfrom", "result": "fail"},
                    "dkim": [{"domain": domain, "selector": "s", "result": "pass"}]
                }
            }
        })
        .to_string()
    }

    #[test]
    fn rows_are_counted_per_domain_once_per_host_and_queue_id() {
        let mut a = Aggregate::default();
        for (ts, q, ip) in [
            ("2026-12-06T01:00:00Z", "A1", "192.0.2.1"),
            ("2026-12-06T02:00:00Z", "A2", "192.0.2.1"),
            ("2026-12-06T02:00:00Z", "A2", "192.0.2.1"),
            ("2026-12-06T03:00:00Z", "A3", "192.0.2.2"),
            ("2026-12-07T00:00:01Z", "A4", "192.0.2.2"),
        ] {
            a.add_line(&line(ts, q, ip, "bank.example"), "2026-12-06");
        }
        // The same queue id on another host is another message.
        let journal = serde_json::json!({
            "_HOSTNAME": "mx2",
            "MESSAGE": line("2026-12-06T04:00:00Z", "A2", "192.0.2.1", "bank.example"),
        });
        a.add_line(&journal.to_string(), "2026-12-06");
        a.add_line("not json", "2026-12-06");
        assert_eq!((a.rows, a.duplicates, a.unreadable), (4, 1, 1));
        let d = &a.domains["bank.example"];
        let mut counts: Vec<u64> = d.rows.values().copied().collect();
        counts.sort();
        assert_eq!(counts, [1, 3]);
    }

    #[test]
    fn published_records_read_as_rfc_9989_says() {
        let p = Published::parse(
            "bank.example",
            "v=DMARC1; p=reject; pct=0; np=reject; t=y; rua=mailto:d@bank.example!10m, mailto:x@rep.example",
        )
        .unwrap();
        assert_eq!(
            (p.p.as_str(), p.np.as_deref(), p.testing),
            ("reject", Some("reject"), true)
        );
        assert_eq!(p.rua, ["d@bank.example", "x@rep.example"]);
        assert!(Published::parse("x", "v=spf1 -all").is_none());
    }

    #[test]
    fn the_xml_escapes_what_mail_put_in_it() {
        let mut a = Aggregate::default();
        a.add_line(
            &line("2026-12-06T01:00:00Z", "Q", "192.0.2.1", "b<&>.example"),
            "2026-12-06",
        );
        let r = Reporter {
            org_name: "Bank & Co".into(),
            email: "dmarc@mx.example".into(),
            receiver: "mx.example".into(),
        };
        let p = Published::parse("b<&>.example", "v=DMARC1; p=none").unwrap();
        let x = xml_report(&r, &p, &a.domains["b<&>.example"], "id", 0, 86399);
        assert!(x.contains("<org_name>Bank &amp; Co</org_name>"));
        assert!(x.contains("<header_from>b&lt;&amp;&gt;.example</header_from>"));
        assert_eq!(
            file_name(
                "mx.example",
                "bank.example",
                0,
                86399,
                "2026-12-06.bank.example"
            ),
            "mx.example!bank.example!0!86399!2026-12-06.bank.example.xml.gz"
        );
    }
}
