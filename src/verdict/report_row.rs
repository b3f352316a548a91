//! The DMARC report row of a judged message ([`DmarcRow`]): what the owner
//! of the From domain asked, what authenticated, and what we did.

use super::Verdict;
use crate::vocab::auth::{effective_policy, AuthSummary, OwnerPolicy, Res};
use crate::vocab::domain;
use crate::vocab::findings::Action;
use crate::vocab::message::Envelope;
use crate::vocab::report_row::{DkimRow, DmarcRow, Reason, SpfRow};

/// The row, when DMARC gave a verdict: a domain with no record has no one
/// to report to, and an error is no result to report.
pub fn of(
    env: &Envelope,
    auth: &AuthSummary,
    from_domain: Option<&str>,
    verdict: &Verdict,
) -> Option<DmarcRow> {
    if !matches!(auth.dmarc, Res::Pass | Res::Fail) {
        return None;
    }
    let from = from_domain?;
    let org = domain::registrable(from);
    let aligned = |d: &str| domain::registrable(d) == org;
    let envelope_from = domain::of_address(&env.mail_from).unwrap_or_default();
    let (spf_domain, scope) = if envelope_from.is_empty() {
        (env.helo.to_ascii_lowercase(), "helo")
    } else {
        (envelope_from.clone(), "mfrom")
    };
    let spf_result = if scope == "helo" {
        auth.spf_helo
    } else {
        auth.spf
    };
    let disposition = match verdict.action {
        Action::Reject => OwnerPolicy::Reject,
        Action::Quarantine => OwnerPolicy::Quarantine,
        _ => OwnerPolicy::None,
    };
    Some(DmarcRow {
        source_ip: env.client_ip.map(|i| i.to_string()).unwrap_or_default(),
        header_from: from.to_string(),
        envelope_from,
        envelope_to: env
            .rcpts
            .first()
            .and_then(|r| domain::of_address(r))
            .unwrap_or_default(),
        // Where the record was found (RFC 9989's walk); the From domain's
        // registrable domain for results recorded by an upstream.
        policy_domain: auth
            .dmarc_policy_domain
            .clone()
            .or_else(|| org.clone())
            .unwrap_or_else(|| from.to_string()),
        policy: auth.dmarc_policy.as_str().to_string(),
        disposition: disposition.as_str().to_string(),
        dkim_aligned: auth.dkim_pass_domains().any(aligned),
        spf_aligned: auth.spf == Res::Pass && aligned(&spf_domain) && scope == "mfrom",
        reason: reason(auth, disposition),
        spf: SpfRow {
            domain: spf_domain,
            scope: scope.into(),
            result: report_result(spf_result).into(),
        },
        dkim: auth
            .dkim_signatures
            .iter()
            .map(|s| DkimRow {
                domain: s.domain.clone(),
                selector: s.selector.clone(),
                result: report_result(s.result).into(),
            })
            .collect(),
    })
}

/// Why what we did differs from what the owner asked, in RFC 9990's words.
fn reason(auth: &AuthSummary, disposition: OwnerPolicy) -> Option<Reason> {
    if auth.dmarc != Res::Fail {
        return None;
    }
    if let Some(o) = &auth.arc_override {
        return Some(Reason {
            kind: "mailing_list".into(),
            comment: format!("trusted ARC sealer {} recorded {}", o.sealer, o.vouches),
        });
    }
    let asked = effective_policy(auth);
    if auth.dmarc_testing {
        return Some(Reason {
            kind: "policy_test_mode".into(),
            comment: String::new(),
        });
    }
    (disposition != asked).then(|| Reason {
        kind: "local_policy".into(),
        comment: if rank(disposition) > rank(asked) {
            "held for its content".into()
        } else {
            "receiver's policy floors".into()
        },
    })
}

fn rank(p: OwnerPolicy) -> u8 {
    match p {
        OwnerPolicy::None => 0,
        OwnerPolicy::Quarantine => 1,
        OwnerPolicy::Reject => 2,
    }
}

/// A result as RFC 9990 spells it (it has no "skipped").
fn report_result(r: Res) -> &'static str {
    match r {
        Res::Skipped => "none",
        r => r.as_str(),
    }
}
