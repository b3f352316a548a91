//! The sender analyser: who the mail says it is from, against the protected
//! brands. Lookalike domains in From, MAIL FROM, Reply-To, Sender and DKIM
//! `d=`; display names and subjects that claim a brand from a domain that is
//! not the brand's; invisible characters in the From; senders on free
//! hosting platforms.

use crate::analysis::brand::BrandIndex;
use crate::policy::data::{Allow, Brand};
use crate::vocab::auth::{AuthSummary, Res};
use crate::vocab::domain;
use crate::vocab::findings::{Finding, FindingKind};
use crate::vocab::message::Mail;
use crate::vocab::normalize;
use std::collections::HashSet;

/// What the sender analyser compares a message with, all from one policy.
pub struct SenderRules<'p> {
    pub index: &'p BrandIndex,
    pub brands: &'p [Brand],
    pub allow: &'p Allow,
    pub freemail: &'p HashSet<String>,
}

impl SenderRules<'_> {
    fn brand(&self, id: &str) -> Option<&Brand> {
        self.brands.iter().find(|b| b.id == id)
    }
}

/// The brand whose official (or authorised) domain sent this mail and
/// authenticated as it, if any: DMARC passed, or DKIM passed aligned, or a
/// trusted ARC sealer vouched for DMARC on arrival, or the brand's own mail
/// service provider authenticated it (a DKIM or SPF pass for one of the
/// brand's domains in the policy, aligned or not: brands stay at `p=none`
/// because such mail does not align). `from_registrable` is the
/// registrable domain of `from_domain`; `mail_from` the envelope sender.
pub fn official_sender<'p>(
    index: &'p BrandIndex,
    from_domain: Option<&str>,
    from_registrable: Option<&String>,
    auth: &AuthSummary,
    mail_from: &str,
) -> Option<&'p str> {
    let owner = index.owner(from_domain?)?;
    let aligned_dkim = auth
        .dkim_pass_domains()
        .any(|d| domain::registrable(d).as_ref() == from_registrable);
    let provider_dkim = auth
        .dkim_pass_domains()
        .any(|d| index.owner(d) == Some(owner));
    let provider_spf = auth.spf == Res::Pass
        && domain::of_address(mail_from).is_some_and(|d| index.owner(&d) == Some(owner));
    (auth.dmarc_pass()
        || aligned_dkim
        || provider_dkim
        || provider_spf
        || auth.arc_override.is_some())
    .then_some(owner)
}

/// Findings about the sender's brand claims: nothing for the brand's own
/// authenticated mail or an allowlisted sender.
pub fn analyze(mail: &Mail, rules: &SenderRules) -> Vec<Finding> {
    if mail.official_sender.is_some() || allowlisted(mail, rules.allow) {
        return Vec::new();
    }
    let mut out = lookalike_domains(mail, rules.index);
    out.extend(hidden_chars(mail));
    let claimed = display_name_claim(mail, rules);
    let claimed_brand = claimed.as_ref().and_then(|f| f.brand.clone());
    out.extend(claimed);
    let subject = subject_claim(mail, rules, claimed_brand.as_deref());
    let subject_brand = subject.as_ref().and_then(|f| f.brand.clone());
    out.extend(subject);
    if claimed_brand.is_none() && subject_brand.is_none() {
        out.extend(greeting_claim(mail, rules));
    }
    out
}

/// Characters of the body's opening read for a greeting.
const GREETING_CHARS: usize = 300;

/// A body that opens by greeting the reader as a brand's customer, from a
/// sender that is not the brand.
fn greeting_claim(mail: &Mail, rules: &SenderRules) -> Option<Finding> {
    let head: String = mail.body_head().chars().take(GREETING_CHARS).collect();
    let (brand_id, name) = rules.index.greeting_claim(&head)?;
    let brand = rules.brand(brand_id)?;
    if sender_is_brand(mail, brand) {
        return None;
    }
    let from_desc = mail.from_domain.as_deref().unwrap_or("(none)");
    Some(
        Finding::new(
            FindingKind::GreetingBrand,
            format!(
                "the body greets the reader as a customer of '{name}' but sender domain {from_desc} is not the brand's"
            ),
        )
        .with_brand(brand_id),
    )
}

/// `sender-hosting`: the From domain is on a free hosting platform (the
/// policy's hosting list, which `link-hosting` shares), where phishers send
/// from as readily as they host pages.
pub fn hosting(mail: &Mail, hosting: &HashSet<String>) -> Option<Finding> {
    let d = mail.from_domain.as_deref()?;
    domain::under_any(d, hosting).then(|| {
        Finding::new(
            FindingKind::SenderHosting,
            format!("From domain {d} is on a free hosting platform"),
        )
    })
}

/// Whether the mail comes from the brand itself or a party it authorised:
/// the From domain is official or authorised, or a passing DKIM signature is.
fn sender_is_brand(mail: &Mail, brand: &Brand) -> bool {
    let within_any = |host: &str, list: &[String]| list.iter().any(|d| domain::is_within(host, d));
    let ok = |host: &str| within_any(host, &brand.domains) || within_any(host, &brand.authorized);
    mail.from_domain.as_deref().is_some_and(ok) || mail.auth.dkim_pass_domains().any(ok)
}

/// `policy.allow` trusts this sender: From or MAIL FROM domain, or a passing DKIM `d=`.
pub(crate) fn allowlisted(mail: &Mail, allow: &Allow) -> bool {
    let mail_from = domain::of_address(&mail.env.mail_from);
    mail.from_domain
        .iter()
        .chain(mail_from.iter())
        .any(|d| domain::listed(d, |k| allow.sender_domains.contains_key(k)))
        || mail
            .auth
            .dkim_pass_domains()
            .any(|d| domain::listed(d, |k| allow.dkim_domains.contains_key(k)))
}

/// `policy.allow` trusts this sender and authentication shows the mail is
/// theirs: a passing DKIM `d=` on the list, or an allowlisted From or MAIL
/// FROM domain with DMARC passing. What may carry files must not be had by
/// forging a From.
pub(crate) fn allowlisted_and_authentic(mail: &Mail, allow: &Allow) -> bool {
    let dkim = mail
        .auth
        .dkim_pass_domains()
        .any(|d| domain::listed(d, |k| allow.dkim_domains.contains_key(k)));
    dkim || (mail.auth.dmarc_pass() && allowlisted(mail, allow))
}

/// Every sender-side domain with the headers it appears in, in order.
/// Sender-side domains judged per message.
const MAX_SENDER_DOMAINS: usize = 32;

fn sender_domains(mail: &Mail) -> Vec<(String, Vec<&'static str>)> {
    let mut out: Vec<(String, Vec<&'static str>)> = Vec::new();
    let mut add = |what: &'static str, host: Option<String>| {
        let Some(host) = host else { return };
        let room = out.len() < MAX_SENDER_DOMAINS;
        match out.iter_mut().find(|(h, _)| *h == host) {
            Some((_, whats)) if !whats.contains(&what) => whats.push(what),
            Some(_) => {}
            // A From with 100,000 addresses made this search quadratic;
            // real mail names a handful of sender domains.
            None if room => out.push((host, vec![what])),
            None => {}
        }
    };
    let msg = mail.msg;
    for (what, addrs) in [
        ("From", msg.from()),
        ("Reply-To", msg.reply_to()),
        ("Sender", msg.sender()),
    ] {
        for a in addrs.into_iter().flat_map(|a| a.iter()) {
            add(what, a.address().and_then(domain::of_address));
        }
    }
    add("MAIL FROM", domain::of_address(&mail.env.mail_from));
    for sig in &mail.auth.dkim_signatures {
        add("DKIM d=", domain::to_ascii(&sig.domain));
    }
    out
}

/// The machine name of a sender-side place, as the verdict line's
/// indicators carry it.
fn place(what: &str) -> &'static str {
    match what {
        "From" => "header-from",
        "Reply-To" => "reply-to",
        "Sender" => "sender",
        "MAIL FROM" => "envelope-from",
        _ => "dkim-d",
    }
}

/// Lookalikes of protected domains among the sender-side domains.
fn lookalike_domains(mail: &Mail, index: &BrandIndex) -> Vec<Finding> {
    let mut out = Vec::new();
    for (host, whats) in sender_domains(mail) {
        if let Some(l) = index.lookalike(&host) {
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
                .with_brand(l.brand)
                .with_domain_on(host, whats.iter().map(|w| place(w)).collect()),
            );
        }
    }
    out
}

/// The first From address and its display name as the reader sees it.
fn from_display<'m>(mail: &'m Mail) -> (Option<&'m mail_parser::Addr<'m>>, &'m str) {
    let from = mail.msg.from().and_then(|f| f.first());
    (from, mail.from_name.as_deref().unwrap_or(""))
}

/// Invisible or bidi characters in the From display name or address.
fn hidden_chars(mail: &Mail) -> Option<Finding> {
    let (from, display) = from_display(mail);
    let hidden: Vec<char> = normalize::text(display).hidden;
    let address_hidden = from
        .and_then(|a| a.address())
        .is_some_and(|a| a.chars().any(normalize::is_hidden));
    if hidden.is_empty() && !address_hidden {
        return None;
    }
    let list: Vec<String> = hidden
        .iter()
        .map(|c| format!("U+{:04X}", *c as u32))
        .collect();
    let place = if hidden.is_empty() {
        "From address"
    } else {
        "From display name"
    };
    Some(Finding::new(
        FindingKind::HiddenChars,
        format!(
            "{place} contains invisible or bidi characters {}",
            list.join(" ")
        ),
    ))
}

/// A display name that claims a brand the sender is not: `display-name`, or
/// `freemail-brand` when the sender is a free webmail domain.
fn display_name_claim(mail: &Mail, rules: &SenderRules) -> Option<Finding> {
    let (from, display) = from_display(mail);
    // A display name that only repeats the From address claims nothing the
    // address does not: the lookalike checks judge the address.
    let repeats_address = from.and_then(|a| a.address()).is_some_and(|addr| {
        display
            .trim_matches(|c: char| c.is_whitespace() || "\"'<>".contains(c))
            .eq_ignore_ascii_case(addr)
    });
    if repeats_address {
        return None;
    }
    let (brand_id, how) = rules.index.claimed_brand(display)?;
    let brand = rules.brand(brand_id)?;
    if sender_is_brand(mail, brand) {
        return None;
    }
    let from_desc = mail.from_domain.as_deref().unwrap_or("(none)");
    let free = mail
        .from_domain
        .as_deref()
        .is_some_and(|d| domain::listed(d, |k| rules.freemail.contains(k)));
    let (kind, tail) = if free {
        (FindingKind::FreemailBrand, "a free webmail domain")
    } else {
        (
            FindingKind::DisplayName,
            "not the brand's or an authorised domain",
        )
    };
    Some(
        Finding::new(
            kind,
            format!("From display name '{display}' {how}; sender domain {from_desc} is {tail}"),
        )
        .with_brand(brand_id),
    )
}

/// The subject without the `[list-name]` tags a mailing list put in front
/// (the message has a List-Id): they are the list's, not the sender's.
fn without_list_tag<'s>(mail: &Mail, subject: &'s str) -> &'s str {
    let listed = mail
        .msg
        .header_raw("List-Id")
        .is_some_and(|v| !v.trim().is_empty());
    if !listed {
        return subject;
    }
    let mut t = subject.trim_start();
    while let Some((_, rest)) = t.strip_prefix('[').and_then(|r| r.split_once(']')) {
        t = rest.trim_start();
    }
    t
}

/// A subject that speaks as a brand the sender is not. `claimed` is the brand
/// the display name already claimed, if any.
fn subject_claim(mail: &Mail, rules: &SenderRules, claimed: Option<&str>) -> Option<Finding> {
    let subject = mail.subject.as_deref()?;
    let subject = without_list_tag(mail, subject);
    // Named is not claimed: a headline or a newsletter's title talks about
    // the brand; `【三井住友カード】…` or "Your Apple ID …" speaks as it.
    let (brand_id, name) = rules.index.subject_claim(subject)?;
    let official = rules
        .brand(brand_id)
        .is_some_and(|b| sender_is_brand(mail, b));
    if official {
        return None;
    }
    let also = if claimed == Some(brand_id) {
        " (display name claims it too)"
    } else {
        ""
    };
    let from_desc = mail.from_domain.as_deref().unwrap_or("(none)");
    Some(
        Finding::new(
            FindingKind::SubjectBrand,
            format!(
                "Subject names brand '{name}' but sender domain {from_desc} is not the brand's{also}"
            ),
        )
        .with_brand(brand_id),
    )
}
