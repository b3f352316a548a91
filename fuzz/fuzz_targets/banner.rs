//! The banner rewriting on any bytes: it never panics, what it writes
//! parses again, and a second pass never adds a second banner.
#![no_main]
use kinko_milter::actions::banner::{insert, Lang, Notice, Outcome};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, raw)) = data.split_first() else {
        return;
    };
    let notice = Notice {
        lang: if sel & 1 == 0 { Lang::Ja } else { Lang::En },
        brand: (sel & 2 != 0).then(|| "きんこ信用金庫 <&\"'>".to_string()),
        statement: (sel & 4 != 0).then(|| "当金庫は <b>リンク</b> でお尋ねしません".to_string()),
    };
    let max = 1 << 20;
    if let Outcome::Added(rw) = insert(raw, &notice, max) {
        assert!(rw.parts >= 1 && rw.parts <= 2);
        assert!(rw.body_start <= rw.message.len());
        for (name, value) in &rw.header_fields {
            assert!(!value.contains(['\r', '\n']), "{name}: {value}");
        }
        // Never two banners: whatever went in is recognised next time.
        let again = insert(&rw.message, &notice, usize::MAX);
        assert!(!matches!(again, Outcome::Added(_)), "second banner added");
    }
});
