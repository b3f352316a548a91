//! DNS faults, served for real over UDP on loopback: silence, SERVFAIL,
//! truncation with no TCP behind it, an oversized SPF record, and SPF
//! includes that loop. Each must end in the configured outcome within the
//! per-message time budget, never in a hang or a panic.

#[path = "support/dns_server.rs"]
mod dns_server;
#[path = "support/seeded.rs"]
mod seeded;

use dns_server::Transport;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use indymilter_test::Status;
use kinko_milter::settings::config::Fallback;
use seeded::{message, start, transact};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The answer to one query, by the name asked: `*.silent.test` none,
/// `*.servfail.test` SERVFAIL, `*.truncated.test` TC set (and the TCP side
/// refuses it too), `big.test` a 6 KB SPF record, `loop-a/b.test` SPF
/// includes of each other, `port.test` an SPF target no host can have;
/// everything else NXDOMAIN.
fn answer(q: &Message) -> Option<Message> {
    let query = q.queries.first()?.clone();
    let name = query.name().to_ascii().to_ascii_lowercase();
    let mut r = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.add_query(query.clone());
    let txt =
        |s: Vec<String>| Record::from_rdata(query.name().clone(), 60, RData::TXT(TXT::new(s)));
    if name.ends_with("silent.test.") {
        return None;
    } else if name.ends_with("servfail.test.") {
        r.metadata.response_code = ResponseCode::ServFail;
    } else if name.ends_with("truncated.test.") {
        r.metadata.truncation = true;
    } else if name == "big.test." && query.query_type() == RecordType::TXT {
        let mut spf = String::from("v=spf1");
        for i in 0..400 {
            spf.push_str(&format!(" ip4:198.18.{}.{}", i / 200, i % 200));
        }
        spf.push_str(" -all");
        let parts = spf
            .as_bytes()
            .chunks(250)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        r.add_answer(txt(parts));
    } else if name == "port.test." && query.query_type() == RecordType::TXT {
        r.add_answer(txt(vec!["v=spf1 a:example.com:8080 -all".into()]));
    } else if name == "loop-a.test." && query.query_type() == RecordType::TXT {
        r.add_answer(txt(vec!["v=spf1 include:loop-b.test -all".into()]));
    } else if name == "loop-b.test." && query.query_type() == RecordType::TXT {
        r.add_answer(txt(vec!["v=spf1 include:loop-a.test -all".into()]));
    } else {
        r.metadata.response_code = ResponseCode::NXDomain;
    }
    Some(r)
}

/// The fault server: `answer`, except that a truncated name stays broken
/// over TCP too.
async fn fault_server() -> SocketAddr {
    dns_server::serve(Arc::new(|q: &Message, t: Transport| {
        let name = q.queries.first()?.name().to_ascii().to_ascii_lowercase();
        if t == Transport::Tcp && name.ends_with("truncated.test.") {
            return None;
        }
        answer(q)
    }))
    .await
}

async fn judge(domain: &str, fallback: Fallback, budget_ms: u64) -> (Status, Duration) {
    let dns = fault_server().await;
    let m = start(|c| {
        c.dns.nameservers = vec![dns.to_string()];
        c.dns.timeout_ms = 300;
        c.dns.attempts = 1;
        c.limits.message_time_budget_ms = budget_ms;
        c.on_dns_error = fallback;
    })
    .await;
    let from = format!("a@{domain}");
    let raw = message(&format!("A <{from}>"), "fault", "");
    let t = Instant::now();
    let (_, status) = transact(&m, "198.51.100.7".parse().unwrap(), &from, &raw).await;
    (status, t.elapsed())
}

fn is_tempfail(s: &Status) -> bool {
    matches!(s, Status::Tempfail { message: Some(m) } if m.to_string_lossy().starts_with("451 4.7.1"))
}

#[tokio::test]
async fn silent_server_ends_in_the_fallback_within_the_budget() {
    let (status, took) = judge("x.silent.test", Fallback::Tempfail, 1500).await;
    assert!(is_tempfail(&status), "{status:?}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
    let (status, _) = judge("x.silent.test", Fallback::Accept, 1500).await;
    assert_eq!(status, Status::Accept);
}

#[tokio::test]
async fn budget_cuts_slow_dns_short() {
    // Three sequential 300 ms timeouts would exceed a 350 ms budget.
    let (status, took) = judge("x.silent.test", Fallback::Tempfail, 350).await;
    assert!(is_tempfail(&status), "{status:?}");
    assert!(
        took < Duration::from_millis(1200),
        "budget not applied: {took:?}"
    );
}

#[tokio::test]
async fn servfail_is_a_temporary_error() {
    let (status, took) = judge("x.servfail.test", Fallback::Tempfail, 2000).await;
    assert!(is_tempfail(&status), "{status:?}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}

#[tokio::test]
async fn truncated_answer_without_tcp_is_a_temporary_error() {
    let (status, took) = judge("x.truncated.test", Fallback::Tempfail, 2000).await;
    assert!(is_tempfail(&status), "{status:?}");
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}

#[tokio::test]
async fn oversized_spf_record_is_judged_not_fatal() {
    // 6 KB of SPF in one UDP answer: read and evaluated (the client is
    // not in it), not mistaken for a DNS failure that makes senders retry.
    let (status, took) = judge("big.test", Fallback::Tempfail, 2000).await;
    assert_eq!(status, Status::Accept);
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}

#[tokio::test]
async fn spf_include_loop_is_a_permanent_error_not_a_hang() {
    let (status, took) = judge("loop-a.test", Fallback::Tempfail, 2000).await;
    // permerror is not a DNS failure: no tempfail, the mail is judged.
    assert_eq!(
        status,
        Status::Accept,
        "an SPF loop must not make senders retry forever"
    );
    assert!(took < Duration::from_millis(2000), "took {took:?}");
}

#[tokio::test]
async fn malformed_spf_target_is_the_senders_error_never_a_tempfail() {
    // `a:example.com:8080` names no host (RFC 7208 §4.8: the sender's
    // mistake), so even with on_dns_error = "tempfail" the mail is judged
    // now instead of being retried until it bounces.
    let (status, took) = judge("port.test", Fallback::Tempfail, 2000).await;
    assert!(!is_tempfail(&status), "{status:?}");
    assert_eq!(status, Status::Accept);
    assert!(took < Duration::from_millis(2500), "took {took:?}");
}
