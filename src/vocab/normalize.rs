//! Unicode normalisation of text and domain names to the form in which two
//! things that look alike to a customer compare equal. (Header folding, the
//! other kind of "folding", lives with the headers in `actions` and `auth`.)
//!
//! Display names, brand names and lure phrases all go through [`text`], so
//! whatever it does (width, case, kana, confusables) it does to both sides
//! and a match means "would read the same", not "is byte-identical".

use unicode_normalization::UnicodeNormalization;

/// Text folded for matching, with where its tokens begin and end.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    /// Separators removed; every remaining character folded.
    pub text: String,
    /// `boundary[i]` for each byte offset `i` of `text` (and its end): whether
    /// a token starts or ends there. Short brand names must sit between two.
    pub boundary: Vec<bool>,
    /// Invisible and bidi characters that were removed.
    pub hidden: Vec<char>,
}

impl Normalized {
    pub fn is_boundary(&self, byte: usize) -> bool {
        self.boundary.get(byte).copied().unwrap_or(false)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
pub use crate::vocab::sanitize::is_hidden;

/// Confusable skeletons of the 128 ASCII characters, lower-cased.
fn ascii_skeletons() -> &'static [Box<str>] {
    use std::sync::OnceLock;
    static ASCII: OnceLock<Vec<Box<str>>> = OnceLock::new();
    ASCII.get_or_init(|| {
        (0u8..128)
            .map(|b| compute_skeleton(b as char).into())
            .collect()
    })
}

/// The confusable skeleton of one character, lower-cased: `0` and `o`, `1`
/// and `l`, Cyrillic `а` and Latin `a` end up equal.
///
/// Computing a skeleton is the costliest step of folding: ASCII comes from a
/// table, other characters from a small per-thread memo (text repeats few
/// distinct characters).
fn skeleton_char(c: char, out: &mut String) {
    use std::cell::RefCell;
    // Keys are single characters: a fast non-keyed hash is enough (the memo
    // is per thread and bounded, so no input can make it grow).
    thread_local! {
        static MEMO: RefCell<rustc_hash::FxHashMap<char, Box<str>>> = RefCell::default();
    }
    if let Some(sk) = ascii_skeletons().get(c as usize) {
        out.push_str(sk);
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
pub fn text(s: &str) -> Normalized {
    let mut out = Normalizer {
        text: String::with_capacity(s.len()),
        boundary: Vec::with_capacity(s.len() + 1),
        pending: true,
        last: None,
    };
    // Folding runs over every subject and body, most of it ASCII, for which
    // NFKC and Unicode lower-casing change nothing but case and no character
    // is hidden: that path walks bytes and never leaves the skeleton table.
    let hidden = if s.is_ascii() {
        out.push_ascii(s.as_bytes(), ascii_skeletons());
        Vec::new()
    } else {
        let mut hidden = Vec::new();
        // Most text hides nothing: no copy then.
        let visible: std::borrow::Cow<str> = if s.chars().any(is_hidden) {
            s.chars()
                .filter(|&c| {
                    let h = is_hidden(c);
                    if h {
                        hidden.push(c);
                    }
                    !h
                })
                .collect::<String>()
                .into()
        } else {
            s.into()
        };
        out.push_unicode(&visible);
        hidden
    };
    let Normalizer {
        text, mut boundary, ..
    } = out;
    boundary.push(true);
    Normalized {
        text,
        boundary,
        hidden,
    }
}

/// The state of one [`text`]: text so far and where tokens start.
struct Normalizer {
    text: String,
    boundary: Vec<bool>,
    /// A separator was seen since the last kept character.
    pending: bool,
    last: Option<Class>,
}

impl Normalizer {
    /// Text that is all ASCII, byte by byte: no NFKC, no memo.
    fn push_ascii(&mut self, bytes: &[u8], table: &[Box<str>]) {
        for &b in bytes {
            self.fold_ascii(b, table);
        }
    }

    /// Text with non-ASCII characters, NFKC-normalised piece by piece.
    ///
    /// NFKC was the costliest part of folding (a profile of `analyze`: 8 %
    /// of the analysis), and most of it ran over text that is already in
    /// NFKC. Between two ASCII characters nothing composes, decomposes or
    /// reorders (no ASCII character is the second of a composition, and
    /// both are starters), so the text is cut there into pieces that give,
    /// one after the other, exactly the NFKC of the whole; a piece the
    /// quick check calls normalised is taken as it is.
    fn push_unicode(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if b.is_ascii() && bytes.get(i + 1).is_none_or(u8::is_ascii) {
                self.push_nfkc(&s[start..i]);
                self.fold(b as char);
                start = i + 1;
            }
        }
        self.push_nfkc(&s[start..]);
    }

    fn push_nfkc(&mut self, piece: &str) {
        use unicode_normalization::{is_nfkc_quick, IsNormalized};
        if piece.is_empty() {
            return;
        }
        if is_nfkc_quick(piece.chars()) == IsNormalized::Yes {
            piece.chars().for_each(|c| self.fold(c));
        } else {
            piece.nfkc().for_each(|c| self.fold(c));
        }
    }

    /// Takes one NFKC-normalised character: case and kana folded, then
    /// kept, dropped or taken as a separator ([`Step`]). What happens to a
    /// character never depends on its neighbours, so it is worked out once
    /// per distinct character and remembered per thread; ASCII needs no
    /// memo.
    fn fold(&mut self, c: char) {
        use std::cell::RefCell;
        thread_local! {
            static STEPS: RefCell<rustc_hash::FxHashMap<char, Box<[Step]>>> = RefCell::default();
        }
        if c.is_ascii() {
            return self.fold_ascii(c as u8, ascii_skeletons());
        }
        STEPS.with(|m| {
            let mut m = m.borrow_mut();
            if m.len() > 8192 {
                m.clear();
            }
            for step in m.entry(c).or_insert_with(|| steps(c)).iter() {
                self.apply(step);
            }
        });
    }

    /// [`Normalizer::fold`] of an ASCII character: the same steps, decided
    /// on the byte.
    fn fold_ascii(&mut self, b: u8, table: &[Box<str>]) {
        let b = b.to_ascii_lowercase();
        let step = match b {
            b'-' => Step::Hyphen,
            b'~' => Step::Drop,
            _ if !b.is_ascii_alphanumeric() => Step::Separator,
            _ => return self.keep(Class::Ascii, &table[b as usize]),
        };
        self.apply(&step);
    }

    fn apply(&mut self, step: &Step) {
        match step {
            // An ASCII hyphen between Latin letters separates words
            // (Rakuten-Card); elsewhere it stands in for a long-vowel mark.
            Step::Hyphen => {
                if self.last == Some(Class::Ascii) {
                    self.pending = true;
                }
            }
            Step::Drop => {}
            Step::Separator => self.pending = true,
            Step::Keep(cl, skeleton) => self.keep(*cl, skeleton),
        }
    }

    fn keep(&mut self, cl: Class, skeleton: &str) {
        let starts = self.pending || self.last.is_some_and(|l| l != cl);
        self.pending = false;
        self.last = Some(cl);
        // Most skeletons are one byte (ASCII text): no resize then.
        if let [one] = skeleton.as_bytes() {
            self.text.push(*one as char);
            self.boundary.push(starts);
            return;
        }
        let at = self.text.len();
        self.text.push_str(skeleton);
        self.boundary.resize(self.text.len(), false);
        if at < self.boundary.len() {
            self.boundary[at] = starts;
        }
    }
}

/// What folding does with one character after case and kana folding.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// An ASCII hyphen: a separator after a Latin letter, else dropped.
    Hyphen,
    /// Long-vowel marks and dashes inside a word.
    Drop,
    Separator,
    /// Kept as its confusable skeleton, in its script's class.
    Keep(Class, Box<str>),
}

/// The steps of one non-ASCII character, NFKC-normalised.
fn steps(c: char) -> Box<[Step]> {
    // A capital from another script is confusable as a capital: Cyrillic
    // `М` reads as Latin `M`, but its lower case `м` as nothing Latin. Its
    // skeleton is taken before lower-casing.
    let folded: Vec<char> = if c.is_uppercase() {
        compute_skeleton(c).chars().map(fold_kana).collect()
    } else {
        c.to_lowercase().map(fold_kana).collect()
    };
    folded
        .into_iter()
        .map(|c| {
            if c == '-' {
                Step::Hyphen
            } else if is_elongation(c) {
                Step::Drop
            } else if !c.is_alphanumeric() {
                Step::Separator
            } else {
                let mut sk = String::new();
                skeleton_char(c, &mut sk);
                Step::Keep(class(c), sk.into())
            }
        })
        .collect()
}

/// A brand name normalised as the index stores it.
pub fn name(s: &str) -> String {
    text(s).text
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
    fn ascii_fast_path_folds_as_the_unicode_path_does() {
        // One non-ASCII character at the end sends the same text down the
        // general path; everything before it must fold identically.
        let ascii = "-~Rakuten-Card LOGIN now: 0O1l rn-m ~x~ a--b HTTPS://Example.COM/Verify?id=1";
        let fast = text(ascii);
        let slow = text(&format!("{ascii} あ"));
        assert_eq!(slow.text.strip_suffix("あ"), Some(fast.text.as_str()));
        assert_eq!(
            &slow.boundary[..fast.text.len()],
            &fast.boundary[..fast.text.len()]
        );
        assert!(fast.text.contains("rakuten"), "{}", fast.text);
    }

    /// The text folded as before NFKC went piece by piece: NFKC over the
    /// whole text at once.
    fn whole_nfkc(s: &str) -> Normalized {
        let mut out = Normalizer {
            text: String::new(),
            boundary: Vec::new(),
            pending: true,
            last: None,
        };
        let visible: String = s.chars().filter(|&c| !is_hidden(c)).collect();
        visible.nfkc().for_each(|c| out.fold(c));
        out.boundary.push(true);
        Normalized {
            text: out.text,
            boundary: out.boundary,
            hidden: s.chars().filter(|&c| is_hidden(c)).collect(),
        }
    }

    #[test]
    fn nfkc_piece_by_piece_is_nfkc_of_the_whole() {
        for s in [
            "e\u{301}ab ｶﾞｲﾄﾞ ア1イ ＡＢＣ１２３",
            "cafe\u{301} Ａ\u{301}b 가\u{11A8} ﾊﾟｽﾜｰﾄﾞ",
            "【重要】ｱｶｳﾝﾄ確認 login\u{200B}now -ー- ~x",
            "a\u{0328}\u{0301}z \u{FB01}le Ⅻ ㍻ ①",
            "x\u{301}",
            "\u{301}ab",
        ] {
            assert_eq!(text(s), whole_nfkc(s), "{s:?}");
        }
    }

    #[test]
    fn widths_kana_and_case_fold_together() {
        assert_eq!(name("ＪＣＢ"), name("jcb"));
        assert_eq!(name("ラクテン"), name("らくてん"));
        assert_eq!(name("ﾗｸﾃﾝ"), name("らくてん"));
        assert_eq!(name("ホッカイドウ"), name("ホツカイドウ"));
        assert_eq!(name("ソニー"), name("ソニ－"));
        assert_eq!(name("横 浜 銀 行"), name("横浜銀行"));
    }

    #[test]
    fn confusables_fold_to_one_skeleton() {
        // Cyrillic а and е, digit zero.
        assert_eq!(name("R\u{0430}kut\u{0435}n"), name("rakuten"));
        assert_eq!(domain_skeleton("mizuh0bank"), domain_skeleton("mizuhobank"));
        assert_eq!(domain_skeleton("ѕmbc"), domain_skeleton("smbc"));
        assert_ne!(domain_skeleton("smbc"), domain_skeleton("smbd"));
    }

    #[test]
    fn hidden_characters_are_removed_and_reported() {
        let f = text("三井\u{200B}住友\u{202E}");
        assert_eq!(f.text, name("三井住友"));
        assert_eq!(f.hidden, vec!['\u{200B}', '\u{202E}']);
    }

    #[test]
    fn boundaries_follow_separators_and_script_changes() {
        let f = text("MyJCB カード");
        // "myjcb" | "かど": a boundary at the script change, none inside myjcb.
        let jcb = f.text.find(&name("jcb")).unwrap();
        assert!(!f.is_boundary(jcb));
        assert!(f.is_boundary(jcb + name("jcb").len()));
        let g = text("JCBカード");
        assert!(g.is_boundary(0));
        assert!(g.is_boundary(name("jcb").len()));
    }
}
