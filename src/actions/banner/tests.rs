//! Each structure × charset × transfer encoding × line end: the new message
//! decodes (by mail-parser, not by our code) to the banner followed by the
//! original text, every other part is byte-identical, and a second pass
//! adds nothing.

use super::*;
use mail_parser::MessageParser;
use wording::HTML_MARKER;

const TEXT: &str = "お客様各位\nきんこ信用金庫です。口座の確認をお願いします。\nhttps://kinko-shinkin.example/login\n";
const HTML: &str = "<html><head><title>確認</title></head>\n<body style=\"margin:0\">\n<p>お客様各位</p>\n<p>きんこ信用金庫です。<a href=\"https://x.example/\">ログイン</a></p>\n</body></html>\n";
const ATTACHMENT: &str = "Content-Type: application/pdf; name=\"a.pdf\"\nContent-Disposition: attachment; filename=\"a.pdf\"\nContent-Transfer-Encoding: base64\n\nJVBERi0xLjQKJcfsj6IKMSAwIG9iago8PC9UeXBlL0NhdGFsb2c+PgplbmRvYmoK\n";
const IMAGE: &str = "Content-Type: image/png\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg==\n";

fn notice() -> Notice {
    Notice {
        lang: Lang::Ja,
        brand: Some("きんこ信用金庫".into()),
        statement: Some(
            "当金庫が、メールやSMSのリンクからお客様の情報の入力をお願いすることはありません。"
                .into(),
        ),
    }
}

fn encode(charset: &str, cte: &str, text: &str) -> String {
    let enc = encoding_rs::Encoding::for_label(charset.as_bytes()).unwrap();
    let crlf = text.replace('\n', "\r\n");
    let (bytes, _, bad) = enc.encode(&crlf);
    assert!(!bad);
    let body = match cte {
        "base64" => {
            let s = data_encoding::BASE64.encode(&bytes);
            s.as_bytes()
                .chunks(76)
                .map(|c| format!("{}\n", std::str::from_utf8(c).unwrap()))
                .collect::<String>()
        }
        "quoted-printable" => String::from_utf8(quoted_printable::encode(&bytes))
            .unwrap()
            .replace("\r\n", "\n"),
        // 8bit and (for the 8-bit charsets, as real Japanese mail does) 7bit.
        _ => unsafe { String::from_utf8_unchecked(bytes.to_vec()) }.replace("\r\n", "\n"),
    };
    body
}

fn text_part(sub: &str, charset: &str, cte: &str, text: &str) -> String {
    format!(
        "Content-Type: text/{sub}; charset=\"{charset}\"\nContent-Transfer-Encoding: {cte}\n\n{}",
        encode(charset, cte, text)
    )
}

fn multipart(kind: &str, boundary: &str, parts: &[String]) -> String {
    let mut s = format!("Content-Type: multipart/{kind}; boundary=\"{boundary}\"\n\n");
    for p in parts {
        s.push_str(&format!("--{boundary}\n{p}"));
    }
    s.push_str(&format!("--{boundary}--\n"));
    s
}

/// A whole message (bytes, since 8-bit charsets are not UTF-8).
fn message(structure: &str, charset: &str, cte: &str, eol: &str) -> Vec<u8> {
    let plain = text_part("plain", charset, cte, TEXT);
    let html = text_part("html", charset, cte, HTML);
    let body = match structure {
        "plain" => plain,
        "html" => html,
        "alternative" => multipart("alternative", "b1", &[plain, html]),
        "mixed" => multipart(
            "mixed",
            "m1",
            &[
                multipart("alternative", "a1", &[plain, html]),
                ATTACHMENT.to_string(),
            ],
        ),
        "nested" => multipart(
            "mixed",
            "m2",
            &[
                multipart(
                    "alternative",
                    "a2",
                    &[
                        plain,
                        multipart("related", "r2", &[html, IMAGE.to_string()]),
                    ],
                ),
                ATTACHMENT.to_string(),
            ],
        ),
        _ => unreachable!(),
    };
    let raw = format!(
        "From: =?UTF-8?B?44GN44KT44GT?= <info@evil.example>\nTo: u@kinko.test\nSubject: test\nMIME-Version: 1.0\n{body}"
    );
    let bytes: Vec<u8> = raw.into_bytes();
    if eol == "\r\n" {
        let mut out = Vec::new();
        for &b in &bytes {
            if b == b'\n' {
                out.push(b'\r');
            }
            out.push(b);
        }
        out
    } else {
        bytes
    }
}

fn lf(s: &str) -> String {
    s.replace("\r\n", "\n")
}

/// The decoded text/plain and text/html bodies, in order.
fn bodies(raw: &[u8]) -> (Vec<String>, Vec<String>) {
    let m = MessageParser::default().parse(raw).unwrap();
    let mut plain = Vec::new();
    let mut html = Vec::new();
    for p in &m.parts {
        match &p.body {
            PartType::Text(t) => plain.push(lf(t)),
            PartType::Html(t) => html.push(lf(t)),
            _ => {}
        }
    }
    (plain, html)
}

/// Byte ranges of the parts that are not text, with their bytes.
fn other_parts(raw: &[u8]) -> Vec<Vec<u8>> {
    let m = MessageParser::default().parse(raw).unwrap();
    m.parts
        .iter()
        .filter(|p| {
            !matches!(
                p.body,
                PartType::Text(_) | PartType::Html(_) | PartType::Multipart(_)
            )
        })
        .map(|p| raw[p.offset_header as usize..p.offset_end as usize].to_vec())
        .collect()
}

#[test]
fn every_structure_charset_and_encoding_keeps_the_text_and_gains_the_banner() {
    let n = notice();
    let banner_text = lf(&wording::text(&n, "\n"));
    let banner_html = lf(&wording::html(&n, "\n"));
    let mut checked = 0;
    for structure in ["plain", "html", "alternative", "mixed", "nested"] {
        for charset in ["utf-8", "iso-2022-jp", "shift_jis", "euc-jp"] {
            for cte in ["7bit", "8bit", "quoted-printable", "base64"] {
                for eol in ["\r\n", "\n"] {
                    let what = format!("{structure} {charset} {cte} {eol:?}");
                    let raw = message(structure, charset, cte, eol);
                    let Outcome::Added(rw) = insert(&raw, &n, 1 << 20) else {
                        panic!("{what}: no banner: {:?}", insert(&raw, &n, 1 << 20));
                    };
                    let (old_plain, old_html) = bodies(&raw);
                    let (new_plain, new_html) = bodies(&rw.message);
                    assert_eq!(old_plain.len(), new_plain.len(), "{what}");
                    assert_eq!(old_html.len(), new_html.len(), "{what}");
                    for (old, new) in old_plain.iter().zip(&new_plain) {
                        assert_eq!(lf(TEXT).trim_end(), old.trim_end(), "{what}: test input");
                        assert_eq!(format!("{banner_text}{old}"), *new, "{what}");
                    }
                    for (old, new) in old_html.iter().zip(&new_html) {
                        let body = "<body style=\"margin:0\">";
                        let want = old.replacen(body, &format!("{body}{banner_html}"), 1);
                        assert_eq!(want, *new, "{what}");
                    }
                    assert_eq!(other_parts(&raw), other_parts(&rw.message), "{what}");
                    // Up to the first text part and the header, nothing moved.
                    assert_eq!(raw[..rw.body_start], rw.message[..rw.body_start], "{what}");
                    assert!(
                        rw.header_fields.is_empty(),
                        "{what}: {:?}",
                        rw.header_fields
                    );
                    assert_eq!(insert(&rw.message, &n, 1 << 20), Outcome::Present, "{what}");
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 5 * 4 * 4 * 2);
}

#[test]
fn text_that_cannot_hold_the_banner_turns_to_utf8_with_its_headers() {
    let raw = b"From: a@b.example\r\nSubject: x\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nDear customer,\r\nplease log in.\r\n";
    let Outcome::Added(rw) = insert(raw, &notice(), 1 << 20) else {
        panic!("no banner");
    };
    assert_eq!(
        rw.header_fields,
        vec![
            (
                "Content-Type".to_string(),
                "text/plain; charset=UTF-8".to_string()
            ),
            (
                "Content-Transfer-Encoding".to_string(),
                "quoted-printable".to_string()
            ),
        ]
    );
    let (plain, _) = bodies(&rw.message);
    assert_eq!(
        plain,
        vec![format!(
            "{}Dear customer,\nplease log in.\n",
            lf(&wording::text(&notice(), "\n"))
        )]
    );
    // The header block in the message says the same as the fields.
    let head = String::from_utf8_lossy(&rw.message[..rw.body_start]);
    assert!(
        head.contains("Content-Transfer-Encoding: quoted-printable\r\n"),
        "{head}"
    );
    assert!(rw.message[rw.body_start..].is_ascii());
}

#[test]
fn html_in_a_narrow_charset_takes_character_references() {
    let raw =
        b"Content-Type: text/html; charset=iso-8859-1\r\n\r\n<html><body>Caf\xe9</body></html>\r\n";
    let Outcome::Added(rw) = insert(raw, &notice(), 1 << 20) else {
        panic!("no banner");
    };
    assert!(rw.header_fields.is_empty());
    let (_, html) = bodies(&rw.message);
    assert!(html[0].contains("&#12371;"), "{}", html[0]); // こ
    assert!(
        html[0].ends_with("</table>\r\nCafé</body></html>\r\n")
            || html[0].ends_with("</table>\nCafé</body></html>\n"),
        "{}",
        html[0]
    );
}

#[test]
fn english_generic_banner_without_a_brand() {
    let n = Notice {
        lang: Lang::En,
        brand: None,
        statement: None,
    };
    let raw = b"Content-Type: text/plain\r\n\r\nhello\r\n";
    let Outcome::Added(rw) = insert(raw, &n, 1 << 20) else {
        panic!("no banner");
    };
    // English fits US-ASCII: no header change.
    assert!(rw.header_fields.is_empty());
    let text = String::from_utf8(rw.message[rw.body_start..].to_vec()).unwrap();
    assert!(text.starts_with("WARNING:"), "{text}");
    assert!(text.contains("suspicious link"), "{text}");
    assert!(text.ends_with("\r\n\r\nhello\r\n"), "{text}");
}

#[test]
fn bounded_undecodable_and_attachment_only_mail_is_left_alone() {
    let n = notice();
    let raw = message("alternative", "utf-8", "8bit", "\r\n");
    assert!(matches!(insert(&raw, &n, raw.len() - 1), Outcome::Skipped(w) if w.contains("over")));
    let only = format!("Content-Type: multipart/mixed; boundary=x\n\n--x\n{ATTACHMENT}--x--\n");
    assert!(
        matches!(insert(only.as_bytes(), &n, 1 << 20), Outcome::Skipped(w) if w.contains("no readable"))
    );
    assert!(matches!(insert(b"", &n, 1 << 20), Outcome::Skipped(_)));
}

#[test]
fn a_forwarded_message_keeps_its_own_text() {
    let inner = "From: x@y.example\nContent-Type: text/plain; charset=utf-8\n\ninner text\n";
    let raw = format!(
        "Content-Type: multipart/mixed; boundary=f\n\n--f\nContent-Type: text/plain; charset=utf-8\n\nouter\n--f\nContent-Type: message/rfc822\n\n{inner}--f--\n"
    );
    let Outcome::Added(rw) = insert(raw.as_bytes(), &notice(), 1 << 20) else {
        panic!("no banner");
    };
    assert_eq!(rw.parts, 1);
    let (plain, _) = bodies(&rw.message);
    assert_eq!(
        plain,
        vec![format!("{}outer", lf(&wording::text(&notice(), "\n")))]
    );
    // The forwarded message, bytes and all, is as it was.
    assert!(rw.message.ends_with(format!("{inner}--f--\n").as_bytes()));
}

#[test]
fn only_a_banner_at_the_top_counts_as_ours() {
    let n = notice();
    let raw = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nhello\r\nquoted: x [kinko-milter]\r\n";
    assert!(matches!(insert(raw, &n, 1 << 20), Outcome::Added(_)));
    // HTML: the marker must be our table right after <body>.
    let html = b"Content-Type: text/html; charset=utf-8\r\n\r\n<body><p>x</p><table data-kinko-banner=\"1\"></table></body>\r\n";
    assert!(matches!(insert(html, &n, 1 << 20), Outcome::Added(_)));
}

#[test]
fn a_header_without_a_blank_line_is_left_alone() {
    // Found by fuzzing: all header, no body. A banner appended there would
    // read as header, and the next pass would add another.
    let raw = b"From: a@b.example\r\nSubject: x\r\nX-Last: y\r\n";
    assert!(matches!(
        insert(raw, &notice(), 1 << 20),
        Outcome::Skipped(_)
    ));
    // With the blank line, and an empty body, the banner goes in.
    let raw = b"From: a@b.example\r\nSubject: x\r\n\r\n";
    let Outcome::Added(rw) = insert(raw, &notice(), 1 << 20) else {
        panic!("no banner");
    };
    assert_eq!(insert(&rw.message, &notice(), 1 << 20), Outcome::Present);
}

#[test]
fn a_content_field_given_twice_is_not_guessed_at() {
    // Found by fuzzing: the charset had to change, but which Content-Type
    // a reader follows is not ours to guess.
    let raw = b"Content-Type: text/plain; charset=utf-8\r\nSubject: x\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nhello\r\n";
    assert!(matches!(insert(raw, &notice(), 1 << 20), Outcome::Skipped(w) if w.contains("twice")));
}

/// The parts as a reader sees them: (type, decoded text or bytes), in order.
fn tree(raw: &[u8]) -> Vec<(String, Vec<u8>)> {
    let m = MessageParser::default().parse(raw).unwrap();
    m.parts
        .iter()
        .map(|p| {
            let ct = p
                .content_type()
                .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")));
            let body = match &p.body {
                PartType::Text(t) | PartType::Html(t) => lf(t).into_bytes(),
                PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
                PartType::Message(m) => m.raw_message().to_vec(),
                PartType::Multipart(c) => format!("{c:?}").into_bytes(),
            };
            (ct.unwrap_or_default(), body)
        })
        .collect()
}

fn added(raw: &[u8], n: &Notice) -> Rewrite {
    match insert(raw, n, 1 << 20) {
        Outcome::Added(rw) => rw,
        other => panic!("no banner: {other:?}"),
    }
}

#[test]
fn a_smuggled_boundary_stays_text() {
    // Issue #19: judged as one text part, the decoded `--BOUNDARY` lines
    // must not come back as boundaries with an HTML part after them.
    let raw = "From: a@b.example\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\n--BOUNDARY\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHello.\r\n=2D-BOUNDARY\r\nContent-Type: text/html\r\n\r\n<a href=3D\"&#104;ttps://x.example/login\">log in</a>\r\n=2D-BOUNDARY--\r\n--BOUNDARY--\r\n";
    let rw = added(raw.as_bytes(), &notice());
    let (old, new) = (tree(raw.as_bytes()), tree(&rw.message));
    assert_eq!(old.len(), 2, "{old:?}");
    assert_eq!(new.len(), 2, "{}", String::from_utf8_lossy(&rw.message));
    let banner = lf(&wording::text(&notice(), "\r\n"));
    let mut want = banner.into_bytes();
    want.extend_from_slice(&old[1].1);
    assert_eq!(new[1].1, want);
    // To an RFC 2046 reader too: the real boundaries are the only ones.
    let lines = |m: &[u8]| {
        m.split(|&b| b == b'\n')
            .filter(|l| l.starts_with(b"--BOUNDARY"))
            .count()
    };
    assert_eq!(lines(&rw.message), 2);
}

#[test]
fn a_banner_line_that_reads_as_a_boundary_is_encoded() {
    // The policy's words are put in as they are: in a 7bit part, a line of
    // them that is a boundary would end the part.
    let n = Notice {
        lang: Lang::En,
        brand: None,
        statement: Some("--m1".into()),
    };
    let raw = b"Content-Type: multipart/mixed; boundary=m1\n\n--m1\nContent-Type: text/plain\n\nhello\n--m1\nContent-Type: text/plain\nContent-Disposition: attachment\n\nsecond\n--m1--\n";
    let rw = added(raw, &n);
    let (old, new) = (tree(raw), tree(&rw.message));
    assert_eq!(
        old.len(),
        new.len(),
        "{}",
        String::from_utf8_lossy(&rw.message)
    );
    assert!(String::from_utf8_lossy(&new[1].1).contains("\n--m1\n"));
    assert_eq!(old[2], new[2]);
}

#[test]
fn the_html_banner_goes_after_the_body_a_browser_sees() {
    let n = notice();
    let banner = lf(&wording::html(&n, "\r\n"));
    // Issue #19: a `<body` in a comment or in the title is not the body.
    for (html, before) in [
        (
            "<html><head><!-- <body> --><title><body>t</title></head><body class=\"x\"><p>hi</p></body></html>\r\n",
            "<body class=\"x\">",
        ),
        // No body element: where the browser starts the body.
        ("<html><head><title>t</title></head>\r\n<p>hi</p></html>\r\n", "\r\n"),
    ] {
        let raw = format!("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{html}");
        let rw = added(raw.as_bytes(), &n);
        let (_, got) = bodies(&rw.message);
        let at = html.find(before).unwrap() + before.len();
        let want = lf(&format!("{}{banner}{}", &html[..at], &html[at..]));
        assert_eq!(got, vec![want]);
    }
}

#[test]
fn in_an_alternative_the_last_one_a_client_shows_gets_the_banner() {
    let n = notice();
    let raw = multipart(
        "alternative",
        "b1",
        &[
            text_part("plain", "utf-8", "8bit", "plain\n"),
            text_part("html", "utf-8", "8bit", "<body>first</body>\n"),
            text_part("html", "utf-8", "8bit", "<body>shown</body>\n"),
        ],
    );
    let rw = added(raw.as_bytes(), &n);
    let (plain, html) = bodies(&rw.message);
    assert!(
        plain[0].starts_with(&lf(&wording::text(&n, "\n"))),
        "{plain:?}"
    );
    assert_eq!(html[0], "<body>first</body>");
    assert!(
        html[1].contains(HTML_MARKER) && html[1].ends_with("shown</body>"),
        "{html:?}"
    );
    // Plain text last: that is what every client shows.
    let raw = multipart(
        "alternative",
        "b2",
        &[
            text_part("html", "utf-8", "8bit", "<body>rich</body>\n"),
            text_part("plain", "utf-8", "8bit", "plain\n"),
        ],
    );
    let rw = added(raw.as_bytes(), &n);
    assert_eq!(rw.parts, 1);
    let (plain, html) = bodies(&rw.message);
    assert_eq!(html, vec!["<body>rich</body>".to_string()]);
    assert_eq!(
        plain,
        vec![format!("{}plain", lf(&wording::text(&n, "\n")))]
    );
}

#[test]
fn an_invalid_byte_keeps_its_place_and_the_rest_is_untouched() {
    // Issue #19: one bad byte meant no banner and no reason. The banner is
    // put in before the bytes, which stay as they were.
    let n = notice();
    for (sub, text) in [
        ("plain", &b"\xff\xfe broken\r\n"[..]),
        (
            "html",
            &b"<html><body>caf\xe9 <b>x</b></body></html>\r\n"[..],
        ),
    ] {
        let mut raw = format!(
            "Content-Type: text/{sub}; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        )
        .into_bytes();
        raw.extend_from_slice(text);
        let rw = added(&raw, &n);
        assert!(rw.header_fields.is_empty(), "{:?}", rw.header_fields);
        let body = &rw.message[rw.body_start..];
        let banner = if sub == "plain" {
            wording::text(&n, "\r\n")
        } else {
            wording::html(&n, "\r\n")
        };
        let at = if sub == "plain" { 0 } else { 12 };
        let mut want = text[..at].to_vec();
        want.extend_from_slice(banner.as_bytes());
        want.extend_from_slice(&text[at..]);
        assert_eq!(body, &want[..]);
    }
}

#[test]
fn a_quoted_parameter_is_kept_and_the_charset_set() {
    // Issue #19: `; charset=bad` inside quotes lost its quote, and the
    // UTF-8 banner was read in another charset.
    let raw = b"From: a@b.example\r\nContent-Type: text/plain; x-note=\"; charset=bad\"\r\n\r\nDear customer,\r\n";
    let rw = added(raw, &notice());
    assert_eq!(
        rw.header_fields[0],
        (
            "Content-Type".to_string(),
            "text/plain; x-note=\"; charset=bad\"; charset=UTF-8".to_string()
        )
    );
    let (plain, _) = bodies(&rw.message);
    assert_eq!(
        plain,
        vec![format!(
            "{}Dear customer,\n",
            lf(&wording::text(&notice(), "\n"))
        )]
    );
}

#[test]
fn gained_reads_crlf_as_lf_and_finds_the_banner_anywhere() {
    // What `gained` decides, said the slow way: copies with LF line ends
    // and every place the banner could have gone.
    fn copied(old: &str, new: &str, banner: &str) -> bool {
        let (old, new, banner) = (lf(old), lf(new), lf(banner));
        new.len() == old.len() + banner.len()
            && new.match_indices(&banner).any(|(at, _)| {
                old.get(..at) == Some(&new[..at])
                    && old.get(at..) == Some(&new[at + banner.len()..])
            })
    }
    let olds = [
        "",
        "a",
        "aaa",
        "x\r\ny\r\n",
        "x\ny\n",
        "\r",
        "\n",
        "ab\r",
        "本日\r\n中に",
    ];
    let banners = [
        "",
        "a",
        "aa",
        "B\r\n",
        "B\n",
        "\r\n",
        "\n",
        "\r",
        "注意\r\n",
    ];
    for old in olds {
        for banner in banners {
            let mut news: Vec<String> = (0..=old.len())
                .filter(|&at| old.is_char_boundary(at))
                .map(|at| format!("{}{banner}{}", &old[..at], &old[at..]))
                .collect();
            news.extend([
                old.to_string(),
                format!("{old}{banner}{banner}"),
                format!("{banner}x{old}"),
                old.replace('\n', "\r\n"),
                format!("{banner}{}", old.replace("\r\n", "\n")),
            ]);
            for new in &news {
                assert_eq!(
                    gained(old, new, banner),
                    copied(old, new, banner),
                    "old {old:?} new {new:?} banner {banner:?}"
                );
            }
        }
    }
    assert!(gained("x\r\ny\r\n", "B\nx\ny\r\n", "B\r\n"));
    assert!(gained("本日\r\n中に", "本日\n注意\r\n中に", "注意\n"));
    assert!(!gained("x\ny\n", "x\nB\n", "B\n"));
}

#[test]
fn the_check_of_a_rewrite_sees_every_change_outside_the_banner() {
    // The rewrite is parsed again with only its MIME fields: that must
    // still see a part that changed type, content or number.
    let msg = |text: &str, ct: &str, data: &str, extra: &str| {
        format!(
            "From: a@b.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
             --b\r\nContent-Type: {ct}\r\nContent-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=a.pdf\r\n\r\n{data}\r\n{extra}--b--\r\n"
        )
        .into_bytes()
    };
    let old_raw = msg("hello", "application/pdf", "JVBERi0xLjQK", "");
    let old = parse(&old_raw);
    let banners = [(1, "BANNER\r\n".to_string())];
    let check = |new: Vec<u8>| same_tree(&old, &new, &banners);
    assert_eq!(
        check(msg(
            "BANNER\r\nhello",
            "application/pdf",
            "JVBERi0xLjQK",
            ""
        )),
        Ok(())
    );
    let changed = [
        (
            msg("BANNER\r\nhello", "application/zip", "JVBERi0xLjQK", ""),
            "part 2 changed its type",
        ),
        (
            msg("BANNER\r\nhello", "application/pdf", "JVBERi0xLjUK", ""),
            "part 2 reads differently",
        ),
        (
            msg("BANNER\r\nhellp", "application/pdf", "JVBERi0xLjQK", ""),
            "part 1 reads differently",
        ),
        (
            msg(
                "BANNER\r\nhello",
                "application/pdf",
                "JVBERi0xLjQK",
                "--b\r\nContent-Type: text/plain\r\n\r\nmore\r\n",
            ),
            "4 MIME parts instead of 3",
        ),
    ];
    for (new, why) in changed {
        assert_eq!(check(new), Err(why.to_string()));
    }
}
