//! From scored findings to one action, with the reasons that led there.

pub mod indicators;
pub mod report_row;

use crate::analysis::policy::Policy;
use crate::analysis::Analysis;
use crate::settings::config::{Config, Fallback};
use crate::vocab::auth::{effective_policy, AuthSummary, OwnerPolicy, Res};
use crate::vocab::findings::Action;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub action: Action,
    /// What the policy decided before dry run or the configured cap.
    pub policy_action: Action,
    pub score: i32,
    /// Why the action is what it is, most decisive first.
    pub reasons: Vec<String>,
    pub dry_run: bool,
}

/// The configuration settings a verdict depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The most severe action taken; the policy may ask for more.
    pub max_action: Action,
    pub on_dns_error: Fallback,
    pub dry_run: bool,
}

impl Settings {
    pub fn of(cfg: &Config) -> Settings {
        Settings {
            max_action: cfg.actions.max_action,
            on_dns_error: cfg.on_dns_error,
            dry_run: cfg.dry_run,
        }
    }
}

pub fn decide(
    analysis: &Analysis,
    auth: &AuthSummary,
    policy: &Policy,
    settings: &Settings,
) -> Verdict {
    let mut reasons = Vec::new();
    let score = analysis.score;
    let mut action = policy.bands.action_for(score);
    if action == Action::Tag && !policy.bands.lone_link_signal_tags {
        if let Some(kind) = lone_link_oddity(analysis) {
            reasons.push(format!(
                "score {score} reaches the tag band with one link sign alone ({kind}): not tagged"
            ));
            action = Action::Accept;
        }
    }
    if action > Action::Accept {
        reasons.push(format!(
            "score {score} reaches the {action} band: {}",
            summary(analysis)
        ));
        reasons.extend(evidence(analysis));
    }

    // The domain owner's DMARC policy is a floor, not just points.
    if auth.dmarc == Res::Fail {
        let floor = match effective_policy(auth) {
            OwnerPolicy::Reject => Some(policy.auth.dmarc_reject),
            OwnerPolicy::Quarantine => Some(policy.auth.dmarc_quarantine),
            OwnerPolicy::None => None,
        };
        if let Some(floor) = floor {
            if floor > action {
                action = floor;
                reasons.insert(0, format!("DMARC fail: domain owner policy gives {floor}"));
            }
        }
    }

    // RFC 8617 §7.2: a trusted sealer saw the mail pass on arrival. Only
    // the floor is lifted; the findings above still score.
    if let (Res::Fail, Some(o)) = (auth.dmarc, &auth.arc_override) {
        let why = crate::vocab::sanitize::one_line(&o.reason.replace(';', ","), EVIDENCE_CHARS);
        reasons.push(match o.policy {
            // Nothing to lift: the sealer's word only says whose mail it is.
            crate::vocab::auth::OwnerPolicy::None => format!(
                "DMARC fail under p=none, but trusted ARC sealer {} ({why}) recorded {}: the From domain's own mail",
                o.sealer, o.vouches
            ),
            p => format!(
                "DMARC fail: owner's p={} not applied, trusted ARC sealer {} ({why}) recorded {}",
                p.as_str(),
                o.sealer,
                o.vouches
            ),
        });
    }

    // Per-brand floors for impersonation.
    for f in &analysis.findings {
        if !f.kind.is_impersonation() {
            continue;
        }
        let brand = f.brand.as_deref().and_then(|b| policy.brand(b));
        let spoof_floor = brand
            .filter(|_| f.kind == crate::vocab::findings::FindingKind::BrandSpoof)
            .and_then(|b| b.spoof_action);
        let floor = brand.and_then(|b| b.action).max(spoof_floor);
        if let Some(floor) = floor {
            if floor > action {
                action = floor;
                reasons.insert(
                    0,
                    format!(
                        "{} of brand {} gives {floor}",
                        f.kind,
                        f.brand.as_deref().unwrap_or("")
                    ),
                );
            }
        }
    }

    let policy_action = action;
    if action > settings.max_action {
        reasons.push(format!(
            "capped at {} by configuration",
            settings.max_action
        ));
        action = settings.max_action;
    }
    // A DNS failure that left the result open: retry rather than judge
    // on half the evidence, unless something already condemns the mail.
    if auth.dns_trouble()
        && action < Action::Quarantine
        && settings.on_dns_error == Fallback::Tempfail
    {
        reasons.push("DNS error during authentication: on_dns_error = tempfail".into());
        action = Action::Tempfail;
    }
    if settings.dry_run && action != Action::Accept {
        reasons.push(format!("dry run: would {action}, accepted"));
        action = Action::Accept;
    }
    Verdict {
        action,
        policy_action,
        score,
        reasons,
        dry_run: settings.dry_run,
    }
}
/// The one link oddity that is all a message's score rests on, if so: every
/// finding that scored is a link oddity and, the credential path aside,
/// they are of one kind. Legitimate newsletters show one such sign every
/// day (the development share of commercial mail tags 1 %, held-out
/// commercial mail 5.9 %, on exactly this); phishing nearly always shows a
/// second sign (a claim, a lure, a lookalike, an authentication failure).
fn lone_link_oddity(analysis: &Analysis) -> Option<crate::vocab::findings::FindingKind> {
    use crate::vocab::findings::FindingKind;
    let mut lone = None;
    for f in analysis.findings.iter().filter(|f| f.score > 0) {
        // Link text that shows a protected brand's own address while the
        // link goes elsewhere speaks as the brand: a claim, not a sign.
        let shows_brand = f.kind == FindingKind::LinkTextMismatch && f.brand.is_some();
        if !f.kind.is_link_oddity() || shows_brand {
            return None;
        }
        if f.kind == FindingKind::LinkCredentialPath {
            continue;
        }
        match lone {
            None => lone = Some(f.kind),
            Some(k) if k == f.kind => {}
            Some(_) => return None,
        }
    }
    lone
}

/// How many findings' evidence the reasons quote: enough for an analyst to
/// act on, few enough for one header line of bounded length.
const EVIDENCE_QUOTED: usize = 3;
/// Characters of each quoted evidence.
const EVIDENCE_CHARS: usize = 80;

/// The findings that scored, strongest first.
fn decisive(analysis: &Analysis) -> Vec<&crate::vocab::findings::Finding> {
    let mut scored: Vec<_> = analysis.findings.iter().filter(|f| f.score > 0).collect();
    scored.sort_by_key(|f| std::cmp::Reverse(f.score));
    scored
}

/// `kind [brand]` for each finding that scored, strongest first.
fn summary(analysis: &Analysis) -> String {
    let mut parts: Vec<String> = Vec::new();
    for f in decisive(analysis) {
        let part = labelled(f);
        if !parts.contains(&part) {
            parts.push(part);
        }
    }
    if parts.is_empty() {
        "no single finding".into()
    } else {
        parts.join(", ")
    }
}

fn labelled(f: &crate::vocab::findings::Finding) -> String {
    match &f.brand {
        Some(b) => format!("{} [{b}]", f.kind),
        None => f.kind.to_string(),
    }
}

/// The evidence of the strongest findings, shortened; already sanitised by
/// [`crate::vocab::findings::Finding::new`] and again here for the bound.
fn evidence(analysis: &Analysis) -> Vec<String> {
    decisive(analysis)
        .into_iter()
        .take(EVIDENCE_QUOTED)
        .map(|f| {
            format!(
                "{} +{}: {}",
                labelled(f),
                f.score,
                crate::vocab::sanitize::one_line(&f.evidence.replace(';', ","), EVIDENCE_CHARS)
            )
        })
        .collect()
}

/// The brands the findings name, in order of first appearance.
pub fn brands(analysis: &Analysis) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for b in analysis.findings.iter().filter_map(|f| f.brand.as_deref()) {
        if !out.contains(&b) {
            out.push(b);
        }
    }
    out
}

/// The verdict when the milter could not judge a message.
pub fn fallback(f: Fallback, why: &str, dry_run: bool) -> Verdict {
    let action = match f {
        Fallback::Accept => Action::Accept,
        Fallback::Tempfail if dry_run => Action::Accept,
        Fallback::Tempfail => Action::Tempfail,
    };
    Verdict {
        action,
        policy_action: action,
        score: 0,
        reasons: vec![why.to_string()],
        dry_run,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::findings::{Finding, FindingKind};

    #[test]
    fn reasons_name_kinds_brands_and_shortened_evidence() {
        let policy = Policy::embedded().unwrap();
        let long = format!(
            "display name \"Test Bank\" {}; x\r\nX-Evil: 1",
            "z".repeat(200)
        );
        let mut a = Finding::new(FindingKind::DisplayName, long).with_brand("test-bank");
        a.score = 200;
        let mut b = Finding::new(FindingKind::LinkHosting, "hosting: web.app");
        b.score = 40;
        let analysis = Analysis {
            findings: vec![b, a],
            score: 240,
            from_domain: Some("attacker.example".into()),
            truncated: None,
            offsite: Vec::new(),
        };
        let settings = Settings {
            max_action: Action::Reject,
            on_dns_error: Fallback::Accept,
            dry_run: false,
        };
        let v = decide(&analysis, &AuthSummary::skipped("test"), &policy, &settings);
        assert!(v.action >= Action::Tag, "{v:?}");
        assert!(
            v.reasons[0].ends_with("band: display-name [test-bank], link-hosting"),
            "{:?}",
            v.reasons
        );
        let quoted = &v.reasons[1];
        assert!(
            quoted.starts_with("display-name [test-bank] +200: display name"),
            "{quoted}"
        );
        assert!(
            quoted.chars().count() < 120 && !quoted.contains(';'),
            "{quoted}"
        );
        assert!(v.reasons.iter().all(|r| !r.chars().any(char::is_control)));
        assert_eq!(brands(&analysis), ["test-bank"]);
    }

    #[test]
    fn an_arc_override_lifts_only_the_dmarc_floor() {
        use crate::vocab::auth::{ArcOverride, OwnerPolicy};
        let policy = Policy::embedded().unwrap();
        let settings = Settings {
            max_action: Action::Reject,
            on_dns_error: Fallback::Accept,
            dry_run: false,
        };
        let failing = AuthSummary {
            dmarc: Res::Fail,
            dmarc_policy: OwnerPolicy::Reject,
            arc: Res::Pass,
            ..Default::default()
        };
        let overridden = AuthSummary {
            arc_override: Some(ArcOverride {
                sealer: "lists.example.org".into(),
                reason: "our list; server".into(),
                policy: OwnerPolicy::Reject,
                vouches: "dmarc=pass".into(),
            }),
            ..failing.clone()
        };
        let clean = Analysis::default();
        assert_eq!(
            decide(&clean, &failing, &policy, &settings).action,
            Action::Reject
        );
        let v = decide(&clean, &overridden, &policy, &settings);
        assert_eq!(v.action, Action::Accept, "{v:?}");
        assert!(
            v.reasons.iter().any(|r| r
                == "DMARC fail: owner's p=reject not applied, trusted ARC sealer lists.example.org (our list, server) recorded dmarc=pass"),
            "{:?}",
            v.reasons
        );
        // What the content says still counts.
        let mut f =
            Finding::new(FindingKind::DisplayName, "claims bank").with_brand("kinko-shinkin");
        f.score = 80;
        let phishy = Analysis {
            findings: vec![f],
            score: 80,
            ..Default::default()
        };
        let v = decide(&phishy, &overridden, &policy, &settings);
        assert_eq!(v.action, policy.bands.action_for(80), "{v:?}");
        assert!(v.action > Action::Accept);
    }

    /// Issue #21 item 2: a brand that says its domains send only
    /// authenticated mail gets its spoofs held, request or not; other
    /// brands' spoofs keep the score's action.
    #[test]
    fn require_authentication_holds_a_spoof_of_the_brand() {
        let policy = Policy::from_toml(
            "t.toml",
            "[[brand]]\nid = \"strict-bank\"\nnames = [\"Strictbank\"]\ndomains = [\"strict.example\"]\n\
             require_authentication = true\n\
             [[brand]]\nid = \"loose-bank\"\nnames = [\"Loosebank\"]\ndomains = [\"loose.example\"]\n\
             [[brand]]\nid = \"reject-bank\"\nnames = [\"Rejectbank\"]\ndomains = [\"reject.example\"]\n\
             require_authentication = \"reject\"\n",
        )
        .unwrap();
        let settings = Settings {
            max_action: Action::Reject,
            on_dns_error: Fallback::Accept,
            dry_run: false,
        };
        let auth = AuthSummary::default();
        let spoof = |brand: &str| {
            let mut f = Finding::new(FindingKind::BrandSpoof, "spoofed").with_brand(brand);
            f.score = 40;
            Analysis {
                findings: vec![f],
                score: 40,
                ..Default::default()
            }
        };
        let v = decide(&spoof("strict-bank"), &auth, &policy, &settings);
        assert_eq!(v.action, Action::Quarantine, "{v:?}");
        assert!(
            v.reasons[0].contains("brand-spoof of brand strict-bank gives quarantine"),
            "{v:?}"
        );
        assert_eq!(
            decide(&spoof("reject-bank"), &auth, &policy, &settings).action,
            Action::Reject
        );
        assert_eq!(
            decide(&spoof("loose-bank"), &auth, &policy, &settings).action,
            Action::Tag
        );
    }

    /// Issue #21: one link sign alone never tags; a second sign of any
    /// kind does, and the policy can ask for the old behaviour.
    #[test]
    fn one_link_sign_alone_does_not_tag() {
        let settings = Settings {
            max_action: Action::Reject,
            on_dns_error: Fallback::Accept,
            dry_run: false,
        };
        let auth = AuthSummary::default();
        let scored = |kinds: &[(FindingKind, i32)]| {
            let findings: Vec<Finding> = kinds
                .iter()
                .map(|&(k, score)| {
                    let mut f = Finding::new(k, "seen");
                    f.score = score;
                    f
                })
                .collect();
            Analysis {
                score: findings.iter().map(|f| f.score).sum(),
                findings,
                ..Default::default()
            }
        };
        let policy = Policy::embedded().unwrap();
        let lone = scored(&[
            (FindingKind::LinkTextMismatch, 30),
            (FindingKind::LinkCredentialPath, 10),
        ]);
        let v = decide(&lone, &auth, &policy, &settings);
        assert_eq!(v.action, Action::Accept, "{v:?}");
        assert!(
            v.reasons[0].contains("one link sign alone (link-text-mismatch): not tagged"),
            "{v:?}"
        );
        for second in [
            FindingKind::LinkIpHost,
            FindingKind::SpfFail,
            FindingKind::CredentialLure,
            FindingKind::SubjectBrand,
        ] {
            let two = scored(&[(FindingKind::LinkTextMismatch, 30), (second, 10)]);
            assert_eq!(
                decide(&two, &auth, &policy, &settings).action,
                Action::Tag,
                "{second}"
            );
        }
        // A lone sign strong enough for quarantine (a policy's own weights)
        // is not lowered: the rule is about the tag band only.
        let heavy = scored(&[(FindingKind::LinkIpHost, 90)]);
        assert_eq!(
            decide(&heavy, &auth, &policy, &settings).action,
            Action::Quarantine
        );
        // Text showing the brand's own address is a claim, not a sign.
        let mut shown = Finding::new(FindingKind::LinkTextMismatch, "seen").with_brand("smbc");
        shown.score = 30;
        let claim = Analysis {
            score: 30,
            findings: vec![shown],
            ..Default::default()
        };
        assert_eq!(
            decide(&claim, &auth, &policy, &settings).action,
            Action::Tag
        );
        let old = Policy::from_toml("t.toml", "[bands]\nlone_link_signal_tags = true\n").unwrap();
        assert_eq!(decide(&lone, &auth, &old, &settings).action, Action::Tag);
    }
}
