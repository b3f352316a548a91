//! DMARC as RFC 9989 has it: policy discovery by DNS Tree Walk, the
//! Organizational Domain from the walk (not the Public Suffix List),
//! `sp`/`np`/`psd`/`t`, and the disposition applied. One call,
//! [`evaluate`]; SPF and DKIM results come in from their own checks.
//!
//! mail-auth 0.15 implements RFC 9989 but needs a newer rustc than ours;
//! this module replaces only its DMARC step.

mod header;
mod record;
mod walk;

pub use record::{Alignment, Psd, Record};
pub use walk::{organizational, targets, Dns, Found, MAX_QUERIES};

use crate::auth::dns::DnsTrouble;
use crate::vocab::auth::{OwnerPolicy, Res};
use crate::vocab::domain::is_within;

/// The identifiers SPF and DKIM authenticated (or tried to).
#[derive(Debug, Clone, Default)]
pub struct Identifiers<'a> {
    /// The domain SPF evaluated as the MAIL FROM identity (the HELO name
    /// for a null sender, RFC 7208 §2.4) and its result.
    pub spf: Option<(&'a str, Res)>,
    /// Each verified DKIM signature's `d=` and its result.
    pub dkim: Vec<(&'a str, Res)>,
}

/// Which tag of the record the policy came from (§4.10.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// The record is the Author Domain's own.
    P,
    /// An existing subdomain of the domain that published the record.
    Sp,
    /// A subdomain that does not exist (NXDOMAIN).
    Np,
}

/// What DMARC concluded about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// pass, fail, none (no policy applies), temperror (DNS failed).
    pub result: Res,
    /// The Author Domain (`header.from`), A-label, lower-case.
    pub author: Option<String>,
    /// The policy the record asks for, from the tag in `tag`.
    pub requested: OwnerPolicy,
    /// What is applied to failing mail: `requested`, one level lower
    /// under `t=y`.
    pub applied: OwnerPolicy,
    /// `t=y`: the owner is testing its policy.
    pub testing: bool,
    /// Where the record applied was found.
    pub policy_domain: Option<String>,
    /// The Author Domain's Organizational Domain, when it was needed.
    pub org_domain: Option<String>,
    pub tag: Tag,
    /// The record applied is a Public Suffix Domain's (`psd=y`): the
    /// Organizational Domain below it publishes none.
    pub psd: bool,
    /// Why the result is none or temperror.
    pub reason: Option<String>,
}

impl Evaluation {
    fn without_policy(author: Option<&str>, result: Res, reason: impl Into<String>) -> Self {
        Evaluation {
            result,
            author: author.map(str::to_string),
            requested: OwnerPolicy::None,
            applied: OwnerPolicy::None,
            testing: false,
            policy_domain: None,
            org_domain: None,
            tag: Tag::P,
            psd: false,
            reason: Some(reason.into()),
        }
    }

    /// Our header's `dmarc` result, `;\r\n\tdmarc=...`.
    pub fn header_piece(&self) -> String {
        header::header_piece(self)
    }

    /// No single Author Domain: DMARC cannot be applied (§5.3.1).
    pub fn no_author(reason: &str) -> Self {
        Evaluation::without_policy(None, Res::None, reason)
    }
}

/// The Author Domain of a message from the addresses of its From field:
/// one domain, as an A-label (§5.3.1). Several addresses of the same
/// domain are one Author Domain; several domains are none (we do not go
/// forward, which §5.3.1 allows but does not ask).
pub fn author_domain<'a>(from: impl IntoIterator<Item = &'a str>) -> Result<String, &'static str> {
    let mut author: Option<String> = None;
    for addr in from {
        let Some((_, domain)) = addr.rsplit_once('@') else {
            continue;
        };
        let Some(domain) = crate::vocab::domain::to_ascii(domain) else {
            return Err("From domain is not a valid domain name");
        };
        match &author {
            Some(a) if *a != domain => return Err("From names several domains"),
            _ => author = Some(domain),
        }
    }
    author.ok_or("no From domain")
}

/// RFC 9989 for one message whose Author Domain is `author`.
pub async fn evaluate(dns: Dns<'_>, author: &str, ids: &Identifiers<'_>) -> Evaluation {
    let mut e = match discover(dns, author).await {
        Ok(Discovery::Applies(e)) => *e,
        Ok(Discovery::NotApplied(why)) => {
            return Evaluation::without_policy(Some(author), Res::None, why)
        }
        Err(DnsTrouble(why)) => {
            return Evaluation::without_policy(Some(author), Res::Temperror, dns_reason(&why))
        }
    };
    let mut aligner = Aligner {
        dns,
        author,
        org: e.state.org.take(),
        own: e.state.own.take(),
    };
    let (result, reason) = judge(&mut aligner, &e.record, ids).await;
    e.evaluation.result = result;
    e.evaluation.reason = reason;
    e.evaluation.org_domain = aligner.org;
    e.evaluation
}

fn dns_reason(why: &str) -> String {
    format!("DMARC policy lookup failed: {why}")
}

enum Discovery {
    Applies(Box<Discovered>),
    NotApplied(&'static str),
}

struct Discovered {
    evaluation: Evaluation,
    record: Record,
    state: Known,
}

/// What discovery learnt that alignment may reuse.
struct Known {
    /// The Author Domain's Organizational Domain, when the walk ran.
    org: Option<String>,
    /// The Author Domain's own record, when it has one (alignment may
    /// still have to walk above it).
    own: Option<Record>,
}

/// §4.10.1: the Author Domain's own record, else the record of its
/// Organizational Domain, else that of its Public Suffix Domain.
async fn discover(dns: Dns<'_>, author: &str) -> Result<Discovery, DnsTrouble> {
    if let Some(own) = dns.record_at(author).await? {
        return Ok(applied(
            author,
            author,
            own.clone(),
            Tag::P,
            Known {
                org: None,
                own: Some(own),
            },
        ));
    }
    let walk = dns.walk_on(author, None).await?;
    let org = organizational(author, &walk);
    let Some(found) = walk
        .iter()
        .find(|f| f.domain == org)
        .or_else(|| walk.last())
        .cloned()
    else {
        return Ok(Discovery::NotApplied("no DMARC policy record"));
    };
    let tag = match found.record.policies() {
        Some(p) if p.np != p.sp && dns.does_not_exist(author).await? => Tag::Np,
        _ => Tag::Sp,
    };
    let psd = found.record.psd == Psd::Yes && found.domain != org;
    let mut d = applied(
        author,
        &found.domain,
        found.record,
        tag,
        Known {
            org: Some(org),
            own: None,
        },
    );
    if let Discovery::Applies(d) = &mut d {
        d.evaluation.psd = psd;
    }
    Ok(d)
}

fn applied(author: &str, at: &str, record: Record, tag: Tag, state: Known) -> Discovery {
    let Some(p) = record.policies() else {
        return Discovery::NotApplied("DMARC record without a valid p and no valid rua");
    };
    let requested = match tag {
        Tag::P => p.p,
        Tag::Sp => p.sp,
        Tag::Np => p.np,
    };
    let applied = if record.testing {
        one_level_lower(requested)
    } else {
        requested
    };
    Discovery::Applies(Box::new(Discovered {
        evaluation: Evaluation {
            result: Res::None,
            author: Some(author.to_string()),
            requested,
            applied,
            testing: record.testing,
            policy_domain: Some(at.to_string()),
            org_domain: None,
            tag,
            psd: false,
            reason: None,
        },
        record,
        state,
    }))
}

/// §4.7 `t=y`: reject is applied as quarantine, quarantine as none.
pub fn one_level_lower(p: OwnerPolicy) -> OwnerPolicy {
    match p {
        OwnerPolicy::Reject => OwnerPolicy::Quarantine,
        _ => OwnerPolicy::None,
    }
}

/// §5.3.5: pass when an authenticated identifier aligns. When none does,
/// an identifier whose check or alignment DNS left undecided makes the
/// result temperror (§5.3.6), not fail.
async fn judge(
    a: &mut Aligner<'_>,
    record: &Record,
    ids: &Identifiers<'_>,
) -> (Res, Option<String>) {
    let mut trouble: Option<String> = None;
    let spf = ids.spf.iter().map(|(d, r)| (*d, *r, record.aspf));
    let dkim = ids.dkim.iter().map(|(d, r)| (*d, *r, record.adkim));
    // DKIM first: a signature usually aligns without a walk.
    let mut candidates: Vec<(&str, Res, Alignment)> = dkim.chain(spf).collect();
    candidates.retain(|(d, r, _)| !d.is_empty() && matches!(r, Res::Pass | Res::Temperror));
    candidates.sort_by_key(|(_, r, _)| *r != Res::Pass);
    for (id, result, mode) in candidates {
        match a.aligned(id, mode).await {
            Ok(true) if result == Res::Pass => return (Res::Pass, None),
            Ok(true) => {
                trouble.get_or_insert_with(|| format!("aligned {id} has a temporary error"));
            }
            Ok(false) => {}
            Err(DnsTrouble(why)) => {
                trouble.get_or_insert_with(|| format!("alignment of {id} undecided: {why}"));
            }
        }
    }
    match trouble {
        Some(why) => (Res::Temperror, Some(why)),
        None => (Res::Fail, None),
    }
}

/// Identifier Alignment (§4.10.2) against one Author Domain, walking for
/// its Organizational Domain only once and only when relaxed alignment
/// of a different domain needs it.
struct Aligner<'a> {
    dns: Dns<'a>,
    author: &'a str,
    org: Option<String>,
    own: Option<Record>,
}

impl Aligner<'_> {
    async fn aligned(&mut self, id: &str, mode: Alignment) -> Result<bool, DnsTrouble> {
        let id = id.trim_end_matches('.').to_ascii_lowercase();
        if id == self.author {
            return Ok(true);
        }
        if mode == Alignment::Strict {
            return Ok(false);
        }
        let author_org = self.author_org().await?;
        // An Organizational Domain is its domain or one above it, so an
        // identifier outside the author's cannot share it: no walk.
        if !is_within(&id, &author_org) {
            return Ok(false);
        }
        let walk = self.dns.walk(&id).await?;
        Ok(organizational(&id, &walk) == author_org)
    }

    async fn author_org(&mut self) -> Result<String, DnsTrouble> {
        if let Some(org) = &self.org {
            return Ok(org.clone());
        }
        let walk = self.dns.walk_on(self.author, self.own.take()).await?;
        let org = organizational(self.author, &walk);
        self.org = Some(org.clone());
        Ok(org)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_author_domain_or_none() {
        assert_eq!(
            author_domain(["a@Example.COM"]).as_deref(),
            Ok("example.com")
        );
        assert_eq!(
            author_domain(["a@example.com", "b@EXAMPLE.com"]).as_deref(),
            Ok("example.com")
        );
        assert!(author_domain(["a@example.com", "b@example.org"]).is_err());
        assert!(author_domain(Vec::<&str>::new()).is_err());
        assert_eq!(
            author_domain(["a@bücher.example"]).as_deref(),
            Ok("xn--bcher-kva.example")
        );
    }

    #[test]
    fn testing_lowers_by_one_level() {
        assert_eq!(
            one_level_lower(OwnerPolicy::Reject),
            OwnerPolicy::Quarantine
        );
        assert_eq!(one_level_lower(OwnerPolicy::Quarantine), OwnerPolicy::None);
        assert_eq!(one_level_lower(OwnerPolicy::None), OwnerPolicy::None);
    }
}
