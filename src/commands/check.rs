//! Offline analysis of a stored message: what `check` and `eval` run.
//!
//! The same [`analysis::analyze`] and [`verdict::decide`] as the daemon; only
//! the source of authentication results differs (live DNS, a trusted
//! upstream header, or none).

use crate::analysis::policy::Policy;
use crate::analysis::{self, Analysis};
use crate::auth;
use crate::settings::config::Config;
use crate::verdict::{self, Verdict};
use crate::vocab::auth::AuthSummary;
use crate::vocab::message::{Envelope, Truncation};
use serde::Serialize;

/// Everything `check --json` prints for one message.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub action: crate::vocab::findings::Action,
    pub score: i32,
    pub findings: Vec<crate::vocab::findings::Finding>,
    pub auth: AuthSummary,
    pub reasons: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_domain: Option<String>,
    /// The From field and Subject as a reader's client shows them
    /// (decoded, sanitised).
    pub from: String,
    pub subject: String,
    /// What makes this verdict doubtful, e.g. input that is not mail.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
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
            from: String::new(),
            subject: String::new(),
            warnings: Vec::new(),
        }
    }

    /// Adds what a person checking one message wants to see besides the
    /// verdict: the decoded From and Subject, and whether it is mail at all.
    pub fn describe(&mut self, raw: &[u8]) {
        let msg = analysis::parse(raw);
        self.from = shown_from(&msg);
        self.subject = crate::vocab::sanitize::one_line(msg.subject().unwrap_or(""), 300);
        const MAIL_FIELDS: &[&str] = &["From", "Date", "Subject", "Received", "Message-ID", "To"];
        let mail_like = msg
            .headers()
            .iter()
            .any(|h| MAIL_FIELDS.iter().any(|f| h.name().eq_ignore_ascii_case(f)));
        if !mail_like {
            self.warnings.push(
                "this does not look like an email message (no From, Date, Subject, To, \
                 Received or Message-ID field): the verdict means nothing"
                    .into(),
            );
        } else if self.from.is_empty() {
            self.warnings.push("no From field".into());
        }
    }
}

/// The first From address as a reader's client shows it: `Name <addr>`,
/// decoded and sanitised.
pub fn shown_from(msg: &analysis::Parsed<'_>) -> String {
    let shown = msg
        .from()
        .and_then(|a| a.first())
        .map(|a| match (a.name(), a.address()) {
            (Some(n), Some(addr)) => format!("{n} <{addr}>"),
            (None, Some(addr)) => addr.to_string(),
            (Some(n), None) => n.to_string(),
            (None, None) => String::new(),
        })
        .unwrap_or_default();
    crate::vocab::sanitize::one_line(&shown, 300)
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

/// Authentication results assumed for offline measurement (`eval
/// --assume-auth`): what the daemon would see for a spoof or for the
/// owner's real mail, which an offline run cannot check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Assumed {
    Fail,
    Pass,
}

impl Assumed {
    pub fn auth(self) -> AuthSummary {
        use crate::vocab::auth::Res;
        let (spf, dmarc) = match self {
            Assumed::Fail => (Res::Fail, Res::Fail),
            Assumed::Pass => (Res::Pass, Res::Pass),
        };
        AuthSummary {
            spf,
            dkim: Res::None,
            dmarc,
            ..AuthSummary::default()
        }
    }
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
        (&raw[..limit], Some(Truncation::Bytes))
    } else {
        (raw, None)
    };
    let analysis = analysis::analyze(kept, truncated, env, &auth, policy, &cfg.limits);
    let verdict = verdict::decide(&analysis, &auth, policy, &verdict::Settings::of(cfg));
    Report::new(analysis, auth, verdict)
}

/// Authentication through DNS for stored mail, as the daemon does it:
/// `check` without `--no-dns`, and `eval --online` (a corpus replayed
/// against the DNS the configuration names).
pub struct Online {
    authenticator: auth::Authenticator,
    rt: tokio::runtime::Runtime,
}

impl Online {
    pub fn new(cfg: &Config) -> Result<Online, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        Ok(Online {
            authenticator: auth::from_config(cfg, None)?,
            rt,
        })
    }

    /// The message's authentication results within the configured budget
    /// (what it gets when the budget runs out, otherwise).
    pub fn authenticate(
        &self,
        raw: &[u8],
        env: &Envelope,
        policy: &Policy,
        cfg: &Config,
    ) -> AuthSummary {
        self.rt.block_on(async {
            self.authenticator
                .authenticate_within(
                    cfg.time_budget(),
                    raw,
                    env,
                    &cfg.authserv_id,
                    &policy.auth.local,
                    raw.len() > cfg.limits.max_message_bytes,
                )
                .await
                .unwrap_or_else(|timed_out| timed_out)
        })
    }
}

/// Offline analysis with no DNS.
pub fn offline(
    raw: &[u8],
    policy: &Policy,
    cfg: &Config,
    trust_authserv_id: Option<&str>,
) -> Report {
    offline_to(raw, &Envelope::default(), policy, cfg, trust_authserv_id)
}

/// [`offline`] with an envelope (the recipients name the organisation).
pub fn offline_to(
    raw: &[u8],
    env: &Envelope,
    policy: &Policy,
    cfg: &Config,
    trust_authserv_id: Option<&str>,
) -> Report {
    let auth = recorded_auth(raw, trust_authserv_id);
    let mut report = assess(raw, env, auth, policy, cfg);
    report.warn_unseen_authentication(policy, env);
    report
}

impl Report {
    /// Says so when the verdict hangs on authentication that was not run.
    pub fn warn_unseen_authentication(&mut self, policy: &Policy, env: &Envelope) {
        if self.auth.skipped.is_some() {
            if let Some(w) = unseen_authentication(self, policy, env) {
                self.warnings.push(w);
            }
        }
    }
}

/// What an offline verdict could not see: mail from a protected brand's
/// own domain, or the recipient's organisation's, is the brand's real mail
/// or the commonest spoof, and only authentication tells which.
fn unseen_authentication(report: &Report, policy: &Policy, env: &Envelope) -> Option<String> {
    let from = report.from_domain.as_deref()?;
    let whose = match policy.brand_index.owner(from) {
        Some(brand) => format!("protected brand {brand}'s own"),
        None => {
            let own = crate::analysis::organisation::Own::of(
                &policy.organisation,
                &env.rcpts,
                &policy.freemail,
                &policy.brand_index,
            );
            own.owner_of(from)?;
            "the recipient's own organisation's".to_string()
        }
    };
    Some(format!(
        "{from} is {whose} domain: whether this is its real mail or a spoof depends on \
         SPF, DKIM and DMARC, which were not checked (offline); online, unauthenticated \
         mail from it is a brand-spoof"
    ))
}

/// The human-readable form of `check`: action first, then why.
pub fn render(o: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for w in &o.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    let _ = writeln!(s, "action: {}", o.action);
    let _ = writeln!(s, "score:  {}", o.score);
    let a = &o.auth;
    let _ = writeln!(
        s,
        "auth:   spf={} spf-helo={} dkim={} dmarc={} (p={}) arc={}{}",
        a.spf.as_str(),
        a.spf_helo.as_str(),
        a.dkim.as_str(),
        a.dmarc.as_str(),
        a.dmarc_policy.as_str(),
        a.arc.as_str(),
        a.skipped
            .as_deref()
            .map(|r| format!(" [{r}]"))
            .unwrap_or_default()
    );
    if let Some(o) = &a.arc_override {
        let _ = writeln!(
            s,
            "arc:    override: p={} not applied, trusted sealer {} recorded {} ({})",
            o.policy.as_str(),
            o.sealer,
            o.vouches,
            o.reason
        );
    }
    if !o.from.is_empty() {
        let _ = writeln!(s, "from:   {}", o.from);
    }
    if let Some(d) = &o.from_domain {
        let _ = writeln!(s, "domain: {d}");
    }
    let _ = writeln!(s, "subject: {}", o.subject);
    if o.findings.is_empty() {
        let _ = writeln!(s, "findings: none");
    } else {
        let _ = writeln!(s, "findings:");
        for f in &o.findings {
            let brand = f
                .brand
                .as_deref()
                .map(|b| format!(" [{b}]"))
                .unwrap_or_default();
            let _ = writeln!(s, "  {:>4}  {}{}: {}", f.score, f.kind, brand, f.evidence);
        }
    }
    if !o.reasons.is_empty() {
        let _ = writeln!(s, "reasons:");
        for r in &o.reasons {
            let _ = writeln!(s, "  - {r}");
        }
    }
    s
}
