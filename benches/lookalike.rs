//! `BrandIndex::lookalike` with 10, 1,000 and 10,000 protected domains: the
//! per-host cost should stay nearly flat as the protected set grows.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kinko_milter::brand::BrandIndex;
use kinko_milter::policy::Brand;
use std::hint::black_box;

#[path = "support/synthetic.rs"]
mod synthetic;
use synthetic::{synthetic_brands, HOSTS};

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
