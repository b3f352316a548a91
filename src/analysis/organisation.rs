//! The recipient's own organisation, protected like a brand.
//!
//! A bank running kinko-milter on its inbound mail is itself the brand its
//! staff's passwords are phished under: "IT support shinkin-example.jp",
//! "you have (5) pending messages for staff@shinkin-example.jp", mail from
//! its own domain sent from outside. Postfix hands the milter only mail for
//! the domains it accepts, so the envelope recipient's domain is the
//! organisation's own (as Microsoft Defender treats accepted domains); the
//! policy's `[organisation]` adds its other domains and names, or turns the
//! recipient's domains off.
//!
//! The findings carry the brand label [`OWN`]: a fixed word, so metrics
//! stay bounded however many domains an ISP accepts mail for; the evidence
//! names the domain.

use crate::analysis::brand::claim::{subject_claims, without_via};
use crate::analysis::brand::{typo, BrandIndex};
use crate::policy::data::Organisation;
use crate::vocab::auth::AuthSummary;
use crate::vocab::domain;
use crate::vocab::findings::{Finding, FindingKind};
use crate::vocab::message::Mail;
use std::collections::HashSet;
use unicode_normalization::UnicodeNormalization;

/// The brand label of findings about the recipient's own organisation.
pub const OWN: &str = "own-organisation";

/// Recipient domains taken per message: a message to thousands of
/// domains must not cost thousands of comparisons per host.
const MAX_DOMAINS: usize = 8;

/// A label shorter than this (`abc` of `abc.jp`) is found inside
/// unrelated names; only the domain itself is compared then.
const MIN_LABEL: usize = 6;

/// Shorter names are one edit away from too many others.
const MIN_TYPO_LABEL: usize = 8;

/// `[organisation]` folded once per policy load.
#[derive(Debug, Clone, Default)]
pub struct OrgRules {
    recipient_domains: bool,
    domains: Vec<String>,
    /// Names as written and folded (NFKC, lower case).
    names: Vec<(String, String)>,
}

impl OrgRules {
    pub fn new(org: &Organisation) -> Self {
        OrgRules {
            recipient_domains: org.recipient_domains,
            domains: org.domains.clone(),
            names: org
                .names
                .iter()
                .map(|n| (n.clone(), fold(n)))
                .filter(|(_, f)| !f.is_empty())
                .collect(),
        }
    }
}

/// The organisation as this message's recipients and the policy name it.
#[derive(Debug, Default)]
pub struct Own<'p> {
    /// Registrable domains (or the configured ones), ASCII lower case.
    domains: Vec<String>,
    /// How many of `domains` (the first) the policy names.
    configured: usize,
    /// The recipients' addresses, lower case.
    addresses: Vec<String>,
    names: &'p [(String, String)],
}

impl<'p> Own<'p> {
    /// The organisation of a message to `rcpts`. A freemail provider's
    /// domain is many people's, not an organisation's, and a protected
    /// brand's domain is judged by the brand's own rules (its providers,
    /// its floors), so neither is taken from the recipients.
    pub fn of(
        rules: &'p OrgRules,
        rcpts: &[String],
        freemail: &HashSet<String>,
        brands: &BrandIndex,
    ) -> Own<'p> {
        let mut own = Own {
            domains: rules.domains.clone(),
            configured: rules.domains.len(),
            addresses: Vec::new(),
            names: &rules.names,
        };
        if rules.recipient_domains {
            for rcpt in rcpts {
                let Some(d) = domain::of_address(rcpt) else {
                    continue;
                };
                let Some(reg) = domain::registrable(&d) else {
                    continue;
                };
                if domain::under_any(&reg, freemail) || brands.owner(&reg).is_some() {
                    continue;
                }
                if own.addresses.len() < MAX_DOMAINS {
                    own.addresses.push(rcpt.trim().to_ascii_lowercase());
                }
                if own.domains.len() < MAX_DOMAINS && !own.domains.contains(&reg) {
                    own.domains.push(reg);
                }
            }
        }
        own
    }

    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.names.is_empty()
    }

    /// The organisation's domain `host` is, or lies under.
    pub fn owner_of(&self, host: &str) -> Option<&str> {
        self.domains
            .iter()
            .find(|d| domain::is_within(host, d))
            .map(String::as_str)
    }

    /// What of the organisation a folded text names: one of its
    /// recipients' addresses, one of its domains, one of its names.
    fn named_in(&self, folded: &str) -> Option<&str> {
        self.addresses
            .iter()
            .chain(&self.domains)
            .map(String::as_str)
            .chain(self.names.iter().map(|(_, f)| f.as_str()))
            .find(|t| folded.contains(t))
    }

    /// The organisation's domain a host imitates: the whole domain inside
    /// another (`shinkin-example.jp.mail-upgrade.info`), its name with more
    /// around it (`mx1-shinkin-example.net`, `shinkinexample-jp.help`), or
    /// one edit away from it. The same name under another suffix is
    /// another organisation as often as not (example.com, example.org):
    /// only a domain the policy names is owned under every suffix.
    fn imitated(&self, host: &str) -> Option<(&str, &'static str)> {
        if self.owner_of(host).is_some() {
            return None;
        }
        let reg = domain::registrable(host)?;
        let label = reg.split('.').next().unwrap_or("");
        self.domains.iter().enumerate().find_map(|(i, d)| {
            let configured = i < self.configured;
            let own = d.split('.').next().unwrap_or("");
            let inside = host
                .match_indices(d.as_str())
                .any(|(at, _)| host[at + d.len()..].starts_with('.'));
            if inside {
                return Some((d.as_str(), "holds the organisation's domain"));
            }
            if own.len() < MIN_LABEL {
                return None;
            }
            let squashed: String = own.chars().filter(|c| *c != '-').collect();
            if label != own && (label.contains(own) || label.contains(&squashed)) {
                return Some((d.as_str(), "holds the organisation's name"));
            }
            if label == own {
                return configured.then_some((d.as_str(), "is its name under another suffix"));
            }
            (own.len() >= MIN_TYPO_LABEL)
                .then(|| typo::distance(label.as_bytes(), own.as_bytes(), 1))
                .flatten()
                .filter(|n| *n > 0)
                .map(|_| (d.as_str(), "is one edit away from the organisation's name"))
        })
    }
}

/// How evidence names a brand label: a brand by its id, [`OWN`] in words.
pub fn called(brand: &str) -> &str {
    if brand == OWN {
        "the recipient's own organisation"
    } else {
        brand
    }
}

fn fold(s: &str) -> String {
    s.nfkc().collect::<String>().to_lowercase()
}

/// Whether the mail authenticates as its From domain: DMARC, an aligned
/// DKIM pass, or a trusted ARC sealer's record of DMARC on arrival.
pub fn authenticated(mail: &Mail) -> bool {
    let auth = mail.auth;
    auth.dmarc_pass()
        || auth.arc_override.is_some()
        || auth
            .dkim_pass_domains()
            .any(|d| domain::registrable(d) == mail.sender_registrable)
}

/// Whether authentication ran and answered, so its silence means "not
/// the organisation's": offline, or on DNS trouble, it cannot tell.
fn judged(auth: &AuthSummary) -> bool {
    auth.skipped.is_none() && !auth.dns_trouble()
}

/// Findings about claims to be the recipient's own organisation.
pub fn analyze(mail: &Mail, own: &Own, freemail: &HashSet<String>) -> Vec<Finding> {
    let mut out = Vec::new();
    if own.is_empty() {
        return out;
    }
    if let Some(from) = mail.from_domain.as_deref() {
        if let Some(d) = own.owner_of(from) {
            // The daemon does not analyse mail from trusted networks or
            // authenticated submission: what arrives here came from outside.
            if judged(mail.auth) && !authenticated(mail) {
                out.push(spoof(mail, from, d));
            }
            // Its own domain naming itself is no claim.
            return out;
        }
        if let Some((d, how)) = own.imitated(from) {
            out.push(
                Finding::new(
                    FindingKind::Combo,
                    format!("sender domain {from} imitates the recipient's own organisation's {d}: it {how}"),
                )
                .with_brand(OWN)
                .with_domain_on(from, vec!["header-from"]),
            );
        }
    }
    if let Some(name) = mail.from_name.as_deref() {
        let shown = fold(without_via(name));
        if let Some(term) = own.named_in(&shown) {
            let free = mail
                .sender_registrable
                .as_deref()
                .is_some_and(|r| domain::under_any(r, freemail));
            let (kind, whence) = if free {
                (FindingKind::FreemailBrand, "a freemail address")
            } else {
                (FindingKind::DisplayName, "outside")
            };
            out.push(
                Finding::new(
                    kind,
                    format!("display name \"{}\" names the recipient's own organisation ({term}) from {whence}", name.trim()),
                )
                .with_brand(OWN),
            );
        }
    }
    if let Some(subject) = mail.subject.as_deref() {
        if let Some(why) = subject_speaks_as(subject, own) {
            out.push(Finding::new(FindingKind::SubjectBrand, why).with_brand(OWN));
        }
    }
    out
}

fn spoof(mail: &Mail, from: &str, own: &str) -> Finding {
    Finding::new(
        FindingKind::BrandSpoof,
        format!(
            "spoofed {from}: the recipient's own organisation's domain ({own}) from outside, without authenticating as it (dmarc={}, spf={}, no aligned DKIM pass)",
            mail.auth.dmarc.as_str(),
            mail.auth.spf.as_str()
        ),
    )
    .with_brand(OWN)
}

/// Words right after a name that address the organisation rather than
/// speak as it: 例信用金庫 御中, 〜様, ご担当者様, 各位; and particles that
/// make it the subject of a sentence (例信用金庫が…を設立).
const ADDRESSED: &[&str] = &["御中", "様", "さま", "ご担当", "担当者", "各位", "殿", "宛"];
const PARTICLES: &[&str] = &["が", "は", "を", "に", "と", "へ", "で", "も"];

/// Characters after a name searched for [`ADDRESSED`]: "例信用金庫 駅前支店
/// 田中様" addresses a person there.
const ADDRESS_WINDOW: usize = 12;

/// Why a subject speaks as the organisation, if it does: it names a
/// recipient's mailbox (mail systems write so: "pending messages for
/// staff@…"), or leads with or brackets the organisation's domain or name
/// without addressing it.
fn subject_speaks_as(subject: &str, own: &Own) -> Option<String> {
    let text = fold(subject);
    if let Some(a) = own.addresses.iter().find(|a| text.contains(a.as_str())) {
        return Some(format!(
            "the subject names the recipient's mailbox {a}, as the organisation's mail system would"
        ));
    }
    let term = own
        .domains
        .iter()
        .map(String::as_str)
        .chain(own.names.iter().map(|(_, f)| f.as_str()))
        .find(|t| text.contains(t))?;
    let at = text.find(term)?;
    let after = text[at + term.len()..].trim_start();
    let window: String = after.chars().take(ADDRESS_WINDOW).collect();
    if ADDRESSED.iter().any(|w| window.contains(w))
        || PARTICLES.iter().any(|p| after.starts_with(p))
    {
        return None;
    }
    subject_claims(subject, &[term])
        .then(|| format!("the subject speaks as the recipient's own organisation ({term})"))
}

/// The organisation's domain a link host imitates, for `link-lookalike`.
pub fn imitated_link(own: &Own, host: &str) -> Option<String> {
    own.imitated(host).map(|(d, how)| {
        format!("link host {host} imitates the recipient's own organisation's {d}: it {how}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(names: &[&str]) -> OrgRules {
        OrgRules::new(&Organisation {
            recipient_domains: true,
            domains: Vec::new(),
            names: names.iter().map(|s| s.to_string()).collect(),
        })
    }

    fn own<'p>(r: &'p OrgRules, rcpts: &[&str]) -> Own<'p> {
        let free: HashSet<String> = ["gmail.com".to_string()].into();
        let rcpts: Vec<String> = rcpts.iter().map(|s| s.to_string()).collect();
        Own::of(r, &rcpts, &free, &BrandIndex::default())
    }

    #[test]
    fn the_recipients_domain_is_the_organisations_but_not_a_freemail_one() {
        let r = rules(&[]);
        let o = own(&r, &["Staff@mail.Shinkin-Example.jp", "x@gmail.com"]);
        assert_eq!(o.domains, ["shinkin-example.jp"]);
        assert_eq!(
            o.owner_of("portal.shinkin-example.jp"),
            Some("shinkin-example.jp")
        );
        assert_eq!(o.owner_of("shinkin-example.jp.evil.info"), None);
        let off = OrgRules::new(&Organisation {
            recipient_domains: false,
            ..Organisation::default()
        });
        assert!(own(&off, &["staff@shinkin-example.jp"]).is_empty());
    }

    #[test]
    fn lookalikes_of_the_organisations_domain() {
        let r = rules(&[]);
        let o = own(&r, &["staff@shinkin-example.jp"]);
        for host in [
            "mx1-shinkin-example.net",
            "shinkin-example.jp.mail-upgrade.info",
            "shinkinexample-jp.help",
            "shinkin-exampel.jp",
        ] {
            assert!(o.imitated(host).is_some(), "{host}");
        }
        for host in [
            "shinkin-example.jp",
            "www.shinkin-example.jp",
            "sample-joho.co.jp",
            "shinkin.or.jp",
            // Another organisation of the same name, unless the policy
            // says the name is the organisation's.
            "shinkin-example.co",
        ] {
            assert!(o.imitated(host).is_none(), "{host}");
        }
        let named = OrgRules::new(&Organisation {
            domains: vec!["shinkin-example.jp".into()],
            ..Organisation::default()
        });
        assert!(own(&named, &[]).imitated("shinkin-example.co").is_some());
    }

    #[test]
    fn subjects_that_speak_as_the_organisation_and_subjects_that_address_it() {
        let r = rules(&["例信用金庫", "Example Shinkin Bank"]);
        let o = own(&r, &["staff@shinkin-example.jp"]);
        for s in [
            "You have (5) pending messages for staff@shinkin-example.jp",
            "[shinkin-example.jp] Storage quota exceeded 99%",
            "shinkin-example.jp: your session has expired, sign in again",
            "【例信用金庫】パスワードの有効期限が3日後に切れます",
            "Example Shinkin Bank - Remittance Advice #88213",
        ] {
            assert!(subject_speaks_as(s, &o).is_some(), "{s}");
        }
        for s in [
            "【請求書送付】例信用金庫 御中 2025年10月分 保守サービス料",
            "【地域経済ニュース】例信用金庫が地元企業向け支援ファンドを設立",
            "【例信用金庫様】ATM保守点検日程のご連絡（11月）",
            "例信用金庫 駅前支店 田中様 先日のお礼",
            "例信用金庫 人事ご担当者様 新卒採用支援サービスのご案内",
            "Invoice INV-20461 for Example Shinkin Bank",
            "Year-end audit schedule for Example Shinkin Bank",
        ] {
            assert!(subject_speaks_as(s, &o).is_none(), "{s}");
        }
    }
}
