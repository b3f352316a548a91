//! `kinko-milter report`: what attacks each brand, from the `verdict` lines
//! the daemon already writes in JSON mode. No store of our own: the lines of
//! any number of hosts (files, standard input, a journald JSON export, what
//! Loki or Elasticsearch hands back) merge into one report.

use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One flagged `verdict` line, as far as the report needs it.
#[derive(Debug, Clone, Default)]
pub struct Sighting {
    /// RFC 3339, as the log line has it.
    pub timestamp: String,
    pub action: String,
    pub kinds: Vec<String>,
    pub brands: Vec<String>,
    pub lookalike_domains: Vec<String>,
    pub url_hosts: Vec<String>,
    pub urls: Vec<String>,
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

/// What one input line is to the report.
#[derive(Debug)]
pub enum Line {
    /// The verdict line of flagged mail.
    Flagged(Sighting),
    /// The verdict line of accepted mail.
    Accepted,
    /// Another JSON record (another log line of ours, or of another program).
    Other,
    /// Not JSON: a text-format log line, or not a log line at all. Counted,
    /// so a log the report cannot read never passes for one without
    /// flagged mail.
    Unreadable,
}

/// The verdict line in `line`, if it is one of flagged mail: our JSON line,
/// or a journald JSON export record whose MESSAGE is our line, or a
/// pipeline's copy with the fields at the top level.
pub fn parse_line(line: &str) -> Option<Sighting> {
    match classify(line) {
        Line::Flagged(s) => Some(s),
        _ => None,
    }
}

pub fn classify(line: &str) -> Line {
    let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
        return Line::Unreadable;
    };
    if let Some(inner) = v.get("MESSAGE").and_then(Value::as_str) {
        return classify(inner);
    }
    let fields = v.get("fields").unwrap_or(&v);
    if fields.get("message").and_then(Value::as_str) != Some("verdict") {
        return Line::Other;
    }
    // What the policy decided: dry-run hosts report what they would hold.
    let action = fields
        .get("policy_action")
        .or_else(|| fields.get("action"))
        .and_then(Value::as_str)
        .unwrap_or("accept");
    if !matches!(action, "tag" | "quarantine" | "reject") {
        return Line::Accepted;
    }
    let timestamp = v
        .get("timestamp")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    Line::Flagged(Sighting {
        timestamp: crate::vocab::sanitize::one_line(&timestamp, 40),
        action: action.to_string(),
        kinds: strings(&fields["findings"]),
        brands: strings(&fields["brands"]),
        lookalike_domains: strings(&fields["lookalike_domains"]),
        url_hosts: strings(&fields["url_hosts"]),
        urls: strings(&fields["urls"]),
    })
}

/// One brand on one day.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub brand: String,
    pub day: String,
    pub messages: usize,
    pub actions: BTreeMap<String, usize>,
    /// Finding kinds, by the number of messages they fired in.
    pub kinds: BTreeMap<String, usize>,
    pub lookalike_domains: BTreeSet<String>,
    pub url_hosts: BTreeSet<String>,
    pub first_seen: String,
    pub last_seen: String,
}

/// Flagged mail that names no brand is reported under this name.
pub const NO_BRAND: &str = "(none)";

#[derive(Debug, Default)]
pub struct Report {
    rows: BTreeMap<(String, String), Row>,
    /// URL → (first seen, brand), for the export.
    urls: BTreeMap<String, (String, String)>,
}

impl Report {
    pub fn add(&mut self, s: &Sighting) {
        let day = s.timestamp.get(..10).unwrap_or("unknown").to_string();
        let brands: Vec<String> = if s.brands.is_empty() {
            vec![NO_BRAND.to_string()]
        } else {
            s.brands.clone()
        };
        for brand in &brands {
            let row = self
                .rows
                .entry((brand.clone(), day.clone()))
                .or_insert_with(|| Row {
                    brand: brand.clone(),
                    day: day.clone(),
                    first_seen: s.timestamp.clone(),
                    last_seen: s.timestamp.clone(),
                    ..Default::default()
                });
            row.messages += 1;
            *row.actions.entry(s.action.clone()).or_default() += 1;
            for k in &s.kinds {
                *row.kinds.entry(k.clone()).or_default() += 1;
            }
            row.lookalike_domains
                .extend(s.lookalike_domains.iter().cloned());
            row.url_hosts.extend(s.url_hosts.iter().cloned());
            if s.timestamp < row.first_seen {
                row.first_seen = s.timestamp.clone();
            }
            if s.timestamp > row.last_seen {
                row.last_seen = s.timestamp.clone();
            }
        }
        let brand = brands.join(" ");
        let mut indicators = s.urls.clone();
        indicators.extend(s.lookalike_domains.iter().map(|d| format!("http://{d}")));
        for u in indicators {
            let e = self
                .urls
                .entry(u)
                .or_insert_with(|| (s.timestamp.clone(), brand.clone()));
            if s.timestamp < e.0 {
                *e = (s.timestamp.clone(), brand.clone());
            }
        }
    }

    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.values()
    }

    /// JPCERT/CC's phishing URL list format: `date,URL,description`, the
    /// date as `YYYY/MM/DD HH:MM:SS` (UTC), newest first, at most `limit`
    /// rows, none first seen before `since` (a `YYYY-MM-DD` day).
    pub fn export(&self, limit: usize, since: Option<&str>) -> Result<String, String> {
        let mut rows: Vec<(&String, &(String, String))> = self
            .urls
            .iter()
            .filter(|(_, (ts, _))| since.is_none_or(|d| ts.get(..10).unwrap_or("") >= d))
            .collect();
        rows.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then_with(|| a.0.cmp(b.0)));
        rows.truncate(limit);
        let mut w = Csv::default();
        w.row(["date", "URL", "description"])?;
        for (url, (ts, brand)) in rows {
            w.row([jpcert_date(ts).as_str(), url, brand])?;
        }
        w.finish()
    }
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

/// `2026-11-30T23:50:00.123Z` → `2026/11/30 23:50:00`.
fn jpcert_date(ts: &str) -> String {
    match (ts.get(..10), ts.get(11..19)) {
        (Some(d), Some(t)) => format!("{} {t}", d.replace('-', "/")),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(ts: &str, brands: &str, action: &str) -> String {
        format!(
            r#"{{"timestamp":"{ts}","level":"INFO","fields":{{"message":"verdict","policy_action":"{action}","findings":["combo","link-lookalike"],"brands":{brands},"lookalike_domains":["smbc-card.example"],"url_hosts":["evil.example"],"urls":["https://evil.example/login"]}},"target":"kinko_milter::daemon::session"}}"#
        )
    }

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
    fn lines_merge_per_brand_and_day_and_export_as_jpcert() {
        let mut r = Report::default();
        let journald = serde_json::json!({
            "MESSAGE": line("2026-11-30T09:00:00.5Z", r#"["smbc"]"#, "tag"),
            "_HOSTNAME": "mx2",
        })
        .to_string();
        for l in [
            line("2026-11-30T10:00:00.1Z", r#"["smbc"]"#, "quarantine"),
            journald,
            line("2026-12-01T01:00:00Z", r#"["smbc"]"#, "quarantine"),
            line("2026-12-01T02:00:00Z", r#"["smbc"]"#, "accept"),
            "not json".into(),
        ] {
            if let Some(s) = parse_line(&l) {
                r.add(&s);
            }
        }
        let rows: Vec<&Row> = r.rows().collect();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].messages, 2);
        assert_eq!(rows[0].first_seen, "2026-11-30T09:00:00.5Z");
        assert_eq!(rows[0].kinds["combo"], 2);
        assert_eq!(rows[1].messages, 1);
        let csv = r.export(10, None).unwrap();
        assert_eq!(
            csv,
            "date,URL,description\n\
             2026/11/30 09:00:00,http://smbc-card.example,smbc\n\
             2026/11/30 09:00:00,https://evil.example/login,smbc\n"
        );
        assert_eq!(
            r.export(1, Some("2026-12-01")).unwrap(),
            "date,URL,description\n"
        );
    }
}
