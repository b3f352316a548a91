//! A message with the banner has the same part tree as without it, and
//! every part the banner did not go into decodes to the same bytes; those
//! it went into read as before with one span (the banner) added.
//!
//! Checked here with mail-parser directly, not through the banner's own
//! check. Messages are built from a structure (nested multiparts, text in
//! every transfer encoding, with the strings that make boundaries, HTML
//! bodies and charsets hard) or, when the first byte says so, taken raw.
#![no_main]
use arbitrary::{Arbitrary, Unstructured};
use kinko_milter::actions::banner::{insert, Lang, Notice, Outcome};
use libfuzzer_sys::fuzz_target;
use mail_parser::{MessageParser, MimeHeaders, PartType};

const BOUNDARIES: &[&str] = &["b", "BOUNDARY", "b-1", "=_x", "b1"];
const CHARSETS: &[&str] = &[
    "utf-8",
    "us-ascii",
    "iso-2022-jp",
    "shift_jis",
    "iso-8859-1",
    "bad",
];
const FRAGMENTS: &[&[u8]] = &[
    b"--",
    b"-",
    b"--b",
    b"--BOUNDARY",
    b"--b-1--",
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"=",
    b"<body>",
    b"<BODY class=\"a>b\">",
    b"<!--",
    b"-->",
    b"<title>",
    b"</title>",
    b"<head>",
    b"</head>",
    b"<html>",
    b"<p>",
    b"<script>",
    b"</script>",
    b"text",
    b"\xff",
    b"\xe9",
    "日本語".as_bytes(),
    b"\x1b$B$3$s\x1b(B",
    b"\x82\xa0",
    b"[kinko-milter]",
    b"<table data-kinko-banner=\"1\">",
    b"\xef\xbb\xbf",
    b"\t",
];

#[derive(Arbitrary, Debug)]
enum Node {
    Leaf {
        kind: u8,
        charset: u8,
        cte: u8,
        quoted_param: bool,
        text: Vec<u8>,
    },
    Multi {
        alternative: bool,
        boundary: u8,
        children: Vec<Node>,
    },
}

fn pick<'a, T: ?Sized>(list: &'a [&'a T], i: u8) -> &'a T {
    list[i as usize % list.len()]
}

fn text_of(picks: &[u8]) -> Vec<u8> {
    picks
        .iter()
        .flat_map(|&i| pick(FRAGMENTS, i).to_vec())
        .collect()
}

/// Quoted-printable as a careless sender writes it: `-` sometimes as
/// `=2D`, so a decoded line can be a boundary the raw one is not.
fn qp(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, &b) in data.iter().enumerate() {
        match b {
            b'\r' | b'\n' => out.push(b),
            b'-' if i % 2 == 0 => out.extend_from_slice(b"=2D"),
            33..=60 | 62..=126 | b' ' => out.push(b),
            _ => out.extend_from_slice(format!("={b:02X}").as_bytes()),
        }
    }
    out
}

fn write(node: &Node, depth: usize, out: &mut Vec<u8>) {
    match node {
        Node::Multi {
            alternative,
            boundary,
            children,
        } if depth < 5 => {
            let b = format!("{}{depth}", pick(BOUNDARIES, *boundary));
            let kind = if *alternative { "alternative" } else { "mixed" };
            out.extend_from_slice(
                format!("Content-Type: multipart/{kind}; boundary=\"{b}\"\r\n\r\n").as_bytes(),
            );
            for c in children.iter().take(4) {
                out.extend_from_slice(format!("--{b}\r\n").as_bytes());
                write(c, depth + 1, out);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(format!("--{b}--\r\n").as_bytes());
        }
        Node::Multi { .. } => out.extend_from_slice(b"Content-Type: text/plain\r\n\r\ndeep\r\n"),
        Node::Leaf {
            kind,
            charset,
            cte,
            quoted_param,
            text,
        } => {
            let sub = ["plain", "html", "calendar", "plain"][*kind as usize % 4];
            let cs = pick(CHARSETS, *charset);
            let mut ct = format!("Content-Type: text/{sub}; charset=\"{cs}\"");
            if *quoted_param {
                ct.push_str("; x-note=\"; charset=bad\"");
            }
            out.extend_from_slice(ct.as_bytes());
            out.extend_from_slice(b"\r\n");
            if kind & 4 != 0 {
                out.extend_from_slice(b"Content-Disposition: attachment\r\n");
            }
            let data = text_of(text);
            let (name, body) = match cte % 4 {
                0 => ("7bit", data),
                1 => ("8bit", data),
                2 => ("quoted-printable", qp(&data)),
                _ => (
                    "base64",
                    kinko_milter::vocab::header_text::base64(&data).into_bytes(),
                ),
            };
            out.extend_from_slice(format!("Content-Transfer-Encoding: {name}\r\n\r\n").as_bytes());
            out.extend_from_slice(&body);
        }
    }
}

/// Per part: its type, its children, and what it decodes to.
fn tree(raw: &[u8]) -> Option<Vec<(String, Vec<u32>, Vec<u8>, bool)>> {
    let m = std::panic::catch_unwind(|| MessageParser::default().parse(raw)).ok()??;
    Some(
        m.parts
            .iter()
            .map(|p| {
                let ct = p.content_type().map_or("text/plain".to_string(), |c| {
                    format!("{}/{}", c.ctype(), c.subtype().unwrap_or("plain")).to_ascii_lowercase()
                });
                let (kids, body, text) = match &p.body {
                    PartType::Multipart(c) => (c.clone(), Vec::new(), false),
                    PartType::Text(t) | PartType::Html(t) => {
                        (Vec::new(), t.replace("\r\n", "\n").into_bytes(), true)
                    }
                    PartType::Binary(b) | PartType::InlineBinary(b) => {
                        (Vec::new(), b.to_vec(), false)
                    }
                    PartType::Message(m) => (Vec::new(), m.raw_message().to_vec(), false),
                };
                (ct, kids, body, text)
            })
            .collect(),
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let raw = if sel & 0x80 != 0 {
        rest.to_vec()
    } else {
        let Ok(node) = Node::arbitrary(&mut Unstructured::new(rest)) else {
            return;
        };
        let mut raw = b"From: a@b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\n".to_vec();
        write(&node, 0, &mut raw);
        raw
    };
    let notice = Notice {
        lang: if sel & 1 == 0 { Lang::Ja } else { Lang::En },
        brand: (sel & 2 != 0).then(|| "きんこ信用金庫".to_string()),
        statement: (sel & 4 != 0).then(|| "--b0 --BOUNDARY0".to_string()),
    };
    let Outcome::Added(rw) = insert(&raw, &notice, 1 << 20) else {
        return;
    };
    let (Some(old), Some(new)) = (tree(&raw), tree(&rw.message)) else {
        panic!("a message we rewrote does not parse");
    };
    assert_eq!(old.len(), new.len(), "part count");
    let mut changed = 0;
    for (i, (a, b)) in old.iter().zip(&new).enumerate() {
        assert_eq!((&a.0, &a.1), (&b.0, &b.1), "part {i}: type or children");
        if a.2 == b.2 {
            continue;
        }
        // A rewritten part: text both times, the old text around one span.
        changed += 1;
        assert!(a.3 && b.3, "part {i} changed and is not text");
        let pre = a.2.iter().zip(&b.2).take_while(|(x, y)| x == y).count();
        let suf =
            a.2.iter()
                .rev()
                .zip(b.2.iter().rev())
                .take_while(|(x, y)| x == y)
                .count();
        assert!(
            b.2.len() > a.2.len() && pre + suf >= a.2.len(),
            "part {i}: old text not kept"
        );
        assert!(
            String::from_utf8_lossy(&b.2).contains("[kinko-milter]"),
            "part {i}: no banner"
        );
    }
    assert_eq!(changed, rw.parts, "parts changed and parts rewritten");
});
