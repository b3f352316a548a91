//! The synthetic protected set and sender hosts shared by the lookalike
//! benchmark and its profiling harness, so both measure the same thing.

use kinko_milter::policy::data::Brand;

/// Deterministic pseudo-words (a fixed LCG), so every run benches the same set.
pub fn synthetic_brands(n: usize) -> Vec<Brand> {
    const SYL: &[&str] = &[
        "ka", "ki", "ku", "ke", "ko", "sa", "shi", "su", "se", "so", "ta", "chi", "tsu", "te",
        "to", "na", "ni", "nu", "ne", "no", "ha", "hi", "fu", "he", "ho", "ma", "mi", "mu", "me",
        "mo", "ya", "yu", "yo", "ra", "ri", "ru", "re", "ro", "wa",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize
    };
    let suffixes = ["co.jp", "jp", "com", "ne.jp", "or.jp"];
    (0..n)
        .map(|i| {
            let syllables = 2 + next() % 4;
            let name: String = (0..syllables).map(|_| SYL[next() % SYL.len()]).collect();
            let suffix = suffixes[next() % suffixes.len()];
            Brand {
                id: format!("b{i}"),
                names: vec![],
                domains: vec![
                    format!("{name}{i}.{suffix}"),
                    format!("{name}-shinkin.{suffix}"),
                ],
                authorized: vec![],
                action: None,
                spoof_action: None,
                banner: None,
            }
        })
        .collect()
}

/// A mix of what a milter sees: ordinary senders, lookalikes of real shapes.
pub const HOSTS: &[&str] = &[
    "mail.example.com",
    "lists.sourceforge.net",
    "smbc-card.com.pllpx.com",
    "rakuten-cards-infrom.com",
    "mizuh0bank.co.jp",
    "paypay-bans.com",
    "aeno.co.jp.handyes.cn",
    "bounce.newsletter-provider.example.co.jp",
];

/// The synthetic set plus the real brands [`HOSTS`] imitate, so hits are
/// part of the work.
pub fn protected_set(n: usize) -> Vec<Brand> {
    let mut brands = synthetic_brands(n);
    for (id, d) in [
        ("smbc-card", "smbc-card.com"),
        ("rakuten-card", "rakuten-card.co.jp"),
        ("mizuho", "mizuhobank.co.jp"),
        ("paypay-bank", "paypay-bank.co.jp"),
        ("aeon", "aeon.co.jp"),
    ] {
        brands.push(Brand {
            id: id.into(),
            names: vec![],
            domains: vec![d.into()],
            authorized: vec![],
            action: None,
            spoof_action: None,
            banner: None,
        });
    }
    brands
}
