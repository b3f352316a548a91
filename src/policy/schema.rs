//! The policy file's TOML schema as serde reads it: every table and key a
//! policy file may hold, unknown keys refused. [`super::format`] turns it
//! into [`super::data`], with the line of each value for its errors.

use crate::vocab::findings::Action;
use serde::Deserialize;
use std::collections::BTreeMap;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyFile {
    pub(super) policy: Option<Meta>,
    #[serde(default)]
    pub(super) scores: BTreeMap<Spanned<String>, i32>,
    pub(super) bands: Option<BandsFile>,
    pub(super) auth: Option<AuthFile>,
    pub(super) lists: Option<ListsFile>,
    #[serde(default)]
    pub(super) allow: Vec<AllowFile>,
    #[serde(default)]
    pub(super) brand: Vec<BrandFile>,
    pub(super) organisation: Option<OrganisationFile>,
}

/// `[organisation]`: the recipient's own organisation, protected like a brand.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OrganisationFile {
    pub(super) recipient_domains: Option<bool>,
    #[serde(default)]
    pub(super) domains: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) names: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Meta {
    pub(super) name: String,
    #[serde(default)]
    pub(super) version: Option<String>,
    /// The banner's default statement.
    #[serde(default)]
    pub(super) banner: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BandsFile {
    pub(super) tag: Option<i32>,
    pub(super) quarantine: Option<i32>,
    pub(super) reject: Option<i32>,
    pub(super) lone_link_signal_tags: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuthFile {
    pub(super) dmarc_reject: Option<Action>,
    pub(super) dmarc_quarantine: Option<Action>,
    /// RFC 7489's `pct`, which RFC 9989 removed: accepted, ignored.
    pub(super) honor_pct: Option<bool>,
    /// ARC sealers whose record of a DMARC pass on arrival lifts the
    /// owner's policy (RFC 8617 §7.2).
    pub(super) trusted_arc_sealers: Option<Vec<SealerFile>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SealerFile {
    /// The `d=` of the ARC-Seal.
    pub(super) domain: Spanned<String>,
    pub(super) reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListsFile {
    pub(super) freemail: Option<Vec<Spanned<String>>>,
    pub(super) shorteners: Option<Vec<Spanned<String>>>,
    pub(super) redirectors: Option<Vec<Spanned<String>>>,
    pub(super) hosting: Option<Vec<Spanned<String>>>,
    pub(super) feeds: Option<Vec<Spanned<String>>>,
    /// Credential-lure wording: requests, then pressures.
    pub(super) lure_asks: Option<Vec<Spanned<String>>>,
    pub(super) lure_pressures: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AllowFile {
    /// A registrable sender domain (From, MAIL FROM) whose mail is trusted.
    pub(super) sender_domain: Option<Spanned<String>>,
    /// A DKIM signing domain whose passing signature makes mail trusted.
    pub(super) dkim_domain: Option<Spanned<String>>,
    /// Client networks whose mail is trusted.
    pub(super) client_network: Option<Spanned<String>>,
    pub(super) reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BrandFile {
    pub(super) id: Spanned<String>,
    #[serde(default)]
    pub(super) names: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) domains: Vec<Spanned<String>>,
    #[serde(default)]
    pub(super) authorized: Vec<Spanned<String>>,
    pub(super) action: Option<Action>,
    /// `true` (quarantine) or the least action for mail from the brand's
    /// own domains that does not authenticate as it.
    pub(super) require_authentication: Option<RequireAuth>,
    /// The brand's statement in the banner of tagged mail claiming it.
    pub(super) banner: Option<String>,
    /// Words that name the brand inside someone else's URL; replaces the
    /// words derived from its domains and names when those are common words.
    pub(super) link_words: Option<Vec<String>>,
}

/// `require_authentication = true`, or the action it means.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum RequireAuth {
    Flag(bool),
    Floor(Action),
}
