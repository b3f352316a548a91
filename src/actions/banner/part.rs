//! Puts the banner into one text part: undo the transfer encoding, read the
//! charset strictly, insert, write back in the part's own charset and
//! transfer encoding, or in UTF-8 with the part's header changed to match
//! when the banner cannot be written in that charset. Every result is read
//! back and compared before it is used: a part that would not decode to its
//! old text plus the banner is left alone.

use super::fields::{field_value, fields, set_field, with_charset};
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
    /// The banner as a reader decodes it from this part.
    pub banner: String,
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
    /// The boundaries of the message's multiparts: no line we write may
    /// read as one, or the customer would get parts we never judged.
    pub boundaries: &'a [Vec<u8>],
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
    // None when a byte is not valid in the charset: such text can still
    // take the banner in its own charset, bytes around it untouched, but
    // cannot be turned into UTF-8 without changing what it says.
    let text = enc.decode_without_bom_handling_and_without_replacement(&decoded);
    let banner = match p.kind {
        Kind::Plain => wording::text(notice, eol),
        Kind::Html => wording::html(notice, eol),
    };

    // In the part's own charset: the decoded bytes stay as they were and
    // the banner goes in between, if `at` splits them cleanly (not inside
    // an ISO-2022-JP double-byte run or an invalid sequence) and the banner
    // can be written. Lossy decoding is only used to compare: the bytes
    // written are the old ones plus the banner's.
    if let Some(at) = own_offset(p.kind, enc, &decoded, text.as_deref()) {
        let whole = enc.decode_without_bom_handling(&decoded).0;
        let before = enc.decode_without_bom_handling(&decoded[..at]).0;
        let after = enc.decode_without_bom_handling(&decoded[at..]).0;
        if before.len() + after.len() == whole.len() && whole.starts_with(&*before) {
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
                let reads = enc.decode_without_bom_handling(&b).0.into_owned();
                let want = format!("{before}{reads}{after}");
                if enc.decode_without_bom_handling(&new).0 == want {
                    return finish(p, &decoded, new, None, eol, reads);
                }
            }
        }
    }

    // In UTF-8, with the charset parameter changed to say so.
    let Some(text) = text else {
        return Change::Skipped("text does not decode in its charset");
    };
    let split = match p.kind {
        Kind::Plain => text.strip_prefix('\u{feff}').map_or(0, |_| 3),
        Kind::Html => super::html::banner_offset(text.as_bytes(), UTF_8)
            .filter(|&at| text.is_char_boundary(at))
            .unwrap_or(0),
    };
    if already(p.kind, &text[split..]) {
        return Change::Present;
    }
    let new = format!("{}{banner}{}", &text[..split], &text[split..]).into_bytes();
    finish(p, &decoded, new, Some("UTF-8"), eol, banner)
}

/// Where the banner goes in the decoded bytes, in their own charset.
fn own_offset(
    kind: Kind,
    enc: &'static Encoding,
    decoded: &[u8],
    text: Option<&str>,
) -> Option<usize> {
    match kind {
        Kind::Plain if enc == UTF_8 && decoded.starts_with(b"\xef\xbb\xbf") => Some(3),
        Kind::Plain => Some(0),
        Kind::Html if enc.is_ascii_compatible() => super::html::banner_offset(decoded, enc),
        // ISO-2022-JP: `<` and `>` bytes occur inside its double-byte runs,
        // so the tokenizer reads the decoded text, and the place found there
        // is traced back to the byte that ends it.
        Kind::Html => {
            let text = text?;
            let at = super::html::banner_offset(text.as_bytes(), UTF_8)?;
            byte_offset(enc, decoded, at)
        }
    }
}

/// The offset in `bytes` (in `enc`) whose decoding ends exactly at `chars`
/// bytes of UTF-8 output.
fn byte_offset(enc: &'static Encoding, bytes: &[u8], chars: usize) -> Option<usize> {
    if chars == 0 {
        return Some(0);
    }
    let mut dec = enc.new_decoder_without_bom_handling();
    let mut out = [0u8; 16];
    let mut written = 0;
    for (i, b) in bytes.iter().enumerate() {
        let (res, _, n) =
            dec.decode_to_utf8_without_replacement(std::slice::from_ref(b), &mut out, false);
        if !matches!(res, encoding_rs::DecoderResult::InputEmpty) {
            return None;
        }
        written += n;
        if written == chars {
            return Some(i + 1);
        }
        if written > chars {
            return None;
        }
    }
    None
}

fn already(kind: Kind, after: &str) -> bool {
    match kind {
        Kind::Plain => wording::has_text_banner(after),
        Kind::Html => wording::has_html_banner(after),
    }
}

/// Writes the new decoded content back in the part's transfer encoding
/// (changing it from 7bit to quoted-printable when 8-bit bytes appear), and
/// the header fields that must change with it.
fn finish(
    p: &Part,
    old: &[u8],
    new: Vec<u8>,
    charset: Option<&str>,
    eol: &str,
    banner: String,
) -> Change {
    let mut cte = p.cte;
    if cte == Cte::SevenBit && !new.is_ascii() && old.is_ascii() {
        cte = Cte::QuotedPrintable;
    }
    // Written as it is, the banner (or a line it pushes to a line start)
    // could read as a boundary: quoted-printable as we write it cannot.
    if matches!(cte, Cte::SevenBit | Cte::EightBit) && adds_boundary(old, &new, p.boundaries) {
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
        let Some(value) = with_charset(old.as_deref().unwrap_or(kind), cs) else {
            return Change::Skipped("Content-Type cannot be rewritten");
        };
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
        banner,
    })
}

/// Whether `new` holds a `--boundary` (anywhere, as mail-parser reads
/// them, or at a line start, as RFC 2046 readers do) that `old` did not.
fn adds_boundary(old: &[u8], new: &[u8], boundaries: &[Vec<u8>]) -> bool {
    let count = |hay: &[u8], b: &[u8]| {
        let mut any = 0usize;
        let mut at_line = 0usize;
        for i in 0..hay.len().saturating_sub(1) {
            if hay[i..].starts_with(b"--") && hay[i + 2..].starts_with(b) {
                any += 1;
                at_line += usize::from(i == 0 || hay[i - 1] == b'\n');
            }
        }
        (any, at_line)
    };
    boundaries.iter().any(|b| {
        let (o, n) = (count(old, b), count(new, b));
        n.0 > o.0 || n.1 > o.1
    })
}

/// Quoted-printable in which no line starts with `-` and no two `-` stand
/// side by side (the second is written `=2D`): whatever the text says, no
/// line of it can read as a boundary, to an RFC 2046 reader or to one that
/// finds `--boundary` anywhere. The quoted_printable crate has no such
/// option, and escaping its output afterwards would push lines past 76.
fn qp(data: &[u8], eol: &str) -> Vec<u8> {
    // Written byte by byte: Japanese text escapes every byte, and a
    // format! per byte was a tenth of the banner's cost.
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // Characters before a soft break's `=`.
    const MAX: usize = 75;
    let mut out = Vec::with_capacity(data.len() + data.len() / 8 + 8);
    for chunk in data.split_inclusive(|&b| b == b'\n') {
        let (line, hard) = match chunk.strip_suffix(b"\n") {
            Some(l) => (l.strip_suffix(b"\r").unwrap_or(l), true),
            None => (chunk, false),
        };
        let mut col = 0;
        let mut dash = false;
        for (i, &c) in line.iter().enumerate() {
            let last = i + 1 == line.len();
            let literal = |col: usize, dash: bool| match c {
                b'=' => false,
                b' ' | b'\t' => !last,
                b'-' => col > 0 && !dash,
                33..=126 => true,
                _ => false,
            };
            let width = |lit: bool| if lit { 1 } else { 3 };
            if col + width(literal(col, dash)) > MAX {
                out.push(b'=');
                out.extend_from_slice(eol.as_bytes());
                col = 0;
                dash = false;
            }
            if literal(col, dash) {
                out.push(c);
                col += 1;
                dash = c == b'-';
            } else {
                out.extend_from_slice(&[b'=', HEX[usize::from(c >> 4)], HEX[usize::from(c & 15)]]);
                col += 3;
                dash = false;
            }
        }
        if hard {
            out.extend_from_slice(eol.as_bytes());
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_parameter_is_replaced_or_added() {
        let set = |v: &str| with_charset(v, "UTF-8").unwrap();
        assert_eq!(
            set("text/plain; charset=\"iso-2022-jp\"; format=flowed"),
            "text/plain; charset=UTF-8; format=flowed"
        );
        assert_eq!(
            set("text/html;Charset = shift_jis"),
            "text/html;Charset = UTF-8"
        );
        assert_eq!(set("text/plain"), "text/plain; charset=UTF-8");
        assert_eq!(
            set("text/plain; name=\"charset.txt\""),
            "text/plain; name=\"charset.txt\"; charset=UTF-8"
        );
    }

    #[test]
    fn quoted_strings_and_comments_are_kept_whole() {
        let set = |v: &str| with_charset(v, "UTF-8");
        // Issue #19: the `; charset=bad` inside quotes is the name's text.
        assert_eq!(
            set("text/plain; name=\"; charset=bad\""),
            Some("text/plain; name=\"; charset=bad\"; charset=UTF-8".into())
        );
        assert_eq!(
            set("text/plain; x=\"a\\\"; charset=bad\"; charset=us-ascii (c; charset=no)"),
            Some("text/plain; x=\"a\\\"; charset=bad\"; charset=UTF-8 (c; charset=no)".into())
        );
        assert_eq!(
            set("text/plain; charset*=us-ascii''x; format=flowed"),
            Some("text/plain; format=flowed; charset=UTF-8".into())
        );
        // Anything appended would land inside the open quote.
        assert_eq!(set("text/plain; name=\"open"), None);
    }

    #[test]
    fn quoted_printable_never_writes_a_boundary() {
        let text = b"--BOUNDARY\r\nx--BOUNDARY--\r\n-\r\n".to_vec();
        let mut long = "a".repeat(74).into_bytes();
        long.extend_from_slice(b"--BOUNDARY\r\n");
        for data in [text, long] {
            let out = qp(&data, "\r\n");
            assert!(
                !out.windows(2).any(|w| w == b"--"),
                "{}",
                String::from_utf8_lossy(&out)
            );
            for line in out.split(|&b| b == b'\n') {
                assert!(!line.starts_with(b"-"));
                assert!(line.len() <= 77, "{}", line.len());
            }
            assert_eq!(quoted_printable_decode(&out).unwrap(), data);
        }
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
}
