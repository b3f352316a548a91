//! HTML character references, decoded before anything looks at a URL.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_references_decimal_and_hex() {
        assert_eq!(decode_entities("&#104;ttps&#x3A;&#X2F;/a"), "https://a");
        // Without the `;` a numeric reference still ends at its last digit.
        assert_eq!(decode_entities("&#104ttp"), "http");
        assert_eq!(decode_entities("&#0;"), "\u{FFFD}");
        assert_eq!(decode_entities("&#x110000;"), "\u{FFFD}");
    }

    #[test]
    fn named_references_need_a_semicolon_except_the_legacy_four() {
        assert_eq!(decode_entities("a&colon;b&sol;c"), "a:b/c");
        assert_eq!(decode_entities("x&amp-y &lt"), "x&-y <");
        assert_eq!(decode_entities("&ampy"), "&ampy");
        assert_eq!(decode_entities("&colonx"), "&colonx");
        assert_eq!(decode_entities("&unknown; & &#;"), "&unknown; & &#;");
    }
}
