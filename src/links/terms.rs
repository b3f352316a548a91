//! Protected brands' words as they appear in URLs (domain labels, romaji
//! and native-script names), compiled at policy load for `link-brand`.

use crate::domain;
use crate::policy::data::Brand;

/// A protected brand's words as they can appear in a URL, built at load time.
#[derive(Debug, Clone)]
pub struct BrandTerms {
    pub brand: String,
    /// Lower-case ASCII forms (domain labels, romaji names) for hosts and paths.
    pub ascii: Vec<String>,
    /// Names in Japanese script, matched in percent-decoded paths.
    pub native: Vec<String>,
    /// Official and authorised registrable domains: links there are the brand's own.
    pub own: Vec<String>,
}

/// ASCII brand words shorter than this match too many unrelated hosts.
const MIN_ASCII_TERM: usize = 4;

impl BrandTerms {
    /// `words`, when given, are the only ASCII words: for brands whose domain
    /// labels or names are everyday words (`line`, `apple`, `meta`).
    pub fn of(b: &Brand, words: Option<&[String]>) -> BrandTerms {
        let mut ascii = Vec::new();
        let mut add = |s: String| {
            if s.len() >= MIN_ASCII_TERM && !ascii.contains(&s) {
                ascii.push(s);
            }
        };
        if let Some(words) = words {
            words.iter().cloned().for_each(&mut add);
        }
        for d in b.domains.iter().filter(|_| words.is_none()) {
            let suffix_len = domain::suffix(d).map_or(0, |s| s.len() + 1);
            let label = &d[..d.len().saturating_sub(suffix_len)];
            let label = label.rsplit('.').next().unwrap_or(label);
            add(label.to_string());
            add(label.replace('-', ""));
        }
        let mut native = Vec::new();
        for n in &b.names {
            if n.is_ascii() {
                if words.is_some() {
                    continue;
                }
                let lower = n.to_ascii_lowercase();
                let words: Vec<&str> = lower.split_whitespace().collect();
                add(words.concat());
                add(words.join("-"));
            } else {
                native.push(n.clone());
            }
        }
        let mut own = b.domains.clone();
        own.extend(b.authorized.iter().cloned());
        BrandTerms {
            brand: b.id.clone(),
            ascii,
            native,
            own,
        }
    }

    pub(super) fn owns(&self, host: &str) -> bool {
        self.own.iter().any(|d| domain::is_within(host, d))
    }
}

/// Every brand's URL words compiled together; pattern ids map back to the
/// brand's index in [`super::LinkRules::brand_terms`].
#[derive(Debug, Default)]
pub struct BrandWords {
    ascii: Option<aho_corasick::AhoCorasick>,
    ascii_brand: Vec<usize>,
    native: Option<aho_corasick::AhoCorasick>,
    native_brand: Vec<usize>,
}

impl BrandWords {
    pub fn new(terms: &[BrandTerms]) -> BrandWords {
        let build = |pick: fn(&BrandTerms) -> &Vec<String>| {
            let mut pats = Vec::new();
            let mut owner = Vec::new();
            for (i, t) in terms.iter().enumerate() {
                for w in pick(t) {
                    pats.push(w.clone());
                    owner.push(i);
                }
            }
            let ac = (!pats.is_empty())
                .then(|| aho_corasick::AhoCorasick::new(&pats).ok())
                .flatten();
            (ac, owner)
        };
        let (ascii, ascii_brand) = build(|t| &t.ascii);
        let (native, native_brand) = build(|t| &t.native);
        BrandWords {
            ascii,
            ascii_brand,
            native,
            native_brand,
        }
    }

    /// Indexes of the brands with a word in `host` (ASCII words) or `path`
    /// (both), in policy order.
    pub(super) fn brands_in(&self, host: &str, path: &str) -> Vec<usize> {
        let mut hits = Vec::new();
        if let Some(ac) = &self.ascii {
            for text in [host, path] {
                hits.extend(
                    ac.find_overlapping_iter(text)
                        .map(|m| self.ascii_brand[m.pattern().as_usize()]),
                );
            }
        }
        if let Some(ac) = &self.native {
            hits.extend(
                ac.find_overlapping_iter(path)
                    .map(|m| self.native_brand[m.pattern().as_usize()]),
            );
        }
        hits.sort_unstable();
        hits.dedup();
        hits
    }
}
