//! Impersonation of protected brands: lookalike sender domains and display
//! names that claim a brand from a domain that is not the brand's.
//!
//! STUB: the interface the rest of the crate relies on; the engine is being built.

use crate::analysis::Context;
use crate::findings::{Finding, FindingKind};
use crate::policy::Brand;

/// Index over the protected domains and names, built once per policy load.
#[derive(Debug, Default)]
pub struct BrandIndex {
    domains: Vec<(String, String)>,
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
        let domains = brands
            .iter()
            .flat_map(|b| b.domains.iter().map(move |d| (d.clone(), b.id.clone())))
            .collect();
        BrandIndex { domains }
    }

    /// The brand owning `ascii_host` (the host is one of its official domains
    /// or a subdomain of one).
    pub fn official_brand(&self, ascii_host: &str) -> Option<&str> {
        self.domains
            .iter()
            .find(|(d, _)| crate::domain::is_within(ascii_host, d))
            .map(|(_, b)| b.as_str())
    }

    /// Whether `ascii_host` imitates a protected domain without being one.
    pub fn lookalike(&self, _ascii_host: &str) -> Option<Lookalike> {
        None
    }
}

/// Findings about the sender: lookalike domains in From, MAIL FROM, Reply-To,
/// Sender and DKIM `d=`; display names and subjects that claim a brand.
pub fn check_sender(_cx: &Context) -> Vec<Finding> {
    Vec::new()
}

/// The brand whose official (or authorised) domain sent this mail with
/// passing DMARC or an aligned DKIM pass, if any.
pub fn official_sender<'p>(cx: &Context<'p>) -> Option<&'p str> {
    let from = cx.from_domain.as_deref()?;
    if !cx.auth.dmarc_pass() {
        return None;
    }
    cx.policy.brand_index.official_brand(from)
}
