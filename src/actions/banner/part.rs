//! Puts the banner into one text part: undo the transfer encoding, read the
//! charset strictly, insert, write back in the part's own charset and
//! transfer encoding, or in UTF-8 with the part's header changed to match
//! when the banner cannot be written in that charset. Every result is read
//! back and compared before it is used: a part that would not decode to its
//! old text plus the banner is left alone.

use super::wording::{self, Notice};
use encoding_rs::{Encoding, UTF_8};
use mail_parser::decoders::{base64::base64_decode, quoted_printable::quoted_printable_decode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Plain,
    Html,
}

/// Content-Transfer-Encoding of a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cte {
    /// 7bit, or none stated.
    SevenBit,
    /// 8bit or binary.
    EightBit,
    QuotedPrintable,
    Base64,
}

impl Cte {
    /// `None` for encodings we do not write (uuencode, x-token …).
    pub fn parse(value: Option<&str>) -> Option<Cte> {
        let v = value.map(|v| v.trim().to_ascii_lowercase());
        Some(match v.as_deref() {
            None | Some("") | Some("7bit") => Cte::SevenBit,
            Some("8bit") | Some("binary") => Cte::EightBit,
            Some("quoted-printable") => Cte::QuotedPrintable,
            Some("base64") => Cte::Base64,
            Some(_) => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Cte::SevenBit => "7bit",
            Cte::EightBit => "8bit",
            Cte::QuotedPrintable => "quoted-printable",
            Cte::Base64 => "base64",
        }
    }
}

/// One part's new header block and body.
#[derive(Debug)]
pub struct Edit {
    pub header: Vec<u8>,
    pub body: Vec<u8>,
    /// Fields replaced or added in the header block (name, value), for the
    /// top-level part, whose header the MTA changes field by field.
    pub fields: Vec<(String, String)>,
}

#[derive(Debug)]
pub enum Change {
    Edit(Edit),
    /// The part starts with our banner already.
    Present,
    /// Left alone, and why.
    Skipped(&'static str),
}

pub struct Part<'a> {
    pub header: &'a [u8],
    pub body: &'a [u8],
    pub charset: Option<&'a str>,
    pub cte: Cte,
    pub kind: Kind,
}

pub fn rewrite(p: &Part, notice: &Notice) -> Change {
    // A part whose header has no blank line after it (cut or malformed
    // mail) has no body to put the banner in: what we wrote would read as
    // more header.
    let eol = if p.header.ends_with(b"\r\n\r\n") || p.header == b"\r\n" {
        "\r\n"
    } else if p.header.ends_with(b"\n\n") || p.header == b"\n" {
        "\n"
    } else {
        return Change::Skipped("header does not end in a blank line");
    };
    let decoded = match p.cte {
        Cte::SevenBit | Cte::EightBit => p.body.to_vec(),
        Cte::QuotedPrintable => match quoted_printable_decode(p.body) {
            Some(d) => d,
            None => return Change::Skipped("quoted-printable does not decode"),
        },
        Cte::Base64 => match base64_decode(p.body) {
            Some(d) => d,
            None => return Change::Skipped("base64 does not decode"),
        },
    };
    // No charset means US-ASCII, which encoding_rs reads as windows-1252:
    // a superset, so ASCII text decodes the same.
    let label = p.charset.unwrap_or("us-ascii").trim();
    let Some(enc) = Encoding::for_label(label.as_bytes()) else {
        return Change::Skipped("unknown charset");
    };
    if enc.output_encoding() != enc {
        // UTF-16 and the replacement encoding: nothing we can write back.
        return Change::Skipped("charset cannot be written");
    }
    let Some(text) = enc.decode_without_bom_handling_and_without_replacement(&decoded) else {
        return Change::Skipped("text does not decode in its charset");
    };
    let at = match p.kind {
        Kind::Plain => {
            if enc == UTF_8 && decoded.starts_with(b"\xef\xbb\xbf") {
                3
            } else {
                0
            }
        }
        Kind::Html => after_body_tag(&decoded),
    };
    let banner = match p.kind {
        Kind::Plain => wording::text(notice, eol),
        Kind::Html => wording::html(notice, eol),
    };

    // In the part's own charset: the decoded bytes stay as they were and
    // the banner goes in between, if `at` splits them cleanly (not inside
    // an ISO-2022-JP double-byte run) and the banner can be written.
    if let (Some(before), Some(after)) = (
        enc.decode_without_bom_handling_and_without_replacement(&decoded[..at]),
        enc.decode_without_bom_handling_and_without_replacement(&decoded[at..]),
    ) {
        if before.len() + after.len() == text.len() && text.starts_with(&*before) {
            if already(p.kind, &after) {
                return Change::Present;
            }
            let (b, _, unmappable) = enc.encode(&banner);
            // HTML takes unmappable characters as character references.
            if !unmappable || p.kind == Kind::Html {
                let mut new = Vec::with_capacity(decoded.len() + b.len());
                new.extend_from_slice(&decoded[..at]);
                new.extend_from_slice(&b);
                new.extend_from_slice(&decoded[at..]);
                let want = format!("{before}{}{after}", enc.decode_without_bom_handling(&b).0);
                if enc
                    .decode_without_bom_handling_and_without_replacement(&new)
                    .is_some_and(|got| got == want)
                {
                    return finish(p, &decoded, new, None, eol);
                }
            }
        }
    }

    // In UTF-8, with the charset parameter changed to say so.
    let split = char_split(&text, p.kind);
    if already(p.kind, &text[split..]) {
        return Change::Present;
    }
    let new = format!("{}{banner}{}", &text[..split], &text[split..]).into_bytes();
    finish(p, &decoded, new, Some("UTF-8"), eol)
}

fn already(kind: Kind, after: &str) -> bool {
    match kind {
        Kind::Plain => wording::has_text_banner(after),
        Kind::Html => wording::has_html_banner(after),
    }
}

/// Where the banner goes in decoded text, as a char boundary.
fn char_split(text: &str, kind: Kind) -> usize {
    match kind {
        Kind::Plain => text.strip_prefix('\u{feff}').map_or(0, |_| 3),
        Kind::Html => after_body_tag(text.as_bytes()),
    }
}

/// The offset just past `<body ...>`, or 0 if there is none. Works on
/// the bytes of any ASCII-compatible charset: `<`, `>` and quotes are never
/// part of a multi-byte character in UTF-8, Shift_JIS or EUC-JP.
fn after_body_tag(b: &[u8]) -> usize {
    let mut i = 0;
    while let Some(rel) = b[i..].iter().position(|&c| c == b'<') {
        let start = i + rel;
        let tag = &b[start + 1..];
        if tag.len() >= 5
            && tag[..4].eq_ignore_ascii_case(b"body")
            && matches!(tag[4], b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/')
        {
            let mut quote = None;
            for (j, &c) in tag.iter().enumerate() {
                match (quote, c) {
                    (None, b'"' | b'\'') => quote = Some(c),
                    (Some(q), c) if c == q => quote = None,
                    (None, b'>') => return start + 1 + j + 1,
                    _ => {}
                }
            }
            return 0;
        }
        i = start + 1;
    }
    0
}

/// Writes the new decoded content back in the part's transfer encoding
/// (changing it from 7bit to quoted-printable when 8-bit bytes appear), and
/// the header fields that must change with it.
fn finish(p: &Part, old: &[u8], new: Vec<u8>, charset: Option<&str>, eol: &str) -> Change {
    let mut cte = p.cte;
    if cte == Cte::SevenBit && !new.is_ascii() && old.is_ascii() {
        cte = Cte::QuotedPrintable;
    }
    let mut body = match cte {
        Cte::SevenBit | Cte::EightBit => new,
        Cte::QuotedPrintable => qp(&new, eol),
        Cte::Base64 => base64(&new, eol),
    };
    // The line end before a boundary belongs to the boundary: keep the
    // part's last line ended as it was.
    let ended = p.body.ends_with(b"\n");
    if ended && !body.ends_with(b"\n") {
        if cte == Cte::QuotedPrintable {
            body.push(b'=');
        }
        body.extend_from_slice(eol.as_bytes());
    }
    // A field given twice is read differently by different readers: which
    // one to change is a guess, so the part stays as it was.
    let changing = [
        ("Content-Type", charset.is_some()),
        ("Content-Transfer-Encoding", cte != p.cte),
    ];
    for (name, _) in changing.iter().filter(|(_, c)| *c) {
        let n = fields(p.header)
            .iter()
            .filter(|(_, f)| f.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
            .count();
        if n > 1 {
            return Change::Skipped("a content field given twice");
        }
    }
    let mut fields = Vec::new();
    let mut header = p.header.to_vec();
    if let Some(cs) = charset {
        let old = field_value(&header, "Content-Type");
        let kind = if p.kind == Kind::Html {
            "text/html"
        } else {
            "text/plain"
        };
        let value = with_charset(old.as_deref().unwrap_or(kind), cs);
        header = set_field(&header, "Content-Type", &value, eol);
        fields.push(("Content-Type".to_string(), value));
    }
    if cte != p.cte {
        header = set_field(&header, "Content-Transfer-Encoding", cte.name(), eol);
        fields.push(("Content-Transfer-Encoding".into(), cte.name().into()));
    }
    Change::Edit(Edit {
        header,
        body,
        fields,
    })
}

fn qp(data: &[u8], eol: &str) -> Vec<u8> {
    // The encoder keeps CRLF as line breaks and escapes a lone LF: give it
    // CRLF, then write the part's own line end.
    let mut crlf = Vec::with_capacity(data.len() + data.len() / 40);
    crate::vocab::message::push_crlf(&mut crlf, data);
    let out = quoted_printable::encode(&crlf);
    if eol == "\r\n" {
        out
    } else {
        String::from_utf8_lossy(&out)
            .replace("\r\n", "\n")
            .into_bytes()
    }
}

fn base64(data: &[u8], eol: &str) -> Vec<u8> {
    let s = crate::vocab::header_text::base64(data);
    let mut out = Vec::with_capacity(s.len() + s.len() / 38 + 2);
    for line in s.as_bytes().chunks(76) {
        out.extend_from_slice(line);
        out.extend_from_slice(eol.as_bytes());
    }
    out
}

/// Byte ranges of each field in a header block (continuation lines
/// included), with its name.
fn fields(h: &[u8]) -> Vec<(std::ops::Range<usize>, &[u8])> {
    let mut out: Vec<(std::ops::Range<usize>, &[u8])> = Vec::new();
    let mut i = 0;
    while i < h.len() {
        let end = h[i..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(h.len(), |p| i + p + 1);
        let line = &h[i..end];
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(last) = out.last_mut() {
                last.0.end = end;
            }
        } else if let Some(colon) = line.iter().position(|&c| c == b':') {
            out.push((i..end, &line[..colon]));
        }
        i = end;
    }
    out
}

fn field_value(h: &[u8], name: &str) -> Option<String> {
    let (range, n) = fields(h)
        .into_iter()
        .find(|(_, n)| n.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))?;
    let raw = &h[range.start + n.len() + 1..range.end];
    let text = String::from_utf8_lossy(raw);
    // Unfolded, as one line.
    Some(
        text.split(['\r', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The header block with `name` replaced (its first occurrence), or added
/// just before the blank line that ends the block.
fn set_field(h: &[u8], name: &str, value: &str, eol: &str) -> Vec<u8> {
    let line = format!("{name}: {value}{eol}");
    let mut out = Vec::with_capacity(h.len() + line.len());
    if let Some((range, _)) = fields(h)
        .into_iter()
        .find(|(_, n)| n.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
    {
        out.extend_from_slice(&h[..range.start]);
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(&h[range.end..]);
        return out;
    }
    let blank = if h.ends_with(b"\r\n\r\n") || h == b"\r\n" {
        2
    } else if h.ends_with(b"\n\n") || h == b"\n" {
        1
    } else {
        0
    };
    let at = h.len() - blank;
    out.extend_from_slice(&h[..at]);
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(&h[at..]);
    out
}

/// A Content-Type value with its charset parameter set.
fn with_charset(value: &str, charset: &str) -> String {
    let lower = value.to_ascii_lowercase();
    let mut search = 0;
    while let Some(rel) = lower[search..].find("charset") {
        let start = search + rel;
        let before = lower[..start].trim_end();
        let rest = lower[start + 7..].trim_start();
        if before.ends_with(';') && rest.starts_with('=') {
            let eq = start + 7 + (lower[start + 7..].len() - rest.len());
            let vstart = eq + 1 + (lower[eq + 1..].len() - lower[eq + 1..].trim_start().len());
            let vend = if value[vstart..].starts_with('"') {
                value[vstart + 1..]
                    .find('"')
                    .map_or(value.len(), |q| vstart + 1 + q + 1)
            } else {
                value[vstart..]
                    .find(|c: char| c == ';' || c.is_whitespace())
                    .map_or(value.len(), |e| vstart + e)
            };
            return format!("{}{charset}{}", &value[..vstart], &value[vend..]);
        }
        search = start + 7;
    }
    format!(
        "{}; charset={charset}",
        value.trim_end().trim_end_matches(';')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_parameter_is_replaced_or_added() {
        assert_eq!(
            with_charset(
                "text/plain; charset=\"iso-2022-jp\"; format=flowed",
                "UTF-8"
            ),
            "text/plain; charset=UTF-8; format=flowed"
        );
        assert_eq!(
            with_charset("text/html;Charset = shift_jis", "UTF-8"),
            "text/html;Charset = UTF-8"
        );
        assert_eq!(
            with_charset("text/plain", "UTF-8"),
            "text/plain; charset=UTF-8"
        );
        assert_eq!(
            with_charset("text/plain; name=\"charset.txt\"", "UTF-8"),
            "text/plain; name=\"charset.txt\"; charset=UTF-8"
        );
    }

    #[test]
    fn fields_are_replaced_with_their_folds_or_added_before_the_blank_line() {
        let h = b"Content-Type: text/plain;\r\n\tcharset=us-ascii\r\nX-A: 1\r\n\r\n";
        assert_eq!(
            set_field(h, "Content-Type", "text/plain; charset=UTF-8", "\r\n"),
            b"Content-Type: text/plain; charset=UTF-8\r\nX-A: 1\r\n\r\n"
        );
        assert_eq!(
            set_field(h, "Content-Transfer-Encoding", "base64", "\r\n"),
            b"Content-Type: text/plain;\r\n\tcharset=us-ascii\r\nX-A: 1\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        );
    }

    #[test]
    fn body_tag_end_skips_quoted_angle_brackets() {
        let h = b"<html><head><title>x</title></head><BODY data-x=\"a>b\">hi";
        assert_eq!(&h[after_body_tag(h)..], b"hi");
        assert_eq!(after_body_tag(b"<bodyx><p>no body"), 0);
    }
}
