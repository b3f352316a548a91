//! Impersonation of protected brands: lookalike sender domains and display
//! names that claim a brand from a domain that is not the brand's.
//!
//! [`BrandIndex`] is built once per policy load from the plain brand list
//! (`lookalike` indexes domains, `display_name` indexes names); the
//! analysers that use it (`crate::analysis::sender`, [`crate::analysis::links`]) only look
//! things up, so a policy with thousands of brands costs a message about what
//! one brand does.

pub(crate) mod claim;
pub(crate) mod display_name;
pub(crate) mod lookalike;
pub(crate) mod typo;
mod words;

use crate::policy::data::Brand;
use crate::vocab::domain;
use crate::vocab::findings::FindingKind;
use crate::vocab::normalize;
use display_name::NameIndex;
use lookalike::DomainIndex;

/// Index over the protected domains and names, built once per policy load.
#[derive(Debug, Default)]
pub struct BrandIndex {
    domains: DomainIndex,
    names: NameIndex,
}

/// A host that imitates a protected domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookalike {
    /// One of Homograph, Typo, TldSwap, Combo, Subdomain.
    pub kind: FindingKind,
    pub brand: String,
    /// The protected domain it imitates.
    pub imitates: String,
    /// Readable explanation, e.g. "edit distance 1 (transposition)".
    pub how: String,
}

impl BrandIndex {
    pub fn new(brands: &[Brand]) -> Self {
        let domains: Vec<(String, Vec<String>, Vec<String>)> = brands
            .iter()
            .map(|b| (b.id.clone(), b.domains.clone(), b.authorized.clone()))
            .collect();
        let names: Vec<Vec<String>> = brands.iter().map(|b| b.names.clone()).collect();
        BrandIndex {
            domains: DomainIndex::new(&domains),
            names: NameIndex::new(&names),
        }
    }

    fn brand_id(&self, b: u32) -> &str {
        &self.domains.brand_ids[b as usize]
    }

    /// The brand owning `ascii_host` (the host is one of its official domains
    /// or a subdomain of one).
    pub fn official_brand(&self, ascii_host: &str) -> Option<&str> {
        let host = ascii_host.trim_end_matches('.').to_ascii_lowercase();
        self.domains.official(&host).map(|b| self.brand_id(b))
    }

    /// Whether `ascii_host` imitates a protected domain without being one.
    pub fn lookalike(&self, ascii_host: &str) -> Option<Lookalike> {
        let host = if ascii_host.is_ascii() {
            ascii_host.trim_end_matches('.').to_ascii_lowercase()
        } else {
            domain::to_ascii(ascii_host)?
        };
        // Only real host names: the typo search grows with the cube of a
        // label's length, and display names and URLs are attacker text
        // (a fuzzed 8 KB "host" once took 24 GB).
        if !domain::is_plausible_host(&host) {
            return None;
        }
        let hit = self.domains.imitation(&host)?;
        Some(Lookalike {
            kind: hit.0,
            brand: self.domains.brand_of(&hit).to_string(),
            imitates: self.domains.imitated(&hit).to_string(),
            how: hit.2,
        })
    }

    /// The brand owning `ascii_host` as an official or an authorised
    /// sending domain; `ascii_host` must already be lower-case ASCII.
    pub fn owner(&self, ascii_host: &str) -> Option<&str> {
        self.domains
            .official(ascii_host)
            .or_else(|| self.domains.authorized(ascii_host))
            .map(|b| self.brand_id(b))
    }

    /// The brand a body's opening greets the reader as a customer of (see
    /// [`claim::greeting_claims`]), and the name found.
    pub fn greeting_claim(&self, head: &str) -> Option<(&str, String)> {
        self.named_and(head, claim::greeting_claims)
    }

    /// The brand a subject speaks as (see [`claim::subject_claims`]), and
    /// the name found.
    pub fn subject_claim(&self, subject: &str) -> Option<(&str, String)> {
        self.named_and(subject, claim::subject_claims)
    }

    /// The brand named in `text`, when `claims` judges, with all the
    /// brand's names, that the text speaks as it.
    fn named_and(&self, text: &str, claims: fn(&str, &[&str]) -> bool) -> Option<(&str, String)> {
        let hit = self.names.find(text)?;
        let own: Vec<&str> = self.names.names_of(hit.brand).collect();
        claims(text, &own).then(|| (self.brand_id(hit.brand), hit.name))
    }

    /// The brand a display name or subject claims, if any: by name, or by
    /// showing one of the brand's domains (`"smbc-card.com" <x@evil>`).
    pub fn claimed_brand(&self, text: &str) -> Option<(&str, String)> {
        let folded = normalize::text(text);
        if let Some(hit) = self.names.find_folded(&folded) {
            // A name beside words of someone else's (a newsletter called
            // "Lockergnome Apple Core") only mentions the brand.
            let own: Vec<&str> = self.names.names_of(hit.brand).collect();
            if !claim::display_name_claims(text, &hit.name, &own) {
                return None;
            }
            return Some((
                self.brand_id(hit.brand),
                format!("names brand '{}'", hit.name),
            ));
        }
        for token in text.split(|c: char| c.is_whitespace() || "<>\"'()[]「」【】".contains(c))
        {
            let token = token.rsplit('@').next().unwrap_or(token);
            if !token.contains('.') {
                continue;
            }
            let Some(ascii) = domain::to_ascii(token) else {
                continue;
            };
            if let Some(b) = self.official_brand(&ascii) {
                return Some((b, format!("shows the brand's domain {ascii}")));
            }
            if let Some(l) = self.lookalike(&ascii) {
                let b = self.domains.brand_ids.iter().find(|id| **id == l.brand)?;
                return Some((b, format!("shows {ascii}, a lookalike of {}", l.imitates)));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;

/// Whether a brand name is an everyday word, which counts inside a longer
/// word only beside a separator or words phishers add.
pub(crate) fn is_everyday_name(word: &str) -> bool {
    words::EVERYDAY_NAMES.contains(&word)
}
