//! Milter-protocol tests: the real callbacks and session, in process, driven
//! by indymilter-test as Postfix would drive them. DNS answers come from
//! mail-auth's cache seam, pre-seeded; the resolver behind it points at a
//! loopback port where nothing answers, so any lookup we forgot to seed shows
//! up as a temporary error instead of leaking to the network.

#[path = "support/seeded.rs"]
mod seeded;

use indymilter_test::{EomAction, Status};
use kinko_milter::settings::config::Fallback;
use seeded::{message, sign, start, transact, transact_offering, AUTHSERV};

fn inserted_results(actions: &[EomAction]) -> String {
    actions
        .iter()
        .find_map(|a| match a {
            EomAction::InsertHeader {
                index: 0,
                name,
                value,
            } if name.to_str() == Ok("Authentication-Results") => {
                Some(value.to_string_lossy().into_owned())
            }
            _ => None,
        })
        .expect("an Authentication-Results header inserted at the top")
}

#[tokio::test]
async fn aligned_signed_mail_passes_and_gets_results_header() {
    let m = start(|_| {}).await;
    let raw = sign(&m, &message("Bank <info@bank.test>", "statement", ""));
    let (actions, status) =
        transact(&m, "192.0.2.1".parse().unwrap(), "bounce@bank.test", &raw).await;
    assert_eq!(status, Status::Accept);
    let ar = inserted_results(&actions);
    assert!(ar.starts_with(&format!(" {AUTHSERV};")), "{ar}");
    for want in ["spf=pass", "dkim=pass", "dmarc=pass"] {
        assert!(ar.contains(want), "{want} missing in {ar}");
    }
    assert!(
        !ar.contains('\r'),
        "milter header values use LF folding: {ar:?}"
    );
    assert!(!actions
        .iter()
        .any(|a| matches!(a, EomAction::Quarantine { .. })));
}

#[tokio::test]
async fn forged_from_of_a_reject_domain_is_rejected() {
    let m = start(|_| {}).await;
    let raw = message("Bank <info@bank.test>", "urgent", "");
    let (_, status) = transact(&m, "198.51.100.7".parse().unwrap(), "x@evil.test", &raw).await;
    match status {
        Status::Reject { message: Some(msg) } => {
            let msg = msg.to_string_lossy();
            assert!(msg.starts_with("550 5.7.1"), "{msg}");
        }
        other => panic!("expected a 550 reject, got {other:?}"),
    }
    assert!(m
        .metrics
        .render()
        .contains("kinko_messages_total{action=\"reject\"} 1"));
}

#[tokio::test]
async fn owner_policy_can_map_to_quarantine() {
    // The policy's [auth] mapping is what a team changes; here the config
    // caps the action instead, which must also hold the mail rather than lose it.
    let m =
        start(|c| c.actions.max_action = kinko_milter::vocab::findings::Action::Quarantine).await;
    let raw = message("Bank <info@bank.test>", "urgent", "");
    let (actions, status) =
        transact(&m, "198.51.100.7".parse().unwrap(), "x@evil.test", &raw).await;
    assert_eq!(status, Status::Accept);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, EomAction::Quarantine { .. })),
        "{actions:?}"
    );
}

#[tokio::test]
async fn forged_results_and_verdict_headers_are_deleted() {
    let m = start(|_| {}).await;
    let extra = format!(
        "Authentication-Results: {AUTHSERV}; dkim=pass header.d=bank.test\r\nAuthentication-Results: other.example; spf=pass\r\nX-Kinko-Verdict: accept\r\n"
    );
    let raw = sign(&m, &message("Bank <info@bank.test>", "hello", &extra));
    let (actions, _) = transact(&m, "192.0.2.1".parse().unwrap(), "b@bank.test", &raw).await;
    let deleted: Vec<(String, i32)> = actions
        .iter()
        .filter_map(|a| match a {
            EomAction::DeleteHeader { name, index } => {
                Some((name.to_string_lossy().into_owned(), *index))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        deleted,
        vec![
            ("X-Kinko-Verdict".to_string(), 1),
            ("Authentication-Results".to_string(), 1)
        ]
    );
}

#[tokio::test]
async fn dry_run_accepts_with_headers() {
    let m = start(|c| c.dry_run = true).await;
    let raw = message("Bank <info@bank.test>", "urgent", "");
    let (actions, status) =
        transact(&m, "198.51.100.7".parse().unwrap(), "x@evil.test", &raw).await;
    assert_eq!(status, Status::Accept);
    assert!(
        actions.iter().any(|a| matches!(a, EomAction::AddHeader { name, value }
            if name.to_str() == Ok("X-Kinko-Verdict") && value.to_string_lossy().contains("reject (dry run)"))),
        "{actions:?}"
    );
    assert!(!actions
        .iter()
        .any(|a| matches!(a, EomAction::Quarantine { .. })));
}

/// A trusted client is let through at MAIL, and only its messages count as
/// skipped: a connection that ends (or is re-announced by XCLIENT, which
/// Postfix does with a new connect) before MAIL counts nothing.
#[tokio::test]
async fn trusted_client_is_accepted_at_mail_and_counted_per_message() {
    use indymilter_test::TestConnection;
    let m = start(|c| c.trusted_networks = vec!["203.0.113.0/24".into()]).await;
    let trusted: std::net::IpAddr = "203.0.113.9".parse().unwrap();
    let skipped = |m: &seeded::Milter| {
        m.metrics
            .render()
            .lines()
            .find(|l| l.starts_with("kinko_skipped_total{reason=\"trusted_network\"}"))
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .unwrap_or_default()
    };
    let mut idle = TestConnection::open(m.addr).await.unwrap();
    let st = idle.connect("client.example", (trusted, 1)).await.unwrap();
    assert_eq!(st, Status::Continue);
    idle.close().await.unwrap();
    assert_eq!(skipped(&m), "0");

    let mut conn = TestConnection::open(m.addr).await.unwrap();
    conn.connect("client.example", (trusted, 1)).await.unwrap();
    let st = conn.mail(["<a@bank.test>"]).await.unwrap();
    assert_eq!(st, Status::Accept);
    conn.close().await.unwrap();
    assert_eq!(skipped(&m), "1");
}

#[tokio::test]
async fn dns_failure_follows_on_dns_error() {
    for (fallback, tempfail) in [(Fallback::Tempfail, true), (Fallback::Accept, false)] {
        let m = start(|c| c.on_dns_error = fallback).await;
        // unknown.test is in no cache; the resolver's server does not answer.
        let raw = message("A <a@unknown.test>", "hi", "");
        let (_, status) =
            transact(&m, "198.51.100.7".parse().unwrap(), "a@unknown.test", &raw).await;
        match status {
            Status::Tempfail { message: Some(msg) } => {
                assert!(tempfail, "accept configured, got tempfail");
                assert!(msg.to_string_lossy().starts_with("451 4.7.1"));
            }
            Status::Accept => assert!(!tempfail, "tempfail configured, got accept"),
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn oversized_message_is_cut_at_the_bound_and_reported() {
    let m = start(|c| c.limits.max_message_bytes = 4096).await;
    let big = "x".repeat(70) + "\r\n";
    let body: String = big.repeat(3000); // about 216 KB
    let raw = sign(&m, &format!(
        "From: Bank <info@bank.test>\r\nTo: user@kinko.test\r\nSubject: big\r\nMessage-ID: <big@bank.test>\r\n\r\n{body}"
    ));
    // The envelope sender is not aligned, so DMARC rests on DKIM alone.
    let (_, status) = transact(&m, "192.0.2.1".parse().unwrap(), "b@evil.test", &raw).await;
    // The DKIM body hash cannot match a cut body; that alone must not make
    // DMARC reject legitimate large mail of a p=reject domain.
    assert_eq!(status, Status::Accept);
    let text = m.metrics.render();
    assert!(
        text.contains("kinko_findings_total{kind=\"truncated\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn header_flood_is_bounded() {
    let m = start(|c| c.limits.max_headers = 20).await;
    let extra: String = (0..500).map(|i| format!("X-Filler-{i}: {i}\r\n")).collect();
    let raw = message("Someone <a@bank.test>", "flood", &extra);
    let (_, status) = transact(&m, "192.0.2.1".parse().unwrap(), "a@bank.test", &raw).await;
    assert!(
        matches!(status, Status::Accept | Status::Reject { .. }),
        "{status:?}"
    );
    assert!(m
        .metrics
        .render()
        .contains("kinko_findings_total{kind=\"truncated\"} 1"));
}

async fn wait_active_zero(m: &seeded::Milter) {
    for _ in 0..100 {
        if m.metrics.render().contains("kinko_connections_active 0") {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("connections_active did not return to 0");
}

#[tokio::test]
async fn mta_dropping_mid_body_leaves_nothing_behind() {
    use indymilter_test::TestConnection;
    let m = start(|_| {}).await;
    let mut conn = TestConnection::open(m.addr).await.unwrap();
    conn.connect(
        "c.example",
        ("198.51.100.7".parse::<std::net::IpAddr>().unwrap(), 1),
    )
    .await
    .unwrap();
    conn.mail(["<a@bank.test>"]).await.unwrap();
    conn.rcpt(["<user@kinko.test>"]).await.unwrap();
    conn.data().await.unwrap();
    conn.header("From", " a@bank.test").await.unwrap();
    conn.eoh().await.unwrap();
    conn.body("half a body".repeat(1000)).await.unwrap();
    drop(conn);
    wait_active_zero(&m).await;
    // The milter still serves the next connection normally.
    let raw = sign(&m, &message("Bank <info@bank.test>", "after drop", ""));
    let (_, status) = transact(&m, "192.0.2.1".parse().unwrap(), "b@bank.test", &raw).await;
    assert_eq!(status, Status::Accept);
    assert!(m
        .metrics
        .render()
        .contains("kinko_messages_total{action=\"accept\"} 1"));
}

#[tokio::test]
async fn recorded_stages_need_no_answer_and_older_mtas_still_get_one() {
    use indymilter_test::{ProtoOpts, TestConnection};
    use kinko_milter::daemon::milter::QUIET_STAGES;
    let m = start(|_| {}).await;
    // Offered everything (as Postfix does), the milter asks the MTA not to
    // wait at the stages it only records, and not at connect and MAIL FROM,
    // which may accept early.
    let conn = TestConnection::open(m.addr).await.unwrap();
    let got = conn.negotiated_opts();
    assert!(got.contains(QUIET_STAGES), "{got:?}");
    assert!(!got.intersects(ProtoOpts::NOREPLY_CONNECT | ProtoOpts::NOREPLY_MAIL));
    conn.close().await.unwrap();
    // An MTA without no-reply support gets an answer at every stage (the
    // transaction checks each one) and the same verdict.
    let offered = ProtoOpts::all()
        - (QUIET_STAGES
            | ProtoOpts::NOREPLY_CONNECT
            | ProtoOpts::NOREPLY_MAIL
            | ProtoOpts::NOREPLY_UNKNOWN);
    let raw = sign(&m, &message("Bank <info@bank.test>", "statement", ""));
    let (actions, status) = transact_offering(
        &m,
        Some(offered),
        "192.0.2.1".parse().unwrap(),
        "bounce@bank.test",
        &raw,
    )
    .await;
    assert_eq!(status, Status::Accept);
    assert!(inserted_results(&actions).contains("dmarc=pass"));
}

#[tokio::test]
async fn abort_resets_the_message_not_the_connection() {
    use indymilter_test::TestConnection;
    let m = start(|_| {}).await;
    let mut conn = TestConnection::open(m.addr).await.unwrap();
    conn.connect(
        "c.example",
        ("192.0.2.1".parse::<std::net::IpAddr>().unwrap(), 1),
    )
    .await
    .unwrap();
    conn.helo("mail.bank.test").await.unwrap();
    conn.mail(["<x@evil.test>"]).await.unwrap();
    conn.rcpt(["<user@kinko.test>"]).await.unwrap();
    conn.data().await.unwrap();
    conn.header("From", " Bank <info@bank.test>").await.unwrap();
    conn.abort().await.unwrap();
    // Second message on the same connection: aligned and signed, passes;
    // nothing of the aborted one (its forged From) may leak into it.
    let raw = sign(&m, &message("Bank <info@bank.test>", "second", ""));
    conn.mail(["<b@bank.test>"]).await.unwrap();
    conn.rcpt(["<user@kinko.test>"]).await.unwrap();
    conn.data().await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    for line in head.replace("\r\n\t", "\u{1}").split("\r\n") {
        let (n, v) = line.split_once(':').unwrap();
        conn.header(n, v.replace('\u{1}', "\r\n\t")).await.unwrap();
    }
    conn.eoh().await.unwrap();
    conn.body(body.to_string()).await.unwrap();
    let (_, status) = conn.eom().await.unwrap();
    assert_eq!(status, Status::Accept);
    conn.close().await.unwrap();
    let text = m.metrics.render();
    assert!(
        text.contains("kinko_auth_results_total{method=\"dmarc\",result=\"pass\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_rather_than_fail() {
    use indymilter_test::TestConnection;
    let m = start(|c| c.limits.max_connections = 2).await;
    let a = TestConnection::open(m.addr).await.unwrap();
    let b = TestConnection::open(m.addr).await.unwrap();
    let raw = sign(&m, &message("Bank <info@bank.test>", "third", ""));
    let view = m.view();
    let third = tokio::spawn(async move {
        transact(&view, "192.0.2.1".parse().unwrap(), "b@bank.test", &raw).await
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served beyond max_connections = 2"
    );
    a.close().await.unwrap();
    let (_, status) = tokio::time::timeout(std::time::Duration::from_secs(5), third)
        .await
        .expect("the waiting connection is served once a slot frees")
        .unwrap();
    assert_eq!(status, Status::Accept);
    b.close().await.unwrap();
}

#[tokio::test]
async fn results_of_a_trusted_upstream_are_used_instead_of_dns() {
    let m = start(|c| c.trust_authserv_id = Some("upstream.test".into())).await;
    // Unsigned, from an address SPF would fail: only the upstream's word counts.
    let failed = "Authentication-Results: upstream.test; spf=fail smtp.mailfrom=x@evil.test;\r\n\tdmarc=fail header.from=bank.test policy.dmarc=reject\r\n";
    let raw = message("Bank <info@bank.test>", "upstream says fail", failed);
    let (_, status) = transact(&m, "198.51.100.7".parse().unwrap(), "x@evil.test", &raw).await;
    assert!(matches!(status, Status::Reject { .. }), "{status:?}");
    let passed = "Authentication-Results: upstream.test; dmarc=pass header.from=bank.test\r\n";
    let raw = message("Bank <info@bank.test>", "upstream says pass", passed);
    let (_, status) = transact(&m, "198.51.100.7".parse().unwrap(), "x@evil.test", &raw).await;
    assert_eq!(status, Status::Accept);
}

/// Tagged mail gets the banner through body replacement; the headers that
/// must change with it (a US-ASCII part turned UTF-8) are added. Held mail,
/// and tagged mail with `banner = false`, keep their body.
#[tokio::test]
async fn tagged_mail_body_is_replaced_with_the_banner() {
    use kinko_milter::vocab::findings::Action;
    let body_of = |actions: &[EomAction]| -> Option<Vec<u8>> {
        let chunks: Vec<u8> = actions
            .iter()
            .filter_map(|a| match a {
                EomAction::ReplaceBody { chunk } => Some(chunk.to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        (!chunks.is_empty()).then_some(chunks)
    };
    let raw = message("Bank <info@bank.test>", "urgent", "");
    let m = start(|c| c.actions.max_action = Action::Tag).await;
    let (actions, status) =
        transact(&m, "198.51.100.7".parse().unwrap(), "x@evil.test", &raw).await;
    assert_eq!(status, Status::Accept);
    let body = body_of(&actions).expect("body replaced");
    let added: Vec<(String, String)> = actions
        .iter()
        .filter_map(|a| match a {
            EomAction::AddHeader { name, value } => Some((
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )),
            _ => None,
        })
        .collect();
    let ct = added.iter().find(|(n, _)| n == "Content-Type");
    let cte = added.iter().find(|(n, _)| n == "Content-Transfer-Encoding");
    assert_eq!(
        (ct.map(|c| c.1.as_str()), cte.map(|c| c.1.as_str())),
        (
            Some(" text/plain; charset=UTF-8"),
            Some(" quoted-printable")
        ),
        "{added:?}"
    );
    // The new body, under the new fields, reads as the banner and then the
    // original text.
    let mut rebuilt = b"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n".to_vec();
    rebuilt.extend_from_slice(&body);
    let parsed = mail_parser::MessageParser::default()
        .parse(&rebuilt)
        .unwrap();
    let text = parsed.body_text(0).unwrap();
    assert!(text.starts_with("【ご注意】"), "{text}");
    assert!(text.ends_with("\r\nHello.\r\n"), "{text}");

    let m = start(|c| {
        c.actions.max_action = Action::Tag;
        c.actions.banner = false;
    })
    .await;
    let (actions, _) = transact(&m, "198.51.100.7".parse().unwrap(), "x@evil.test", &raw).await;
    assert!(actions.iter().any(
        |a| matches!(a, EomAction::AddHeader { value, .. } if value.to_string_lossy() == " tag")
    ));
    assert_eq!(body_of(&actions), None, "banner = false");

    let m = start(|c| c.actions.max_action = Action::Quarantine).await;
    let (actions, _) = transact(&m, "198.51.100.7".parse().unwrap(), "x@evil.test", &raw).await;
    assert!(actions
        .iter()
        .any(|a| matches!(a, EomAction::Quarantine { .. })));
    assert_eq!(body_of(&actions), None, "held mail");

    // Too large to rewrite: left alone, and the reasons say so.
    let m = start(|c| {
        c.actions.max_action = Action::Tag;
        c.limits.max_message_bytes = 4096;
    })
    .await;
    let big = format!(
        "From: Bank <info@bank.test>\r\nTo: user@kinko.test\r\nSubject: big\r\n\r\n{}",
        "Hello.\r\n".repeat(1000)
    );
    let (actions, _) = transact(&m, "198.51.100.7".parse().unwrap(), "x@evil.test", &big).await;
    assert_eq!(body_of(&actions), None, "oversized mail");
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, EomAction::AddHeader { name, value }
            if name.to_str() == Ok("X-Kinko-Reasons")
                && value.to_string_lossy().contains("no banner: message over 4096 bytes"))),
        "{actions:?}"
    );
}

/// Issue #19: a quoted-printable text part whose decoded lines read
/// `--BOUNDARY` is judged as one text part; the replaced body must parse
/// into that same single part (with the banner), not into the text and
/// the HTML part hidden behind the smuggled boundaries. A tagged message
/// that cannot take the banner says why in `X-Kinko-Reasons`.
#[tokio::test]
async fn the_replaced_body_is_the_part_that_was_judged() {
    use kinko_milter::vocab::findings::Action;
    let head = "Content-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n";
    let body = "--BOUNDARY\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nHello.\r\n=2D-BOUNDARY\r\nContent-Type: text/html\r\n\r\n<a href=3D\"&#104;ttps://login.evil.test/bank\">log in</a>\r\n=2D-BOUNDARY--\r\n--BOUNDARY--\r\n";
    let raw = format!(
        "From: Bank <info@bank.test>\r\nTo: user@kinko.test\r\nSubject: urgent\r\nMessage-ID: <s@bank.test>\r\nMIME-Version: 1.0\r\n{head}\r\n{body}"
    );
    let m = start(|c| c.actions.max_action = Action::Tag).await;
    let (actions, status) =
        transact(&m, "198.51.100.7".parse().unwrap(), "x@evil.test", &raw).await;
    assert_eq!(status, Status::Accept);
    let replaced: Vec<u8> = actions
        .iter()
        .filter_map(|a| match a {
            EomAction::ReplaceBody { chunk } => Some(chunk.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(!replaced.is_empty(), "body replaced: {actions:?}");
    let parts = |b: &[u8]| {
        let mut m = format!("MIME-Version: 1.0\r\n{head}\r\n").into_bytes();
        m.extend_from_slice(b);
        let p = mail_parser::MessageParser::default().parse(&m).unwrap();
        let texts: Vec<String> = p
            .parts
            .iter()
            .filter_map(|x| match &x.body {
                mail_parser::PartType::Text(t) | mail_parser::PartType::Html(t) => {
                    Some(t.to_string())
                }
                _ => None,
            })
            .collect();
        (p.parts.len(), texts)
    };
    let (n_old, old) = parts(body.as_bytes());
    let (n_new, new) = parts(&replaced);
    assert_eq!((n_old, old.len()), (2, 1));
    assert_eq!(
        (n_new, new.len()),
        (2, 1),
        "{}",
        String::from_utf8_lossy(&replaced)
    );
    assert!(new[0].starts_with("【ご注意】"), "{}", new[0]);
    assert!(new[0].ends_with(&old[0]), "{}", new[0]);
    // Delivered as that one part to an RFC 2046 reader too.
    let boundary_lines = replaced
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"--BOUNDARY"))
        .count();
    assert_eq!(boundary_lines, 2);

    // Nothing to put the banner in: the reasons say so.
    let only = "From: Bank <info@bank.test>\r\nTo: user@kinko.test\r\nSubject: urgent\r\nMessage-ID: <a@bank.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\n\r\nAAAA\r\n--x--\r\n";
    let (actions, _) = transact(&m, "198.51.100.7".parse().unwrap(), "x@evil.test", only).await;
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, EomAction::AddHeader { name, value }
            if name.to_str() == Ok("X-Kinko-Reasons")
                && value.to_string_lossy().contains("no banner: no readable text part"))),
        "{actions:?}"
    );
}
