//! The message as every analyser sees it: the SMTP envelope, the bounds on
//! the work it may cause, and the facts about its sender that several
//! analysers need, worked out once per message by [`crate::analysis`].

use crate::vocab::auth::AuthSummary;
use mail_parser::Message;
use serde::Serialize;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// What the MTA told us about the SMTP transaction.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Envelope {
    pub client_ip: Option<IpAddr>,
    pub client_name: Option<String>,
    pub helo: String,
    /// MAIL FROM address without angle brackets; empty for the null sender.
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub queue_id: Option<String>,
}

/// Bounds on the work one message may cause in analysis. Reaching one is
/// reported as a `truncated` finding, never silently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    /// Bytes of a message kept for analysis; the rest passes through unread.
    pub max_message_bytes: usize,
    pub max_mime_parts: usize,
    pub max_mime_depth: usize,
    /// Bytes of HTML handed to the tokenizer, per message.
    pub max_html_bytes: usize,
    pub max_links: usize,
    /// Images decoded to look for QR codes, per message.
    pub max_qr_images: usize,
    /// An image with more pixels (by its header) is not decoded.
    pub max_qr_image_pixels: u64,
    /// Pixels decoded to look for QR codes, per message.
    pub max_qr_pixels_total: u64,
    /// When the analysis of this message must stop: stages look at it
    /// between parts, so one message cannot hold a thread for minutes.
    pub deadline: Deadline,
}

/// Why only part of a message was kept for analysis: the MTA passes the
/// rest through unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Truncation {
    /// Larger than `max_message_bytes`.
    Bytes,
    /// More header fields than `max_headers`.
    Headers,
}

/// A point in time after which analysis stops and judges what it has seen.
/// `Deadline::default()` never passes (tests, and callers that bound time
/// elsewhere).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deadline {
    at: Option<Instant>,
    budget_ms: u64,
}

impl Deadline {
    /// A deadline `budget_ms` from now; 0 means none.
    pub fn in_ms(budget_ms: u64) -> Deadline {
        Deadline {
            at: (budget_ms > 0).then(|| Instant::now() + Duration::from_millis(budget_ms)),
            budget_ms,
        }
    }

    pub fn passed(&self) -> bool {
        self.at.is_some_and(|at| Instant::now() >= at)
    }

    /// The budget it was set with, for the `truncated` finding's evidence.
    pub fn budget_ms(&self) -> u64 {
        self.budget_ms
    }
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_message_bytes: 4 * 1024 * 1024,
            max_mime_parts: 200,
            max_mime_depth: 10,
            max_html_bytes: 2 * 1024 * 1024,
            max_links: 500,
            // A phone photo is 12 megapixels; a QR code mailed to be
            // scanned is a few hundred thousand. Decoding and scanning
            // cost about 50 ms and 5 bytes of memory per megapixel.
            max_qr_images: 10,
            max_qr_image_pixels: 16_000_000,
            max_qr_pixels_total: 24_000_000,
            deadline: Deadline::default(),
        }
    }
}

/// One parsed message with its envelope, authentication results and the
/// sender facts that the sender, link and lure analysers all judge by.
pub struct Mail<'a> {
    pub msg: &'a Message<'a>,
    pub env: &'a Envelope,
    pub auth: &'a AuthSummary,
    /// RFC 5322 From domain (ASCII, lower-case), if there is exactly one.
    pub from_domain: Option<String>,
    /// The registrable domain of `from_domain`.
    pub sender_registrable: Option<String>,
    /// The protected brand whose official or authorised domain sent this
    /// mail with passing DMARC or an aligned DKIM pass.
    pub official_sender: Option<&'a str>,
    /// The Subject as the reader's client shows it (see [`subject`]).
    pub subject: Option<String>,
    /// The From display name as the reader's client shows it (see [`from_name`]).
    pub from_name: Option<String>,
    /// The start of the readable body, read once when an analyser first asks
    /// (see [`Mail::body_head`]).
    pub body_head: std::cell::OnceCell<String>,
}

/// Bytes of readable body text the analysers read: greetings, lure wording
/// and numbers to call sit at the top, where the reader sees them; the same
/// words in a newsletter's tenth article are talk, not a request.
pub const BODY_HEAD_BYTES: usize = 8 * 1024;

impl Mail<'_> {
    /// The first [`BODY_HEAD_BYTES`] of the first readable body part as text
    /// (HTML converted), cut at a character boundary. Converting HTML is
    /// costly, so it is done at most once per message, and only when asked.
    pub fn body_head(&self) -> &str {
        self.body_head.get_or_init(|| {
            self.msg
                .body_text(0)
                .map(|b| head(&b, BODY_HEAD_BYTES).to_string())
                .unwrap_or_default()
        })
    }
}

/// The start of `s`, at most `max` bytes, cut at a character boundary.
pub fn head(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The Subject as a reader's client shows it (see [`reread`]).
pub fn subject(msg: &Message) -> Option<String> {
    match reread(msg, "Subject") {
        Some(m) => m.subject().map(|s| s.trim().to_string()),
        None => msg.subject().map(str::to_string),
    }
}

/// The first From display name as a reader's client shows it (see [`reread`]).
pub fn from_name(msg: &Message) -> Option<String> {
    let name = |m: &Message| {
        m.from()
            .and_then(|f| f.first())
            .and_then(|a| a.name())
            .map(str::to_string)
    };
    match reread(msg, "From") {
        Some(m) => name(&m),
        None => name(msg),
    }
}

/// A top-level header parsed again from its raw bytes, when mail-parser's
/// own reading is wrong: it reads raw bytes as UTF-8, so an undeclared
/// Shift_JIS, EUC-JP or ISO-2022-JP value (common in Japanese mail) comes
/// out as replacement characters or escapes. The bytes are decoded by the
/// charset they fit, and the text is parsed again so that encoded-words and
/// addresses beside the raw bytes are read as usual. `None` when the value
/// is ASCII or UTF-8, which mail-parser reads right.
fn reread(msg: &Message, name: &str) -> Option<Message<'static>> {
    let header = msg
        .parts
        .first()?
        .headers
        .iter()
        .find(|h| h.name.as_str().eq_ignore_ascii_case(name))?;
    let raw = msg
        .raw_message
        .get(header.offset_start as usize..header.offset_end as usize)?;
    if !raw.contains(&0x1b) && std::str::from_utf8(raw).is_ok() {
        return None;
    }
    let unfolded: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    let text = crate::vocab::header_text::decode_undeclared(&unfolded);
    let again = format!("{name}: {}\r\n\r\n", text.trim());
    mail_parser::MessageParser::new()
        .parse_headers(again.as_bytes())
        .map(Message::into_owned)
}

/// The RFC 5322 From domain, when the message has a single From address.
pub fn from_domain(msg: &Message) -> Option<String> {
    let from = msg.from()?;
    let first = from.first()?;
    if from.iter().count() != 1 {
        return None;
    }
    crate::vocab::domain::of_address(first.address()?)
}

/// Copies `value`, turning bare LF line ends into CRLF: mail as the MTA
/// hands it to a milter, whose headers and body arrive with CRLF.
pub fn push_crlf(out: &mut Vec<u8>, value: &[u8]) {
    let mut prev = 0u8;
    for &b in value {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
}

/// A message file as the daemon would have received it (CRLF line ends),
/// so `check` and `eval` verify simple-canonicalised DKIM signatures on
/// files saved with bare LF exactly as the daemon does.
pub fn as_received(raw: Vec<u8>) -> Vec<u8> {
    if !raw.contains(&b'\n') {
        return raw;
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32);
    push_crlf(&mut out, &raw);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &[u8]) -> Message<'_> {
        mail_parser::MessageParser::new().parse(raw).unwrap()
    }

    #[test]
    fn headers_read_as_the_reader_sees_them() {
        // An encoded-word beside raw UTF-8 (a list re-folded the Subject).
        let raw = "Subject: [SPAM] =?UTF-8?B?44CM44GI44GN44Gt44Gj44Go44CN?=\r\n\t\u{3064}\u{3044}\u{3066}\r\n\r\nx";
        assert_eq!(
            subject(&parsed(raw.as_bytes())).as_deref(),
            Some("[SPAM] 「えきねっと」 ついて")
        );
        // A display name in raw, undeclared Shift_JIS.
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("三井住友カード");
        let mut raw = b"From: ".to_vec();
        raw.extend_from_slice(&sjis);
        raw.extend_from_slice(b" <info@example.net>\r\nSubject: x\r\n\r\nbody");
        let msg = parsed(&raw);
        assert_eq!(from_name(&msg).as_deref(), Some("三井住友カード"));
        assert_eq!(
            msg.from().and_then(|f| f.first()).and_then(|a| a.address()),
            Some("info@example.net")
        );
    }

    #[test]
    fn head_cuts_at_a_character_boundary() {
        assert_eq!(head("本人確認", 4), "本");
        assert_eq!(head("abc", 10), "abc");
    }

    #[test]
    fn files_read_as_the_daemon_receives_them() {
        assert_eq!(
            as_received(b"A: b\n\nx\r\ny\n".to_vec()),
            b"A: b\r\n\r\nx\r\ny\r\n"
        );
    }
}
