//! `BrandIndex::lookalike` with 10, 1,000 and 10,000 protected domains: the
//! per-host cost should stay nearly flat as the protected set grows.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kinko_milter::analysis::brand::BrandIndex;
use std::hint::black_box;

#[path = "support/synthetic.rs"]
mod synthetic;
use synthetic::{protected_set, HOSTS};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("lookalike");
    for n in [10usize, 1_000, 10_000] {
        let brands = protected_set(n);
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
