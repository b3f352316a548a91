//! `kinko-milter quarantine`: held mail as the on-call operator needs it —
//! who sent it, what it says it is about, which brand it claims and why we
//! held it — read from our own headers on the message, so no kinko-milter
//! configuration (and none of its secrets) is needed.

use crate::commands::postfix::{Instance, Queued};
use serde::Serialize;

/// What `list` and `show` say about one held message.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    pub queue_id: String,
    /// UTC, RFC 3339.
    pub arrived: String,
    pub size: u64,
    pub envelope_sender: String,
    pub recipients: usize,
    /// The From field as a reader's client shows it.
    pub from: String,
    /// Decoded.
    pub subject: String,
    pub verdict: String,
    pub score: Option<i32>,
    pub brands: Vec<String>,
    pub reasons: Vec<String>,
}

impl Held {
    pub fn of(q: &Queued, header: &[u8]) -> Held {
        let msg = crate::analysis::parse(header);
        let field = |name: &str| -> String {
            msg.header_raw(name)
                .map(|v| crate::vocab::sanitize::one_line(v, 2000))
                .unwrap_or_default()
        };
        let reasons_text = unescape(&field(crate::actions::REASONS_HEADER));
        let reasons: Vec<String> = reasons_text
            .split("; ")
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect();
        Held {
            queue_id: q.queue_id.clone(),
            arrived: rfc3339(q.arrival_time),
            size: q.message_size,
            envelope_sender: crate::vocab::sanitize::one_line(&q.sender, 320),
            recipients: q.recipients.len(),
            from: crate::commands::check::shown_from(&msg),
            subject: crate::vocab::sanitize::one_line(msg.subject().unwrap_or(""), 300),
            verdict: field(crate::actions::VERDICT_HEADER),
            score: field(crate::actions::SCORE_HEADER).parse().ok(),
            brands: brands_in(&reasons),
            reasons,
        }
    }
}

pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Undoes [`crate::vocab::sanitize::header_ascii`]'s `\u{…}` escapes for display
/// (then sanitised again by the caller's output).
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("\\u{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 3..];
        let decoded = after.find('}').and_then(|end| {
            let c = u32::from_str_radix(&after[..end], 16)
                .ok()
                .and_then(char::from_u32)?;
            Some((c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push_str("\\u{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    crate::vocab::sanitize::one_line(&out, 2000)
}

/// The `[brand]` labels the reasons carry (see `verdict::decide`).
fn brands_in(reasons: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in reasons {
        let mut rest = r.as_str();
        while let Some(open) = rest.find('[') {
            let after = &rest[open + 1..];
            let Some(close) = after.find(']') else { break };
            let word = &after[..close];
            let brand_like = !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if brand_like && !out.iter().any(|b| b == word) {
                out.push(word.to_string());
            }
            rest = &after[close + 1..];
        }
    }
    out
}

/// Every held message, oldest first.
pub fn list(pf: &Instance) -> Result<Vec<Held>, String> {
    let mut held = pf.held()?;
    held.sort_by_key(|q| q.arrival_time);
    let mut out = Vec::with_capacity(held.len());
    for q in &held {
        match pf.message(&q.queue_id, false) {
            Ok(header) => out.push(Held::of(q, &header)),
            // A message can leave the queue between listing and reading;
            // any other failure (no rights to read the queue files) must
            // not pass for an empty hold queue.
            Err(e) => {
                if pf.held()?.iter().any(|h| h.queue_id == q.queue_id) {
                    return Err(e);
                }
            }
        }
    }
    Ok(out)
}

/// One held message and its whole stored content.
pub fn show(pf: &Instance, queue_id: &str) -> Result<(Held, Vec<u8>), String> {
    let q = pf
        .held()?
        .into_iter()
        .find(|q| q.queue_id == queue_id)
        .ok_or_else(|| format!("{queue_id}: not on hold in {}", pf.describe()))?;
    let raw = pf.message(queue_id, true)?;
    Ok((Held::of(&q, &raw), raw))
}

pub fn render_list(held: &[Held]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if held.is_empty() {
        s.push_str("no mail on hold\n");
        return s;
    }
    for h in held {
        let _ = writeln!(
            s,
            "{}  {}  score {}  brand {}  {} rcpt",
            h.queue_id,
            h.arrived,
            h.score.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            if h.brands.is_empty() {
                "-".to_string()
            } else {
                h.brands.join(",")
            },
            h.recipients
        );
        let _ = writeln!(
            s,
            "    from:    {} (envelope <{}>)",
            h.from, h.envelope_sender
        );
        let _ = writeln!(s, "    subject: {}", h.subject);
        if let Some(first) = h.reasons.first() {
            let _ = writeln!(s, "    reason:  {first}");
        }
    }
    s
}

pub fn render_one(h: &Held) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "queue id: {}", h.queue_id);
    let _ = writeln!(s, "arrived:  {}", h.arrived);
    let _ = writeln!(
        s,
        "size:     {} bytes, {} recipient(s)",
        h.size, h.recipients
    );
    let _ = writeln!(s, "envelope: <{}>", h.envelope_sender);
    let _ = writeln!(s, "from:     {}", h.from);
    let _ = writeln!(s, "subject:  {}", h.subject);
    let _ = writeln!(
        s,
        "verdict:  {} (score {})",
        if h.verdict.is_empty() {
            "-"
        } else {
            &h.verdict
        },
        h.score.map(|n| n.to_string()).unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(s, "brands:   {}", h.brands.join(", "));
    let _ = writeln!(s, "reasons:");
    for r in &h.reasons {
        let _ = writeln!(s, "  - {r}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_reasons_read_back_and_name_brands() {
        let text = unescape("display-name [test-bank] +200: \\u{30c6}\\u{30b9}\\u{30c8}; x\\u{zz}");
        assert_eq!(text, "display-name [test-bank] +200: テスト; x\\u{zz}");
        let reasons = vec![
            "score 9 reaches the tag band: combo [smbc], link-hosting".to_string(),
            "combo [smbc] +80: [not a brand!]".to_string(),
        ];
        assert_eq!(brands_in(&reasons), ["smbc"]);
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
