//! Structure-aware MIME: trees of parts with nesting, many parts, many
//! header fields, charsets and transfer encodings, rendered into a real
//! message and analysed. Finds what random bytes rarely build: deep and
//! wide trees that are still well-formed.
#![no_main]
use arbitrary::Arbitrary;
use kinko_milter::analysis::analyze;
use kinko_milter::settings::limits::Limits;
use kinko_milter::vocab::message::Envelope;
use kinko_milter::vocab::auth::AuthSummary;
use kinko_milter::analysis::policy::Policy;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

#[derive(Arbitrary, Debug)]
enum Part {
    Text { charset: u8, encoding: u8, html: bool, body: String },
    Binary { name: String, ctype: u8, encoding: u8, data: Vec<u8> },
    Multipart { subtype: u8, children: Vec<Part> },
    Message { fields: Vec<(u8, String)>, inner: Box<Part> },
    /// The same part repeated: wide trees without a large input.
    Repeat { times: u8, part: Box<Part> },
    /// Nesting without a large input.
    Deep { levels: u16, kind: bool },
}

#[derive(Arbitrary, Debug)]
struct Mail {
    fields: Vec<(u8, String)>,
    extra_fields: u16,
    body: Part,
}

const CHARSETS: &[&str] = &["utf-8", "iso-2022-jp", "shift_jis", "euc-jp", "gb2312", "us-ascii", "x-unknown"];
const ENCODINGS: &[&str] = &["7bit", "8bit", "base64", "quoted-printable", "binary", "x-bogus"];
const FIELDS: &[&str] = &["From", "Subject", "To", "Reply-To", "Content-Disposition", "X-Other"];
const SUBTYPES: &[&str] = &["mixed", "alternative", "related", "report", "digest"];
const CTYPES: &[&str] = &["application/octet-stream", "application/zip", "image/png", "text/html", "application/pdf"];

fn pick<'a>(list: &[&'a str], i: u8) -> &'a str {
    list[i as usize % list.len()]
}

fn encode(data: &[u8], encoding: &str) -> Vec<u8> {
    match encoding {
        "base64" => kinko_milter::vocab::header_text::base64(data).into_bytes(),
        "quoted-printable" => data
            .iter()
            .flat_map(|&b| {
                if b == b'=' || !(0x20..0x7f).contains(&b) && b != b'\n' {
                    format!("={b:02X}").into_bytes()
                } else {
                    vec![b]
                }
            })
            .collect(),
        _ => data.to_vec(),
    }
}

fn render(part: &Part, out: &mut Vec<u8>, n: &mut usize) {
    *n += 1;
    if *n > 5000 || out.len() > 4 << 20 {
        out.extend(b"Content-Type: text/plain\r\n\r\ncut\r\n");
        return;
    }
    match part {
        Part::Text { charset, encoding, html, body } => {
            let sub = if *html { "html" } else { "plain" };
            let enc = pick(ENCODINGS, *encoding);
            out.extend(format!("Content-Type: text/{sub}; charset={}\r\nContent-Transfer-Encoding: {enc}\r\n\r\n", pick(CHARSETS, *charset)).bytes());
            out.extend(encode(body.as_bytes(), enc));
            out.extend(b"\r\n");
        }
        Part::Binary { name, ctype, encoding, data } => {
            let enc = pick(ENCODINGS, *encoding);
            out.extend(format!("Content-Type: {}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: {enc}\r\n\r\n", pick(CTYPES, *ctype)).bytes());
            out.extend(encode(data, enc));
            out.extend(b"\r\n");
        }
        Part::Multipart { subtype, children } => {
            let b = format!("b{n}");
            out.extend(format!("Content-Type: multipart/{}; boundary=\"{b}\"\r\n\r\n", pick(SUBTYPES, *subtype)).bytes());
            for c in children {
                out.extend(format!("--{b}\r\n").bytes());
                render(c, out, n);
            }
            out.extend(format!("--{b}--\r\n").bytes());
        }
        Part::Message { fields, inner } => {
            out.extend(b"Content-Type: message/rfc822\r\n\r\n");
            for (f, v) in fields {
                out.extend(format!("{}: {v}\r\n", pick(FIELDS, *f)).bytes());
            }
            render(inner, out, n);
        }
        Part::Repeat { times, part } => {
            let b = format!("r{n}");
            out.extend(format!("Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n").bytes());
            for _ in 0..*times {
                out.extend(format!("--{b}\r\n").bytes());
                render(part, out, n);
            }
            out.extend(format!("--{b}--\r\n").bytes());
        }
        Part::Deep { levels, kind } => {
            for i in 0..*levels {
                if *kind {
                    out.extend(b"Content-Type: message/rfc822\r\n\r\n");
                } else {
                    out.extend(format!("Content-Type: multipart/mixed; boundary=d{i}\r\n\r\n--d{i}\r\n").bytes());
                }
            }
            out.extend(b"Content-Type: text/plain\r\n\r\nbottom\r\n");
        }
    }
}

static POLICY: OnceLock<Policy> = OnceLock::new();

fuzz_target!(|mail: Mail| {
    let policy = POLICY.get_or_init(|| Policy::embedded().unwrap());
    let mut raw = Vec::new();
    for (f, v) in &mail.fields {
        raw.extend(format!("{}: {v}\r\n", pick(FIELDS, *f)).bytes());
    }
    for i in 0..mail.extra_fields.min(5000) {
        raw.extend(format!("X-Field-{i}: v\r\n").bytes());
    }
    raw.extend(b"MIME-Version: 1.0\r\n");
    let mut n = 0;
    render(&mail.body, &mut raw, &mut n);
    let limits = Limits::default();
    let a = analyze(&raw, None, &Envelope::default(), &AuthSummary::default(), policy, &limits);
    for f in &a.findings {
        assert!(!f.evidence.contains('\n') && !f.evidence.contains('\r'));
    }
});
