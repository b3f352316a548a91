//! Profiling harness for `BrandIndex::lookalike` (same synthetic set as
//! benches/lookalike.rs), for callgrind: `lookalike_profile N ITERS`.
use kinko_milter::analysis::brand::BrandIndex;
use std::hint::black_box;
use std::time::Instant;

#[path = "../benches/support/synthetic.rs"]
mod synthetic;
use synthetic::{protected_set, HOSTS};

#[inline(never)]
fn run_lookups(ix: &BrandIndex, iters: usize) {
    for _ in 0..iters {
        for h in HOSTS {
            black_box(ix.lookalike(black_box(h)));
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let iters: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let brands = protected_set(n);
    let t = Instant::now();
    let ix = BrandIndex::new(&brands);
    eprintln!("BrandIndex::new({n}) took {:?}", t.elapsed());
    // Resident memory once the index is built (peak is in /usr/bin/time's maxrss).
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("VmRSS")) {
            eprintln!("{line}");
        }
    }
    for h in HOSTS {
        eprintln!("{h}: {:?}", ix.lookalike(h));
    }
    let t = Instant::now();
    run_lookups(&ix, iters);
    eprintln!(
        "{iters} x {} lookups: {:?}/iter",
        HOSTS.len(),
        t.elapsed() / iters as u32
    );
}
