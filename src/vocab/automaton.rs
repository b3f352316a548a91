//! The one way the policy's word lists become automata.
//!
//! Every list (brand names, lure phrases, brand words in links, lookalike
//! combos) is searched with overlapping matches over every message's folded
//! text, which the contiguous NFA that `AhoCorasick::new` picks for lists
//! this long walks slowly (a profile of `analyze` put the search at 11 % of
//! the analysis). A DFA answers each byte with one table step; it costs
//! memory and build time once per policy load, never per message. Past
//! [`DFA_STATES`] the lists fall back to the NFA, which is always built.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

/// Above this many automaton states the DFA's table (states × byte
/// classes × 4 bytes) would pass tens of megabytes: use the NFA.
const DFA_STATES: usize = 100_000;

/// An automaton for overlapping search over `patterns`, `None` if empty.
pub fn overlapping<P: AsRef<[u8]>>(patterns: &[P]) -> Option<AhoCorasick> {
    if patterns.is_empty() {
        return None;
    }
    let bytes: usize = patterns.iter().map(|p| p.as_ref().len()).sum();
    let kind = (bytes < DFA_STATES).then_some(AhoCorasickKind::DFA);
    AhoCorasick::builder()
        .match_kind(MatchKind::Standard)
        .kind(kind)
        .build(patterns)
        .or_else(|_| {
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(patterns)
        })
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_overlapping_match_as_the_default_automaton_does() {
        let pats = ["verif", "verify", "account", "ount", "確認", "本人確認"];
        let text = "please verify your account: 本人確認をお願いします";
        let dfa = overlapping(&pats).unwrap();
        let nfa = AhoCorasick::new(pats).unwrap();
        let all = |ac: &AhoCorasick| {
            ac.find_overlapping_iter(text)
                .map(|m| (m.pattern().as_usize(), m.start(), m.end()))
                .collect::<Vec<_>>()
        };
        assert_eq!(all(&dfa), all(&nfa));
        assert_eq!(all(&dfa).len(), 6);
        assert!(overlapping::<&str>(&[]).is_none());
    }
}
