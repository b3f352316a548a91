//! Link extraction from a whole message: MIME walk, charsets, attachments.
#![no_main]
use kinko_milter::analysis::parse;
use kinko_milter::vocab::message::Bounds;
use kinko_milter::analysis::links::extract::extract;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bounds = Bounds::default();
    let msg = parse(data);
    let found = extract(&msg, &bounds);
    assert!(found.links.len() <= bounds.max_links);
});
