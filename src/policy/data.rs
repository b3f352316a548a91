//! A policy as its files state it: checked, merged and normalised, but not
//! yet compiled. Analysers build their indexes from these plain values, so
//! none of them needs to know the file format or the compiled [`super::Policy`].

use crate::vocab::auth::LocalPolicy;
use crate::vocab::findings::{Action, FindingKind};
use ipnet::IpNet;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;

/// Everything the policy files say, merged in order.
#[derive(Debug, Clone)]
pub struct PolicyData {
    pub name: String,
    pub version: String,
    /// Where it came from, for logs and `policy_info`.
    pub sources: Vec<String>,
    pub scores: HashMap<FindingKind, i32>,
    pub bands: Bands,
    pub auth: AuthPolicy,
    pub brands: Vec<Brand>,
    /// Brand id to the URL words that replace the ones derived from it.
    pub link_words: HashMap<String, Vec<String>>,
    pub freemail: HashSet<String>,
    pub shorteners: HashSet<String>,
    pub redirectors: HashSet<String>,
    pub hosting: HashSet<String>,
    pub feeds: Vec<PathBuf>,
    /// Credential-lure wording from the `[lists]` phrase files.
    pub lure_asks: Vec<String>,
    pub lure_pressures: Vec<String>,
    pub allow: Allow,
    /// The banner's statement for mail that claims no brand with one of its
    /// own (`[policy] banner`).
    pub banner: Option<String>,
    pub organisation: Organisation,
}

/// The recipient's own organisation (`[organisation]`): mail that claims
/// to be it from outside is impersonation, as a claim to be a brand is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    /// The envelope recipient's domain is the organisation's own: Postfix
    /// hands the milter mail only for domains it accepts.
    pub recipient_domains: bool,
    /// Further domains of the organisation (ASCII, lower case).
    pub domains: Vec<String>,
    /// Names it goes by (例信用金庫, Example Shinkin Bank).
    pub names: Vec<String>,
}

impl Default for Organisation {
    fn default() -> Self {
        Organisation {
            recipient_domains: true,
            domains: Vec::new(),
            names: Vec::new(),
        }
    }
}

/// Minimum score for each action. `None` means the action is never reached by score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bands {
    pub tag: Option<i32>,
    pub quarantine: Option<i32>,
    pub reject: Option<i32>,
    /// Whether a single link oddity (`FindingKind::is_link_oddity`) with
    /// nothing else beside it may reach the tag band. Off by default: one
    /// weak sign claims nobody and asks for nothing.
    pub lone_link_signal_tags: bool,
}

impl Bands {
    pub fn action_for(&self, score: i32) -> Action {
        let reached = |b: Option<i32>| b.is_some_and(|t| score >= t);
        if reached(self.reject) {
            Action::Reject
        } else if reached(self.quarantine) {
            Action::Quarantine
        } else if reached(self.tag) {
            Action::Tag
        } else {
            Action::Accept
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Action when DMARC fails and the owner publishes `p=reject`.
    pub dmarc_reject: Action,
    /// Action when DMARC fails and the owner publishes `p=quarantine`.
    pub dmarc_quarantine: Action,
    /// What authentication itself applies: the trusted ARC sealers.
    pub local: LocalPolicy,
}

/// A protected brand as the policy states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    pub id: String,
    /// Names in every form customers see: kanji, kana, romaji, English, abbreviations.
    pub names: Vec<String>,
    /// Official registrable domains, lower-case, IDNA A-labels; subdomains included.
    pub domains: Vec<String>,
    /// Third parties allowed to send for the brand: registrable domains or DKIM `d=`.
    pub authorized: Vec<String>,
    /// Minimum action when this brand is impersonated.
    pub action: Option<Action>,
    /// Minimum action for a `brand-spoof` of it (`require_authentication`):
    /// the bank knows its own domains never send unauthenticated mail.
    pub spoof_action: Option<Action>,
    /// The brand's own words to its customers, shown in the banner of
    /// tagged mail that claims it.
    pub banner: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Allow {
    pub sender_domains: HashMap<String, String>,
    pub dkim_domains: HashMap<String, String>,
    pub client_networks: Vec<(IpNet, String)>,
}

impl Allow {
    /// The reason a client address is allowlisted, if it is.
    pub fn client(&self, ip: IpAddr) -> Option<&str> {
        self.client_networks
            .iter()
            .find(|(n, _)| n.contains(&ip))
            .map(|(_, r)| r.as_str())
    }
}

pub(crate) const DEFAULT_BANDS: Bands = Bands {
    tag: Some(30),
    quarantine: Some(70),
    reject: None,
    lone_link_signal_tags: false,
};

pub(crate) const DEFAULT_AUTH: AuthPolicy = AuthPolicy {
    dmarc_reject: Action::Reject,
    dmarc_quarantine: Action::Quarantine,
    local: LocalPolicy {
        trusted_arc_sealers: std::collections::BTreeMap::new(),
    },
};
