//! Authentication results as plain values: what SPF, DKIM, DMARC and ARC
//! said about a message, whoever found out (the DNS verifier, a trusted
//! upstream's recorded header, or nobody). No DNS and no metrics here, so
//! every layer may read them.

use crate::findings::{Finding, FindingKind};
use serde::Serialize;

/// One authentication result, in RFC 8601 result words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Res {
    #[default]
    None,
    Pass,
    Fail,
    Softfail,
    Neutral,
    Temperror,
    Permerror,
    /// Not evaluated: trusted client, authenticated submission or `--no-dns`.
    Skipped,
}

impl Res {
    pub const ALL: &'static [Res] = &[
        Res::None,
        Res::Pass,
        Res::Fail,
        Res::Softfail,
        Res::Neutral,
        Res::Temperror,
        Res::Permerror,
        Res::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Res::None => "none",
            Res::Pass => "pass",
            Res::Fail => "fail",
            Res::Softfail => "softfail",
            Res::Neutral => "neutral",
            Res::Temperror => "temperror",
            Res::Permerror => "permerror",
            Res::Skipped => "skipped",
        }
    }

    pub fn parse(word: &str) -> Res {
        match word.to_ascii_lowercase().as_str() {
            "pass" => Res::Pass,
            "fail" | "hardfail" => Res::Fail,
            "softfail" => Res::Softfail,
            "neutral" | "policy" => Res::Neutral,
            "temperror" => Res::Temperror,
            "permerror" => Res::Permerror,
            _ => Res::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DkimSig {
    pub domain: String,
    pub selector: String,
    pub result: Res,
}

/// What the domain owner asks receivers to do with failing mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OwnerPolicy {
    #[default]
    None,
    Quarantine,
    Reject,
}

/// Authentication results as plain values.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuthSummary {
    /// The best of SPF for MAIL FROM (what DMARC uses); kept as `spf` for readers.
    pub spf: Res,
    pub spf_helo: Res,
    pub dkim: Res,
    pub dkim_signatures: Vec<DkimSig>,
    pub dmarc: Res,
    pub dmarc_policy: OwnerPolicy,
    /// The owner's `pct` spared this message: apply the next lower policy.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dmarc_sampled_out: bool,
    pub arc: Res,
    /// Why authentication was not run, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// RFC 8601 header value (without the name), LF-TAB folded.
    #[serde(skip)]
    pub header: Option<String>,
}

impl AuthSummary {
    pub fn skipped(reason: impl Into<String>) -> Self {
        AuthSummary {
            spf: Res::Skipped,
            spf_helo: Res::Skipped,
            dkim: Res::Skipped,
            dmarc: Res::Skipped,
            arc: Res::Skipped,
            skipped: Some(reason.into()),
            ..Default::default()
        }
    }

    pub fn dmarc_pass(&self) -> bool {
        self.dmarc == Res::Pass
    }

    /// Domains with a passing DKIM signature.
    pub fn dkim_pass_domains(&self) -> impl Iterator<Item = &str> {
        self.dkim_signatures
            .iter()
            .filter(|s| s.result == Res::Pass)
            .map(|s| s.domain.as_str())
    }

    /// What the message gets when authentication runs out of time: the
    /// results it could not reach are DNS trouble, as a resolver timeout is.
    pub fn timed_out() -> Self {
        AuthSummary {
            spf: Res::Temperror,
            dkim: Res::Temperror,
            dmarc: Res::Temperror,
            skipped: Some("time budget exceeded".into()),
            ..AuthSummary::default()
        }
    }

    /// A DNS failure left a result undecided that the verdict depends on.
    pub fn dns_trouble(&self) -> bool {
        self.spf == Res::Temperror || self.dkim == Res::Temperror || self.dmarc == Res::Temperror
    }
}

/// Findings from authentication alone.
pub fn findings(auth: &AuthSummary) -> Vec<Finding> {
    let mut out = Vec::new();
    if auth.dmarc == Res::Fail {
        let effective = effective_policy(auth);
        let (kind, what) = match effective {
            OwnerPolicy::Reject => (FindingKind::DmarcReject, "p=reject"),
            OwnerPolicy::Quarantine => (FindingKind::DmarcQuarantine, "p=quarantine"),
            OwnerPolicy::None => (FindingKind::DmarcFail, "no enforcement"),
        };
        let note = if auth.dmarc_sampled_out {
            " (spared by pct: one level lower)"
        } else {
            ""
        };
        out.push(Finding::new(
            kind,
            format!("DMARC fail, domain owner asks {what}{note}"),
        ));
    }
    match auth.spf {
        Res::Fail => out.push(Finding::new(FindingKind::SpfFail, "SPF fail for MAIL FROM")),
        Res::Softfail => out.push(Finding::new(
            FindingKind::SpfSoftfail,
            "SPF softfail for MAIL FROM",
        )),
        _ => {}
    }
    if auth.dkim == Res::Fail {
        let failed: Vec<&str> = auth
            .dkim_signatures
            .iter()
            .filter(|s| s.result == Res::Fail)
            .map(|s| s.domain.as_str())
            .collect();
        out.push(Finding::new(
            FindingKind::DkimFail,
            format!("DKIM signature fails for d={}", failed.join(",")),
        ));
    }
    out
}

/// The owner's policy after `pct` sampling (RFC 7489 §6.6.4: a message not
/// sampled gets the next lower policy).
pub fn effective_policy(auth: &AuthSummary) -> OwnerPolicy {
    match (auth.dmarc_policy, auth.dmarc_sampled_out) {
        (OwnerPolicy::Reject, true) => OwnerPolicy::Quarantine,
        (OwnerPolicy::Quarantine, true) => OwnerPolicy::None,
        (p, _) => p,
    }
}

/// Overall DKIM result: pass if any signature passes, otherwise the most
/// telling failure.
pub(crate) fn best_dkim(sigs: &[DkimSig], all: impl Iterator<Item = Res>) -> Res {
    if sigs.iter().any(|s| s.result == Res::Pass) {
        return Res::Pass;
    }
    let all: Vec<Res> = all.collect();
    for r in [
        Res::Fail,
        Res::Temperror,
        Res::Permerror,
        Res::Neutral,
        Res::Pass,
    ] {
        if all.contains(&r) {
            return r;
        }
    }
    Res::None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmarc_failure_findings_follow_owner_policy_and_pct() {
        let mut s = AuthSummary {
            dmarc: Res::Fail,
            dmarc_policy: OwnerPolicy::Reject,
            ..Default::default()
        };
        assert_eq!(findings(&s)[0].kind, FindingKind::DmarcReject);
        s.dmarc_sampled_out = true;
        assert_eq!(findings(&s)[0].kind, FindingKind::DmarcQuarantine);
        s.dmarc_policy = OwnerPolicy::Quarantine;
        assert_eq!(findings(&s)[0].kind, FindingKind::DmarcFail);
        s.dmarc = Res::Pass;
        assert!(findings(&s).is_empty());
    }
}
