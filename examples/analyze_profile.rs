//! Profiling harness for `analyze` over the development corpus: loads every
//! message once, then analyses them all ROUNDS times, so a profiler
//! (perf, callgrind) sees the analysis and not the file reading.
//!
//!     cargo build --release --example analyze_profile
//!     perf record -g target/release/examples/analyze_profile 20

use kinko_milter::analysis::analyze;
use kinko_milter::analysis::policy::Policy;
use kinko_milter::settings::limits::Limits;
use kinko_milter::vocab::auth::AuthSummary;
use kinko_milter::vocab::message::Envelope;
use std::path::Path;
use std::time::Instant;

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("../shared/corpus");
    let labels = std::fs::read_to_string(corpus.join("labels.tsv")).expect("corpus present");
    let messages: Vec<Vec<u8>> = labels
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut c = l.split('\t');
            let (file, label) = (c.next()?, c.next()?);
            matches!(label, "phish" | "jp-phish" | "jp-spam" | "ham" | "jp-ham")
                .then(|| std::fs::read(corpus.join(file)).ok())
                .flatten()
        })
        .collect();
    let policy = Policy::load_files(&[
        root.join("policy/jp-financial.toml"),
        root.join("policy/global-brands.toml"),
    ])
    .expect("shipped policies");
    let (env, auth, limits) = (
        Envelope::default(),
        AuthSummary::default(),
        Limits::default(),
    );
    let start = Instant::now();
    let mut score = 0i64;
    for _ in 0..rounds {
        for m in &messages {
            score += analyze(m, None, &env, &auth, &policy, &limits).score as i64;
        }
    }
    let n = rounds * messages.len();
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{n} analyses in {secs:.2} s: {:.0} messages/s (score sum {score})",
        n as f64 / secs
    );
}
