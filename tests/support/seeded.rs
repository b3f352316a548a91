//! A kinko-milter served in process with DNS answered from the verifier's
//! caches (mail-auth's cache seam, SPF's and DMARC's own), plus a client that drives one transaction the way Postfix
//! does. Shared by the protocol tests and the milter benchmark.
#![allow(dead_code)]

use indymilter_test::{EomAction, MacroStage, ProtoOpts, Status, TestConnection};
use kinko_milter::analysis::policy::Policy;
use kinko_milter::auth::dns::{self, Answer, Caches, Upstream};
use kinko_milter::auth::Authenticator;
use kinko_milter::daemon::runtime::{Runtime, State};
use kinko_milter::settings::config::Config;
use kinko_milter::telemetry::metrics::Metrics;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::DkimSigner;
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::hickory_resolver::proto::rr::rdata::TXT;
use mail_auth::hickory_resolver::proto::rr::RData;
use mail_auth::spf::Spf;
use mail_auth::{DnsError, ResolverCache, Txt};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub const AUTHSERV: &str = "mx.kinko.test";

pub struct Milter {
    pub addr: SocketAddr,
    /// Set when the milter serves a unix socket instead of `addr`.
    pub unix: Option<std::path::PathBuf>,
    stop: Option<oneshot::Sender<()>>,
    pub pkcs8: Vec<u8>,
    pub metrics: Arc<Metrics>,
}

impl Milter {
    /// Another handle on the same running milter, for a spawned task; it
    /// does not stop the milter when dropped.
    pub fn view(&self) -> Milter {
        Milter {
            addr: self.addr,
            unix: self.unix.clone(),
            stop: None,
            pkcs8: self.pkcs8.clone(),
            metrics: self.metrics.clone(),
        }
    }
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

/// SPF's view of the same names: TXT answers (none for NXDOMAIN).
fn seed_spf(c: &Caches, name: &str, txt: Option<&str>) {
    let answers: Vec<RData> = txt
        .map(|t| RData::TXT(TXT::new(vec![t.to_string()])))
        .into_iter()
        .collect();
    c.spf.insert(
        format!("TXT:{name}").into(),
        answers.into(),
        Instant::now() + Duration::from_secs(3600),
    );
}

/// DMARC's view (RFC 9989 tree walk): `_dmarc.` names and their TXT
/// answers, an empty answer for a name without a record.
fn seed_dmarc(c: &Caches, name: &str, txt: Option<&str>) {
    let texts: Vec<String> = txt.map(str::to_string).into_iter().collect();
    c.dmarc.insert(
        format!("TXT:{name}").into(),
        Answer::Records(texts.into()),
        Instant::now() + Duration::from_secs(3600),
    );
}

fn nxdomain() -> Txt {
    Txt::Error(mail_auth::Error::Dns(DnsError::RecordNotFound(
        ResponseCode::NXDomain,
    )))
}

/// A milter whose DNS knows bank.test (SPF: 192.0.2.1, ed25519 DKIM key
/// `sel`, DMARC p=reject) and nothing else.
pub async fn start(tweak: impl FnOnce(&mut Config)) -> Milter {
    start_on(None, tweak).await
}

/// The same milter on a unix socket at `path` (no TCP, so no Nagle on
/// either side: what a benchmark of the milter's own work wants).
pub async fn start_unix(path: &std::path::Path, tweak: impl FnOnce(&mut Config)) -> Milter {
    start_on(Some(path), tweak).await
}

async fn start_on(unix: Option<&std::path::Path>, tweak: impl FnOnce(&mut Config)) -> Milter {
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
    seed_spf(&caches, "bank.test.", Some("v=spf1 ip4:192.0.2.1 -all"));
    for name in ["mail.bank.test.", "mail.evil.test.", "evil.test."] {
        seed_spf(&caches, name, None);
    }
    seed(&caches, "mail.bank.test.", nxdomain());
    seed(&caches, "mail.evil.test.", nxdomain());
    seed(&caches, "evil.test.", nxdomain());
    for name in [
        "_dmarc.evil.test.",
        "_dmarc.mail.evil.test.",
        "_dmarc.mail.bank.test.",
        "_dmarc.test.",
    ] {
        seed_dmarc(&caches, name, None);
    }
    let record = format!(
        "v=DKIM1; k=ed25519; p={}",
        kinko_milter::vocab::header_text::base64(&key.public_key())
    );
    seed(
        &caches,
        "sel._domainkey.bank.test.",
        DomainKey::parse(record.as_bytes()).unwrap().into(),
    );
    seed_dmarc(&caches, "_dmarc.bank.test.", Some("v=DMARC1; p=reject"));
    let upstream = cfg.upstream().unwrap();
    assert!(matches!(upstream, Upstream::Servers(_)));
    let resolver = dns::resolver(&upstream, cfg.dns_timeout(), 1).unwrap();
    let milter_config = indymilter::Config {
        max_connections: cfg.limits.max_connections,
        ..Default::default()
    };
    let state = State {
        policy: Arc::new(Policy::embedded().unwrap()),
        authenticator: Arc::new(Authenticator::new(resolver, caches)),
        trusted: cfg.trusted().unwrap(),
        config: Arc::new(cfg),
    };
    let runtime = Arc::new(Runtime::new(state, metrics.clone()));
    let (tx, rx) = oneshot::channel::<()>();
    let stopped = async move {
        let _ = rx.await;
    };
    let addr = match unix {
        Some(path) => {
            let listener = tokio::net::UnixListener::bind(path).unwrap();
            tokio::spawn(kinko_milter::daemon::server::serve_unix(
                listener,
                runtime,
                milter_config,
                stopped,
            ));
            SocketAddr::from(([0, 0, 0, 0], 0))
        }
        None => {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(kinko_milter::daemon::server::serve_tcp(
                listener,
                runtime,
                milter_config,
                stopped,
            ));
            addr
        }
    };
    Milter {
        addr,
        unix: unix.map(|p| p.to_path_buf()),
        stop: Some(tx),
        pkcs8,
        metrics,
    }
}

pub fn sign(m: &Milter, raw: &str) -> String {
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
pub async fn transact(
    m: &Milter,
    client: IpAddr,
    mail_from: &str,
    raw: &str,
) -> (Vec<EomAction>, Status) {
    transact_offering(m, None, client, mail_from, raw).await
}

/// What a stage the milter only records answers: nothing if the MTA
/// agreed to that, else continue.
fn quiet(conn: &TestConnection, stage: ProtoOpts) -> Status {
    if conn.negotiated_opts().contains(stage) {
        Status::Noreply
    } else {
        Status::Continue
    }
}

/// [`transact`] with an MTA that offers only `offered` protocol options
/// (`None`: all of them, as Postfix does).
pub async fn transact_offering(
    m: &Milter,
    offered: Option<ProtoOpts>,
    client: IpAddr,
    mail_from: &str,
    raw: &str,
) -> (Vec<EomAction>, Status) {
    let mut builder = TestConnection::configure().exact_leading_space(true);
    if let Some(o) = offered {
        builder = builder.available_opts(o);
    }
    let mut conn = match &m.unix {
        Some(path) => builder.open_unix(path).await.unwrap(),
        None => builder.open_tcp(m.addr).await.unwrap(),
    };
    let st = conn
        .connect("client.example", (client, 40000))
        .await
        .unwrap();
    if st != Status::Continue {
        conn.close().await.unwrap();
        return (vec![], st);
    }
    let helo = conn.helo("mail.bank.test").await.unwrap();
    assert_eq!(helo, quiet(&conn, ProtoOpts::NOREPLY_HELO));
    assert_eq!(
        conn.mail([format!("<{mail_from}>")]).await.unwrap(),
        Status::Continue
    );
    let rcpt = conn.rcpt(["<user@kinko.test>"]).await.unwrap();
    assert_eq!(rcpt, quiet(&conn, ProtoOpts::NOREPLY_RCPT));
    conn.macros(MacroStage::Data, [("i", "4Xq1Yz2Abc")])
        .await
        .unwrap();
    let data = conn.data().await.unwrap();
    assert_eq!(data, quiet(&conn, ProtoOpts::NOREPLY_DATA));
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
        let st = conn.header(name, value).await.unwrap();
        assert_eq!(st, quiet(&conn, ProtoOpts::NOREPLY_HEADER));
    }
    let eoh = conn.eoh().await.unwrap();
    assert_eq!(eoh, quiet(&conn, ProtoOpts::NOREPLY_EOH));
    let body = conn.body(body.to_string()).await.unwrap();
    assert_eq!(body, quiet(&conn, ProtoOpts::NOREPLY_BODY));
    let (actions, status) = conn.eom().await.unwrap();
    conn.close().await.unwrap();
    (actions.actions, status)
}

pub fn message(from: &str, subject: &str, extra: &str) -> String {
    format!(
        "From: {from}\r\nTo: user@kinko.test\r\nSubject: {subject}\r\nMessage-ID: <{}@bank.test>\r\n{extra}\r\nHello.\r\n",
        subject.len()
    )
}
