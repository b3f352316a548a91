//! The warning banner in tagged mail: finds the readable text parts of a
//! message (the first inline text/plain and the first inline text/html,
//! outside forwarded messages) and puts the warning at their top.
//!
//! Pure: bytes in, bytes out, no I/O, so it can be fuzzed. Only the changed
//! parts are rewritten, by their byte ranges; every other byte of the
//! message stays as it was.

mod notice;
mod part;
mod wording;

pub use notice::notice;
pub use wording::{Lang, Notice};

use crate::analysis::parse;
use mail_parser::{MimeHeaders, PartType};
use part::{Change, Cte, Kind};

/// Parts deeper than this are not looked at: real mail nests three or four.
const MAX_DEPTH: usize = 20;

/// A message with the banner in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// The whole new message.
    pub message: Vec<u8>,
    /// Where its body starts: the MTA replaces the body only.
    pub body_start: usize,
    /// Top-level header fields to set (name, value): they change when the
    /// message is a single text part whose charset or encoding had to change.
    pub header_fields: Vec<(String, String)>,
    /// Parts that got the banner.
    pub parts: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Added(Rewrite),
    /// Our banner is there already (from an earlier pass).
    Present,
    /// Left alone, and why (for the log).
    Skipped(String),
}

/// Puts the banner into `raw` (a whole message: header, blank line, body),
/// unless it is longer than `max_bytes`.
pub fn insert(raw: &[u8], notice: &Notice, max_bytes: usize) -> Outcome {
    if raw.len() > max_bytes {
        return Outcome::Skipped(format!("message over {max_bytes} bytes"));
    }
    let msg = parse(raw);
    // parse() stands in an empty message for one it cannot read.
    if msg.raw_message().as_ptr() != raw.as_ptr() || msg.parts.is_empty() {
        return Outcome::Skipped("not a message".into());
    }
    let mut plain = None;
    let mut html = None;
    let mut stack = vec![(0u32, 0usize)];
    while let Some((id, depth)) = stack.pop() {
        let Some(p) = msg.parts.get(id as usize) else {
            continue;
        };
        match &p.body {
            PartType::Multipart(children) if depth < MAX_DEPTH => {
                stack.extend(children.iter().rev().map(|&c| (c, depth + 1)));
            }
            // Forwarded messages keep their own text.
            PartType::Multipart(_) | PartType::Message(_) => {}
            _ => {
                let ct = p.content_type();
                let main = ct.map_or("text", |c| c.ctype());
                let sub = ct.and_then(|c| c.subtype()).unwrap_or("plain");
                let attached = p.content_disposition().is_some_and(|d| d.is_attachment())
                    || p.attachment_name().is_some();
                if !main.eq_ignore_ascii_case("text") || attached {
                    continue;
                }
                let slot = if sub.eq_ignore_ascii_case("plain") {
                    &mut plain
                } else if sub.eq_ignore_ascii_case("html") {
                    &mut html
                } else {
                    continue;
                };
                if slot.is_none() {
                    *slot = Some(id);
                }
            }
        }
    }
    let mut chosen: Vec<(u32, Kind)> = plain
        .map(|id| (id, Kind::Plain))
        .into_iter()
        .chain(html.map(|id| (id, Kind::Html)))
        .collect();
    if chosen.is_empty() {
        return Outcome::Skipped("no readable text part".into());
    }
    chosen.sort_by_key(|(id, _)| msg.parts[*id as usize].offset_header);

    let mut edits = Vec::new();
    let mut present = 0;
    let mut why = Vec::new();
    for (id, kind) in chosen {
        let p = &msg.parts[id as usize];
        let (h, b, e) = (
            p.offset_header as usize,
            p.offset_body as usize,
            p.offset_end as usize,
        );
        if !(h <= b && b <= e && e <= raw.len()) {
            why.push("part offsets out of range");
            continue;
        }
        let Some(cte) = Cte::parse(p.content_transfer_encoding()) else {
            why.push("unknown transfer encoding");
            continue;
        };
        let part = part::Part {
            header: &raw[h..b],
            body: &raw[b..e],
            charset: p.content_type().and_then(|c| c.attribute("charset")),
            cte,
            kind,
        };
        match part::rewrite(&part, notice) {
            Change::Edit(edit) => edits.push((id, h..e, edit)),
            Change::Present => present += 1,
            Change::Skipped(w) => why.push(w),
        }
    }
    if edits.is_empty() {
        return if present > 0 {
            Outcome::Present
        } else {
            Outcome::Skipped(why.join("; "))
        };
    }
    let top_body = msg.parts[0].offset_body as usize;
    let mut out = Vec::with_capacity(raw.len() + 4096);
    let mut at = 0;
    let mut body_start = top_body;
    let mut header_fields = Vec::new();
    let parts = edits.len();
    for (id, range, edit) in edits {
        if range.start < at {
            continue;
        }
        out.extend_from_slice(&raw[at..range.start]);
        if id == 0 {
            body_start = out.len() + edit.header.len();
            header_fields = edit.fields;
        }
        out.extend_from_slice(&edit.header);
        out.extend_from_slice(&edit.body);
        at = range.end;
    }
    out.extend_from_slice(&raw[at..]);
    Outcome::Added(Rewrite {
        message: out,
        body_start,
        header_fields,
        parts,
    })
}

#[cfg(test)]
mod tests;
