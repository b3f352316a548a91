//! Where the HTML banner goes: where a browser starts the visible body.
//!
//! The bytes are read by lol_html's tokenizer, so a `<body` inside a
//! comment, a `<title>`, a `<script>` or an attribute value is text, as it
//! is to a browser. The banner goes after the first real `<body>` start
//! tag, or, when content the browser would put in the body comes first
//! (or there is no body element at all), just before that content: a
//! browser opens the body there on its own.

use lol_html::html_content::TextType;
use lol_html::{doc_text, element, AsciiCompatibleEncoding, HtmlRewriter, Settings};
use std::cell::Cell;

/// Elements a browser keeps out of the body while no body content has come:
/// the document's frame and what belongs in its head.
const BEFORE_BODY: &[&str] = &[
    "html", "head", "title", "meta", "link", "style", "script", "base", "noscript", "template",
    "basefont", "bgsound", "noframes",
];

/// The byte offset in `html` (in `enc`, which must be ASCII-compatible:
/// `None` otherwise) where the banner goes; the end of the document when
/// nothing in it is body content.
pub fn banner_offset(html: &[u8], enc: &'static encoding_rs::Encoding) -> Option<usize> {
    let enc = AsciiCompatibleEncoding::new(enc)?;
    let at: Cell<Option<usize>> = Cell::new(None);
    // Returned by a handler once the place is known: it stops the rewriter,
    // so the rest of a long part is not tokenized.
    let found = || -> lol_html::HandlerResult { Err("found".into()) };
    let settings = Settings::new()
        .with_encoding(enc)
        .append_element_content_handler(element!("*", |el| {
            if at.get().is_some() {
                return found();
            }
            let loc = el.source_location().bytes();
            let name = el.tag_name();
            if name == "body" {
                at.set(Some(loc.end));
            } else if !BEFORE_BODY.contains(&name.as_str()) {
                at.set(Some(loc.start));
            } else {
                return Ok(());
            }
            found()
        }))
        .append_document_content_handler(doc_text!(|t| {
            if at.get().is_some() {
                return found();
            }
            if t.text_type() != TextType::Data {
                return Ok(());
            }
            let s = t.as_str();
            let rest = s.trim_start_matches(['\t', '\n', '\x0c', '\r', ' ']);
            if rest.is_empty() {
                return Ok(());
            }
            // Leading HTML whitespace is ASCII, one byte a character in any
            // ASCII-compatible encoding: the offset holds in the source.
            at.set(Some(
                t.source_location().bytes().start + (s.len() - rest.len()),
            ));
            found()
        }));
    let mut rw = HtmlRewriter::new(settings, |_: &[u8]| {});
    if rw.write(html).is_ok() {
        let _ = rw.end();
    }
    Some(at.get().unwrap_or(html.len()).min(html.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{ISO_2022_JP, SHIFT_JIS, UTF_8};

    fn after(html: &str) -> &str {
        &html[banner_offset(html.as_bytes(), UTF_8).unwrap()..]
    }

    #[test]
    fn the_real_body_tag_not_one_in_a_comment_title_or_attribute() {
        assert_eq!(
            after("<html><!-- <body> --><head><title><body>t</title></head><body a=\"<body>\">x"),
            "x"
        );
        assert_eq!(
            after("<script>document.write('<body>')</script><BODY\nstyle=\"a>b\">hi"),
            "hi"
        );
    }

    #[test]
    fn without_a_body_tag_where_the_browser_opens_the_body() {
        assert_eq!(
            after("<!DOCTYPE html><html><head><title>t</title></head>\n  <p>hi</p>"),
            "<p>hi</p>"
        );
        assert_eq!(after("<html>\n  Dear customer"), "Dear customer");
        // Body content before a late <body> tag: the body began there.
        assert_eq!(
            after("<div>first</div><body>second"),
            "<div>first</div><body>second"
        );
        assert_eq!(after("<head><title>only</title></head>"), "");
        assert_eq!(after(""), "");
    }

    #[test]
    fn offsets_are_in_the_source_encoding() {
        let (sjis, _, _) = SHIFT_JIS.encode("<title>確認</title><body>本文");
        let at = banner_offset(&sjis, SHIFT_JIS).unwrap();
        assert_eq!(SHIFT_JIS.decode(&sjis[at..]).0, "本文");
        assert_eq!(banner_offset(b"<body>", ISO_2022_JP), None);
    }
}
