//! One full milter transaction in process, over TCP on loopback: connect,
//! HELO, MAIL, RCPT, DATA, headers, body, end of message with SPF, DKIM
//! (ed25519) and DMARC answered from the warm DNS cache, analysis, actions,
//! close. This is the milter's share of a message's latency.
//!
//! Over a unix socket: the test client (indymilter-test) leaves Nagle on
//! for TCP and sends macros and commands as separate writes, which stalls
//! on delayed ACKs (~40 ms) in a way Postfix's client does not. The TCP
//! round trip through a real Postfix is measured by scripts/load.sh.

#[path = "../tests/support/seeded.rs"]
mod seeded;

use criterion::{criterion_group, criterion_main, Criterion};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("milter.sock");
    let m = rt.block_on(async { seeded::start_unix(&sock, |_| {}).await });
    let raw = seeded::sign(
        &m,
        &seeded::message("Bank <info@bank.test>", "statement", ""),
    );
    let client = "192.0.2.1".parse().unwrap();
    // Sanity: the transaction really authenticates before we time it.
    let (_, status) = rt.block_on(seeded::transact(&m, client, "bounce@bank.test", &raw));
    assert_eq!(status, indymilter_test::Status::Accept);
    c.bench_function("milter_transaction_signed_pass", |b| {
        b.iter(|| rt.block_on(seeded::transact(&m, client, "bounce@bank.test", &raw)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
