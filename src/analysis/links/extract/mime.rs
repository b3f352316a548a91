//! The MIME walk: which parts of a message a reader sees, within the
//! bounds, and which of them are someone else's mail quoted back in a
//! delivery report.

use super::bare::bare_links;
use super::html::scan;
use super::images::Images;
use super::{Extracted, HtmlDoc, Link, LinkKind, Origin};
use crate::vocab::message::Bounds;
use mail_parser::{Message, MessagePart, MimeHeaders, PartType};

/// Links, forms and HTML documents of `msg`, within `bounds`.
pub fn extract(msg: &Message, bounds: &Bounds) -> Extracted {
    let mut w = Walker {
        bounds,
        out: Extracted::default(),
        parts_seen: 0,
        html_left: bounds.max_html_bytes,
        cut_links: 0,
        cut_parts: false,
        cut_depth: false,
        cut_html: 0,
        cut_time: false,
        returned: false,
        images: Images::new(bounds),
    };
    w.message(msg, 0);
    let Walker {
        mut out,
        cut_links,
        cut_parts,
        cut_depth,
        cut_html,
        cut_time,
        images,
        ..
    } = w;
    if cut_time {
        out.truncated.push(format!(
            "analysis deadline ({} ms) reached in the MIME walk; later parts not analysed",
            bounds.deadline.budget_ms()
        ));
    }
    if cut_links > 0 {
        out.truncated.push(format!(
            "{cut_links} links beyond max_links ({}) not analysed",
            bounds.max_links
        ));
    }
    if cut_parts {
        out.truncated.push(format!(
            "MIME parts beyond max_mime_parts ({}) not analysed",
            bounds.max_mime_parts
        ));
    }
    if cut_depth {
        out.truncated.push(format!(
            "attached messages nested deeper than max_mime_depth ({}) not analysed",
            bounds.max_mime_depth
        ));
    }
    if cut_html > 0 {
        out.truncated.push(format!(
            "{cut_html} HTML bytes beyond max_html_bytes ({}) not analysed",
            bounds.max_html_bytes
        ));
    }
    out.truncated.extend(images.truncated(bounds));
    out.images_decoded = images.decoded();
    out
}

struct Walker<'l> {
    bounds: &'l Bounds,
    out: Extracted,
    parts_seen: usize,
    html_left: usize,
    cut_links: usize,
    cut_parts: bool,
    cut_depth: bool,
    cut_html: usize,
    cut_time: bool,
    returned: bool,
    images: Images,
}

/// Whether a part is a multipart/report (RFC 6522): its message/rfc822 child
/// is the mail that could not be delivered.
fn is_report(part: &MessagePart) -> bool {
    part.content_type().is_some_and(|ct| {
        ct.ctype().eq_ignore_ascii_case("multipart")
            && ct
                .subtype()
                .is_some_and(|s| s.eq_ignore_ascii_case("report"))
    })
}

impl Walker<'_> {
    fn message(&mut self, msg: &Message, depth: usize) {
        let mut in_report = vec![false; msg.parts.len()];
        for part in msg.parts.iter().filter(|p| is_report(p)) {
            if let PartType::Multipart(children) = &part.body {
                for &c in children {
                    if let Some(slot) = in_report.get_mut(c as usize) {
                        *slot = true;
                    }
                }
            }
        }
        for (i, part) in msg.parts.iter().enumerate() {
            if self.parts_seen >= self.bounds.max_mime_parts {
                self.cut_parts = true;
                return;
            }
            if self.bounds.deadline.passed() {
                self.cut_time = true;
                return;
            }
            self.parts_seen += 1;
            match &part.body {
                PartType::Text(t) => self.text(t),
                PartType::Html(h) => {
                    let name = attachment_name(part);
                    self.html(h, name);
                }
                PartType::Binary(b) | PartType::InlineBinary(b) => {
                    if is_html_like(part) {
                        let text = decode_charset(part, b);
                        let name = attachment_name(part).or_else(|| Some("(unnamed)".into()));
                        self.html(&text, name);
                    } else {
                        let part_no = self.parts_seen;
                        for l in self.images.qr_links(b, || image_label(part, part_no)) {
                            self.push(l);
                        }
                    }
                }
                PartType::Message(inner) => {
                    if depth + 1 > self.bounds.max_mime_depth {
                        self.cut_depth = true;
                    } else {
                        let outer = self.returned;
                        self.returned |= in_report[i];
                        self.message(inner, depth + 1);
                        self.returned = outer;
                    }
                }
                PartType::Multipart(_) => {}
            }
        }
    }

    fn push(&mut self, mut link: Link) {
        if self.out.links.len() >= self.bounds.max_links {
            self.cut_links += 1;
        } else {
            link.returned = self.returned;
            self.out.links.push(link);
        }
    }

    fn text(&mut self, text: &str) {
        for l in bare_links(text, LinkKind::Bare, Origin::Text) {
            self.push(l);
        }
    }

    fn html(&mut self, html: &str, attachment: Option<String>) {
        let origin = if attachment.is_some() {
            Origin::Attachment
        } else {
            Origin::Html
        };
        let mut end = html.len().min(self.html_left);
        while !html.is_char_boundary(end) {
            end -= 1;
        }
        self.cut_html += html.len() - end;
        self.html_left -= end;
        let doc = HtmlDoc {
            attachment,
            ..HtmlDoc::default()
        };
        let st = scan(&html.as_bytes()[..end], doc, origin);
        for l in st.links {
            self.push(l);
        }
        for f in st.forms {
            if let Some(a) = &f.action {
                self.push(a.clone());
            }
            self.out.forms.push(f);
        }
        self.out.data_uris.extend(st.data_uris);
        self.out.docs.push(st.doc);
    }
}

fn attachment_name(part: &MessagePart) -> Option<String> {
    if let Some(n) = part.attachment_name() {
        return Some(n.to_string());
    }
    part.content_disposition()
        .filter(|d| d.ctype().eq_ignore_ascii_case("attachment"))
        .map(|_| "(unnamed)".to_string())
}

/// How evidence names an image part: its file name, else its content-id
/// (what the HTML refers to it by), else its number in the walk.
fn image_label(part: &MessagePart, part_no: usize) -> String {
    if let Some(n) = part.attachment_name() {
        return format!("\"{n}\"");
    }
    match part.content_id() {
        Some(cid) => format!("cid:{}", cid.trim_matches(['<', '>'])),
        None => format!("part {part_no}"),
    }
}

const HTML_EXTENSIONS: &[&str] = &[
    ".html", ".htm", ".shtml", ".xhtml", ".svg", ".mht", ".mhtml",
];

fn is_html_like(part: &MessagePart) -> bool {
    if let Some(ct) = part.content_type() {
        let sub = ct.subtype().unwrap_or("");
        if sub.eq_ignore_ascii_case("html")
            || sub.eq_ignore_ascii_case("xhtml+xml")
            || sub.eq_ignore_ascii_case("svg+xml")
        {
            return true;
        }
    }
    part.attachment_name().is_some_and(|n| {
        let n = n.trim().to_ascii_lowercase();
        HTML_EXTENSIONS.iter().any(|e| n.ends_with(e))
    })
}

fn decode_charset(part: &MessagePart, bytes: &[u8]) -> String {
    let charset = part.content_type().and_then(|ct| ct.attribute("charset"));
    if let Some(dec) =
        charset.and_then(|c| mail_parser::decoders::charsets::map::charset_decoder(c.as_bytes()))
    {
        return dec(bytes);
    }
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(raw: &str, bounds: &Bounds) -> Extracted {
        extract(&crate::analysis::parse(raw.as_bytes()), bounds)
    }

    const NESTED: &str = "From: a@x.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nhttps://outer.example/\r\n\
        --b\r\nContent-Type: message/rfc822\r\n\r\n\
        From: c@y.example\r\nContent-Type: text/html\r\n\r\n<a href='https://inner.example/'>i</a>\r\n\
        --b--\r\n";

    #[test]
    fn nested_messages_are_walked_within_the_depth_bound() {
        let x = walk(NESTED, &Bounds::default());
        let hosts: Vec<&str> = x.links.iter().map(|l| l.host.as_str()).collect();
        assert_eq!(hosts, ["outer.example", "inner.example"]);
        assert!(x.truncated.is_empty());
        let shallow = Bounds {
            max_mime_depth: 0,
            ..Bounds::default()
        };
        let x = walk(NESTED, &shallow);
        assert_eq!(x.links.len(), 1);
        assert!(
            x.truncated[0].contains("max_mime_depth"),
            "{:?}",
            x.truncated
        );
    }

    #[test]
    fn links_of_a_returned_message_are_marked() {
        let raw = "From: MAILER-DAEMON@x.example\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n\
            --r\r\nContent-Type: text/plain\r\n\r\nhttps://bouncer.example/\r\n\
            --r\r\nContent-Type: message/rfc822\r\n\r\nFrom: v@y.example\r\n\r\nhttps://quoted.example/\r\n--r--\r\n";
        let x = walk(raw, &Bounds::default());
        let marks: Vec<(&str, bool)> = x
            .links
            .iter()
            .map(|l| (l.host.as_str(), l.returned))
            .collect();
        assert_eq!(
            marks,
            [("bouncer.example", false), ("quoted.example", true)]
        );
    }

    #[test]
    fn html_attachments_are_documents_of_their_own() {
        let raw = "From: a@x.example\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
            --b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
            --b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"invoice.htm\"\r\n\r\n\
            <form action='https://evil.example/'><input type=password></form>\r\n--b--\r\n";
        let x = walk(raw, &Bounds::default());
        assert_eq!(x.docs.len(), 1);
        assert_eq!(x.docs[0].attachment.as_deref(), Some("invoice.htm"));
        assert!(x.docs[0].password_input);
        assert_eq!(x.forms[0].origin, Origin::Attachment);
    }
}
