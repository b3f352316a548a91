//! Link extraction from a whole message: MIME walk, charsets, attachments.
#![no_main]
use kinko_milter::analysis::{parse, Limits};
use kinko_milter::links::extract::extract;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let msg = parse(data);
    let found = extract(&msg, &limits);
    assert!(found.links.len() <= limits.max_links);
});
