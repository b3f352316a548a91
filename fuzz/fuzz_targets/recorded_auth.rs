//! Authentication-Results parsing from a trusted upstream's header.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kinko_milter::commands::check::recorded_auth(data, Some("mx.example"));
    if let Ok(v) = std::str::from_utf8(data) {
        let _ = kinko_milter::auth::from_recorded(&[("Authentication-Results", v)], "mx.example");
    }
});
