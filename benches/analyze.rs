//! `analyze` over every message of the development corpus: the pure part of
//! the per-message work (parsing, sender and link checks, scoring), with
//! authentication results given, as the milter has them after DNS.
//!
//! Throughput is reported as messages per second on one core (criterion
//! runs the closure on one thread).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kinko_milter::analysis::analyze;
use kinko_milter::auth::{AuthSummary, Res};
use kinko_milter::limits::Limits;
use kinko_milter::message::Envelope;
use kinko_milter::policy::Policy;
use std::path::Path;

fn corpus() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let labels = std::fs::read_to_string(root.join("labels.tsv")).unwrap_or_default();
    labels
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let file = cols.next()?;
            let label = cols.next()?;
            matches!(label, "phish" | "jp-phish" | "jp-spam" | "ham" | "jp-ham")
                .then(|| std::fs::read(root.join(file)).ok())
                .flatten()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let messages = corpus();
    if messages.is_empty() {
        eprintln!("../shared/corpus not found: nothing to measure");
        return;
    }
    let paths = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/jp-financial.toml"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/global-brands.toml"),
    ];
    let paths: Vec<_> = paths.into_iter().filter(|p| p.exists()).collect();
    let policy = Policy::load_files(&paths).expect("shipped policies load");
    let limits = Limits::default();
    let env = Envelope::default();
    let auth = AuthSummary {
        spf: Res::Pass,
        dkim: Res::None,
        dmarc: Res::None,
        ..Default::default()
    };
    let mut g = c.benchmark_group("analyze");
    g.throughput(Throughput::Elements(messages.len() as u64));
    g.sample_size(10);
    g.bench_function(format!("corpus_{}_messages", messages.len()), |b| {
        b.iter(|| {
            let mut score = 0i64;
            for m in &messages {
                score += analyze(m, false, &env, &auth, &policy, &limits).score as i64;
            }
            score
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
