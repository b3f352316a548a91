//! What the banner of one message says, from its findings and the policy.

use super::wording::{Lang, Notice};
use crate::analysis::Analysis;
use crate::policy::Policy;

/// The first brand the findings name, as its customers know it, with its
/// statement (or the policy's default); with no brand, the generic words.
pub fn notice(analysis: &Analysis, policy: &Policy, lang: Lang) -> Notice {
    let brand = analysis
        .findings
        .iter()
        .filter_map(|f| f.brand.as_deref())
        .find_map(|id| policy.brands.iter().find(|b| b.id == id));
    let Some(b) = brand else {
        return Notice {
            lang,
            brand: None,
            statement: None,
        };
    };
    // Customers reading English know the brand by its Latin name, those
    // reading Japanese by its Japanese one.
    let name = b
        .names
        .iter()
        .find(|n| n.is_ascii() == (lang == Lang::En))
        .or(b.names.first())
        .or(b.domains.first())
        .unwrap_or(&b.id);
    Notice {
        lang,
        brand: Some(name.clone()),
        statement: b.banner.clone().or_else(|| policy.banner.clone()),
    }
}
