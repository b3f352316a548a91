//! Prometheus metrics. Every label value comes from a closed set (actions,
//! finding kinds, result words, brand ids from the policy), never from mail,
//! so a hostile sender cannot blow up cardinality.
//!
//! Handles for the closed sets are created up front: a dashboard sees every
//! series at zero from the first scrape, and the hot path does no label
//! lookups.

use crate::vocab::auth::{AuthSummary, Res};
use crate::vocab::findings::{Action, Finding, FindingKind};
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

pub struct Metrics {
    pub registry: Registry,
    findings: IntCounterVec,
    impersonations: IntCounterVec,
    auth_results: IntCounterVec,
    arc_overrides: IntCounter,
    pub analysis_seconds: Histogram,
    pub eom_seconds: Histogram,
    pub message_bytes: Histogram,
    dns_cache: IntCounterVec,
    pub dns_lookup_seconds: HistogramVec,
    pub connections_active: IntGauge,
    pub connections_total: IntCounter,
    errors: IntCounterVec,
    reloads: IntCounterVec,
    policy_info: IntGaugeVec,
    pub policy_brands: IntGauge,
    skipped: IntCounterVec,
    closed: IntCounterVec,
    accept_errors: IntCounterVec,
    /// Pre-created per-action handles, indexed like [`Action::ALL`].
    action_handles: Vec<IntCounter>,
    kind_handles: HashMap<FindingKind, IntCounter>,
    last_policy: Mutex<Option<(String, String)>>,
}

const STAGES: &[&str] = &[
    "connect", "helo", "mail", "rcpt", "header", "body", "eom", "analysis", "action",
];

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn histogram(r: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .expect("valid metric");
    r.register(Box::new(h.clone()))
        .expect("metric registered once");
    h
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new_custom(Some("kinko".into()), None).expect("valid prefix");
        let messages = counter_vec(
            &r,
            "messages_total",
            "Messages judged, by action taken.",
            &["action"],
        );
        let findings = counter_vec(&r, "findings_total", "Findings, by kind.", &["kind"]);
        let impersonations = counter_vec(
            &r,
            "impersonations_total",
            "Messages with a brand-impersonation finding, by protected brand id.",
            &["brand"],
        );
        let auth_results = counter_vec(
            &r,
            "auth_results_total",
            "Authentication results, by method and result.",
            &["method", "result"],
        );
        let latency = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let analysis_seconds = histogram(
            &r,
            "analysis_duration_seconds",
            "Time spent in the pure analysis of one message (no DNS).",
            latency.clone(),
        );
        let eom_seconds = histogram(
            &r,
            "eom_duration_seconds",
            "End-of-message latency: authentication, analysis and actions.",
            latency.clone(),
        );
        let message_bytes = histogram(
            &r,
            "message_size_bytes",
            "Size of messages seen (bytes received, including any not kept).",
            prometheus::exponential_buckets(1024.0, 4.0, 9).expect("valid buckets"),
        );
        let dns_cache = counter_vec(
            &r,
            "dns_cache_requests_total",
            "DNS cache look-ups, by record type and outcome (hit or miss).",
            &["type", "outcome"],
        );
        let dns_lookup_seconds = HistogramVec::new(
            HistogramOpts::new(
                "dns_auth_duration_seconds",
                "Time spent authenticating one message (SPF, DKIM, DMARC, ARC), mostly DNS, by outcome.",
            )
            .buckets(latency),
            &["outcome"],
        )
        .expect("valid metric");
        r.register(Box::new(dns_lookup_seconds.clone()))
            .expect("registered once");
        let connections_active =
            IntGauge::new("connections_active", "Milter connections open now.").expect("valid");
        r.register(Box::new(connections_active.clone()))
            .expect("registered once");
        let connections_total =
            IntCounter::new("connections_total", "Milter connections accepted.").expect("valid");
        r.register(Box::new(connections_total.clone()))
            .expect("registered once");
        let arc_overrides = IntCounter::new(
            "arc_override_total",
            "Messages failing DMARC whose owner policy a trusted ARC sealer lifted (RFC 8617 7.2).",
        )
        .expect("valid");
        r.register(Box::new(arc_overrides.clone()))
            .expect("registered once");
        let errors = counter_vec(
            &r,
            "errors_total",
            "Errors, by milter stage. Each ended in the configured fallback.",
            &["stage"],
        );
        let reloads = counter_vec(
            &r,
            "reloads_total",
            "Configuration, policy and feed reloads, by outcome.",
            &["outcome"],
        );
        let policy_info = IntGaugeVec::new(
            Opts::new(
                "policy_info",
                "The policy in force (value 1), by name and version.",
            ),
            &["name", "version"],
        )
        .expect("valid");
        r.register(Box::new(policy_info.clone()))
            .expect("registered once");
        let policy_brands =
            IntGauge::new("policy_brands", "Protected brands in the policy in force.")
                .expect("valid");
        r.register(Box::new(policy_brands.clone()))
            .expect("registered once");
        let skipped = counter_vec(
            &r,
            "skipped_total",
            "Messages not analysed, by reason (trusted network, authenticated submission).",
            &["reason"],
        );
        let closed = counter_vec(
            &r,
            "connections_closed_total",
            "Milter connections we closed ourselves, by reason (out_of_order command, message_timeout, drained at shutdown).",
            &["reason"],
        );
        let accept_errors = counter_vec(
            &r,
            "accept_errors_total",
            "Failed accept() calls (descriptor limits, aborted connections), by listener; each is retried after a pause.",
            &["listener"],
        );
        let build = IntGaugeVec::new(
            Opts::new("build_info", "Build of the running binary (value 1)."),
            &["version"],
        )
        .expect("valid");
        r.register(Box::new(build.clone()))
            .expect("registered once");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);

        let action_handles = Action::ALL
            .iter()
            .map(|a| messages.with_label_values(&[a.as_str()]))
            .collect();
        let kind_handles = FindingKind::ALL
            .iter()
            .map(|k| (*k, findings.with_label_values(&[k.as_str()])))
            .collect();
        for method in ["spf", "dkim", "dmarc", "arc"] {
            for res in Res::ALL {
                auth_results.with_label_values(&[method, res.as_str()]);
            }
        }
        for t in ["txt", "mx", "a", "aaaa", "ptr"] {
            for o in ["hit", "miss"] {
                dns_cache.with_label_values(&[t, o]);
            }
        }
        for s in STAGES {
            errors.with_label_values(&[s]);
        }
        for o in ["success", "failure"] {
            reloads.with_label_values(&[o]);
        }
        for o in ["ok", "dns_error", "timeout"] {
            dns_lookup_seconds.with_label_values(&[o]);
        }
        for reason in ["trusted_network", "authenticated", "allowlist"] {
            skipped.with_label_values(&[reason]);
        }

        for reason in ["out_of_order", "message_timeout", "drained"] {
            closed.with_label_values(&[reason]);
        }
        for l in ["milter", "http"] {
            accept_errors.with_label_values(&[l]);
        }

        Metrics {
            registry: r,
            findings,
            impersonations,
            auth_results,
            arc_overrides,
            analysis_seconds,
            eom_seconds,
            message_bytes,
            dns_cache,
            dns_lookup_seconds,
            connections_active,
            connections_total,
            errors,
            reloads,
            policy_info,
            policy_brands,
            skipped,
            closed,
            accept_errors,
            action_handles,
            kind_handles,
            last_policy: Mutex::new(None),
        }
    }

    /// One judged message: its findings (none when the analysis failed),
    /// the brands it impersonates and the action taken, in one call so no
    /// caller can count one without the other.
    pub fn judged(&self, findings: &[Finding], action: Action) {
        for f in findings {
            self.finding(f.kind);
        }
        let mut brands: Vec<&str> = findings
            .iter()
            .filter(|f| f.kind.is_impersonation())
            .filter_map(|f| f.brand.as_deref())
            .collect();
        brands.sort_unstable();
        brands.dedup();
        for b in brands {
            self.impersonation(b);
        }
        self.action(action);
    }

    fn action(&self, action: Action) {
        let i = Action::ALL.iter().position(|a| *a == action).unwrap_or(0);
        self.action_handles[i].inc();
    }

    fn finding(&self, kind: FindingKind) {
        match self.kind_handles.get(&kind) {
            Some(h) => h.inc(),
            None => self.findings.with_label_values(&[kind.as_str()]).inc(),
        }
    }

    /// `brand` must be a policy brand id (validated as a metric-safe token at load).
    pub fn impersonation(&self, brand: &str) {
        self.impersonations.with_label_values(&[brand]).inc();
    }

    pub fn auth(&self, a: &AuthSummary) {
        for (m, r) in [
            ("spf", a.spf),
            ("dkim", a.dkim),
            ("dmarc", a.dmarc),
            ("arc", a.arc),
        ] {
            self.auth_results.with_label_values(&[m, r.as_str()]).inc();
        }
        if a.arc_override.is_some() {
            self.arc_overrides.inc();
        }
    }

    pub fn dns_cache(&self, kind: &str, hit: bool) {
        self.dns_cache
            .with_label_values(&[kind, if hit { "hit" } else { "miss" }])
            .inc();
    }

    pub fn auth_duration(&self, outcome: &str, d: Duration) {
        self.dns_lookup_seconds
            .with_label_values(&[outcome])
            .observe(d.as_secs_f64());
    }

    pub fn error(&self, stage: &str) {
        self.errors.with_label_values(&[stage]).inc();
    }

    pub fn skipped(&self, reason: &str) {
        self.skipped.with_label_values(&[reason]).inc();
    }

    /// `reason` is one of the closed set in [`crate::daemon::guard::End`].
    pub fn guard_close(&self, reason: &str) {
        self.closed.with_label_values(&[reason]).inc();
    }

    /// `listener` is `milter` or `http`.
    pub fn accept_error(&self, listener: &str) {
        self.accept_errors.with_label_values(&[listener]).inc();
    }

    pub fn reload(&self, ok: bool) {
        self.reloads
            .with_label_values(&[if ok { "success" } else { "failure" }])
            .inc();
    }

    pub fn set_policy(&self, name: &str, version: &str, brands: &[String]) {
        let mut last = self.last_policy.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((n, v)) = last.take() {
            let _ = self.policy_info.remove_label_values(&[&n, &v]);
        }
        self.policy_info.with_label_values(&[name, version]).set(1);
        *last = Some((name.to_string(), version.to_string()));
        self.policy_brands.set(brands.len() as i64);
        for b in brands {
            self.impersonations.with_label_values(&[b]);
        }
    }

    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_exist_before_any_traffic() {
        let m = Metrics::new();
        let text = m.render();
        assert!(text.contains("kinko_messages_total{action=\"quarantine\"} 0"));
        assert!(text.contains("kinko_findings_total{kind=\"homograph\"} 0"));
        assert!(text.contains("kinko_build_info{version="));
    }

    #[test]
    fn counters_move() {
        let m = Metrics::new();
        m.action(Action::Reject);
        m.finding(FindingKind::Typo);
        m.set_policy("p", "1", &["bank-a".into()]);
        m.impersonation("bank-a");
        let text = m.render();
        assert!(text.contains("kinko_messages_total{action=\"reject\"} 1"));
        assert!(text.contains("kinko_findings_total{kind=\"typo\"} 1"));
        assert!(text.contains("kinko_impersonations_total{brand=\"bank-a\"} 1"));
        assert!(text.contains("kinko_policy_info{name=\"p\",version=\"1\"} 1"));
    }
}
