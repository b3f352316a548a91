//! Profiling harness for `BrandIndex::lookalike` (same synthetic set as
//! benches/lookalike.rs), for callgrind: `lookalike_profile N ITERS`.
use kinko_milter::brand::BrandIndex;
use kinko_milter::policy::Brand;
use std::hint::black_box;
use std::time::Instant;

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
        });
    }
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
