//! Impersonation of protected brands: lookalike sender domains and display
//! names that claim a brand from a domain that is not the brand's.
//!
//! [`BrandIndex`] is built once per policy load ([`normalize`] folds names,
//! [`lookalike`] indexes domains, [`display_name`] indexes names); the checks
//! here only look things up, so a policy with thousands of brands costs a
//! message about what one brand does.

pub mod display_name;
pub mod lookalike;
pub mod normalize;
pub mod typo;

use crate::analysis::Context;
use crate::domain;
use crate::findings::{Finding, FindingKind};
use crate::policy::Brand;
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
        let hit = self.domains.judge(&host)?;
        Some(Lookalike {
            kind: hit.0,
            brand: self.domains.brand_of(&hit).to_string(),
            imitates: self.domains.imitated(&hit).to_string(),
            how: hit.2,
        })
    }

    /// The brand a display name or subject claims, if any: by name, or by
    /// showing one of the brand's domains (`"smbc-card.com" <x@evil>`).
    fn claimed_brand(&self, text: &str) -> Option<(&str, String)> {
        let folded = normalize::fold(text);
        if let Some(hit) = self.names.find_folded(&folded) {
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

/// Whether the mail comes from the brand itself or a party it authorised:
/// the From domain is official or authorised, or a passing DKIM signature is.
fn sender_is_brand(cx: &Context, brand: &Brand) -> bool {
    let within_any = |host: &str, list: &[String]| list.iter().any(|d| domain::is_within(host, d));
    let ok = |host: &str| within_any(host, &brand.domains) || within_any(host, &brand.authorized);
    cx.from_domain.as_deref().is_some_and(ok) || cx.auth.dkim_pass_domains().any(ok)
}

/// `policy.allow` trusts this sender: From or MAIL FROM domain, or a passing DKIM `d=`.
fn allowlisted(cx: &Context) -> bool {
    let allow = &cx.policy.allow;
    let listed = |host: &str, map: &std::collections::HashMap<String, String>| {
        map.contains_key(host) || domain::registrable(host).is_some_and(|r| map.contains_key(&r))
    };
    let mail_from = domain::of_address(&cx.env.mail_from);
    cx.from_domain
        .iter()
        .chain(mail_from.iter())
        .any(|d| listed(d, &allow.sender_domains))
        || cx
            .auth
            .dkim_pass_domains()
            .any(|d| listed(d, &allow.dkim_domains))
}

fn is_freemail(cx: &Context, host: &str) -> bool {
    let free = &cx.policy.freemail;
    free.contains(host) || domain::registrable(host).is_some_and(|r| free.contains(&r))
}

/// Every sender-side domain with the headers it appears in, in order.
fn sender_domains(cx: &Context) -> Vec<(String, Vec<&'static str>)> {
    let mut out: Vec<(String, Vec<&'static str>)> = Vec::new();
    let mut add = |what: &'static str, host: Option<String>| {
        let Some(host) = host else { return };
        match out.iter_mut().find(|(h, _)| *h == host) {
            Some((_, whats)) if !whats.contains(&what) => whats.push(what),
            Some(_) => {}
            None => out.push((host, vec![what])),
        }
    };
    let msg = cx.msg;
    for (what, addrs) in [
        ("From", msg.from()),
        ("Reply-To", msg.reply_to()),
        ("Sender", msg.sender()),
    ] {
        for a in addrs.into_iter().flat_map(|a| a.iter()) {
            add(what, a.address().and_then(domain::of_address));
        }
    }
    add("MAIL FROM", domain::of_address(&cx.env.mail_from));
    for sig in &cx.auth.dkim_signatures {
        add("DKIM d=", domain::to_ascii(&sig.domain));
    }
    out
}

/// Findings about the sender: lookalike domains in From, MAIL FROM, Reply-To,
/// Sender and DKIM `d=`; display names and subjects that claim a brand.
pub fn check_sender(cx: &Context) -> Vec<Finding> {
    if official_sender(cx).is_some() || allowlisted(cx) {
        return Vec::new();
    }
    let ix = &cx.policy.brand_index;
    let mut out = Vec::new();

    for (host, whats) in sender_domains(cx) {
        if let Some(l) = ix.lookalike(&host) {
            out.push(
                Finding::new(
                    l.kind,
                    format!(
                        "{} domain {host} imitates {} (brand {}): {}",
                        whats.join(", "),
                        l.imitates,
                        l.brand,
                        l.how
                    ),
                )
                .with_brand(l.brand),
            );
        }
    }

    let from = cx.msg.from().and_then(|f| f.first());
    let display = from.and_then(|a| a.name()).unwrap_or("");
    let from_desc = cx.from_domain.as_deref().unwrap_or("(none)");
    let hidden: Vec<char> = normalize::fold(display).hidden;
    let address_hidden = from
        .and_then(|a| a.address())
        .is_some_and(|a| a.chars().any(normalize::is_hidden));
    if !hidden.is_empty() || address_hidden {
        let list: Vec<String> = hidden
            .iter()
            .map(|c| format!("U+{:04X}", *c as u32))
            .collect();
        let place = if hidden.is_empty() {
            "From address"
        } else {
            "From display name"
        };
        out.push(Finding::new(
            FindingKind::HiddenChars,
            format!(
                "{place} contains invisible or bidi characters {}",
                list.join(" ")
            ),
        ));
    }

    let mut claimed: Option<String> = None;
    // A display name that only repeats the From address claims nothing the
    // address does not: the lookalike checks above judge the address.
    let repeats_address = from.and_then(|a| a.address()).is_some_and(|addr| {
        display
            .trim_matches(|c: char| c.is_whitespace() || "\"'<>".contains(c))
            .eq_ignore_ascii_case(addr)
    });
    let claim = if repeats_address {
        None
    } else {
        ix.claimed_brand(display)
    };
    if let Some((brand_id, how)) = claim {
        if let Some(brand) = cx.policy.brand(brand_id) {
            if !sender_is_brand(cx, brand) {
                let free = cx
                    .from_domain
                    .as_deref()
                    .is_some_and(|d| is_freemail(cx, d));
                let (kind, tail) = if free {
                    (FindingKind::FreemailBrand, "a free webmail domain")
                } else {
                    (
                        FindingKind::DisplayName,
                        "not the brand's or an authorised domain",
                    )
                };
                out.push(
                    Finding::new(
                        kind,
                        format!("From display name '{display}' {how}; sender domain {from_desc} is {tail}"),
                    )
                    .with_brand(brand_id),
                );
                claimed = Some(brand_id.to_string());
            }
        }
    }

    if let Some(subject) = cx.msg.subject() {
        if let Some(hit) = ix.names.find(subject) {
            let brand_id = ix.brand_id(hit.brand);
            let official = cx
                .policy
                .brand(brand_id)
                .is_some_and(|b| sender_is_brand(cx, b));
            if !official {
                let also = if claimed.as_deref() == Some(brand_id) {
                    " (display name claims it too)"
                } else {
                    ""
                };
                out.push(
                    Finding::new(
                        FindingKind::SubjectBrand,
                        format!(
                            "Subject names brand '{}' but sender domain {from_desc} is not the brand's{also}",
                            hit.name
                        ),
                    )
                    .with_brand(brand_id),
                );
            }
        }
    }
    out
}

/// The brand whose official (or authorised) domain sent this mail with
/// passing DMARC or an aligned DKIM pass, if any.
pub fn official_sender<'p>(cx: &Context<'p>) -> Option<&'p str> {
    let from = cx.from_domain.as_deref()?;
    let ix = &cx.policy.brand_index;
    let owner = ix
        .domains
        .official(from)
        .or_else(|| ix.domains.authorized(from))?;
    let from_reg = domain::registrable(from);
    let aligned_dkim = cx
        .auth
        .dkim_pass_domains()
        .any(|d| domain::registrable(d) == from_reg);
    if cx.auth.dmarc_pass() || aligned_dkim {
        Some(ix.brand_id(owner))
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
