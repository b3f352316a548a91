//! Dangerous attachments: executables, scripts, shortcuts, disk images,
//! macro-carrying Office files and OneNote files, sent directly or one level
//! deep inside an archive; password-protected archives; file names dressed
//! up as something else.
//!
//! Files are judged by content first (see [`kind`]), and by name where a
//! format has no signature. The walk stays within the message's
//! [`Bounds`], and each archive within [`archive`]'s own.

pub mod archive;
pub mod kind;

use crate::vocab::findings::{Finding, FindingKind};
use crate::vocab::message::Bounds;
use kind::{Container, Content, Danger, NameTrick};
use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

/// What one file showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hit {
    /// The file itself, or `member` of it when it is an archive.
    Danger {
        danger: Danger,
        member: Option<String>,
        by_content: bool,
    },
    Encrypted,
    /// The archive, or the rest of it, could not be read: why.
    Unreadable(String),
    /// The bounds stopped the reading before the end: which.
    Cut(String),
    Trick {
        trick: NameTrick,
        member: Option<String>,
    },
}

/// Judges one file, `name` as the mail calls it, within the bounds of one
/// message. Pure: no I/O beyond the bounded reads of [`archive`].
pub fn inspect(name: &str, bytes: &[u8]) -> Vec<Hit> {
    inspect_within(name, bytes, &mut archive::Allowance::for_message())
}

/// [`inspect`], charging archive reads to what the message has left. A
/// reader that panics on hostile input makes that archive unreadable.
pub fn inspect_within(name: &str, bytes: &[u8], allowance: &mut archive::Allowance) -> Vec<Hit> {
    let mut hits = Vec::new();
    if let Some(trick) = kind::name_trick(name) {
        hits.push(Hit::Trick {
            trick,
            member: None,
        });
    }
    let head = &bytes[..bytes.len().min(kind::SNIFF_BYTES)];
    let content = kind::by_content(head);
    let danger = |danger, member: Option<&str>, by_content| Hit::Danger {
        danger,
        member: member.map(str::to_string),
        by_content,
    };
    match content {
        Content::Danger(d) => hits.push(danger(d, None, true)),
        Content::Container(Container::Ole) => {
            if std::panic::catch_unwind(|| archive::ole_has_vba(bytes)).unwrap_or(false) {
                hits.push(danger(Danger::Macro, None, true));
            }
        }
        Content::Container(c) => {
            if let Some(why) = allowance.spent() {
                hits.push(Hit::Cut(format!("not opened: {why}")));
                return hits;
            }
            let listing = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                archive::list_within(c, bytes, name, allowance)
            }))
            .unwrap_or_else(|_| archive::Listing {
                unreadable: Some(format!("the {c:?} reader failed on it")),
                ..Default::default()
            });
            if listing.encrypted {
                hits.push(Hit::Encrypted);
            }
            if let Some(why) = &listing.unreadable {
                hits.push(Hit::Unreadable(why.clone()));
            } else if listing.cut {
                hits.push(Hit::Cut(format!(
                    "listed {} members, beyond the bounds of {} members or {} decompressed bytes",
                    listing.members.len(),
                    archive::MAX_MEMBERS,
                    archive::MAX_UNPACKED
                )));
            }
            for m in &listing.members {
                if let Some(trick) = kind::name_trick(&m.name) {
                    hits.push(Hit::Trick {
                        trick,
                        member: Some(m.name.clone()),
                    });
                }
                if let Some((d, by_content)) = member_danger(m) {
                    hits.push(danger(d, Some(&m.name), by_content));
                }
            }
        }
        Content::Other => {}
    }
    if let Some(d) = kind::by_name(name) {
        if !hits
            .iter()
            .any(|h| matches!(h, Hit::Danger { danger, member: None, .. } if *danger == d))
        {
            hits.push(danger(d, None, false));
        }
    }
    hits
}

fn member_danger(m: &archive::Member) -> Option<(Danger, bool)> {
    if let Content::Danger(d) = kind::by_content(&m.head) {
        return Some((d, true));
    }
    // The VBA project of an OOXML file (docm, xlsm, pptm).
    let base = m.name.rsplit(['/', '\\']).next().unwrap_or("");
    if base.eq_ignore_ascii_case("vbaProject.bin") {
        return Some((Danger::Macro, true));
    }
    kind::by_name(&m.name).map(|d| (d, false))
}

fn finding_kind(danger: Danger) -> FindingKind {
    match danger {
        Danger::Executable => FindingKind::AttachmentExecutable,
        Danger::Script => FindingKind::AttachmentScript,
        Danger::Shortcut => FindingKind::AttachmentShortcut,
        Danger::DiskImage => FindingKind::AttachmentDiskImage,
        Danger::Macro => FindingKind::AttachmentMacro,
        Danger::OneNote => FindingKind::AttachmentOnenote,
    }
}

/// Findings for the attachments of `msg`, one per kind (the first file that
/// shows it is the evidence). `trusted` senders (the brand's own
/// authenticated mail, allowlisted senders) are authorised to send such
/// files and get none.
pub fn analyze(msg: &Message, bounds: &Bounds, trusted: bool) -> Vec<Finding> {
    if trusted {
        return Vec::new();
    }
    let mut files = Vec::new();
    let mut seen = 0;
    collect(msg, bounds, 0, &mut seen, &mut files);
    let mut out: Vec<Finding> = Vec::new();
    let mut allowance = archive::Allowance::for_message();
    for (index, name, bytes) in files {
        for hit in inspect_within(&name, bytes, &mut allowance) {
            let (kind, evidence) = describe(&hit, index, &name);
            if !out.iter().any(|f| f.kind == kind) {
                out.push(Finding::new(kind, evidence));
            }
        }
    }
    out
}

fn describe(hit: &Hit, part: usize, name: &str) -> (FindingKind, String) {
    let at = format!("part {part} \"{name}\"");
    match hit {
        Hit::Danger {
            danger,
            member,
            by_content,
        } => {
            let how = if *by_content { "by content" } else { "by name" };
            let what = danger.describe();
            let text = match member {
                Some(m) => format!("{at} contains \"{m}\": {what} ({how})"),
                None => format!("{at}: {what} ({how})"),
            };
            (finding_kind(*danger), text)
        }
        Hit::Encrypted => (
            FindingKind::ArchiveEncrypted,
            format!("{at}: password-protected archive, its content cannot be checked"),
        ),
        Hit::Unreadable(why) => (
            FindingKind::ArchiveUnreadable,
            format!("{at}: archive not readable within its bounds ({why})"),
        ),
        Hit::Cut(why) => (FindingKind::Truncated, format!("attachments: {at}: {why}")),
        Hit::Trick { trick, member } => {
            let which = member.as_deref().unwrap_or(name);
            (
                FindingKind::AttachmentNameTrick,
                format!("{at}: file name \"{which}\" uses {}", trick.describe()),
            )
        }
    }
}

/// The files of a message: every part with a file name, and every binary
/// part, within the part and depth bounds (which the link walk reports).
fn collect<'m>(
    msg: &'m Message,
    bounds: &Bounds,
    depth: usize,
    seen: &mut usize,
    files: &mut Vec<(usize, String, &'m [u8])>,
) {
    for part in &msg.parts {
        if *seen >= bounds.max_mime_parts {
            return;
        }
        *seen += 1;
        match &part.body {
            PartType::Message(inner) if depth < bounds.max_mime_depth => {
                collect(inner, bounds, depth + 1, seen, files)
            }
            PartType::Message(_) | PartType::Multipart(_) => {}
            PartType::Binary(_) | PartType::InlineBinary(_) => {
                files.push((*seen, file_name(part), part.contents()))
            }
            PartType::Text(_) | PartType::Html(_) => {
                if let Some(n) = part.attachment_name() {
                    files.push((*seen, n.to_string(), part.contents()));
                }
            }
        }
    }
}

fn file_name(part: &MessagePart) -> String {
    part.attachment_name().unwrap_or("(unnamed)").to_string()
}

#[cfg(test)]
mod tests;
