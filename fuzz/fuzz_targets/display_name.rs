//! Display-name decoding and folding: the input is the From header value
//! (RFC 2047 words in any charset, hidden characters, confusables).
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
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = kinko_milter::vocab::normalize::text(s);
    }
    let policy = POLICY.get_or_init(|| Policy::embedded().unwrap());
    let mut raw = b"From: ".to_vec();
    raw.extend(data.iter().filter(|&&b| b != b'\r' && b != b'\n'));
    raw.extend_from_slice(b"\r\nSubject: x\r\n\r\nbody\r\n");
    let a = analyze(&raw, None, &Envelope::default(), &AuthSummary::default(), policy, &Limits::default());
    for f in &a.findings {
        assert!(!f.evidence.contains(['\r', '\n']));
    }
});
