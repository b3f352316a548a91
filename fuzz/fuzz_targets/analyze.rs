//! Whole-message analysis: MIME, charsets, display names, links, HTML.
#![no_main]
use kinko_milter::analysis::analyze;
use kinko_milter::settings::limits::Limits;
use kinko_milter::vocab::message::Envelope;
use kinko_milter::vocab::auth::AuthSummary;
use kinko_milter::analysis::policy::Policy;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static POLICY: OnceLock<Policy> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let policy = POLICY.get_or_init(|| Policy::embedded().unwrap());
    let limits = Limits::default();
    let a = analyze(data, None, &Envelope::default(), &AuthSummary::default(), policy, &limits);
    for f in &a.findings {
        // Evidence may reach a header: it must never carry a line break.
        assert!(!f.evidence.contains('\n') && !f.evidence.contains('\r'));
    }
});
