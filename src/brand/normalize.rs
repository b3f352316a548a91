//! Folding text and domain names to the form in which two things that look
//! alike to a customer compare equal.
//!
//! Display names and brand names go through the same [`fold`], so whatever
//! the folding does (width, case, kana, confusables) it does to both sides and
//! a match means "would read the same", not "is byte-identical".

use unicode_normalization::UnicodeNormalization;

/// Text folded for matching, with where its tokens begin and end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Folded {
    /// Separators removed; every remaining character folded.
    pub text: String,
    /// `boundary[i]` for each byte offset `i` of `text` (and its end): whether
    /// a token starts or ends there. Short brand names must sit between two.
    pub boundary: Vec<bool>,
    /// Invisible and bidi characters that were removed.
    pub hidden: Vec<char>,
}

impl Folded {
    pub fn is_boundary(&self, byte: usize) -> bool {
        self.boundary.get(byte).copied().unwrap_or(false)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Ascii,
    Kana,
    Other,
}

fn class(c: char) -> Class {
    if c.is_ascii_alphanumeric() {
        Class::Ascii
    } else if ('\u{3041}'..='\u{309F}').contains(&c) {
        Class::Kana
    } else {
        Class::Other
    }
}

/// Katakana as hiragana, small kana as full-size: customers read them as the
/// same word, and the zengin reference writes kana without small letters
/// (ホツカイドウ for ホッカイドウ).
fn fold_kana(c: char) -> char {
    let c = if ('\u{30A1}'..='\u{30F6}').contains(&c) {
        char::from_u32(c as u32 - 0x60).unwrap_or(c)
    } else {
        c
    };
    match c {
        'ぁ' => 'あ',
        'ぃ' => 'い',
        'ぅ' => 'う',
        'ぇ' => 'え',
        'ぉ' => 'お',
        'っ' => 'つ',
        'ゃ' => 'や',
        'ゅ' => 'ゆ',
        'ょ' => 'よ',
        'ゎ' => 'わ',
        'ゕ' => 'か',
        'ゖ' => 'け',
        other => other,
    }
}

/// Long-vowel marks and dashes inside a word: dropped without splitting the
/// word, because writers use them interchangeably (ソニー, ソニ－, ソニ-).
fn is_elongation(c: char) -> bool {
    matches!(c, 'ー' | '-' | '‐' | '‑' | '–' | '—' | '―' | '〜' | '~')
}

/// Whether a character is invisible or reorders text (reported, then ignored).
pub use crate::sanitize::is_hidden;

/// The confusable skeleton of one character, lower-cased: `0` and `o`, `1`
/// and `l`, Cyrillic `а` and Latin `a` end up equal.
///
/// Folding runs over every subject and body text, and computing a skeleton
/// is the costliest step of it: ASCII comes from a table, other characters
/// from a small per-thread memo (text repeats few distinct characters).
fn skeleton_char(c: char, out: &mut String) {
    use std::cell::RefCell;
    use std::collections::HashMap;
    use std::sync::OnceLock;
    static ASCII: OnceLock<Vec<String>> = OnceLock::new();
    thread_local! {
        static MEMO: RefCell<HashMap<char, Box<str>>> = RefCell::new(HashMap::new());
    }
    if c.is_ascii() {
        let table = ASCII.get_or_init(|| (0u8..128).map(|b| compute_skeleton(b as char)).collect());
        out.push_str(&table[c as usize]);
        return;
    }
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() > 8192 {
            m.clear();
        }
        out.push_str(m.entry(c).or_insert_with(|| compute_skeleton(c).into()));
    });
}

fn compute_skeleton(c: char) -> String {
    let mut buf = [0u8; 4];
    unicode_security::skeleton(c.encode_utf8(&mut buf))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Folds text for brand-name matching: hidden characters removed (and kept
/// aside), NFKC (full-width and half-width forms), case, kana, confusable
/// skeleton; separators removed but remembered as token boundaries, as are
/// changes between Latin, kana and other scripts (JCBカード is two tokens).
pub fn fold(s: &str) -> Folded {
    let mut hidden = Vec::new();
    let visible: String = s
        .chars()
        .filter(|&c| {
            if is_hidden(c) {
                hidden.push(c);
                false
            } else {
                true
            }
        })
        .collect();
    let mut text = String::with_capacity(visible.len());
    let mut boundary = Vec::with_capacity(visible.len() + 1);
    let mut pending = true;
    let mut last: Option<Class> = None;
    // NFKC and Unicode lower-casing leave ASCII as it is (bar case): skip
    // them for ASCII text, most of what a milter folds.
    let chars: Box<dyn Iterator<Item = char>> = if visible.is_ascii() {
        Box::new(visible.chars().map(|c| c.to_ascii_lowercase()))
    } else {
        Box::new(visible.nfkc().flat_map(char::to_lowercase))
    };
    for c in chars {
        let c = fold_kana(c);
        // An ASCII hyphen between Latin letters separates words (Rakuten-Card);
        // elsewhere it stands in for a long-vowel mark.
        if c == '-' && last == Some(Class::Ascii) {
            pending = true;
            continue;
        }
        if is_elongation(c) {
            continue;
        }
        if !c.is_alphanumeric() {
            pending = true;
            continue;
        }
        let cl = class(c);
        let starts = pending || last.is_some_and(|l| l != cl);
        pending = false;
        last = Some(cl);
        let at = text.len();
        skeleton_char(c, &mut text);
        boundary.resize(text.len(), false);
        if at < boundary.len() {
            boundary[at] = starts;
        }
    }
    boundary.push(true);
    Folded {
        text,
        boundary,
        hidden,
    }
}

/// Fold for a brand name, as stored in the index.
pub fn fold_name(s: &str) -> String {
    fold(s).text
}

/// Confusable skeleton of a domain or label in Unicode form, lower-cased,
/// dots and hyphens kept: equal skeletons look the same in an address bar.
pub fn domain_skeleton(unicode: &str) -> String {
    let mut out = String::with_capacity(unicode.len());
    for c in unicode.nfkc().flat_map(char::to_lowercase) {
        if c == '.' || c == '-' {
            out.push(c);
        } else {
            skeleton_char(c, &mut out);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_kana_and_case_fold_together() {
        assert_eq!(fold_name("ＪＣＢ"), fold_name("jcb"));
        assert_eq!(fold_name("ラクテン"), fold_name("らくてん"));
        assert_eq!(fold_name("ﾗｸﾃﾝ"), fold_name("らくてん"));
        assert_eq!(fold_name("ホッカイドウ"), fold_name("ホツカイドウ"));
        assert_eq!(fold_name("ソニー"), fold_name("ソニ－"));
        assert_eq!(fold_name("横 浜 銀 行"), fold_name("横浜銀行"));
    }

    #[test]
    fn confusables_fold_to_one_skeleton() {
        // Cyrillic а and е, digit zero.
        assert_eq!(fold_name("R\u{0430}kut\u{0435}n"), fold_name("rakuten"));
        assert_eq!(domain_skeleton("mizuh0bank"), domain_skeleton("mizuhobank"));
        assert_eq!(domain_skeleton("ѕmbc"), domain_skeleton("smbc"));
        assert_ne!(domain_skeleton("smbc"), domain_skeleton("smbd"));
    }

    #[test]
    fn hidden_characters_are_removed_and_reported() {
        let f = fold("三井\u{200B}住友\u{202E}");
        assert_eq!(f.text, fold_name("三井住友"));
        assert_eq!(f.hidden, vec!['\u{200B}', '\u{202E}']);
    }

    #[test]
    fn boundaries_follow_separators_and_script_changes() {
        let f = fold("MyJCB カード");
        // "myjcb" | "かど": a boundary at the script change, none inside myjcb.
        let jcb = f.text.find(&fold_name("jcb")).unwrap();
        assert!(!f.is_boundary(jcb));
        assert!(f.is_boundary(jcb + fold_name("jcb").len()));
        let g = fold("JCBカード");
        assert!(g.is_boundary(0));
        assert!(g.is_boundary(fold_name("jcb").len()));
    }
}
