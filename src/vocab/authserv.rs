//! The authserv-id of an `Authentication-Results` field, read as RFC 8601
//! defines it, so that every form a forger may choose is recognised:
//!
//! ```text
//! authres-payload = [CFWS] authserv-id [ CFWS authres-version ] ...
//! authserv-id     = value                  ; RFC 2045: token / quoted-string
//! ```
//!
//! Comments may nest and hold quoted pairs, folding may come anywhere CFWS
//! may, the id may be quoted, and a trailing dot names the same host.

/// The authserv-id, unquoted, lower-case and without a trailing dot.
pub fn authserv_id(value: &str) -> Option<String> {
    let rest = skip_cfws(value);
    let id = if let Some(quoted) = rest.strip_prefix('"') {
        quoted_string(quoted)?
    } else {
        let end = rest.find(is_token_end).unwrap_or(rest.len());
        rest[..end].to_string()
    };
    let id = normalize(&id);
    (!id.is_empty()).then_some(id)
}

/// Whether `value` names `ours` as its authserv-id.
pub fn is_ours(value: &str, ours: &str) -> bool {
    let ours = normalize(ours);
    !ours.is_empty() && authserv_id(value).is_some_and(|id| id == ours)
}

fn normalize(id: &str) -> String {
    let id = id.trim();
    id.strip_suffix('.').unwrap_or(id).to_ascii_lowercase()
}

/// RFC 2045 tspecials, space and controls end a token.
fn is_token_end(c: char) -> bool {
    c.is_ascii_control() || c == ' ' || "()<>@,;:\\\"/[]?=".contains(c)
}

/// Skips folding white space and comments (nested, with quoted pairs).
fn skip_cfws(s: &str) -> &str {
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        if !rest.starts_with('(') {
            return rest;
        }
        let mut depth = 0usize;
        let mut escaped = false;
        let mut end = rest.len();
        for (i, c) in rest.char_indices() {
            if escaped {
                escaped = false;
                continue;
            }
            match c {
                '\\' => escaped = true,
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        // An unclosed comment runs to the end: there is no id.
        rest = &rest[end..];
    }
}

/// The content of a quoted string whose opening quote is already consumed.
fn quoted_string(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => out.push(chars.next()?),
            // Folding inside a quoted string is not part of its content.
            '\r' | '\n' => {}
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rfc8601_form_of_our_id_is_recognised() {
        let ours = "mx.example.jp";
        for v in [
            " mx.example.jp; dkim=pass",
            "mx.example.jp;dkim=pass",
            " MX.Example.JP; spf=pass",
            " (x) mx.example.jp; dkim=pass",
            " (a (nested \\) comment)) mx.example.jp; dkim=pass",
            " (folded\n\tcomment)\n\tmx.example.jp; dkim=pass",
            " \"mx.example.jp\"; dkim=pass",
            " \"mx.ex\\ample.jp\"; dkim=pass",
            " mx.example.jp.; dkim=pass",
            " mx.example.jp 1; dkim=pass",
            " mx.example.jp (comment); none",
            "\r\n mx.example.jp; none",
        ] {
            assert!(is_ours(v, ours), "{v:?}");
        }
        assert!(is_ours(" mx.example.jp; none", "MX.example.jp."));
    }

    #[test]
    fn other_ids_are_not_ours() {
        let ours = "mx.example.jp";
        for v in [
            " other.example; dkim=pass",
            " mx.example.jp.evil; dkim=pass",
            " (mx.example.jp) other.example; spf=pass",
            " \"mx.example.jp", // unterminated quote
            " (unclosed mx.example.jp; dkim=pass",
            "",
            " ; dkim=pass",
        ] {
            assert!(!is_ours(v, ours), "{v:?}");
        }
        assert!(!is_ours(" x; none", ""));
    }
}
