//! From scored findings to one action, with the reasons that led there.

use crate::analysis::Analysis;
use crate::auth::results::{effective_policy, AuthSummary, OwnerPolicy, Res};
use crate::config::{Config, Fallback};
use crate::findings::Action;
use crate::policy::Policy;
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
    if action > Action::Accept {
        reasons.push(format!("score {score} reaches the {action} band"));
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

    // Per-brand floors for impersonation.
    for f in &analysis.findings {
        if !f.kind.is_impersonation() {
            continue;
        }
        let floor = f
            .brand
            .as_deref()
            .and_then(|b| policy.brand(b))
            .and_then(|b| b.action);
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
