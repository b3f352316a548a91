//! One MTA connection: the envelope and message collected from the milter
//! callbacks, and the end-of-message work (authenticate, analyze, decide,
//! plan). The callbacks in [`crate::daemon::milter`] only translate to and from the
//! protocol; everything that decides lives here.

use super::judge;
use crate::actions::{self, Forged, Plan};
use crate::analysis;
use crate::daemon::runtime::{Runtime, State};
use crate::settings::config::Config;
use crate::telemetry::logfmt::List;
use crate::telemetry::metrics::Metrics;
use crate::verdict::indicators::Indicators;
use crate::verdict::{self, Verdict};
use crate::vocab::auth::AuthSummary;
use crate::vocab::findings::Action;
use crate::vocab::message::push_crlf;
use crate::vocab::message::{Envelope, Truncation};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, warn};

/// Why a message is let through without analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    TrustedNetwork,
    Authenticated,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::TrustedNetwork => "trusted_network",
            Skip::Authenticated => "authenticated",
        }
    }
}

pub struct Session {
    state: Arc<State>,
    metrics: Arc<Metrics>,
    /// Whether header values arrive (and must be sent back) with their leading space.
    pub leading_space: bool,
    /// Stages negotiated to need no answer (`milter::QUIET_STAGES`).
    pub quiet: indymilter::ProtoOpts,
    /// The MTA lets us replace the body (for the banner).
    pub replace_body: bool,
    env: Envelope,
    /// The client is in `trusted_networks` or the policy's allowed clients.
    trusted_client: bool,
    msg: Incoming,
    analysis_slots: Arc<tokio::sync::Semaphore>,
}

/// What the MTA sends of one message; replaced whole at each MAIL.
#[derive(Default)]
struct Incoming {
    /// Header fields kept for analysis (bounded).
    headers: Vec<(String, String)>,
    headers_dropped: bool,
    /// Fields to delete, found among all the fields sent.
    forged: Forged,
    /// The first Subject as sent, for the subject prefix.
    subject: Option<Vec<u8>>,
    /// The message as it arrived (header fields, blank line, body), built as
    /// the callbacks deliver it so the end of message needs no second copy:
    /// with 100 connections of 1 MB that copy was a third of peak memory.
    raw: Vec<u8>,
    in_body: bool,
    body_dropped: bool,
    /// Bytes received, including those not kept.
    received: usize,
}

/// The result of end-of-message processing.
pub struct Outcome {
    pub plan: Plan,
    pub verdict: Verdict,
}

impl Session {
    pub fn new(runtime: &Runtime) -> Session {
        runtime.metrics.connections_active.inc();
        runtime.metrics.connections_total.inc();
        Session {
            state: runtime.snapshot(),
            metrics: runtime.metrics.clone(),
            leading_space: false,
            quiet: indymilter::ProtoOpts::empty(),
            replace_body: false,
            env: Envelope::default(),
            trusted_client: false,
            msg: Incoming::default(),
            analysis_slots: runtime.analysis_slots.clone(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.state.config
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn queue_id(&self) -> &str {
        self.env.queue_id.as_deref().unwrap_or("NOQUEUE")
    }

    /// Notes the client. A trusted client is let through at MAIL, not
    /// here: Postfix announces a client again after XCLIENT, and only the
    /// messages really let through count as skipped.
    pub fn connect(&mut self, hostname: &str, ip: Option<IpAddr>) {
        self.env.client_name = Some(hostname.to_string());
        self.env.client_ip = ip;
        self.trusted_client = ip.is_some_and(|ip| {
            self.state.trusted.iter().any(|n| n.contains(&ip))
                || self.state.policy.allow.client(ip).is_some()
        });
    }

    pub fn helo(&mut self, name: &str) {
        self.env.helo = crate::vocab::sanitize::one_line(name, 255);
    }

    /// Starts a new message. Returns `Some` when it is exempt.
    pub fn mail(&mut self, sender: &str, auth_authen: Option<&str>) -> Option<Skip> {
        self.reset_message();
        let s = sender.trim();
        let s = s.strip_prefix('<').unwrap_or(s);
        let s = s.strip_suffix('>').unwrap_or(s);
        self.env.mail_from = crate::vocab::sanitize::one_line(s, 320);
        if self.trusted_client {
            return Some(self.skip(Skip::TrustedNetwork));
        }
        if self.config().skip_authenticated && auth_authen.is_some_and(|a| !a.is_empty()) {
            return Some(self.skip(Skip::Authenticated));
        }
        None
    }

    fn skip(&self, why: Skip) -> Skip {
        self.metrics.skipped(why.as_str());
        debug!(
            client = ?self.env.client_ip,
            mail_from = %self.env.mail_from,
            reason = why.as_str(),
            "not analysed"
        );
        why
    }

    pub fn rcpt(&mut self, rcpt: &str) {
        if self.env.rcpts.len() < 1000 {
            self.env
                .rcpts
                .push(crate::vocab::sanitize::one_line(rcpt, 320));
        }
    }

    pub fn set_queue_id(&mut self, id: Option<&str>) {
        if let Some(id) = id.filter(|s| !s.is_empty()) {
            self.env.queue_id = Some(crate::vocab::sanitize::one_line(id, 64));
        }
    }

    /// One header field; `value` as the MTA sent it (possibly raw 8-bit).
    pub fn header(&mut self, name: &str, value: &[u8]) {
        let limits = &self.state.config.limits;
        let msg = &mut self.msg;
        let size = name.len() + value.len() + 3;
        msg.received += size;
        let text = String::from_utf8_lossy(value);
        // Before any bound: a forged field is deleted wherever it stands.
        msg.forged.header(
            name,
            &text,
            &self.state.config.authserv_id,
            limits.max_forged_fields,
        );
        if msg.subject.is_none() && name.eq_ignore_ascii_case("Subject") {
            msg.subject = Some(value.to_vec());
        }
        // Headers count against the same byte budget as the body; past the
        // bounds they are still delivered by the MTA, just not analysed.
        if msg.headers.len() >= limits.max_headers
            || msg.raw.len() + size > limits.max_message_bytes
        {
            msg.headers_dropped = true;
            return;
        }
        // CRLF line ends throughout: the MTA sends folded values with bare LF.
        msg.raw.extend_from_slice(name.as_bytes());
        msg.raw.push(b':');
        if !self.leading_space {
            msg.raw.push(b' ');
        }
        push_crlf(&mut msg.raw, value);
        msg.raw.extend_from_slice(b"\r\n");
        msg.headers.push((name.to_string(), text.into_owned()));
    }

    fn end_headers(&mut self) {
        if !self.msg.in_body {
            self.msg.raw.extend_from_slice(b"\r\n");
            self.msg.in_body = true;
        }
    }

    pub fn body(&mut self, chunk: &[u8]) {
        self.end_headers();
        let msg = &mut self.msg;
        msg.received += chunk.len();
        let room = self
            .state
            .config
            .limits
            .max_message_bytes
            .saturating_sub(msg.raw.len());
        let take = chunk.len().min(room);
        msg.body_dropped |= take < chunk.len();
        msg.raw.extend_from_slice(&chunk[..take]);
    }

    pub fn abort(&mut self) {
        self.reset_message();
    }

    fn reset_message(&mut self) {
        self.env.mail_from.clear();
        self.env.rcpts.clear();
        self.env.queue_id = None;
        self.msg = Incoming::default();
    }

    /// End of message: authenticate, analyze, decide and plan the actions.
    /// Every failure ends in the configured fallback, never in an error to
    /// the MTA. The message passes each step once: the verdict, the banner
    /// and the reasons are settled before the verdict line is logged, so the
    /// log says what the header fields say.
    pub async fn end_of_message(&mut self) -> Outcome {
        let started = Instant::now();
        let state = self.state.clone();
        let cfg = &state.config;
        self.metrics.message_bytes.observe(self.msg.received as f64);
        self.end_headers();
        if self.msg.forged.count() > cfg.limits.max_forged_fields {
            return self.refuse_forged();
        }
        let raw = std::mem::take(&mut self.msg.raw);
        let truncated = if self.msg.body_dropped {
            Some(Truncation::Bytes)
        } else if self.msg.headers_dropped {
            Some(Truncation::Headers)
        } else {
            None
        };

        let auth = self.authenticate(&raw, &state, truncated.is_some()).await;
        self.metrics.auth(&auth);

        let analysis_started = Instant::now();
        let job = judge::Job {
            raw,
            truncated,
            replace_body: self.replace_body,
            env: self.env.clone(),
            queue_id: self.queue_id().to_string(),
            state: state.clone(),
        };
        let judged = judge::bounded(&self.analysis_slots, job, &auth).await;
        self.metrics
            .analysis_seconds
            .observe(analysis_started.elapsed().as_secs_f64());

        let (verdict, analysis, banner) = match judged {
            Ok(j) => {
                self.log_verdict(&auth, &j.analysis, &j.verdict, &j.indicators);
                (j.verdict, Some(j.analysis), j.banner)
            }
            Err(why) => {
                self.metrics.error("analysis");
                warn!(
                    queue_id = self.queue_id(),
                    reason = why,
                    "analysis failed; applying on_internal_error"
                );
                (
                    verdict::fallback(cfg.on_internal_error, why, cfg.dry_run),
                    None,
                    None,
                )
            }
        };
        let findings = analysis.as_ref().map_or(&[][..], |a| &a.findings[..]);
        self.metrics.judged(findings, verdict.action);
        let mut plan = actions::plan(
            &self.msg.forged,
            self.msg.subject.as_deref(),
            auth.header.as_deref(),
            &verdict,
            &cfg.actions,
            self.leading_space,
        );
        if let Some(rw) = banner {
            let headers = &self.msg.headers;
            let present = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
            actions::add_banner(&mut plan, rw, present, self.leading_space);
        }
        self.metrics
            .eom_seconds
            .observe(started.elapsed().as_secs_f64());
        Outcome { plan, verdict }
    }

    /// More forged verdict fields than `max_forged_fields`: deleting them
    /// would ask the MTA for an edit each (Postfix's cleanup gives up at
    /// about 14,000), and no real mail carries dozens of our fields.
    fn refuse_forged(&mut self) -> Outcome {
        let cfg = self.state.config.clone();
        let count = self.msg.forged.count();
        self.metrics.error("forged_fields");
        warn!(
            queue_id = self.queue_id(),
            forged = count,
            max = cfg.limits.max_forged_fields,
            "rejected: more forged verdict fields than max_forged_fields"
        );
        self.msg.raw = Vec::new();
        self.metrics.judged(&[], Action::Reject);
        let verdict = Verdict {
            action: Action::Reject,
            policy_action: Action::Reject,
            score: 0,
            reasons: vec![format!(
                "{count} forged verdict fields, more than max_forged_fields ({})",
                cfg.limits.max_forged_fields
            )],
            dry_run: cfg.dry_run,
        };
        Outcome {
            plan: Plan {
                headers: Vec::new(),
                body: None,
                disposition: actions::Disposition::Reject {
                    text: "message refused: it carries forged verification header fields".into(),
                },
            },
            verdict,
        }
    }

    async fn authenticate(&self, raw: &[u8], state: &State, truncated: bool) -> AuthSummary {
        let cfg = &state.config;
        if let Some(id) = &cfg.trust_authserv_id {
            // The header fields are at hand already; parsing the whole
            // message again just to find them would double the MIME work.
            let headers: Vec<(&str, &str)> = self
                .msg
                .headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            return crate::auth::trusted_upstream(&headers, id);
        }
        let started = Instant::now();
        let work = state.authenticator.authenticate_within(
            cfg.time_budget(),
            raw,
            &self.env,
            &cfg.authserv_id,
            &state.policy.auth.local,
            truncated,
        );
        match work.await {
            Ok(a) => {
                let outcome = if a.dns_trouble() { "dns_error" } else { "ok" };
                self.metrics.auth_duration(outcome, started.elapsed());
                a
            }
            Err(timed_out) => {
                self.metrics.auth_duration("timeout", started.elapsed());
                warn!(
                    queue_id = self.queue_id(),
                    budget_ms = cfg.limits.message_time_budget_ms,
                    "authentication exceeded the time budget"
                );
                timed_out
            }
        }
    }

    fn log_verdict(
        &self,
        auth: &AuthSummary,
        analysis: &analysis::Analysis,
        verdict: &Verdict,
        ind: &Indicators,
    ) {
        let kinds: Vec<String> = analysis
            .findings
            .iter()
            .map(|f| f.kind.as_str().to_string())
            .collect();
        let brands: Vec<String> = verdict::brands(analysis)
            .into_iter()
            .map(str::to_string)
            .collect();
        let entries = serde_json::to_string(&ind.entries).unwrap_or_default();
        let link_hosts = crate::verdict::indicators::link_hosts(analysis);
        // Empty when DMARC gave no verdict: nothing for a report.
        let dmarc_report =
            verdict::report_row::of(&self.env, auth, analysis.from_domain.as_deref(), verdict)
                .and_then(|row| serde_json::to_string(&row).ok())
                .unwrap_or_default();
        info!(
            queue_id = self.queue_id(),
            client_ip = %self.env.client_ip.map(|i| i.to_string()).unwrap_or_default(),
            from_domain = analysis.from_domain.as_deref().unwrap_or(""),
            spf = auth.spf.as_str(),
            dkim = auth.dkim.as_str(),
            dmarc = auth.dmarc.as_str(),
            arc = auth.arc.as_str(),
            arc_override = auth.arc_override.as_ref().map_or("", |o| o.sealer.as_str()),
            action = verdict.action.as_str(),
            policy_action = verdict.policy_action.as_str(),
            score = verdict.score,
            findings = %List(&kinds),
            brands = %List(&brands),
            lookalike_domains = %List(&ind.lookalike_domains),
            url_hosts = %List(&ind.url_hosts),
            urls = %List(&ind.urls),
            indicators = %entries,
            link_hosts = %List(&link_hosts),
            // A count, never the addresses: the report says how many
            // customers a campaign reached without naming them.
            rcpts = self.env.rcpts.len(),
            dmarc_report = %dmarc_report,
            "verdict"
        );
        for f in &analysis.findings {
            debug!(
                queue_id = self.queue_id(),
                kind = f.kind.as_str(),
                score = f.score,
                brand = f.brand.as_deref().unwrap_or(""),
                evidence = %crate::verdict::indicators::reduce_urls(&f.evidence),
                "finding"
            );
        }
        if !verdict.reasons.is_empty() {
            debug!(queue_id = self.queue_id(), reasons = %verdict.reasons.join("; "), "reasons");
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.metrics.connections_active.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_values_get_crlf() {
        let mut out = Vec::new();
        push_crlf(&mut out, b" a\n\tb\r\n\tc");
        assert_eq!(out, b" a\r\n\tb\r\n\tc");
    }
}
