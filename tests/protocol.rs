//! Milter-protocol tests: the real callbacks and session, in process, driven
//! by indymilter-test as Postfix would drive them. DNS answers come from
//! mail-auth's cache seam, pre-seeded; the resolver behind it points at a
//! loopback port where nothing answers, so any lookup we forgot to seed shows
//! up as a temporary error instead of leaking to the network.

use indymilter_test::{EomAction, MacroStage, Status, TestConnection};
use kinko_milter::auth::Authenticator;
use kinko_milter::config::{Config, Fallback};
use kinko_milter::dns::{self, Caches, Upstream};
use kinko_milter::metrics::Metrics;
use kinko_milter::policy::Policy;
use kinko_milter::session::{Runtime, State};
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::DkimSigner;
use mail_auth::dmarc::Dmarc;
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::spf::Spf;
use mail_auth::{DnsError, ResolverCache, Txt};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const AUTHSERV: &str = "mx.kinko.test";

struct Milter {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pkcs8: Vec<u8>,
    metrics: Arc<Metrics>,
}

impl Drop for Milter {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

fn seed(c: &Caches, name: &str, txt: Txt) {
    c.txt
        .insert(name.into(), txt, Instant::now() + Duration::from_secs(3600));
}

fn nxdomain() -> Txt {
    Txt::Error(mail_auth::Error::Dns(DnsError::RecordNotFound(
        ResponseCode::NXDomain,
    )))
}

/// A milter whose DNS knows bank.test (SPF: 192.0.2.1, ed25519 DKIM key
/// `sel`, DMARC p=reject) and nothing else.
async fn start(tweak: impl FnOnce(&mut Config)) -> Milter {
    let mut cfg = Config {
        authserv_id: AUTHSERV.into(),
        trusted_networks: vec![],
        ..Config::default()
    };
    cfg.dns.nameservers = vec!["127.0.0.1:9".into()];
    cfg.dns.timeout_ms = 200;
    cfg.dns.attempts = 1;
    cfg.limits.message_time_budget_ms = 2000;
    tweak(&mut cfg);

    let pkcs8 = Ed25519Key::generate_pkcs8().unwrap();
    let key = Ed25519Key::from_pkcs8_der(&pkcs8).unwrap();
    let metrics = Arc::new(Metrics::new());
    let caches = Caches::new(1000, Some(metrics.clone()));
    seed(
        &caches,
        "bank.test.",
        Spf::parse(b"v=spf1 ip4:192.0.2.1 -all").unwrap().into(),
    );
    seed(&caches, "mail.bank.test.", nxdomain());
    seed(&caches, "mail.evil.test.", nxdomain());
    seed(&caches, "evil.test.", nxdomain());
    seed(&caches, "_dmarc.evil.test.", nxdomain());
    seed(&caches, "_dmarc.test.", nxdomain());
    let record = format!(
        "v=DKIM1; k=ed25519; p={}",
        kinko_milter::actions::base64(&key.public_key())
    );
    seed(
        &caches,
        "sel._domainkey.bank.test.",
        DomainKey::parse(record.as_bytes()).unwrap().into(),
    );
    seed(
        &caches,
        "_dmarc.bank.test.",
        Dmarc::parse(b"v=DMARC1; p=reject").unwrap().into(),
    );
    let upstream = cfg.upstream().unwrap();
    assert!(matches!(upstream, Upstream::Servers(_)));
    let resolver = dns::resolver(&upstream, cfg.dns_timeout(), 1).unwrap();
    let state = State {
        policy: Arc::new(Policy::embedded().unwrap()),
        authenticator: Arc::new(Authenticator::new(resolver, caches)),
        trusted: cfg.trusted().unwrap(),
        config: Arc::new(cfg),
    };
    let runtime = Arc::new(Runtime::new(state, metrics.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(kinko_milter::server::serve_tcp(
        listener,
        runtime,
        indymilter::Config::default(),
        async move {
            let _ = rx.await;
        },
    ));
    Milter {
        addr,
        stop: Some(tx),
        pkcs8,
        metrics,
    }
}

fn sign(m: &Milter, raw: &str) -> String {
    let sig = DkimSigner::from_key(Ed25519Key::from_pkcs8_der(&m.pkcs8).unwrap())
        .domain("bank.test")
        .selector("sel")
        .headers(["From", "To", "Subject", "Message-ID"])
        .sign(raw.as_bytes())
        .unwrap();
    format!("{}{raw}", sig.to_header())
}

/// Feeds one message through a connection the way Postfix does and
/// returns the end-of-message actions and status.
async fn transact(
    m: &Milter,
    client: IpAddr,
    mail_from: &str,
    raw: &str,
) -> (Vec<EomAction>, Status) {
    let mut conn = TestConnection::configure()
        .exact_leading_space(true)
        .open_tcp(m.addr)
        .await
        .unwrap();
    let st = conn
        .connect("client.example", (client, 40000))
        .await
        .unwrap();
    if st != Status::Continue {
        conn.close().await.unwrap();
        return (vec![], st);
    }
    assert_eq!(conn.helo("mail.bank.test").await.unwrap(), Status::Continue);
    assert_eq!(
        conn.mail([format!("<{mail_from}>")]).await.unwrap(),
        Status::Continue
    );
    assert_eq!(
        conn.rcpt(["<user@kinko.test>"]).await.unwrap(),
        Status::Continue
    );
    conn.macros(MacroStage::Data, [("i", "4Xq1Yz2Abc")])
        .await
        .unwrap();
    assert_eq!(conn.data().await.unwrap(), Status::Continue);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    for line in head
        .split("\r\n")
        .collect::<Vec<_>>()
        .join("\n")
        .replace("\n\t", "\u{1}")
        .split('\n')
    {
        let line = line.replace('\u{1}', "\n\t");
        let (name, value) = line.split_once(':').unwrap();
        assert_eq!(conn.header(name, value).await.unwrap(), Status::Continue);
    }
    assert_eq!(conn.eoh().await.unwrap(), Status::Continue);
    assert_eq!(conn.body(body.to_string()).await.unwrap(), Status::Continue);
    let (actions, status) = conn.eom().await.unwrap();
    conn.close().await.unwrap();
    (actions.actions, status)
}

fn message(from: &str, subject: &str, extra: &str) -> String {
    format!(
        "From: {from}\r\nTo: user@kinko.test\r\nSubject: {subject}\r\nMessage-ID: <{}@bank.test>\r\n{extra}\r\nHello.\r\n",
        subject.len()
    )
}

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
    let m = start(|c| c.actions.max_action = kinko_milter::findings::Action::Quarantine).await;
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

#[tokio::test]
async fn trusted_client_is_accepted_at_connect() {
    let m = start(|c| c.trusted_networks = vec!["203.0.113.0/24".into()]).await;
    let (actions, status) = transact(&m, "203.0.113.9".parse().unwrap(), "", "").await;
    assert_eq!(status, Status::Accept);
    assert!(actions.is_empty());
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
