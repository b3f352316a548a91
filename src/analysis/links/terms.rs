//! Protected brands' words as they appear in URLs (domain labels, romaji
//! and native-script names), compiled at policy load for `link-brand`.

use crate::policy::data::Brand;
use crate::vocab::domain;

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
            let ac = crate::vocab::automaton::overlapping(&pats);
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
                        .filter(|m| {
                            let word = &text[m.start()..m.end()];
                            !crate::analysis::brand::is_everyday_name(word)
                                || stands_alone(text, m.start(), m.end())
                        })
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

/// Whether the word at `start..end` of `text` stands apart from other
/// letters, which brand words that are everyday words must: `line` in `line-me.example` or `www.line.example`, not in
/// `online.wsj.com`; `apple` not in `applecore.example`. A side where the
/// word itself begins or ends with a separator (`-amazon`) needs nothing.
fn stands_alone(text: &str, start: usize, end: usize) -> bool {
    let b = text.as_bytes();
    let letter = |i: usize| b.get(i).is_some_and(u8::is_ascii_alphabetic);
    let own_edge = |i: usize| !b[i].is_ascii_alphanumeric();
    let left = start == 0 || own_edge(start) || !letter(start - 1);
    let right = end == b.len() || own_edge(end - 1) || !letter(end);
    left && right
}

#[cfg(test)]
mod tests {
    use super::stands_alone;

    fn alone(text: &str, word: &str) -> bool {
        let i = text.find(word).unwrap();
        stands_alone(text, i, i + word.len())
    }

    #[test]
    fn brand_words_match_as_tokens_not_inside_words() {
        assert!(alone("line.me.evil.example", "line"));
        assert!(alone("secure-line-login.example", "line"));
        assert!(alone("apple2.example", "apple"));
        assert!(alone("/amazon/signin", "amazon"));
        assert!(!alone("online.wsj.com", "line"));
        assert!(!alone("applecore.lockergnome.com", "apple"));
        assert!(!alone("ttline.com", "line"));
        assert!(alone("m.media-amazon.com", "-amazon"));
    }
}
