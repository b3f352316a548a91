//! Attachment inspection: file-type sniffing, archive listing (zip, gzip,
//! tar, 7z, cab), OLE walking and file-name tricks. The first byte picks the
//! file name, so every container reader sees the rest of the input.
#![no_main]
use kinko_milter::analysis::attachments::{inspect, Hit};
use libfuzzer_sys::fuzz_target;

const NAMES: &[&str] = &[
    "a.zip", "a.gz", "a.tgz", "a.tar", "a.7z", "a.cab", "a.doc", "a.rar", "invoice.pdf",
    "請求書\u{202e}fdp.exe", "a.pdf          .js",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let name = NAMES[pick as usize % NAMES.len()];
    for hit in inspect(name, body) {
        if let Hit::Danger { member: Some(m), .. } | Hit::Trick { member: Some(m), .. } = hit {
            assert!(m.len() < 1 << 20, "member names stay bounded by the input");
        }
    }
});
