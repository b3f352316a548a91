//! Every link a reader could follow, wherever the message hides it.
//!
//! Walks the MIME tree (nested messages included), scans plain text for bare
//! URLs and HTML (bodies and attachments) for the elements that navigate, and
//! normalises each target once so the judges compare plain strings.

use crate::message::Bounds;
use lol_html::html_content::{Element, TextChunk};
use lol_html::{ElementContentHandlers, HandlerResult, HtmlRewriter, Selector, Settings};
use mail_parser::{Message, MessagePart, MimeHeaders, PartType};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::LazyLock;
use url::{Host, Url};

/// Where a link was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Text,
    Html,
    /// An HTML or SVG attachment: opened locally, outside any webmail sandbox.
    Attachment,
}

/// Which construct carried the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Bare,
    Anchor,
    Area,
    FormAction,
    MetaRefresh,
}

/// One http(s) link, normalised.
#[derive(Debug, Clone)]
pub struct Link {
    /// The URL as the `url` crate serialises it (IDNA host, percent-encoded path).
    pub url: String,
    /// Lower-case ASCII host; IPv6 in brackets.
    pub host: String,
    pub ip: bool,
    /// Registrable domain of `host`; `None` for addresses.
    pub registrable: Option<String>,
    /// `user[:password]` before the host, percent-decoded.
    pub userinfo: Option<String>,
    /// Path and query, percent-decoded and lower-cased, for keyword matching.
    pub path: String,
    /// Visible text of an `<a>`, entity-decoded, whitespace collapsed.
    pub text: Option<String>,
    pub kind: LinkKind,
    pub origin: Origin,
    /// Inside the returned message of a delivery report: someone else's mail
    /// quoted back to its (often forged) sender, not what the bouncer wrote.
    pub returned: bool,
}

/// A `data:` URI in a navigating attribute.
#[derive(Debug, Clone)]
pub struct DataUri {
    /// Lower-case media type, `text/plain` when absent (RFC 2397).
    pub media_type: String,
    /// Whether the payload visibly carries script.
    pub script: bool,
    pub origin: Origin,
}

/// One HTML form.
#[derive(Debug, Clone)]
pub struct Form {
    /// The action, when it resolves to an absolute http(s) URL.
    pub action: Option<Link>,
    pub origin: Origin,
}

/// One HTML document (body part or attachment) and what it can do.
#[derive(Debug, Clone, Default)]
pub struct HtmlDoc {
    /// File name for attachments; `None` for message bodies.
    pub attachment: Option<String>,
    pub forms: usize,
    pub scripts: usize,
    pub refresh: bool,
    pub password_input: bool,
    /// An input that looks like a one-time code or PIN.
    pub code_input: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Extracted {
    pub links: Vec<Link>,
    pub forms: Vec<Form>,
    pub data_uris: Vec<DataUri>,
    pub docs: Vec<HtmlDoc>,
    /// What a bound cut off, one phrase per bound reached.
    pub truncated: Vec<String>,
}

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
        returned: false,
    };
    w.message(msg, 0);
    let Walker {
        mut out,
        cut_links,
        cut_parts,
        cut_depth,
        cut_html,
        ..
    } = w;
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
    returned: bool,
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
        for candidate in bare_urls(text) {
            let owned;
            let s = if candidate.len() >= 4 && candidate[..4].eq_ignore_ascii_case("www.") {
                owned = format!("http://{candidate}");
                owned.as_str()
            } else {
                candidate
            };
            if let Ok(u) = Url::parse(s) {
                if let Some(l) = normalise(&u, LinkKind::Bare, Origin::Text) {
                    self.push(l);
                }
            }
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
        let state = RefCell::new(HtmlState {
            base: None,
            anchor: None,
            links: Vec::new(),
            forms: Vec::new(),
            data_uris: Vec::new(),
            doc: HtmlDoc {
                attachment,
                ..HtmlDoc::default()
            },
            origin,
        });
        scan_html(&html.as_bytes()[..end], &state);
        let st = state.into_inner();
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

struct HtmlState {
    base: Option<Url>,
    /// Index in `links` of the `<a>` whose text is being collected.
    anchor: Option<usize>,
    links: Vec<Link>,
    forms: Vec<Form>,
    data_uris: Vec<DataUri>,
    doc: HtmlDoc,
    origin: Origin,
}

/// Visible anchor text is capped: it only needs to show a domain.
const MAX_TEXT: usize = 256;

impl HtmlState {
    fn target(&mut self, raw: &str, kind: LinkKind) -> Option<usize> {
        let decoded = decode_entities(raw);
        let v = decoded.trim();
        // Bytes, not str: the first five bytes may end inside a character.
        if v.len() >= 5 && v.as_bytes()[..5].eq_ignore_ascii_case(b"data:") {
            self.data_uris.push(data_uri(&v[5..], self.origin));
            return None;
        }
        let u = match &self.base {
            Some(b) => b.join(v).ok()?,
            None => Url::parse(v).ok()?,
        };
        let l = normalise(&u, kind, self.origin)?;
        if kind == LinkKind::FormAction {
            self.forms.push(Form {
                action: Some(l),
                origin: self.origin,
            });
            return None;
        }
        self.links.push(l);
        Some(self.links.len() - 1)
    }
}

/// The selectors [`scan_html`] listens on, parsed once: lol_html's macros
/// would parse and compile them again for every HTML part of every message.
fn selectors() -> &'static [Selector; 7] {
    static SELECTORS: LazyLock<[Selector; 7]> = LazyLock::new(|| {
        [
            "base[href]",
            "a",
            "area[href]",
            "form",
            "input",
            "script",
            "meta[http-equiv]",
        ]
        .map(|s| s.parse().expect("static selector"))
    });
    &SELECTORS
}

type Handler<'h> = (Cow<'static, Selector>, ElementContentHandlers<'h>);

fn on_element<'h>(
    sel: &'static Selector,
    f: impl FnMut(&mut Element<'_, '_>) -> HandlerResult + 'h,
) -> Handler<'h> {
    (
        Cow::Borrowed(sel),
        ElementContentHandlers::default().element(f),
    )
}

fn on_text<'h>(
    sel: &'static Selector,
    f: impl FnMut(&mut TextChunk<'_>) -> HandlerResult + 'h,
) -> Handler<'h> {
    (
        Cow::Borrowed(sel),
        ElementContentHandlers::default().text(f),
    )
}

fn scan_html(bytes: &[u8], st: &RefCell<HtmlState>) {
    let [base, a, area, form, input, script, meta] = selectors();
    let settings = Settings::new()
        .append_element_content_handler(on_element(base, |el| {
            let mut s = st.borrow_mut();
            if s.base.is_none() {
                if let Some(h) = el.get_attribute("href") {
                    s.base = Url::parse(decode_entities(&h).trim()).ok();
                }
            }
            Ok(())
        }))
        .append_element_content_handler(on_element(a, |el| {
            let mut s = st.borrow_mut();
            s.anchor = None;
            if let Some(h) = el.get_attribute("href") {
                s.anchor = s.target(&h, LinkKind::Anchor);
            }
            Ok(())
        }))
        .append_element_content_handler(on_text(a, |t| {
            let mut s = st.borrow_mut();
            if let Some(i) = s.anchor {
                let chunk = t.as_str();
                let text = s.links[i].text.get_or_insert_with(String::new);
                if text.len() < MAX_TEXT {
                    text.push_str(chunk);
                }
            }
            Ok(())
        }))
        .append_element_content_handler(on_element(area, |el| {
            if let Some(h) = el.get_attribute("href") {
                st.borrow_mut().target(&h, LinkKind::Area);
            }
            Ok(())
        }))
        .append_element_content_handler(on_element(form, |el| {
            let mut s = st.borrow_mut();
            s.doc.forms += 1;
            let before = s.forms.len();
            if let Some(a) = el.get_attribute("action") {
                s.target(&a, LinkKind::FormAction);
            }
            if s.forms.len() == before {
                let origin = s.origin;
                s.forms.push(Form {
                    action: None,
                    origin,
                });
            }
            Ok(())
        }))
        .append_element_content_handler(on_element(input, |el| {
            let mut s = st.borrow_mut();
            let ty = el
                .get_attribute("type")
                .unwrap_or_default()
                .to_ascii_lowercase();
            if ty == "password" {
                s.doc.password_input = true;
            } else if matches!(ty.as_str(), "" | "text" | "tel" | "number")
                && looks_like_code_input(el)
            {
                s.doc.code_input = true;
            }
            Ok(())
        }))
        .append_element_content_handler(on_element(script, |_| {
            st.borrow_mut().doc.scripts += 1;
            Ok(())
        }))
        .append_element_content_handler(on_element(meta, |el| {
            let refresh = el
                .get_attribute("http-equiv")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("refresh"));
            if refresh {
                let mut s = st.borrow_mut();
                s.doc.refresh = true;
                if let Some(c) = el.get_attribute("content") {
                    if let Some(u) = refresh_url(&decode_entities(&c)) {
                        s.target(u, LinkKind::MetaRefresh);
                    }
                }
            }
            Ok(())
        }));
    let mut rw = HtmlRewriter::new(settings, |_: &[u8]| {});
    // A parse error leaves what was gathered so far, which is all we can use.
    if rw.write(bytes).is_ok() {
        let _ = rw.end();
    }
    let mut s = st.borrow_mut();
    for l in &mut s.links {
        if let Some(t) = &mut l.text {
            *t = collapse_ws(&decode_entities(t));
        }
    }
}

fn looks_like_code_input(el: &lol_html::html_content::Element<'_, '_>) -> bool {
    if el
        .get_attribute("autocomplete")
        .is_some_and(|a| a.to_ascii_lowercase().contains("one-time-code"))
    {
        return true;
    }
    for attr in ["name", "id"] {
        if let Some(v) = el.get_attribute(attr) {
            let v = v.to_ascii_lowercase();
            let hit = v.split(|c: char| !c.is_ascii_alphanumeric()).any(|tok| {
                matches!(
                    tok,
                    "otp" | "pin" | "pincode" | "passcode" | "onetime" | "tan" | "otpcode"
                ) || tok.starts_with("otp")
            });
            if hit {
                return true;
            }
        }
    }
    el.get_attribute("placeholder").is_some_and(|p| {
        [
            "暗証",
            "ワンタイム",
            "認証コード",
            "確認コード",
            "パスワード",
        ]
        .iter()
        .any(|k| p.contains(k))
    })
}

/// The URL of a refresh `content` value: `5; url='https://…'`.
fn refresh_url(content: &str) -> Option<&str> {
    let lower = content.to_ascii_lowercase();
    let at = lower.find("url")?;
    let rest = content[at + 3..].trim_start();
    let rest = rest.strip_prefix('=')?.trim();
    let rest = rest.trim_matches(|c| c == '\'' || c == '"');
    (!rest.is_empty()).then_some(rest)
}

fn data_uri(after_scheme: &str, origin: Origin) -> DataUri {
    let (meta, payload) = after_scheme.split_once(',').unwrap_or((after_scheme, ""));
    let media = meta
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let media_type = if media.is_empty() {
        "text/plain".to_string()
    } else {
        media
    };
    // Only visible (non-base64) payloads are inspected; base64 HTML is caught by its type.
    let p = percent_encoding::percent_decode_str(&payload[..payload.len().min(4096)])
        .decode_utf8_lossy();
    let p = p.to_ascii_lowercase();
    DataUri {
        script: p.contains("<script") || p.contains("javascript:"),
        media_type,
        origin,
    }
}

/// The normalised form of an http(s) URL; other schemes are not followed.
pub fn normalise(u: &Url, kind: LinkKind, origin: Origin) -> Option<Link> {
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    let (host, ip) = match u.host()? {
        Host::Domain(d) => (d.trim_end_matches('.').to_ascii_lowercase(), false),
        Host::Ipv4(a) => (a.to_string(), true),
        Host::Ipv6(a) => (format!("[{a}]"), true),
    };
    if host.is_empty() {
        return None;
    }
    let userinfo = if u.username().is_empty() && u.password().is_none() {
        None
    } else {
        let mut s = pct_decode(u.username());
        if let Some(p) = u.password() {
            s.push(':');
            s.push_str(&pct_decode(p));
        }
        Some(s)
    };
    let mut path = pct_decode(u.path());
    if let Some(q) = u.query() {
        path.push('?');
        path.push_str(&pct_decode(q));
    }
    path.make_ascii_lowercase();
    let registrable = if ip {
        None
    } else {
        crate::domain::registrable(&host)
    };
    Some(Link {
        url: u.as_str().to_string(),
        host,
        ip,
        registrable,
        userinfo,
        path,
        text: None,
        kind,
        origin,
        returned: false,
    })
}

fn pct_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

fn collapse_ws(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Characters that end a URL in running text. Japanese mail writes URLs
/// straight against full-width brackets and punctuation, with no space.
fn is_boundary(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(
            c,
            '<' | '>'
                | '"'
                | '`'
                | '{'
                | '}'
                | '|'
                | '\\'
                | '^'
                | '「'
                | '」'
                | '『'
                | '』'
                | '（'
                | '）'
                | '【'
                | '】'
                | '、'
                | '。'
                | '〈'
                | '〉'
                | '《'
                | '》'
                | '〔'
                | '〕'
                | '［'
                | '］'
                | '｛'
                | '｝'
                | '！'
                | '？'
                | '，'
                | '．'
                | '：'
                | '；'
                | '・'
                | '＜'
                | '＞'
                | '…'
                | '“'
                | '”'
                | '‘'
                | '’'
                | '\u{3000}'
        )
}

/// Bare URLs (`http://`, `https://`, `www.`) in plain text.
pub fn bare_urls(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    std::iter::from_fn(move || {
        while pos < bytes.len() {
            let start = find_start(bytes, pos)?;
            let end = url_end(text, start);
            pos = end.max(start + 1);
            let cand = trim_trailing(&text[start..end]);
            let body = cand.find("://").map_or(cand, |i| &cand[i + 3..]);
            if body.len() > 3 && body.contains('.') {
                return Some(cand);
            }
        }
        None
    })
}

fn find_start(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 4 <= b.len() {
        let c = b[i] | 0x20;
        if c == b'h' && (starts_ci(&b[i..], b"http://") || starts_ci(&b[i..], b"https://")) {
            return Some(i);
        }
        // `www.` only at a word start, so `awww.` or `x.www.` do not match mid-name.
        if c == b'w' && starts_ci(&b[i..], b"www.") && (i == 0 || !is_name_byte(b[i - 1])) {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn starts_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay[..needle.len()].eq_ignore_ascii_case(needle)
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'/' || b == b'@'
}

fn url_end(text: &str, start: usize) -> usize {
    let rest = &text[start..];
    let host_from = rest.find("://").map_or(0, |i| i + 3);
    let mut in_host = true;
    for (i, c) in rest.char_indices() {
        if is_boundary(c) {
            return start + i;
        }
        if i >= host_from && matches!(c, '/' | '?' | '#') {
            in_host = false;
        }
        // Non-ASCII after the host is almost always the sentence going on
        // (「…/login」から), not the path; IDN hosts keep theirs.
        if !c.is_ascii() && !in_host {
            return start + i;
        }
    }
    text.len()
}

fn trim_trailing(s: &str) -> &str {
    let mut s = s;
    loop {
        let Some(c) = s.chars().last() else { return s };
        let cut = match c {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' => true,
            ')' => s.matches('(').count() < s.matches(')').count(),
            ']' => s.matches('[').count() < s.matches(']').count(),
            _ => false,
        };
        if !cut {
            return s;
        }
        s = &s[..s.len() - c.len_utf8()];
    }
}

/// Decodes HTML character references. Attackers spell `&#104;ttps:` or
/// `&#x2F;` precisely because naive scanners look at the raw attribute.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        match entity(rest) {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The character of the reference at the start of `s` and its length.
fn entity(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let (radix, digits_from) = if matches!(b.get(2), Some(b'x' | b'X')) {
            (16, 3)
        } else {
            (10, 2)
        };
        let digits = s[digits_from..]
            .bytes()
            .take_while(|c| c.is_ascii_hexdigit() && (radix == 16 || c.is_ascii_digit()))
            .count();
        if digits == 0 {
            return None;
        }
        let n = u32::from_str_radix(
            &s[digits_from..digits_from + digits]
                .chars()
                .take(8)
                .collect::<String>(),
            radix,
        )
        .unwrap_or(0xFFFD);
        let c = char::from_u32(n)
            .filter(|&c| c != '\0')
            .unwrap_or('\u{FFFD}');
        let mut len = digits_from + digits;
        if b.get(len) == Some(&b';') {
            len += 1;
        }
        return Some((c, len));
    }
    let name_len = s[1..].bytes().take_while(u8::is_ascii_alphanumeric).count();
    let name = &s[1..1 + name_len];
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "colon" => ':',
        "sol" => '/',
        "bsol" => '\\',
        "period" => '.',
        "comma" => ',',
        "quest" => '?',
        "equals" => '=',
        "num" => '#',
        "percnt" => '%',
        "commat" => '@',
        "lowbar" => '_',
        "hyphen" | "dash" => '-',
        "lpar" => '(',
        "rpar" => ')',
        "semi" => ';',
        "excl" => '!',
        "plus" => '+',
        "Tab" => '\t',
        "NewLine" => '\n',
        "shy" => '\u{ad}',
        "zwj" => '\u{200d}',
        "zwnj" => '\u{200c}',
        "lrm" => '\u{200e}',
        "rlm" => '\u{200f}',
        _ => return None,
    };
    if b.get(1 + name_len) == Some(&b';') {
        Some((c, name_len + 2))
    } else if matches!(name, "amp" | "lt" | "gt" | "quot") {
        // Legacy references without `;` still decode in HTML.
        Some((c, name_len + 1))
    } else {
        None
    }
}
