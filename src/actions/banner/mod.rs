//! The warning banner in tagged mail: finds the text parts a reader is
//! shown (in a multipart/alternative the last one a client can display,
//! for HTML and for text-only clients; elsewhere the first inline text,
//! outside forwarded messages) and puts the warning at their top.
//!
//! Pure: bytes in, bytes out, no I/O, so it can be fuzzed. Only the changed
//! parts are rewritten, by their byte ranges; every other byte of the
//! message stays as it was. The result is parsed again and must have the
//! part tree that was judged, every other part reading as before: a banner
//! that would change what the customer gets is not used.

mod fields;
mod html;
mod notice;
mod part;
mod wording;

pub use notice::notice;
pub use wording::{Lang, Notice};

use crate::analysis::{parse, parse_structure};
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
    insert_parsed(raw, &parse(raw), notice, max_bytes)
}

/// [`insert`] with `raw` already parsed (as the analysis parsed it).
pub fn insert_parsed(
    raw: &[u8],
    msg: &mail_parser::Message<'_>,
    notice: &Notice,
    max_bytes: usize,
) -> Outcome {
    if raw.len() > max_bytes {
        return Outcome::Skipped(format!("message over {max_bytes} bytes"));
    }
    // parse() stands in an empty message for one it cannot read.
    if msg.raw_message().as_ptr() != raw.as_ptr() || msg.parts.is_empty() {
        return Outcome::Skipped("not a message".into());
    }
    let shown = shown(msg, 0, 0);
    let mut chosen: Vec<(u32, Kind)> = shown
        .rich
        .into_iter()
        .chain(shown.text.or(shown.rich))
        .collect();
    if chosen.is_empty() {
        return Outcome::Skipped("no readable text part".into());
    }
    chosen.sort_by_key(|(id, _)| msg.parts[*id as usize].offset_header);
    chosen.dedup();
    let boundaries: Vec<Vec<u8>> = msg
        .parts
        .iter()
        .filter(|p| matches!(p.body, PartType::Multipart(_)))
        .filter_map(|p| p.content_type()?.attribute("boundary"))
        .map(|b| b.as_bytes().to_vec())
        .filter(|b| !b.is_empty())
        .collect();

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
            boundaries: &boundaries,
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
    let mut banners = Vec::with_capacity(parts);
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
        banners.push((id, edit.banner));
        at = range.end;
    }
    out.extend_from_slice(&raw[at..]);
    if let Err(why) = same_tree(msg, &out, &banners) {
        return Outcome::Skipped(format!("the banner would change the message: {why}"));
    }
    Outcome::Added(Rewrite {
        message: out,
        body_start,
        header_fields,
        parts,
    })
}

/// The text part each kind of client shows first in a subtree: `rich` for
/// one that displays HTML, `text` for one that displays only plain text.
#[derive(Debug, Clone, Copy, Default)]
struct Shown {
    rich: Option<(u32, Kind)>,
    text: Option<(u32, Kind)>,
}

fn shown(msg: &mail_parser::Message, id: u32, depth: usize) -> Shown {
    let Some(p) = msg.parts.get(id as usize) else {
        return Shown::default();
    };
    let ct = p.content_type();
    let main = ct.map_or("text", |c| c.ctype());
    let sub = ct.and_then(|c| c.subtype()).unwrap_or("plain");
    match &p.body {
        PartType::Multipart(children) if depth < MAX_DEPTH => {
            let each = children.iter().map(|&c| shown(msg, c, depth + 1));
            if sub.eq_ignore_ascii_case("alternative") {
                // Clients show the last alternative they can display.
                let all: Vec<Shown> = each.collect();
                let rich = all.iter().rev().find_map(|s| s.rich);
                Shown {
                    rich,
                    text: all.iter().rev().find_map(|s| s.text).or(rich),
                }
            } else {
                each.fold(Shown::default(), |a, s| Shown {
                    rich: a.rich.or(s.rich),
                    text: a.text.or(s.text),
                })
            }
        }
        // Forwarded messages keep their own text.
        PartType::Multipart(_) | PartType::Message(_) => Shown::default(),
        _ => {
            let attached = p.content_disposition().is_some_and(|d| d.is_attachment())
                || p.attachment_name().is_some();
            if !main.eq_ignore_ascii_case("text") || attached {
                Shown::default()
            } else if sub.eq_ignore_ascii_case("plain") {
                Shown {
                    rich: Some((id, Kind::Plain)),
                    text: Some((id, Kind::Plain)),
                }
            } else if sub.eq_ignore_ascii_case("html") {
                Shown {
                    rich: Some((id, Kind::Html)),
                    text: None,
                }
            } else {
                Shown::default()
            }
        }
    }
}

/// Whether `new` parses into the part tree of `old` (the same parts, nested
/// the same, of the same types), each part reading as before, except that
/// the rewritten ones (`banners`, by part id) gained their banner.
fn same_tree(
    old: &mail_parser::Message,
    new: &[u8],
    banners: &[(u32, String)],
) -> Result<(), String> {
    let new_msg = parse_structure(new);
    if new_msg.raw_message().as_ptr() != new.as_ptr() {
        return Err("it does not parse".into());
    }
    if old.parts.len() != new_msg.parts.len() {
        return Err(format!(
            "{} MIME parts instead of {}",
            new_msg.parts.len(),
            old.parts.len()
        ));
    }
    for (i, (a, b)) in old.parts.iter().zip(&new_msg.parts).enumerate() {
        let banner = banners
            .iter()
            .find(|(id, _)| *id as usize == i)
            .map(|(_, s)| s.as_str());
        let (ta, tb) = (a.content_type(), b.content_type());
        let same_type = match banner {
            // Its charset may have changed with the banner, and a part
            // without a Content-Type (text/plain) may have gained one.
            Some(_) => same_kind(ta, tb),
            None => ta == tb,
        };
        if !same_type || a.content_disposition() != b.content_disposition() {
            return Err(format!("part {i} changed its type"));
        }
        let same = match (&a.body, &b.body, banner) {
            (PartType::Multipart(x), PartType::Multipart(y), None) => x == y,
            (PartType::Text(x), PartType::Text(y), None)
            | (PartType::Html(x), PartType::Html(y), None) => x == y,
            (PartType::Text(x), PartType::Text(y), Some(bn))
            | (PartType::Html(x), PartType::Html(y), Some(bn)) => gained(x, y, bn),
            (PartType::Binary(x), PartType::Binary(y), None)
            | (PartType::InlineBinary(x), PartType::InlineBinary(y), None) => x == y,
            (PartType::Message(x), PartType::Message(y), None) => {
                x.raw_message() == y.raw_message()
            }
            _ => false,
        };
        if !same {
            return Err(format!("part {i} reads differently"));
        }
    }
    Ok(())
}

/// Whether two Content-Type fields name the same type and subtype (a
/// missing field is text/plain), case aside.
fn same_kind(a: Option<&mail_parser::ContentType>, b: Option<&mail_parser::ContentType>) -> bool {
    fn kind<'a>(ct: Option<&'a mail_parser::ContentType>) -> (&'a str, &'a str) {
        ct.map_or(("text", "plain"), |c| {
            (c.ctype(), c.subtype().unwrap_or("plain"))
        })
    }
    let ((ta, sa), (tb, sb)) = (kind(a), kind(b));
    ta.eq_ignore_ascii_case(tb) && sa.eq_ignore_ascii_case(sb)
}

/// Whether `new` is `old` with `banner` put in once (line ends aside: the
/// transfer encoding may write them differently). This runs on every
/// tagged message, and old, new and banner almost always share their line
/// ends: they are compared as they are, and copied with LF line ends only
/// when that fails.
fn gained(old: &str, new: &str, banner: &str) -> bool {
    if inserted(old.as_bytes(), new.as_bytes(), banner.as_bytes()) {
        return true;
    }
    let lf = |s: &str| s.contains("\r\n").then(|| s.replace("\r\n", "\n"));
    let (o, n, b) = (lf(old), lf(new), lf(banner));
    if o.is_none() && n.is_none() && b.is_none() {
        return false;
    }
    inserted(
        o.as_deref().unwrap_or(old).as_bytes(),
        n.as_deref().unwrap_or(new).as_bytes(),
        b.as_deref().unwrap_or(banner).as_bytes(),
    )
}

/// Whether `new` is `old[..at] + banner + old[at..]` for some `at`, with no
/// CRLF made or split at a seam (so that it holds with LF line ends too).
fn inserted(old: &[u8], new: &[u8], banner: &[u8]) -> bool {
    if new.len() != old.len() + banner.len() {
        return false;
    }
    // `at` is within the prefix the two share and within the suffix.
    let prefix = common_prefix(old.iter(), new.iter());
    let suffix = common_prefix(old.iter().rev(), new.iter().rev());
    let joins = |a: &[u8], b: &[u8]| a.ends_with(b"\r") && b.starts_with(b"\n");
    (old.len().saturating_sub(suffix)..=prefix.min(old.len())).any(|at| {
        &new[at..at + banner.len()] == banner
            && !joins(&old[..at], banner)
            && !joins(banner, &old[at..])
            && !joins(&old[..at], &old[at..])
    })
}

fn common_prefix<'a>(a: impl Iterator<Item = &'a u8>, b: impl Iterator<Item = &'a u8>) -> usize {
    a.zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests;
