//! The daemon's log lines: one JSON object per line in JSON mode, with list
//! fields (finding kinds, brands, indicators) as JSON arrays, and the
//! startup announcements in the same format as everything else.
//!
//! tracing records only scalars, so a list travels as its JSON text in a
//! field named in [`LIST_FIELDS`] (see [`List`]); the JSON formatter puts
//! it back as an array. Text mode shows the same JSON text.

use crate::settings::config::LogFormat;
use serde_json::Value;
use std::fmt;
use std::sync::OnceLock;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Fields whose value is a [`List`]: arrays in JSON mode.
pub const LIST_FIELDS: &[&str] = &[
    "findings",
    "brands",
    "lookalike_domains",
    "url_hosts",
    "urls",
    // Objects `{kind, value, on, confidence}`: what each finding points at.
    "indicators",
    "link_hosts",
    // The DMARC report row: a JSON object.
    "dmarc_report",
];

static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// A list field's value: its JSON text.
pub struct List<'a>(pub &'a [String]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&serde_json::to_string(self.0).map_err(|_| fmt::Error)?)
    }
}

/// Installs the global subscriber writing to standard error.
pub fn init(format: LogFormat) {
    let _ = FORMAT.set(format);
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // journald and log files want plain text; colours only on a terminal.
        .with_ansi(
            format == LogFormat::Text && std::io::IsTerminal::is_terminal(&std::io::stderr()),
        );
    match format {
        LogFormat::Json => builder.event_format(JsonLines).init(),
        LogFormat::Text => builder.init(),
    }
}

/// A line that must reach the log whatever `RUST_LOG` filters: where the
/// daemon listens (tools and tests read the address from it) and why it
/// could not start. Text: `kinko-milter: MESSAGE`; JSON: one object with
/// the message and `fields`.
pub fn announce(level: &str, message: &str, fields: &[(&str, Value)]) {
    let format = FORMAT.get().copied().unwrap_or(LogFormat::Text);
    match format {
        LogFormat::Text => eprintln!("kinko-milter: {message}"),
        LogFormat::Json => {
            let mut line = Fields::default();
            line.0.insert("message", quoted(message));
            for (k, v) in fields {
                line.0.insert(k, v.to_string());
            }
            eprintln!("{}", line.line(level, "kinko_milter", &timestamp()));
        }
    }
}

fn timestamp() -> String {
    let mut s = String::new();
    let _ = SystemTime.format_time(&mut Writer::new(&mut s));
    s
}

/// tracing-subscriber's JSON layout, with list fields as arrays.
///
/// Written straight from the recorded fields: a list field's JSON text goes
/// into the line as it is (checked, not rebuilt), so a verdict line costs
/// one pass over its fields and no JSON tree.
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        writeln!(
            writer,
            "{}",
            fields.line(meta.level().as_str(), meta.target(), &timestamp())
        )
    }
}

/// One line's fields, each already as JSON text, by name (sorted, as
/// serde_json's map writes them). Events and announcements alike.
#[derive(Default)]
struct Fields<'k>(std::collections::BTreeMap<&'k str, String>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, text: String) {
        let name = field.name();
        // A list field holds JSON text made by serde_json; the check keeps
        // a line whole should anything else ever be passed there.
        let is_json = LIST_FIELDS.contains(&name)
            && text.starts_with(['[', '{'])
            && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok();
        let json = if is_json { text } else { quoted(&text) };
        self.0.insert(name, json);
    }

    /// The whole line in tracing-subscriber's JSON shape, in the key order
    /// of serde_json's map.
    fn line(&self, level: &str, target: &str, timestamp: &str) -> String {
        let mut out = String::with_capacity(256 + self.0.values().map(String::len).sum::<usize>());
        out.push_str("{\"fields\":{");
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&quoted(k));
            out.push(':');
            out.push_str(v);
        }
        out.push_str("},\"level\":");
        out.push_str(&quoted(level));
        out.push_str(",\"target\":");
        out.push_str(&quoted(target));
        out.push_str(",\"timestamp\":");
        out.push_str(&quoted(timestamp));
        out.push('}');
        out
    }
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name(), value.to_string());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name(), value.to_string());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name(), value.to_string());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name(), Value::from(value).to_string());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_renders_as_json_text() {
        let v = vec!["a\"b".to_string(), "c".to_string()];
        assert_eq!(List(&v).to_string(), r#"["a\"b","c"]"#);
    }

    /// The line written field by field is the one serde_json's map gave.
    #[test]
    fn a_line_is_the_json_of_its_fields() {
        use tracing_subscriber::layer::SubscriberExt;
        let buf = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
        let sink = buf.clone();
        let sub = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .event_format(JsonLines)
                .with_writer(move || Sink(sink.clone())),
        );
        tracing::subscriber::with_default(sub, || {
            let kinds = vec!["spf-fail".to_string()];
            tracing::info!(
                queue_id = "4AB\"C",
                score = -3,
                big = 7u64,
                ok = true,
                ratio = 0.5,
                findings = %List(&kinds),
                brands = %"[not json",
                dmarc_report = %"",
                "verdict"
            );
        });
        let text = String::from_utf8(buf.lock().unwrap().clone()).unwrap();
        let v: Value = serde_json::from_str(text.trim_end()).unwrap();
        let f = &v["fields"];
        assert_eq!(f["queue_id"], "4AB\"C");
        assert_eq!(f["score"], -3);
        assert_eq!(f["big"], 7);
        assert_eq!(f["ok"], true);
        assert_eq!(f["ratio"], 0.5);
        assert_eq!(f["findings"], serde_json::json!(["spf-fail"]));
        assert_eq!(f["brands"], "[not json");
        assert_eq!(f["dmarc_report"], "");
        assert_eq!(f["message"], "verdict");
        assert_eq!(v["level"], "INFO");
        assert!(v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
        // serde_json's map order: the lines look as they did.
        assert!(text.starts_with("{\"fields\":{\"big\":7,"), "{text}");
    }

    #[derive(Clone)]
    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
