//! Link extraction throughput over corpus messages, in messages per second.
//! Needs ../shared/corpus; without it the bench measures a small built-in sample.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kinko_milter::analysis::parse;
use kinko_milter::vocab::message::Bounds;
use std::hint::black_box;
use std::path::Path;

fn messages() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let mut out = Vec::new();
    for dir in ["phish", "jp", "ham"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        // Every fourth message keeps one iteration short while covering all three sets.
        out.extend(
            paths
                .iter()
                .step_by(4)
                .filter_map(|p| std::fs::read(p).ok()),
        );
    }
    if out.is_empty() {
        out.push(
            b"From: a@b.example\r\nContent-Type: text/html\r\n\r\n<a href=\"https://x.example/login\">www.bank.example</a>\r\n"
                .to_vec(),
        );
    }
    out
}

fn bench(c: &mut Criterion) {
    let raws = messages();
    let parsed: Vec<_> = raws.iter().map(|r| parse(r)).collect();
    let bounds = Bounds::default();
    let mut g = c.benchmark_group("extract");
    g.throughput(Throughput::Elements(parsed.len() as u64));
    g.bench_function(format!("corpus_{}_messages", parsed.len()), |b| {
        b.iter(|| {
            for m in &parsed {
                black_box(kinko_milter::analysis::links::extract(
                    black_box(m),
                    &bounds,
                ));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
