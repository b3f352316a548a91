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

pub fn decide(analysis: &Analysis, auth: &AuthSummary, policy: &Policy, cfg: &Config) -> Verdict {
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
    if action > cfg.actions.max_action {
        reasons.push(format!(
            "capped at {} by configuration",
            cfg.actions.max_action
        ));
        action = cfg.actions.max_action;
    }
    // A DNS failure that left the result open: retry rather than judge
    // on half the evidence, unless something already condemns the mail.
    if auth.dns_trouble() && action < Action::Quarantine && cfg.on_dns_error == Fallback::Tempfail {
        reasons.push("DNS error during authentication: on_dns_error = tempfail".into());
        action = Action::Tempfail;
    }
    if cfg.dry_run && action != Action::Accept {
        reasons.push(format!("dry run: would {action}, accepted"));
        action = Action::Accept;
    }
    Verdict {
        action,
        policy_action,
        score,
        reasons,
        dry_run: cfg.dry_run,
    }
}
