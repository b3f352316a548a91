//! `BrandIndex::lookalike` with 10, 1,000 and 10,000 protected domains: the
//! per-host cost should stay nearly flat as the protected set grows.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kinko_milter::brand::BrandIndex;
use kinko_milter::policy::Brand;
use std::hint::black_box;

/// Deterministic pseudo-words (a fixed LCG), so every run benches the same set.
fn synthetic_brands(n: usize) -> Vec<Brand> {
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
            }
        })
        .collect()
}

/// A mix of what a milter sees: ordinary senders, lookalikes of real shapes.
const HOSTS: &[&str] = &[
    "mail.example.com",
    "lists.sourceforge.net",
    "smbc-card.com.pllpx.com",
    "rakuten-cards-infrom.com",
    "mizuh0bank.co.jp",
    "paypay-bans.com",
    "aeno.co.jp.handyes.cn",
    "bounce.newsletter-provider.example.co.jp",
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookalike");
    for n in [10usize, 1_000, 10_000] {
        let mut brands = synthetic_brands(n);
        // The real brands the hosts imitate, so hits are part of the work.
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
            });
        }
        let ix = BrandIndex::new(&brands);
        group.bench_with_input(BenchmarkId::from_parameter(n), &ix, |b, ix| {
            b.iter(|| {
                for h in HOSTS {
                    black_box(ix.lookalike(black_box(h)));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
