//! `analyze` over every message of the development corpus: the pure part of
//! the per-message work (parsing, sender and link checks, scoring), with
//! authentication results given, as the milter has them after DNS.
//!
//! Throughput is reported as messages per second on one core (criterion
//! runs the closure on one thread).
//!
//! `stages/*` splits the daemon's per-message work on the corpus by stage,
//! so a feature's cost shows where it lands: parsing alone, the analysis of
//! the parsed message (everything `analyze` does but the parse), and the
//! banner of every message as the daemon writes it into tagged mail (its
//! parse of the result included). Link extraction alone is `--bench extract`.
//!
//! `qr_2mb_image/*` states what reading QR codes costs: one message with a
//! 2 MB photo-like JPEG, with and without a code in it, and the same message
//! with QR decoding turned off (`max_qr_images = 0`), which is the cost of
//! everything else.

#[path = "../tests/support/qr_image.rs"]
mod qr_image;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kinko_milter::actions::banner::{self, Lang};
use kinko_milter::analysis::policy::Policy;
use kinko_milter::analysis::{analyze, analyze_parsed, parse};
use kinko_milter::settings::limits::Limits;
use kinko_milter::vocab::auth::{AuthSummary, Res};
use kinko_milter::vocab::message::Envelope;
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

/// The shipped policies a bank would load: Japanese finance and global brands.
fn shipped_policy() -> Policy {
    let paths = [
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/jp-financial.toml"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policy/global-brands.toml"),
    ];
    let paths: Vec<_> = paths.into_iter().filter(|p| p.exists()).collect();
    Policy::load_files(&paths).expect("shipped policies load")
}

fn bench(c: &mut Criterion) {
    let messages = corpus();
    if messages.is_empty() {
        eprintln!("../shared/corpus not found: nothing to measure");
        return;
    }
    let policy = shipped_policy();
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
                score += analyze(m, None, &env, &auth, &policy, &limits).score as i64;
            }
            score
        })
    });
    g.finish();

    // The banner of each message, for the analysis that judged it, as the
    // daemon writes it (here into every message, tagged or not).
    let notices: Vec<_> = messages
        .iter()
        .map(|m| {
            let a = analyze(m, None, &env, &auth, &policy, &limits);
            banner::notice(&a, &policy, Lang::Ja)
        })
        .collect();
    let mut g = c.benchmark_group("stages");
    g.throughput(Throughput::Elements(messages.len() as u64));
    g.sample_size(10);
    g.bench_function("parse", |b| {
        b.iter(|| messages.iter().map(|m| parse(m).parts.len()).sum::<usize>())
    });
    let parsed: Vec<_> = messages.iter().map(|m| parse(m)).collect();
    g.bench_function("analysis_of_parsed", |b| {
        b.iter(|| {
            parsed
                .iter()
                .map(|m| analyze_parsed(m, None, &env, &auth, &policy, &limits).score as i64)
                .sum::<i64>()
        })
    });
    g.bench_function("banner", |b| {
        b.iter(|| {
            messages
                .iter()
                .zip(&parsed)
                .zip(&notices)
                .filter(|((raw, msg), n)| {
                    matches!(
                        banner::insert_parsed(raw, msg, n, limits.max_message_bytes),
                        banner::Outcome::Added(_)
                    )
                })
                .count()
        })
    });
    g.finish();
}

/// A mail with `jpeg` attached, its only link hidden in it (if anywhere).
fn mail_with_image(jpeg: &[u8]) -> Vec<u8> {
    let b64: String = jpeg
        .chunks(57)
        .map(|c| kinko_milter::vocab::header_text::base64(c) + "\r\n")
        .collect();
    format!(
        "From: =?UTF-8?B?5LiJ5LqV5L2P5Y+L6YqA6KGM?= <info@attacker.example>\r\n\
         Subject: photo\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee the picture\r\n\
         --b\r\nContent-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=photo.jpg\r\n\r\n{b64}--b--\r\n"
    )
    .into_bytes()
}

fn bench_qr(c: &mut Criterion) {
    use image::{DynamicImage, ImageFormat};
    let policy = shipped_policy();
    let env = Envelope::default();
    let auth = AuthSummary::default();
    let code = qr_image::qr_picture("https://smbc.co.at.example/phone.php", 6);
    let (w, h) = (1700, 1200);
    let at = Some((&code, w - code.width() - 50, h - code.height() - 50));
    let with = qr_image::encode(
        &DynamicImage::ImageRgb8(qr_image::busy_picture(w, h, at)),
        ImageFormat::Jpeg,
    );
    let without = qr_image::encode(
        &DynamicImage::ImageRgb8(qr_image::busy_picture(w, h, None)),
        ImageFormat::Jpeg,
    );
    let on = Limits::default();
    let off = Limits {
        max_qr_images: 0,
        ..Limits::default()
    };
    let mut g = c.benchmark_group("qr_2mb_image");
    g.sample_size(10);
    for (name, jpeg, limits) in [
        ("with_code", &with, &on),
        ("without_code", &without, &on),
        ("decoding_off", &with, &off),
    ] {
        let raw = mail_with_image(jpeg);
        let found = analyze(&raw, None, &env, &auth, &policy, limits)
            .findings
            .iter()
            .any(|f| f.evidence.contains("(QR code in"));
        assert_eq!(found, name == "with_code", "{name}");
        let id = format!("{name}_{}x{h}_{}kB", w, jpeg.len() / 1024);
        g.bench_function(id, |b| {
            b.iter(|| analyze(&raw, None, &env, &auth, &policy, limits).score)
        });
    }
    g.finish();
}

criterion_group!(benches, bench, bench_qr);
criterion_main!(benches);
