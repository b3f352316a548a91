//! Policy parsing and compilation (indexes built from hostile brand names).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(e) = kinko_milter::analysis::policy::Policy::from_toml("fuzz.toml", text) {
            assert!(e.line <= text.lines().count() + 1);
        }
    }
});
