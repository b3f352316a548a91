//! Brand names in display names and subjects.
//!
//! Names are folded once at policy load; a message's text is folded once and
//! scanned in one Aho-Corasick pass, whatever the number of names.

use crate::vocab::normalize::{self, Normalized};
use aho_corasick::AhoCorasick;

/// Words that are part of many brand names but name no brand by themselves.
const GENERIC: &[&str] = &[
    "銀行",
    "ぎんこう",
    "信用金庫",
    "しんようきんこ",
    "信金",
    "しんきん",
    "信用組合",
    "信組",
    "労働金庫",
    "カード",
    "card",
    "bank",
    "証券",
    "株式会社",
    "kk",
    "co",
    "ltd",
    "inc",
    "japan",
    "jp",
    "日本",
    "ネット銀行",
    "お知らせ",
    "info",
    "mail",
    "service",
];

/// Brand names shorter than this (in folded bytes, about two kanji or five
/// Latin letters) must stand as a whole token: `JCB` matches "JCB カード"
/// but not "JCBX"; `楽天` matches "楽天カード" but not "極楽天国".
const SHORT_BYTES: usize = 7;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameHit {
    pub brand: u32,
    /// The brand name as the policy writes it.
    pub name: String,
}

#[derive(Debug, Default)]
pub struct NameIndex {
    ac: Option<AhoCorasick>,
    /// Per pattern: brand, original name, whether it must be a whole token.
    patterns: Vec<(u32, String, bool)>,
}

impl NameIndex {
    /// `names[b]` are the names of brand `b`.
    pub fn new(names: &[Vec<String>]) -> Self {
        let generic: Vec<String> = GENERIC.iter().map(|g| normalize::name(g)).collect();
        let mut folded = Vec::new();
        let mut patterns = Vec::new();
        for (b, list) in names.iter().enumerate() {
            for name in list {
                let f = normalize::name(name);
                if f.chars().count() < 2 || generic.contains(&f) {
                    continue;
                }
                patterns.push((b as u32, name.clone(), f.len() < SHORT_BYTES));
                folded.push(f);
            }
        }
        let ac = crate::vocab::automaton::overlapping(&folded);
        NameIndex { ac, patterns }
    }

    /// The brand named in already folded text: the longest name found, so
    /// "三井住友カード" names the card company rather than the bank.
    pub fn find_folded(&self, f: &Normalized) -> Option<NameHit> {
        let ac = self.ac.as_ref()?;
        let mut best: Option<(usize, usize)> = None;
        for m in ac.find_overlapping_iter(&f.text) {
            let p = m.pattern().as_usize();
            let (_, _, short) = &self.patterns[p];
            if *short && !(f.is_boundary(m.start()) && f.is_boundary(m.end())) {
                continue;
            }
            if best.is_none_or(|(_, len)| m.len() > len) {
                best = Some((p, m.len()));
            }
        }
        let (p, _) = best?;
        let (brand, name, _) = &self.patterns[p];
        Some(NameHit {
            brand: *brand,
            name: name.clone(),
        })
    }

    /// Every name of brand `b`, as the policy writes them.
    pub fn names_of(&self, b: u32) -> impl Iterator<Item = &str> {
        self.patterns
            .iter()
            .filter(move |(brand, _, _)| *brand == b)
            .map(|(_, name, _)| name.as_str())
    }

    pub fn find(&self, text: &str) -> Option<NameHit> {
        self.find_folded(&normalize::text(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> NameIndex {
        NameIndex::new(&[
            vec!["三井住友銀行".into(), "SMBC".into(), "三井住友".into()],
            vec!["三井住友カード".into(), "Vpass".into()],
            vec!["JCB".into(), "MyJCB".into()],
            vec!["楽天".into(), "楽天カード".into(), "Rakuten".into()],
            vec!["銀行".into()],
        ])
    }

    #[test]
    fn names_match_in_every_form() {
        let ix = index();
        let cases: &[(&str, Option<u32>)] = &[
            ("三井住友カード via Osst-users", Some(1)),
            ("三 井 住 友", Some(0)),
            ("ＳＭＢＣ", Some(0)),
            ("smbc 会員サービス", Some(0)),
            ("ＪＣＢカード", Some(2)),
            ("MyJCB", Some(2)),
            ("楽天カード株式会社", Some(3)),
            ("楽天グループからのお知らせ", Some(3)),
            ("ＲＡＫＵＴＥＮ", Some(3)),
            ("R\u{0430}kuten", Some(3)),
            // Generic or embedded short words name no brand.
            ("銀行からのお知らせ", None),
            ("JCBX Holdings", None),
            ("極楽天国", None),
            ("Mail Delivery Subsystem", None),
        ];
        for (text, want) in cases {
            assert_eq!(ix.find(text).map(|h| h.brand), *want, "{text}");
        }
    }

    #[test]
    fn capitals_of_other_scripts_read_as_latin() {
        let ix = NameIndex::new(&[vec!["MetaMask".into()]]);
        // Cyrillic М, е, а among Latin letters.
        for text in ["Meta\u{41c}ask", "M\u{435}t\u{430}\u{41c}\u{430}sk.io"] {
            assert_eq!(ix.find(text).map(|h| h.brand), Some(0), "{text}");
        }
    }
}
