//! HTML handling: the input is the HTML body of an otherwise fixed message.
#![no_main]
use kinko_milter::analysis::parse;
use kinko_milter::vocab::message::Bounds;
use kinko_milter::analysis::links::extract::extract;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut raw = b"From: a@example.com\r\nContent-Type: text/html; charset=utf-8\r\n\r\n".to_vec();
    raw.extend_from_slice(data);
    let bounds = Bounds::default();
    let msg = parse(&raw);
    let _ = extract(&msg, &bounds);
});
