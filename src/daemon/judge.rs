//! The judging of one message off the async workers: analysis, verdict and
//! banner together on the blocking pool, within the analysis deadline.

use crate::actions::banner;
use crate::analysis;
use crate::daemon::runtime::State;
use crate::verdict::indicators::{self, Indicators};
use crate::verdict::{self, Verdict};
use crate::vocab::auth::AuthSummary;
use crate::vocab::findings::Action;
use crate::vocab::message::Truncation;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tracing::info;

/// Runs [`judge`] on the blocking pool within the analysis deadline.
/// The analysis stops by itself at its deadline; this waits twice that
/// (at least a second more) for a stage that does not, then gives up
/// on the message. A thread still running keeps its slot until it ends,
/// so runaway messages never hold more threads than the pool has.
pub(super) async fn bounded(
    slots: &Arc<Semaphore>,
    job: Job,
    auth: &AuthSummary,
) -> Result<Judged, &'static str> {
    let deadline = job.state.config.limits.analysis_deadline_ms;
    let wait = std::time::Duration::from_millis(deadline.saturating_mul(2).max(deadline + 1000));
    let slots = slots.clone();
    let auth = auth.clone();
    let run = async move {
        let permit = slots
            .acquire_owned()
            .await
            .map_err(|_| "analysis pool closed")?;
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            // A panic stays with this one message.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| judge(job, &auth)))
        })
        .await
        .map_err(|_| "analysis thread lost")?
        .map_err(|_| "internal error during analysis")
    };
    match tokio::time::timeout(wait, run).await {
        Ok(r) => r,
        Err(_) => Err("analysis did not finish within twice analysis_deadline_ms"),
    }
}

/// What the analysis of one message needs, owned, so it can run on a thread
/// of the blocking pool.
pub(super) struct Job {
    pub(super) raw: Vec<u8>,
    pub(super) truncated: Option<Truncation>,
    /// The MTA lets us replace the body (for the banner).
    pub(super) replace_body: bool,
    pub(super) env: crate::vocab::message::Envelope,
    pub(super) queue_id: String,
    pub(super) state: Arc<State>,
}

/// A judged message: the analysis, the verdict with every reason (the
/// banner's included), what the log and report need, and the banner.
pub(super) struct Judged {
    pub(super) analysis: analysis::Analysis,
    pub(super) verdict: Verdict,
    pub(super) indicators: Indicators,
    pub(super) banner: Option<banner::Rewrite>,
}

/// Analysis, verdict and banner of one message: pure work, no I/O but logs.
pub(super) fn judge(job: Job, auth: &AuthSummary) -> Judged {
    let state = &job.state;
    let cfg = &state.config;
    // One parse serves the analysis and the banner.
    let msg = analysis::parse(&job.raw);
    let analysis = analysis::analyze_parsed(
        &msg,
        job.truncated,
        &job.env,
        auth,
        &state.policy,
        &cfg.limits,
    );
    let mut verdict = verdict::decide(&analysis, auth, &state.policy, &verdict::Settings::of(cfg));
    // Flagged mail only: the report and export read these.
    let indicators = if verdict.policy_action >= Action::Tag {
        indicators::of(&analysis, &|h| {
            state
                .policy
                .brand_index
                .owner(&h.to_ascii_lowercase())
                .is_some()
        })
    } else {
        Indicators::default()
    };
    let banner = if verdict.action == Action::Tag && cfg.actions.banner {
        with_banner(&job, &msg, &analysis, &mut verdict)
    } else {
        None
    };
    Judged {
        analysis,
        verdict,
        indicators,
        banner,
    }
}

/// The banner for a tagged message, if it can go in. One that cannot says
/// why among the verdict's reasons (and so in `X-Kinko-Reasons`); every
/// outcome is logged.
fn with_banner(
    job: &Job,
    msg: &mail_parser::Message<'_>,
    analysis: &analysis::Analysis,
    verdict: &mut Verdict,
) -> Option<banner::Rewrite> {
    let cfg = &job.state.config;
    let max = cfg.limits.max_message_bytes;
    let queue_id = job.queue_id.as_str();
    let outcome = if !job.replace_body {
        banner::Outcome::Skipped("the MTA does not offer body replacement".into())
    } else if let Some(cut) = job.truncated {
        let why = match cut {
            Truncation::Bytes => format!("message over {max} bytes"),
            Truncation::Headers => format!("more than {} header fields", cfg.limits.max_headers),
        };
        banner::Outcome::Skipped(why)
    } else {
        let notice = banner::notice(analysis, &job.state.policy, cfg.actions.banner_language);
        banner::insert_parsed(&job.raw, msg, &notice, max)
    };
    match outcome {
        banner::Outcome::Added(rw) => {
            info!(queue_id, parts = rw.parts, "banner added");
            Some(rw)
        }
        banner::Outcome::Present => {
            info!(queue_id, "banner already present");
            None
        }
        banner::Outcome::Skipped(why) => {
            info!(queue_id, reason = %why, "banner not added");
            verdict.reasons.push(format!("no banner: {why}"));
            None
        }
    }
}
