//! The HTML scan: the elements that navigate (links, areas, forms, refresh
//! redirects, `data:` URIs) and what a document can do (forms, scripts,
//! secret inputs), from one streaming pass of lol_html.

use super::entities::decode_entities;
use super::normalize::normalize;
use super::{DataUri, Form, HtmlDoc, Link, LinkKind, Origin};
use lol_html::html_content::{Element, TextChunk};
use lol_html::{ElementContentHandlers, HandlerResult, HtmlRewriter, Selector, Settings};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::LazyLock;
use url::Url;

pub(super) struct HtmlState {
    base: Option<Url>,
    /// Index in `links` of the `<a>` whose text is being collected.
    anchor: Option<usize>,
    pub(super) links: Vec<Link>,
    pub(super) forms: Vec<Form>,
    pub(super) data_uris: Vec<DataUri>,
    pub(super) doc: HtmlDoc,
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
        let l = normalize(&u, kind, self.origin)?;
        if kind == LinkKind::FormAction {
            self.forms.push(Form {
                action: Some(l),
                origin: self.origin,
                collects: false,
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

/// What one HTML document links to and can do; `doc` arrives with its
/// attachment name and leaves with what the scan found.
pub(super) fn scan(bytes: &[u8], doc: HtmlDoc, origin: Origin) -> HtmlState {
    let state = RefCell::new(HtmlState {
        base: None,
        anchor: None,
        links: Vec::new(),
        forms: Vec::new(),
        data_uris: Vec::new(),
        doc,
        origin,
    });
    scan_html(bytes, &state);
    state.into_inner()
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
                    collects: false,
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
            let secret = if ty == "password" {
                s.doc.password_input = true;
                true
            } else if matches!(ty.as_str(), "" | "text" | "tel" | "number")
                && looks_like_code_input(el)
            {
                s.doc.code_input = true;
                true
            } else {
                false
            };
            // A form collects credentials when it has a field for a secret
            // or an account identifier, whatever its method; a newsletter's
            // search or sign-up form posts too, but asks for neither.
            if secret || names_an_account(el) {
                if let Some(f) = s.forms.last_mut() {
                    f.collects = true;
                }
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

/// An input named for an account identifier or card data.
fn names_an_account(el: &lol_html::html_content::Element<'_, '_>) -> bool {
    ["name", "id"].iter().any(|attr| {
        el.get_attribute(attr).is_some_and(|v| {
            let v = v.to_ascii_lowercase();
            v.split(|c: char| !c.is_ascii_alphanumeric()).any(|tok| {
                matches!(
                    tok,
                    "user"
                        | "username"
                        | "userid"
                        | "login"
                        | "account"
                        | "acct"
                        | "card"
                        | "cardnumber"
                        | "ccnum"
                        | "cvv"
                        | "cvc"
                        | "ssn"
                        | "iban"
                        | "cpf"
                ) || tok.starts_with("pass")
            })
        })
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_str(html: &str, origin: Origin) -> HtmlState {
        scan(html.as_bytes(), HtmlDoc::default(), origin)
    }

    #[test]
    fn anchors_resolve_against_base_and_keep_their_text() {
        let st = scan_str(
            "<base href='https://base.example/d/'><a href='p&#x3F;q=1'>  bank.example\n login </a>",
            Origin::Html,
        );
        assert_eq!(st.links.len(), 1);
        assert_eq!(st.links[0].url, "https://base.example/d/p?q=1");
        assert_eq!(st.links[0].text.as_deref(), Some("bank.example login"));
    }

    #[test]
    fn forms_secrets_scripts_and_refresh() {
        let st = scan_str(
            "<form action='https://collect.example/post'><input type=password name=pw>\
             <input name='otp_code'></form><script>x()</script>\
             <meta http-equiv='refresh' content=\"0; url='https://next.example/'\">",
            Origin::Attachment,
        );
        assert_eq!(st.forms.len(), 1);
        assert_eq!(st.forms[0].action.as_ref().unwrap().host, "collect.example");
        assert!(st.doc.password_input && st.doc.code_input && st.doc.refresh);
        assert_eq!((st.doc.forms, st.doc.scripts), (1, 1));
        assert!(st.links.iter().any(|l| l.host == "next.example"));
    }

    #[test]
    fn data_uris_are_typed_not_followed() {
        let st = scan_str(
            "<a href='data:text/html,%3Cscript%3Ealert(1)%3C/script%3E'>x</a><a href='DATA:,hi'>y</a>",
            Origin::Html,
        );
        assert!(st.links.is_empty());
        assert_eq!(st.data_uris.len(), 2);
        assert_eq!(st.data_uris[0].media_type, "text/html");
        assert!(st.data_uris[0].script);
        assert_eq!(st.data_uris[1].media_type, "text/plain");
    }

    #[test]
    fn refresh_urls() {
        assert_eq!(
            refresh_url("5; URL='https://a.example/'"),
            Some("https://a.example/")
        );
        assert_eq!(refresh_url("0;url=x"), Some("x"));
        assert_eq!(refresh_url("5"), None);
    }
}
