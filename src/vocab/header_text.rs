//! Text we write into header fields: RFC 2047 encoded-words, folding, and
//! the tagged Subject. Nothing written here carries a control character
//! other than the LF-TAB folding the milter protocol expects.

use encoding_rs::{Encoding, EUC_JP, GB18030, ISO_2022_JP, SHIFT_JIS, UTF_8, WINDOWS_1252};

/// RFC 2047 encoded-words for non-ASCII text (UTF-8, base64), each at most
/// 75 characters; ASCII text is returned as is.
pub fn encode_word(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return text.to_string();
    }
    // 45 bytes of UTF-8 become 60 base64 characters, plus 12 for the
    // =?UTF-8?B??= frame: within the 75-character limit. Split on character
    // boundaries so no word carries half a character.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\n\t")
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(bytes: &[u8]) -> String {
    data_encoding::BASE64.encode(bytes)
}

/// Folds a long header value at "; " so lines stay readable (LF-TAB, the
/// milter convention).
pub fn fold_at_semicolons(value: &str) -> String {
    value.replace("; ", ";\n\t")
}

/// The Subject of tagged mail: our prefix, then the original subject.
///
/// An ASCII original (encoded-words included) is kept byte for byte. An
/// original with raw 8-bit or ISO-2022-JP bytes, which many Japanese
/// senders still write undeclared, is decoded by the charset its bytes
/// fit and written again, prefix and all, as UTF-8 encoded-words: the
/// reader sees the same text, and no raw ESC or 8-bit byte is echoed.
/// Controls (BEL, DEL, bare CR or LF) are dropped.
pub fn prefixed_subject(prefix: &str, original: Option<&[u8]>) -> String {
    let Some(original) = original else {
        return encode_word(prefix);
    };
    let start = original
        .iter()
        .position(|b| !b" \t\r\n".contains(b))
        .unwrap_or(original.len());
    let original = &original[start..];
    if original.is_empty() {
        return encode_word(prefix);
    }
    if original.iter().all(|&b| b.is_ascii() && b != 0x1b) {
        let text = without_controls(&String::from_utf8_lossy(original), true);
        return format!("{} {text}", encode_word(prefix));
    }
    let text = without_controls(&decode_undeclared(original), false);
    encode_word(&format!("{prefix} {text}"))
}

/// Raw header bytes in the charset they fit best: UTF-8 when they are
/// valid UTF-8, ISO-2022-JP when they carry its escapes, otherwise the
/// one of Shift_JIS (as CP932), EUC-JP and GB18030 that decodes them
/// without error into the most natural text; windows-1252 fits anything.
pub fn decode_undeclared(bytes: &[u8]) -> String {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if !bytes.contains(&0x1b) {
            return text.to_string();
        }
    }
    if bytes.contains(&0x1b) {
        if let Some(text) = ISO_2022_JP.decode_without_bom_handling_and_without_replacement(bytes) {
            return text.into_owned();
        }
    }
    let candidates: [&'static Encoding; 4] = [SHIFT_JIS, EUC_JP, GB18030, UTF_8];
    candidates
        .iter()
        .filter_map(|enc| enc.decode_without_bom_handling_and_without_replacement(bytes))
        // On a tie the earlier candidate wins (max_by_key keeps the last).
        .rev()
        .max_by_key(|text| naturalness(text))
        .map(|t| t.into_owned())
        .unwrap_or_else(|| {
            WINDOWS_1252
                .decode_without_bom_handling(bytes)
                .0
                .into_owned()
        })
}

/// Both Shift_JIS and EUC-JP decode many byte strings of the other without
/// error, into half-width katakana and private-use characters that no
/// writer means. Count what real Japanese (and Chinese) text is made of.
fn naturalness(text: &str) -> i64 {
    text.chars()
        .map(|c| match c as u32 {
            // Kana weigh most: a GB18030 reading of Shift_JIS bytes is
            // valid Chinese, but has none.
            0x3040..=0x30FF => 3,
            0x4E00..=0x9FFF | 0x3000..=0x303F | 0xFF01..=0xFF5E => 1,
            0xFF61..=0xFF9F => -1,
            0xE000..=0xF8FF => -3,
            0x20..=0x7E => 0,
            _ => -1,
        })
        .sum()
}

/// Drops control characters. With `keep_folding`, a line break followed by
/// white space (header folding) stays, as LF, the milter convention.
fn without_controls(text: &str, keep_folding: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push(c),
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                let folds = matches!(chars.peek(), Some(' ' | '\t'));
                if keep_folding && folds {
                    out.push('\n');
                } else if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.trim_end().to_string()
}

/// mail-auth folds with CRLF-TAB; inside a milter header value the MTA wants
/// bare LF, and every value must be free of other controls.
pub fn lf_folded(value: &str) -> String {
    value
        .replace("\r\n", "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Subject as a reader's client shows it.
    fn decoded(value: &str) -> String {
        let raw = format!("Subject: {}\r\n\r\n", value.replace('\n', "\r\n"));
        let msg = mail_parser::MessageParser::default()
            .parse(raw.as_bytes())
            .expect("a header parses");
        msg.subject().unwrap_or_default().to_string()
    }

    #[test]
    fn undeclared_japanese_subjects_keep_their_text() {
        let text = "お客様情報の確認";
        for enc in [SHIFT_JIS, EUC_JP, ISO_2022_JP, UTF_8] {
            let (raw, _, bad) = enc.encode(text);
            assert!(!bad);
            let out = prefixed_subject("[注意]", Some(&raw));
            assert!(
                out.bytes()
                    .all(|b| b.is_ascii() && (b >= 0x20 || b == b'\n' || b == b'\t')),
                "{out}"
            );
            assert_eq!(decoded(&out), format!("[注意] {text}"), "{}", enc.name());
        }
    }

    #[test]
    fn ascii_subjects_stay_byte_for_byte_without_controls() {
        let out = prefixed_subject(
            "[SUSPECT]",
            Some(b" =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?="),
        );
        assert_eq!(out, "[SUSPECT] =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=");
        let out = prefixed_subject("[SUSPECT]", Some(b"a\x07b\x7fc\rX-Evil: 1\n\tfolded"));
        assert_eq!(out, "[SUSPECT] abc X-Evil: 1\n\tfolded");
        assert_eq!(prefixed_subject("[S]", None), "[S]");
        assert_eq!(prefixed_subject("[S]", Some(b"   ")), "[S]");
    }

    #[test]
    fn folding_uses_bare_lf_and_drops_controls() {
        assert_eq!(
            lf_folded("mx; spf=pass\r\n\tdkim=none\u{7}"),
            "mx; spf=pass\n\tdkim=none"
        );
    }
}
