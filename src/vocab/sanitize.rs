//! Making attacker-controlled text safe to echo into headers and logs.
//!
//! Everything we write into a header or a log line may have come from the
//! sender (display names, domains, URLs). CR/LF would let them inject headers;
//! other controls, bidi overrides and zero-width characters would let them make
//! evidence read differently from what it is. We replace rather than drop, so
//! the evidence still shows that something was there.

/// Characters that change how text is displayed without being visible.
pub fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM, RLM
        | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
        | '\u{2060}'..='\u{2064}' // word joiner, invisible operators
        | '\u{2066}'..='\u{2069}' // bidi isolates
        | '\u{FEFF}' // BOM / zero-width no-break space
        | '\u{00AD}' // soft hyphen
        | '\u{034F}' // combining grapheme joiner
        | '\u{180E}' // Mongolian vowel separator
        | '\u{061C}' // Arabic letter mark (bidi)
        | '\u{2028}' | '\u{2029}' // line and paragraph separators
        | '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' // Hangul fillers
    )
}

/// True when the text holds characters that [`one_line`] would neutralise.
#[cfg(test)]
pub fn has_hidden_or_control(s: &str) -> bool {
    s.chars().any(|c| c.is_control() || is_hidden(c))
}

/// One line of printable text, at most `max_chars` characters.
/// Controls become spaces (runs collapsed); hidden characters become `U+XXXX`
/// markers so a reader sees them.
pub fn one_line(s: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_chars * 4));
    let mut count = 0;
    let mut last_space = false;
    for c in s.chars() {
        if count >= max_chars {
            out.push('…');
            break;
        }
        if c.is_control() || c.is_whitespace() {
            if !last_space && !out.is_empty() {
                out.push(' ');
                count += 1;
            }
            last_space = true;
            continue;
        }
        last_space = false;
        if is_hidden(c) {
            let marker = format!("<U+{:04X}>", c as u32);
            count += marker.len();
            out.push_str(&marker);
        } else {
            out.push(c);
            count += 1;
        }
    }
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out
}

/// Text for a header value: one line of printable ASCII. Non-ASCII is kept
/// only by callers that encode it (RFC 2047); here it is escaped, because
/// verdict headers are read by tools that may not decode.
pub fn header_ascii(s: &str, max_chars: usize) -> String {
    let line = one_line(s, max_chars);
    let mut out = String::with_capacity(line.len());
    for c in line.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    out
}

/// Characters of one URL in evidence, logs and exports.
pub const MAX_URL_CHARS: usize = 200;

/// The URL with nothing that may identify the recipient: scheme, host,
/// port and path only, and only a path that names no address.
pub fn shareable_url(raw: &str) -> Option<String> {
    let u = url::Url::parse(raw).ok()?;
    let host = u.host_str()?;
    let path = u.path();
    let lower = path.to_ascii_lowercase();
    let path = if path.contains('@') || lower.contains("%40") {
        "/"
    } else {
        path
    };
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    let s = format!("{}://{host}{port}{path}", u.scheme());
    let s = s.replace(',', "%2C");
    Some(one_line(&s, MAX_URL_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_cannot_inject_headers() {
        let s = one_line("evil.example\r\nX-Kinko-Verdict: accept", 200);
        assert!(!s.contains('\r') && !s.contains('\n'));
        assert_eq!(s, "evil.example X-Kinko-Verdict: accept");
    }

    #[test]
    fn hidden_characters_are_shown() {
        let s = one_line("pay\u{202E}lpy.com", 200);
        assert_eq!(s, "pay<U+202E>lpy.com");
        assert!(has_hidden_or_control("a\u{200B}b"));
        assert!(!has_hidden_or_control("信用金庫"));
    }

    #[test]
    fn length_is_bounded() {
        let s = one_line(&"a".repeat(1000), 10);
        assert_eq!(s, format!("{}…", "a".repeat(10)));
    }

    #[test]
    fn ascii_header_escapes_non_ascii() {
        assert_eq!(header_ascii("信 x", 50), "\\u{4fe1} x");
    }

    #[test]
    fn urls_lose_everything_that_may_name_the_recipient() {
        assert_eq!(
            shareable_url("https://user:pw@evil.example:8443/a/login.php?u=alice@bank.jp#x")
                .unwrap(),
            "https://evil.example:8443/a/login.php"
        );
        assert_eq!(
            shareable_url("https://evil.example/alice@bank.jp/login").unwrap(),
            "https://evil.example/"
        );
        assert_eq!(
            shareable_url("https://evil.example/alice%40bank.jp").unwrap(),
            "https://evil.example/"
        );
        assert_eq!(
            shareable_url("https://evil.example/a,b").unwrap(),
            "https://evil.example/a%2Cb"
        );
        assert!(shareable_url("not a url").is_none());
    }
}
