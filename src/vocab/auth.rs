//! Authentication results as plain values: what SPF, DKIM, DMARC and ARC
//! said about a message, whoever found out (the DNS verifier, a trusted
//! upstream's recorded header, or nobody). No DNS and no metrics here, so
//! every layer may read them.

use crate::vocab::findings::{Finding, FindingKind};
use serde::Serialize;
use std::collections::BTreeMap;

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

/// The newest set (highest `i=`) of an ARC chain that validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArcSealer {
    /// The seal's `d=`, lower-case.
    pub domain: String,
    pub instance: u32,
    /// What in the sealer's ARC-Authentication-Results shows the From
    /// domain authenticated on arrival (`dmarc=pass`, or an aligned SPF or
    /// DKIM pass), if anything does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vouches: Option<String>,
}

/// A trusted sealer lifted the owner's DMARC policy for this message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArcOverride {
    pub sealer: String,
    /// Why the receiver trusts this sealer, from the policy.
    pub reason: String,
    /// The policy that was not applied.
    pub policy: OwnerPolicy,
    /// What the sealer recorded, e.g. `dmarc=pass`.
    pub vouches: String,
}

/// The receiver's own rules for authentication: the ARC sealers whose
/// word on arrival it takes (RFC 8617 §7.2). (RFC 7489's `pct` is gone:
/// RFC 9989 removed it, and `t=y` replaces `pct=0`.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPolicy {
    /// Sealing domain (`d=` of the ARC-Seal) to the reason it is trusted.
    pub trusted_arc_sealers: BTreeMap<String, String>,
}

impl LocalPolicy {
    /// The override this policy grants, if any: DMARC failed, the chain
    /// validated, and its newest seal is from a trusted sealer that
    /// recorded the From domain authenticated. Under `p=none` there is no
    /// floor to lift, but the sealer's word still says the mail is its
    /// From domain's: the brand-spoof rule takes it, as it takes a DMARC
    /// pass.
    pub fn arc_override(&self, auth: &AuthSummary) -> Option<ArcOverride> {
        if auth.dmarc != Res::Fail || auth.arc != Res::Pass {
            return None;
        }
        let policy = effective_policy(auth);
        let sealer = auth.arc_sealer.as_ref()?;
        let vouches = sealer.vouches.clone()?;
        let reason = self.trusted_arc_sealers.get(&sealer.domain)?;
        Some(ArcOverride {
            sealer: sealer.domain.clone(),
            reason: reason.clone(),
            policy,
            vouches,
        })
    }
}

impl OwnerPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerPolicy::None => "none",
            OwnerPolicy::Quarantine => "quarantine",
            OwnerPolicy::Reject => "reject",
        }
    }
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
    /// The policy the owner's record asks for (its `p`, `sp` or `np`,
    /// RFC 9989 §4.10.1), before `t=y`.
    pub dmarc_policy: OwnerPolicy,
    /// An RFC 7489 `pct` spared this message: apply the next lower policy.
    /// RFC 9989 removed `pct`, so our verifier no longer sets it; kept for
    /// the readers of our JSON.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dmarc_sampled_out: bool,
    /// `t=y`: the owner is testing its policy, which applies one level
    /// lower (RFC 9989 §4.7).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dmarc_testing: bool,
    /// Where the DMARC record applied was published: the From domain, or
    /// the one above it that the DNS tree walk found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dmarc_policy_domain: Option<String>,
    /// The record applied is a public suffix operator's (`psd=y`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dmarc_psd: bool,
    pub arc: Res,
    /// The newest ARC set of a chain that validated, and what its sealer
    /// recorded on arrival.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arc_sealer: Option<ArcSealer>,
    /// The owner's DMARC policy was not applied because a trusted sealer
    /// vouched for the message (RFC 8617 §7.2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arc_override: Option<ArcOverride>,
    /// Why authentication was not run, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// What the per-message bounds left unverified (signatures beyond
    /// `limits.max_dkim_signatures`), when they did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limited: Option<String>,
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
        let note = if let Some(o) = auth
            .arc_override
            .as_ref()
            .filter(|o| o.policy == OwnerPolicy::None)
        {
            format!(
                "no enforcement (ARC sealer {} recorded {} on arrival)",
                o.sealer, o.vouches
            )
        } else if let Some(o) = &auth.arc_override {
            format!(
                "p={} not applied: ARC sealer {} recorded {} on arrival",
                o.policy.as_str(),
                o.sealer,
                o.vouches
            )
        } else if auth.dmarc_testing {
            format!("{what} (t=y, owner testing: one level lower)")
        } else if auth.dmarc_sampled_out {
            format!("{what} (spared by pct: one level lower)")
        } else {
            what.to_string()
        };
        out.push(Finding::new(
            kind,
            format!("DMARC fail, domain owner asks {note}"),
        ));
    }
    // Forwarding breaks SPF every day; when DMARC passes (through aligned
    // DKIM), a failing SPF says nothing about who wrote the mail.
    match auth.spf {
        _ if auth.dmarc_pass() => {}
        Res::Fail => out.push(Finding::new(FindingKind::SpfFail, "SPF fail for MAIL FROM")),
        Res::Softfail => out.push(Finding::new(
            FindingKind::SpfSoftfail,
            "SPF softfail for MAIL FROM",
        )),
        _ => {}
    }
    if let Some(what) = &auth.limited {
        out.push(Finding::new(
            FindingKind::Truncated,
            format!("authentication: {what}"),
        ));
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

/// The owner's policy as applied: one level lower under `t=y` (RFC 9989
/// §4.7), or when an upstream's RFC 7489 `pct` sample spared the message.
/// A trusted ARC sealer's override lifts it altogether (RFC 8617 §7.2).
pub fn effective_policy(auth: &AuthSummary) -> OwnerPolicy {
    if auth.arc_override.is_some() {
        return OwnerPolicy::None;
    }
    match (
        auth.dmarc_policy,
        auth.dmarc_testing || auth.dmarc_sampled_out,
    ) {
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
    fn t_y_applies_the_owner_policy_one_level_lower() {
        let mut s = AuthSummary {
            dmarc: Res::Fail,
            dmarc_policy: OwnerPolicy::Reject,
            dmarc_testing: true,
            ..Default::default()
        };
        let f = findings(&s);
        assert_eq!(f[0].kind, FindingKind::DmarcQuarantine);
        assert!(f[0].evidence.contains("t=y"), "{}", f[0].evidence);
        s.dmarc_policy = OwnerPolicy::Quarantine;
        assert_eq!(effective_policy(&s), OwnerPolicy::None);
    }

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

    fn trusting(domain: &str) -> LocalPolicy {
        LocalPolicy {
            trusted_arc_sealers: [(domain.to_string(), "our list server".to_string())].into(),
        }
    }

    /// A p=reject sender's mail, DMARC broken by a list that sealed it
    /// after seeing DMARC pass.
    fn listed() -> AuthSummary {
        AuthSummary {
            dmarc: Res::Fail,
            dmarc_policy: OwnerPolicy::Reject,
            arc: Res::Pass,
            arc_sealer: Some(ArcSealer {
                domain: "lists.example.org".into(),
                instance: 1,
                vouches: Some("dmarc=pass".into()),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_trusted_sealer_that_saw_dmarc_pass_lifts_the_owner_policy() {
        let local = trusting("lists.example.org");
        let mut s = listed();
        let o = local.arc_override(&s).expect("override");
        assert_eq!(
            (o.sealer.as_str(), o.policy, o.vouches.as_str()),
            ("lists.example.org", OwnerPolicy::Reject, "dmarc=pass")
        );
        s.arc_override = Some(o);
        assert_eq!(effective_policy(&s), OwnerPolicy::None);
        let f = findings(&s);
        assert_eq!(f[0].kind, FindingKind::DmarcFail);
        assert!(
            f[0].evidence.contains("p=reject not applied"),
            "{}",
            f[0].evidence
        );
    }

    #[test]
    fn no_override_without_every_condition() {
        let local = trusting("lists.example.org");
        // Untrusted sealer.
        assert!(trusting("other.example").arc_override(&listed()).is_none());
        // Chain does not validate.
        let s = AuthSummary {
            arc: Res::Fail,
            ..listed()
        };
        assert!(local.arc_override(&s).is_none());
        // Sealer recorded nothing that authenticates the From domain.
        let mut s = listed();
        s.arc_sealer.as_mut().unwrap().vouches = None;
        assert!(local.arc_override(&s).is_none());
        // DMARC passes: there is nothing to override.
        let s = AuthSummary {
            dmarc: Res::Pass,
            ..listed()
        };
        assert!(local.arc_override(&s).is_none());
        // p=none, or p=quarantine spared by pct: no floor to lift, but the
        // sealer still vouches for the From domain.
        let s = AuthSummary {
            dmarc_policy: OwnerPolicy::None,
            ..listed()
        };
        assert_eq!(
            local.arc_override(&s).map(|o| o.policy),
            Some(OwnerPolicy::None)
        );
        let s = AuthSummary {
            dmarc_policy: OwnerPolicy::Quarantine,
            dmarc_sampled_out: true,
            ..listed()
        };
        assert_eq!(
            local.arc_override(&s).map(|o| o.policy),
            Some(OwnerPolicy::None)
        );
        // No chain at all.
        let s = AuthSummary {
            arc: Res::None,
            arc_sealer: None,
            ..listed()
        };
        assert!(local.arc_override(&s).is_none());
    }
}
