//! Bare URLs in running text (`http://`, `https://`, `www.`), ended where a
//! reader's eye ends them, Japanese brackets and punctuation included.

use super::normalize::normalize;
use super::{Link, LinkKind, Origin};
use url::Url;

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

/// The bare URLs of `text` as links; `www.` ones are taken as http, as
/// mail clients and phone cameras open them.
pub fn bare_links(text: &str, kind: LinkKind, origin: Origin) -> impl Iterator<Item = Link> + '_ {
    bare_urls(text).filter_map(move |candidate| {
        let owned;
        let s = if candidate.len() >= 4 && candidate[..4].eq_ignore_ascii_case("www.") {
            owned = format!("http://{candidate}");
            owned.as_str()
        } else {
            candidate
        };
        Url::parse(s).ok().and_then(|u| normalize(&u, kind, origin))
    })
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

/// Cuts trailing punctuation and closers that open nothing in the URL.
/// The brackets are counted once and the counts kept as characters go, so
/// a URL followed by 300,000 `)` costs one pass, not one count per `)`.
fn trim_trailing(s: &str) -> &str {
    let count = |c: char| s.bytes().filter(|&b| b == c as u8).count();
    let (open_p, open_b) = (count('('), count('['));
    let (mut close_p, mut close_b) = (count(')'), count(']'));
    let mut s = s;
    loop {
        let Some(c) = s.chars().next_back() else {
            return s;
        };
        let cut = match c {
            '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '*' => true,
            ')' if open_p < close_p => {
                close_p -= 1;
                true
            }
            ']' if open_b < close_b => {
                close_b -= 1;
                true
            }
            _ => false,
        };
        if !cut {
            return s;
        }
        s = &s[..s.len() - c.len_utf8()];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(text: &str) -> Vec<&str> {
        bare_urls(text).collect()
    }

    #[test]
    fn schemes_and_www_at_a_word_start() {
        assert_eq!(
            urls("see https://a.example/x and www.b.example, or HTTP://C.EXAMPLE."),
            ["https://a.example/x", "www.b.example", "HTTP://C.EXAMPLE"]
        );
        assert!(urls("awww.example.com x.www.example.com").is_empty());
        // Too short or without a dot is not a link.
        assert!(urls("http://abc https://x").is_empty());
    }

    #[test]
    fn trailing_punctuation_and_unbalanced_closers_are_cut() {
        assert_eq!(
            urls("(https://a.example/p) https://b.example/w_(x)."),
            ["https://a.example/p", "https://b.example/w_(x)"]
        );
    }

    #[test]
    fn a_url_before_a_flood_of_closers_costs_one_pass() {
        // Counting the brackets again for every closer took 45 s for this.
        let text = format!("https://a.example/{}", ")".repeat(300_000));
        assert_eq!(urls(&text), ["https://a.example/"]);
        let text = format!("https://a.example/{}", "](".repeat(100_000));
        assert_eq!(urls(&text).len(), 1);
    }

    #[test]
    fn japanese_text_ends_a_url_after_its_host() {
        assert_eq!(
            urls("「https://a.example/login」から https://例え.jp/x"),
            ["https://a.example/login", "https://例え.jp/x"]
        );
        assert_eq!(urls("https://a.example/ログイン"), ["https://a.example/"]);
    }
}
