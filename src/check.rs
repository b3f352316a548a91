//! Offline analysis of a stored message: what `check` and `eval` run.
//!
//! The same [`analysis::analyze`] and [`verdict::decide`] as the daemon; only
//! the source of authentication results differs (live DNS, a trusted
//! upstream header, or none).

use crate::analysis::{self, Analysis};
use crate::auth::{self, AuthSummary};
use crate::config::Config;
use crate::message::Envelope;
use crate::policy::Policy;
use crate::verdict::{self, Verdict};
use serde::Serialize;

/// Everything `check --json` prints for one message.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub action: crate::findings::Action,
    pub score: i32,
    pub findings: Vec<crate::findings::Finding>,
    pub auth: AuthSummary,
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_domain: Option<String>,
}

impl Report {
    pub fn new(analysis: Analysis, auth: AuthSummary, verdict: Verdict) -> Self {
        Report {
            action: verdict.action,
            score: verdict.score,
            findings: analysis.findings,
            auth,
            reasons: verdict.reasons,
            from_domain: analysis.from_domain,
        }
    }
}

/// Authentication results without DNS: from a trusted upstream header when
/// one is named and present, otherwise marked as skipped.
pub fn recorded_auth(raw: &[u8], trust_authserv_id: Option<&str>) -> AuthSummary {
    if let Some(id) = trust_authserv_id {
        let msg = analysis::parse(raw);
        let headers: Vec<(&str, String)> = msg
            .headers()
            .iter()
            .filter(|h| h.name().eq_ignore_ascii_case("Authentication-Results"))
            .map(|h| {
                let raw_value = msg
                    .raw_message()
                    .get(h.offset_start() as usize..h.offset_end() as usize)
                    .unwrap_or_default();
                (h.name(), String::from_utf8_lossy(raw_value).into_owned())
            })
            .collect();
        let refs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        return auth::trusted_upstream(&refs, id);
    }
    AuthSummary::skipped("offline: DNS checks not run")
}

/// Analyses one message with the given authentication results.
pub fn assess(
    raw: &[u8],
    env: &Envelope,
    auth: AuthSummary,
    policy: &Policy,
    cfg: &Config,
) -> Report {
    let limit = cfg.limits.max_message_bytes;
    let (kept, truncated) = if raw.len() > limit {
        (&raw[..limit], true)
    } else {
        (raw, false)
    };
    let analysis = analysis::analyze(kept, truncated, env, &auth, policy, &cfg.limits);
    let verdict = verdict::decide(&analysis, &auth, policy, &verdict::Settings::of(cfg));
    Report::new(analysis, auth, verdict)
}

/// Offline analysis with no DNS.
pub fn offline(
    raw: &[u8],
    policy: &Policy,
    cfg: &Config,
    trust_authserv_id: Option<&str>,
) -> Report {
    let auth = recorded_auth(raw, trust_authserv_id);
    assess(raw, &Envelope::default(), auth, policy, cfg)
}
