//! `kinko-milter report`: what attacks each brand, from the `verdict` lines
//! the daemon already writes. No store of our own: the lines of any number
//! of hosts (files, standard input, a journald JSON export, what Loki or
//! Elasticsearch hands back) merge into one report.
//!
//! This file reads one line into a [`Sighting`]; `report_group` groups
//! them (brands, campaigns, the export); `report_cli` prints.

use crate::vocab::report_row::DmarcRow;
use serde::Deserialize;
use serde_json::Value;

/// One indicator as the verdict line carries it (see
/// `verdict::indicators::Indicator`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Indicator {
    pub kind: String,
    pub value: String,
    pub on: Vec<String>,
    pub confidence: String,
}

/// One `verdict` line, as far as the report needs it.
#[derive(Debug, Clone, Default)]
pub struct Sighting {
    /// RFC 3339, as the log line has it.
    pub timestamp: String,
    /// What was done (`accept` and `tag` delivered, `quarantine` and
    /// `reject` not).
    pub action: String,
    /// What the policy decided: dry-run hosts report what they would hold.
    pub policy_action: String,
    pub kinds: Vec<String>,
    pub brands: Vec<String>,
    pub lookalike_domains: Vec<String>,
    pub url_hosts: Vec<String>,
    pub urls: Vec<String>,
    /// `None` on lines written before the line carried them: such lines
    /// export nothing, their `urls` being every link of the mail.
    pub indicators: Option<Vec<Indicator>>,
    /// The hosts any judged mail links to, flagged or not.
    pub link_hosts: Vec<String>,
    pub client_ip: String,
    pub from_domain: String,
    pub queue_id: String,
    /// How many recipients the message had; older lines do not say (1).
    pub rcpts: usize,
    /// DMARC's result as the line says it (`pass`, `fail`, `none`, …);
    /// empty on lines written before it.
    pub dmarc: String,
    /// The DMARC report row, when DMARC gave a verdict (`report --dmarc`).
    pub dmarc_row: Option<DmarcRow>,
}

impl Sighting {
    /// Flagged by the policy (tagged or held, or would be under dry run).
    pub fn flagged(&self) -> bool {
        matches!(self.policy_action.as_str(), "tag" | "quarantine" | "reject")
    }

    /// Delivered to the recipients (accepted or tagged).
    pub fn delivered(&self) -> bool {
        matches!(self.action.as_str(), "accept" | "tag")
    }

    /// The UTC day, `YYYY-MM-DD`.
    pub fn day(&self) -> &str {
        self.timestamp.get(..10).unwrap_or("unknown")
    }
}

fn text(v: &Value, max: usize) -> String {
    crate::vocab::sanitize::one_line(v.as_str().unwrap_or(""), max)
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(|s| crate::vocab::sanitize::one_line(s, 300))
            .collect(),
        // Lines written before the lists became arrays.
        Value::String(s) => s
            .split(',')
            .filter(|x| !x.is_empty())
            .map(|x| crate::vocab::sanitize::one_line(x, 300))
            .collect(),
        _ => Vec::new(),
    }
}

fn indicators(v: &Value) -> Option<Vec<Indicator>> {
    let a = v.as_array()?;
    Some(
        a.iter()
            .map(|i| Indicator {
                kind: text(&i["kind"], 40),
                value: text(&i["value"], 300),
                on: strings(&i["on"]),
                confidence: text(&i["confidence"], 20),
            })
            .filter(|i| !i.value.is_empty())
            .collect(),
    )
}

/// The `dmarc_report` object (or its JSON text, as a pipeline may keep
/// it), every string one line of printable text: the domains in it are
/// what the mail said.
fn dmarc_row(v: &Value) -> Option<DmarcRow> {
    let mut row = match v {
        Value::Object(_) => DmarcRow::deserialize(v).ok()?,
        Value::String(s) if !s.is_empty() => serde_json::from_str(s).ok()?,
        _ => return None,
    };
    let clean = |s: &mut String| *s = crate::vocab::sanitize::one_line(s, 253);
    for s in [
        &mut row.source_ip,
        &mut row.header_from,
        &mut row.envelope_from,
        &mut row.envelope_to,
        &mut row.policy_domain,
        &mut row.policy,
        &mut row.disposition,
        &mut row.spf.domain,
        &mut row.spf.scope,
        &mut row.spf.result,
    ] {
        clean(s);
    }
    if let Some(r) = &mut row.reason {
        clean(&mut r.kind);
        clean(&mut r.comment);
    }
    for d in &mut row.dkim {
        clean(&mut d.domain);
        clean(&mut d.selector);
        clean(&mut d.result);
    }
    Some(row)
}

/// What one input line is to the report.
#[derive(Debug)]
pub enum Line {
    /// A verdict line, of flagged mail or not.
    Verdict(Box<Sighting>),
    /// Another record (another log line of ours, or of another program).
    Other,
    /// Neither JSON nor our text format's verdict line. Counted, so a log
    /// the report cannot read never passes for one without flagged mail.
    Unreadable,
}

/// The verdict line in `line`, if it is one of flagged mail.
pub fn parse_line(line: &str) -> Option<Sighting> {
    match classify(line) {
        Line::Verdict(s) if s.flagged() => Some(*s),
        _ => None,
    }
}

/// Our JSON line, a journald JSON export record whose MESSAGE is our line,
/// a pipeline's copy with the fields at the top level, or the text
/// format's verdict line.
pub fn classify(line: &str) -> Line {
    let line = line.trim();
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return match from_text(line) {
            Some(v) => verdict(&v),
            // Another text line of ours: a tracing line, or an announcement
            // (`kinko-milter: listening on …`) written before logging starts.
            None if is_text_log_line(line) || line.starts_with("kinko-milter: ") => Line::Other,
            None => Line::Unreadable,
        };
    };
    if let Some(inner) = v.get("MESSAGE").and_then(Value::as_str) {
        return classify(inner);
    }
    verdict(&v)
}

fn verdict(v: &Value) -> Line {
    let fields = v.get("fields").unwrap_or(v);
    if fields.get("message").and_then(Value::as_str) != Some("verdict") {
        return Line::Other;
    }
    let action = fields
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or("accept");
    let policy_action = fields
        .get("policy_action")
        .and_then(Value::as_str)
        .unwrap_or(action);
    let rcpts = fields.get("rcpts").and_then(Value::as_u64).unwrap_or(1);
    Line::Verdict(Box::new(Sighting {
        timestamp: text(&v["timestamp"], 40),
        action: crate::vocab::sanitize::one_line(action, 20),
        policy_action: crate::vocab::sanitize::one_line(policy_action, 20),
        kinds: strings(&fields["findings"]),
        brands: strings(&fields["brands"]),
        lookalike_domains: strings(&fields["lookalike_domains"]),
        url_hosts: strings(&fields["url_hosts"]),
        urls: strings(&fields["urls"]),
        indicators: indicators(&fields["indicators"]),
        link_hosts: strings(&fields["link_hosts"]),
        client_ip: text(&fields["client_ip"], 45),
        from_domain: text(&fields["from_domain"], 253),
        queue_id: text(&fields["queue_id"], 40),
        rcpts: usize::try_from(rcpts).unwrap_or(usize::MAX),
        dmarc: text(&fields["dmarc"], 20),
        dmarc_row: dmarc_row(&fields["dmarc_report"]),
    }))
}

/// A line of tracing's text format: `TIMESTAMP LEVEL target: message …`.
fn is_text_log_line(line: &str) -> bool {
    let mut words = line.split_whitespace();
    let ts = words.next().unwrap_or("");
    let level = words.next().unwrap_or("");
    ts.len() >= 20
        && ts.as_bytes()[4] == b'-'
        && ts.as_bytes()[10] == b'T'
        && matches!(level, "TRACE" | "DEBUG" | "INFO" | "WARN" | "ERROR")
}

/// The text format's verdict line (`TIMESTAMP  INFO target: verdict
/// key=value …`, strings quoted, lists as JSON) as the JSON line's object.
fn from_text(line: &str) -> Option<Value> {
    if !is_text_log_line(line) {
        return None;
    }
    let timestamp = line.split_whitespace().next()?;
    let (_, rest) = line.split_once(": verdict ")?;
    let mut fields = serde_json::Map::new();
    fields.insert("message".into(), "verdict".into());
    let mut rest = rest.trim_start();
    while let Some((key, tail)) = rest.split_once('=') {
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return None;
        }
        let (value, used) = match tail.as_bytes().first() {
            // A quoted string, a list or an object: JSON text, as our
            // fields are written (a Rust string's quoting is JSON's for
            // what our sanitised fields hold).
            Some(b'"' | b'[' | b'{') => {
                let mut values = serde_json::Deserializer::from_str(tail).into_iter::<Value>();
                let v = values.next()?.ok()?;
                (v, values.byte_offset())
            }
            _ => {
                let end = tail.find(' ').unwrap_or(tail.len());
                let word = &tail[..end];
                let v = word
                    .parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::from(word));
                (v, end)
            }
        };
        fields.insert(key.into(), value);
        rest = tail[used..].trim_start();
    }
    let mut obj = serde_json::Map::new();
    obj.insert("timestamp".into(), timestamp.into());
    obj.insert("fields".into(), Value::Object(fields));
    Some(Value::Object(obj))
}

/// The one way this crate writes CSV: every report and export goes through
/// it, so no cell can reach a spreadsheet as a formula.
pub struct Csv {
    out: csv::Writer<Vec<u8>>,
}

impl Default for Csv {
    fn default() -> Self {
        Csv {
            out: csv::Writer::from_writer(Vec::new()),
        }
    }
}

impl Csv {
    pub fn row<I, T>(&mut self, cells: I) -> Result<(), String>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        self.out
            .write_record(
                cells
                    .into_iter()
                    .map(|c| spreadsheet_safe(c.as_ref()).into_owned()),
            )
            .map_err(|e| e.to_string())
    }

    pub fn finish(self) -> Result<String, String> {
        let bytes = self.out.into_inner().map_err(|e| e.to_string())?;
        String::from_utf8(bytes).map_err(|e| e.to_string())
    }
}

/// A cell a spreadsheet would run as a formula (OWASP "CSV Injection": it
/// starts with `=`, `+`, `-`, `@`, tab or CR) gets a leading `'`, which the
/// spreadsheet shows as text. Attackers choose the lookalike domains and
/// URLs we report, so `=1+1-smbc-security.com` is an input, not a joke.
pub fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_quoted() {
        for (cell, want) in [
            ("=1+1-smbc-security.com", "'=1+1-smbc-security.com"),
            ("-2+3-smbc-login.com", "'-2+3-smbc-login.com"),
            ("+81", "'+81"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("smbc-card.example", "smbc-card.example"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(spreadsheet_safe(cell), want, "{cell:?}");
        }
        let mut w = Csv::default();
        w.row(["date", "=HYPERLINK(\"http://x\")", "ok"]).unwrap();
        assert_eq!(
            w.finish().unwrap(),
            "date,\"'=HYPERLINK(\"\"http://x\"\")\",ok\n"
        );
    }

    #[test]
    fn the_text_formats_verdict_line_reads_as_the_json_one() {
        let text = r#"2026-12-07T10:00:00.123456Z  INFO kinko_milter::daemon::session: verdict queue_id="4ABC" client_ip=192.0.2.10 from_domain="smbc.co.jp" action="quarantine" policy_action="quarantine" score=120 findings=["tld-swap","link-lookalike"] brands=["smbc"] indicators=[{"kind":"tld-swap","value":"smbc.co.com","on":["envelope-from"],"confidence":"high"}] link_hosts=["smbc-card.example.evil"] rcpts=3 dmarc_report="""#;
        let s = parse_line(text).expect("a flagged verdict line");
        assert_eq!(s.timestamp, "2026-12-07T10:00:00.123456Z");
        assert_eq!(s.queue_id, "4ABC");
        assert_eq!(s.client_ip, "192.0.2.10");
        assert_eq!(s.rcpts, 3);
        assert_eq!(s.brands, ["smbc"]);
        assert_eq!(s.link_hosts, ["smbc-card.example.evil"]);
        let ind = s.indicators.unwrap();
        assert_eq!(ind[0].value, "smbc.co.com");
        assert_eq!(ind[0].on, ["envelope-from"]);
        // Another text line of ours is not unreadable; prose is.
        assert!(matches!(
            classify("2026-12-07T10:00:00.1Z  INFO kinko_milter: listening on 127.0.0.1:1"),
            Line::Other
        ));
        assert!(matches!(classify("not a log line"), Line::Unreadable));
        assert!(matches!(
            classify(r#"{"fields":{"message":"verdict","action":"accept"}}"#),
            Line::Verdict(s) if !s.flagged() && s.delivered()
        ));
    }
}
