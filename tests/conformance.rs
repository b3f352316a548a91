//! The standards' own test suites (`../shared/conformance/`), every
//! scenario, and our DMARC cases (`tests/data/dmarc/cases.yaml`: RFC
//! 9989's examples and tree walks ported from mail-auth's tests), through
//! the daemon's verifier and resolver: each scenario's
//! records are served by a DNS server on loopback (UDP and TCP, NXDOMAIN
//! for names it does not know, NODATA for types a known name lacks,
//! silence for `TIMEOUT`, truncation over UDP of answers too large for it), and the message goes through
//! `Authenticator::authenticate_within` as the daemon's does.
//!
//! `CONFORMANCE_ONLY_DMARC=1` runs the DMARC cases alone (seconds rather
//! than the SPF suite's minutes), for work on `src/auth/dmarc`.
//!
//! Prints the passing count per suite and the scenarios that fail; exits
//! non-zero when a suite falls below its floor, so a regression fails CI.
//! The floors are the counts measured when they were last raised.

#[path = "support/dns_server.rs"]
mod dns_server;

use dns_server::Transport;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{CNAME, MX, PTR, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use kinko_milter::auth::dns::{self, Caches, Upstream};
use kinko_milter::auth::Authenticator;
use kinko_milter::vocab::auth::{effective_policy, AuthSummary, LocalPolicy, Res};
use kinko_milter::vocab::message::Envelope;
use serde_norway::Value;
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Passing scenarios below which the run fails (SPF of 203, ARC of 171,
/// DMARC of all its cases).
const SPF_FLOOR: usize = 201;
const ARC_FLOOR: usize = 169;
const DMARC_FLOOR: usize = 58;

const DMARC_CASES: &str = "tests/data/dmarc/cases.yaml";

const SUITES: &str = "../shared/conformance";

#[derive(Debug, Clone)]
enum Rr {
    A(IpAddr),
    Mx(u16, String),
    Txt(Vec<String>),
    Ptr(String),
    Cname(String),
    Timeout,
}

/// One scenario's records by lower-case FQDN (trailing dot).
type Zone = HashMap<String, Vec<Rr>>;

fn fqdn(name: &str) -> String {
    let n = name.trim_end_matches('.').to_ascii_lowercase();
    format!("{n}.")
}

/// A name from the suite's text, label by label: SPF targets may carry
/// bytes (`:`, `/`) that hostnames cannot.
fn dns_name(text: &str) -> Option<Name> {
    if text.trim_end_matches('.').is_empty() {
        return Some(Name::root());
    }
    let mut n = Name::from_labels(
        fqdn(text)
            .trim_end_matches('.')
            .split('.')
            .map(str::as_bytes),
    )
    .ok()?;
    n.set_fqdn(true);
    Some(n)
}

fn answer(zone: &Zone, q: &Message) -> Option<Message> {
    let query = q.queries.first()?.clone();
    let mut r = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
    r.metadata.recursion_desired = q.metadata.recursion_desired;
    r.metadata.recursion_available = true;
    r.metadata.authoritative = true;
    r.add_query(query.clone());
    let qtype = query.query_type();
    let mut name = query.name().clone();
    // Follow CNAMEs inside the zone as an authoritative server would.
    for _ in 0..8 {
        // Labels as sent, unescaped: SPF targets may carry `:` and `/`.
        let labels: Vec<String> = name
            .iter()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        let key = fqdn(&labels.join("."));
        let Some(rrs) = zone.get(&key) else {
            let known_below = zone.keys().any(|k| k.ends_with(&format!(".{key}")));
            if !known_below && r.answers.is_empty() {
                r.metadata.response_code = ResponseCode::NXDomain;
            }
            return Some(r);
        };
        let timeout = rrs.iter().any(|rr| matches!(rr, Rr::Timeout));
        let mut next = None;
        for rr in rrs {
            let data = match (rr, qtype) {
                (Rr::A(IpAddr::V4(a)), RecordType::A) => RData::A((*a).into()),
                (Rr::A(IpAddr::V6(a)), RecordType::AAAA) => RData::AAAA((*a).into()),
                (Rr::Mx(p, host), RecordType::MX) => RData::MX(MX::new(*p, dns_name(host)?)),
                (Rr::Txt(parts), RecordType::TXT) => RData::TXT(TXT::new(parts.clone())),
                (Rr::Ptr(host), RecordType::PTR) => RData::PTR(PTR(dns_name(host)?)),
                (Rr::Cname(target), t) => {
                    let target = dns_name(target)?;
                    if t != RecordType::CNAME {
                        next = Some(target.clone());
                    }
                    RData::CNAME(CNAME(target))
                }
                _ => continue,
            };
            r.add_answer(Record::from_rdata(name.clone(), 300, data));
        }
        // `TIMEOUT` beside records: the types the name has answer, the
        // others time out (as the suite's drivers read it).
        if timeout && r.answers.is_empty() {
            return None;
        }
        match next {
            Some(target) => name = target,
            None => return Some(r),
        }
    }
    Some(r)
}

/// The `_dmarc.` names asked for since the scenario began, in order.
type Asked = Arc<Mutex<Vec<String>>>;

/// A server whose zone each scenario replaces.
async fn server(zone: Arc<Mutex<Zone>>, asked: Asked) -> SocketAddr {
    dns_server::serve(Arc::new(move |q: &Message, _: Transport| {
        if let Some(query) = q.queries.first() {
            let name = query.name().to_ascii().to_ascii_lowercase();
            let name = name.trim_end_matches('.');
            if name.starts_with("_dmarc.") && query.query_type() == RecordType::TXT {
                asked.lock().unwrap().push(name.to_string());
            }
        }
        answer(&zone.lock().unwrap(), q)
    }))
    .await
}

/// One scenario's message verified as the daemon does, by a fresh verifier
/// (so no cache carries one scenario's records into the next) whose
/// resolver and caches are the daemon's, with the receiver's local policy
/// left out: no trusted ARC sealers, so each suite sees
/// the verifier's own results. A timeout's summary counts as the result.
async fn verify(addr: SocketAddr, raw: &[u8], env: &Envelope) -> AuthSummary {
    let resolver = dns::resolver(
        &Upstream::Servers(vec![addr]),
        Duration::from_millis(400),
        1,
    )
    .expect("resolver");
    let local = LocalPolicy {
        trusted_arc_sealers: Default::default(),
    };
    Authenticator::new(resolver, Caches::new(256, None))
        .authenticate_within(Duration::from_secs(10), raw, env, "mx.test", &local, false)
        .await
        .unwrap_or_else(|e| e)
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(s) => s.iter().map(scalar).collect(),
        other => vec![scalar(other)],
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => String::new(),
        other => format!("{other:?}"),
    }
}

/// One scenario of a suite.
#[derive(serde::Deserialize)]
struct Scenario {
    tests: Tests,
    #[serde(default)]
    zonedata: Value,
    #[serde(default, rename = "txt-records")]
    txt_records: Value,
}

/// A scenario's tests in file order. The ARC suite names four tests twice;
/// YAML readers keep the later one (as the suite's own driver does), which
/// a strict mapping refuses, so read the pairs and let the later one win.
struct Tests(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Tests {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> serde::de::Visitor<'de> for Pairs {
            type Value = Tests;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a mapping of tests")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut m: A) -> Result<Tests, A::Error> {
                let mut out: Vec<(String, Value)> = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Value>()? {
                    out.retain(|(name, _)| *name != k);
                    out.push((k, v));
                }
                Ok(Tests(out))
            }
        }
        d.deserialize_map(Pairs)
    }
}

fn documents(path: &str) -> Vec<Scenario> {
    let text = std::fs::read_to_string(format!("{SUITES}/{path}"))
        .unwrap_or_else(|e| panic!("{SUITES}/{path}: {e} (run from the repository root)"));
    serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("suite YAML"))
        .collect()
}

/// The SPF suite's zone: SPF-type records double as TXT where a name has
/// no TXT of its own, as the suite's drivers do (RFC 7208 dropped type SPF).
fn spf_zone(data: &Value) -> Zone {
    let mut zone = Zone::new();
    let Some(map) = data.as_mapping() else {
        return zone;
    };
    for (name, rrs) in map {
        let mut out = Vec::new();
        let mut spf = Vec::new();
        let mut has_txt = false;
        for rr in rrs.as_sequence().into_iter().flatten() {
            if rr.as_str() == Some("TIMEOUT") {
                out.push(Rr::Timeout);
                continue;
            }
            let Some(m) = rr.as_mapping() else { continue };
            for (t, v) in m {
                match t.as_str().unwrap_or("") {
                    "A" | "AAAA" => {
                        if let Ok(ip) = scalar(v).parse() {
                            out.push(Rr::A(ip));
                        }
                    }
                    "MX" => {
                        let parts = strings(v);
                        out.push(Rr::Mx(parts[0].parse().unwrap_or(0), parts[1].clone()));
                    }
                    // `TXT: NONE`: the name has no TXT (and none is made
                    // from its SPF records).
                    "TXT" => {
                        has_txt = true;
                        if v.as_str() != Some("NONE") {
                            out.push(Rr::Txt(strings(v)));
                        }
                    }
                    "SPF" => spf.push(Rr::Txt(strings(v))),
                    "PTR" => out.push(Rr::Ptr(scalar(v))),
                    "CNAME" => out.push(Rr::Cname(scalar(v))),
                    _ => {}
                }
            }
        }
        if !has_txt {
            out.extend(spf);
        }
        zone.entry(fqdn(&scalar(name))).or_default().extend(out);
    }
    zone
}

struct Outcome {
    suite: &'static str,
    name: String,
    ok: bool,
    detail: String,
}

async fn run_spf(zone: &Arc<Mutex<Zone>>, addr: SocketAddr, out: &mut Vec<Outcome>) {
    for doc in documents("spf/rfc7208-tests.yml") {
        *zone.lock().unwrap() = spf_zone(&doc.zonedata);
        for (name, t) in &doc.tests.0 {
            let want: Vec<String> = strings(&t["result"])
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .collect();
            let env = Envelope {
                client_ip: scalar(&t["host"]).parse().ok(),
                helo: scalar(&t["helo"]),
                mail_from: scalar(&t["mailfrom"]),
                ..Default::default()
            };
            let raw = b"From: <conformance@test.invalid>\r\nSubject: spf\r\n\r\nbody\r\n";
            let got = verify(addr, raw, &env).await;
            let got = got.spf.as_str();
            out.push(Outcome {
                suite: "SPF",
                name: name.clone(),
                ok: want.iter().any(|w| w == got),
                detail: format!("got {got}, want {}", want.join("|")),
            });
        }
    }
}

/// The suite's messages as the MTA hands them to us: CRLF line endings.
fn crlf(message: &str) -> Vec<u8> {
    message
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes()
}

async fn run_arc(zone: &Arc<Mutex<Zone>>, addr: SocketAddr, out: &mut Vec<Outcome>) {
    for doc in documents("arc/arc-draft-validation-tests.yml") {
        let mut z = Zone::new();
        for (name, txt) in doc.txt_records.as_mapping().into_iter().flatten() {
            // DNS carries at most 255 bytes per string; long keys are split.
            let text = scalar(txt);
            let parts = text
                .as_bytes()
                .chunks(255)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect();
            z.insert(fqdn(&scalar(name)), vec![Rr::Txt(parts)]);
        }
        *zone.lock().unwrap() = z;
        for (name, t) in &doc.tests.0 {
            // Three expectations are written as an empty block: the tests
            // are named cv_fail_*, and a seal carrying cv=fail ends the chain
            // in fail (RFC 8617 §5.2).
            let want = match scalar(&t["cv"]).trim().to_ascii_lowercase() {
                w if w.is_empty() => "fail".to_string(),
                w => w,
            };
            let env = Envelope {
                client_ip: Some("192.0.2.1".parse().unwrap()),
                helo: "mail.test.invalid".into(),
                ..Default::default()
            };
            let raw = crlf(&scalar(&t["message"]));
            let got = verify(addr, &raw, &env).await;
            let got = match got.arc {
                Res::Skipped => "skipped",
                r => r.as_str(),
            };
            out.push(Outcome {
                suite: "ARC",
                name: name.clone(),
                ok: got == want,
                detail: format!("got {got}, want {want}"),
            });
        }
    }
}

/// One DMARC case of `tests/data/dmarc/cases.yaml` (its header says what
/// each field means).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DmarcCase {
    name: String,
    #[serde(default)]
    txt: BTreeMap<String, TxtRecords>,
    #[serde(default)]
    exists: Vec<String>,
    from: String,
    mail_from: String,
    spf: Option<String>,
    #[serde(default)]
    dkim: Vec<String>,
    expect: DmarcExpect,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum TxtRecords {
    One(String),
    Several(Vec<TxtRecord>),
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum TxtRecord {
    Whole(String),
    Split(Vec<String>),
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DmarcExpect {
    dmarc: String,
    policy: Option<String>,
    applied: Option<String>,
    domain: Option<String>,
    testing: Option<bool>,
    psd: Option<bool>,
    #[serde(default)]
    header: Vec<String>,
    queries: Option<Vec<String>>,
}

const DKIM_KEY_PEM: &str = include_str!("data/dkim-test-rsa.pem");
const CLIENT: &str = "192.0.2.1";

fn dkim_key() -> mail_auth::common::crypto::RsaKey<mail_auth::common::crypto::Sha256> {
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::PrivateKeyDer::from_pem_slice(DKIM_KEY_PEM.as_bytes()).unwrap();
    mail_auth::common::crypto::RsaKey::from_key_der(der).unwrap()
}

/// DNS carries at most 255 bytes per string.
fn txt_strings(text: &str) -> Vec<String> {
    text.as_bytes()
        .chunks(255)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

fn dmarc_zone(c: &DmarcCase) -> Zone {
    let mut zone = Zone::new();
    for (name, records) in &c.txt {
        let rrs = zone.entry(fqdn(name)).or_default();
        match records {
            TxtRecords::One(t) => rrs.push(Rr::Txt(vec![t.clone()])),
            TxtRecords::Several(list) => rrs.extend(list.iter().map(|r| match r {
                TxtRecord::Whole(t) => Rr::Txt(vec![t.clone()]),
                TxtRecord::Split(parts) => Rr::Txt(parts.clone()),
            })),
        }
    }
    for name in &c.exists {
        let rrs = zone.entry(fqdn(name)).or_default();
        rrs.push(Rr::A("192.0.2.80".parse().unwrap()));
    }
    let mail_from = c.mail_from.rsplit_once('@').map_or("", |(_, d)| d);
    let spf = match c.spf.as_deref() {
        Some("pass") => Some(format!("v=spf1 ip4:{CLIENT} -all")),
        Some("fail") => Some("v=spf1 -all".to_string()),
        _ => None,
    };
    if let Some(spf) = spf {
        zone.entry(fqdn(mail_from))
            .or_default()
            .push(Rr::Txt(vec![spf]));
    }
    let key = kinko_milter::vocab::header_text::base64(&dkim_key().public_key());
    for d in &c.dkim {
        let record = format!("v=DKIM1; k=rsa; p={key}");
        zone.insert(
            fqdn(&format!("sel._domainkey.{d}")),
            vec![Rr::Txt(txt_strings(&record))],
        );
    }
    zone
}

/// The case's message, signed by each of its DKIM domains.
fn dmarc_message(c: &DmarcCase) -> Vec<u8> {
    use mail_auth::common::headers::HeaderWriter;
    let raw = format!(
        "From: {}\r\nTo: user@receiver.example\r\nSubject: dmarc\r\n\
         Date: Mon, 24 Nov 2025 10:00:00 +0900\r\nMessage-ID: <dmarc@test>\r\n\r\nbody\r\n",
        c.from
    );
    let mut out = raw.clone().into_bytes();
    for d in &c.dkim {
        let sig = mail_auth::dkim::DkimSigner::from_key(dkim_key())
            .domain(d.as_str())
            .selector("sel")
            .headers(["From", "To", "Subject", "Date", "Message-ID"])
            .sign(raw.as_bytes())
            .unwrap();
        let mut signed = sig.to_header().into_bytes();
        signed.extend_from_slice(&out);
        out = signed;
    }
    out
}

/// What the case expects that the summary does not show, one line each.
fn dmarc_mismatches(want: &DmarcExpect, got: &AuthSummary, asked: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, want: Option<String>, got: String| {
        if let Some(w) = want {
            if w != got {
                out.push(format!("{what} {got}, want {w}"));
            }
        }
    };
    check("dmarc", Some(want.dmarc.clone()), got.dmarc.as_str().into());
    check(
        "policy",
        want.policy.clone(),
        got.dmarc_policy.as_str().into(),
    );
    check(
        "applied",
        want.applied.clone(),
        effective_policy(got).as_str().into(),
    );
    let domain = got
        .dmarc_policy_domain
        .clone()
        .unwrap_or_else(|| "-".into());
    check("domain", want.domain.clone(), domain);
    check(
        "testing",
        want.testing.map(|b| b.to_string()),
        got.dmarc_testing.to_string(),
    );
    check(
        "psd",
        want.psd.map(|b| b.to_string()),
        got.dmarc_psd.to_string(),
    );
    let mut seen: Vec<String> = Vec::new();
    for name in asked {
        if !seen.contains(name) {
            seen.push(name.clone());
        }
    }
    check(
        "queries",
        want.queries.as_ref().map(|q| q.join(" ")),
        seen.join(" "),
    );
    let header = got.header.clone().unwrap_or_default().replace("\n\t", " ");
    for h in &want.header {
        if !header.contains(h.as_str()) {
            out.push(format!("header lacks `{h}`: {header}"));
        }
    }
    out
}

async fn run_dmarc(
    zone: &Arc<Mutex<Zone>>,
    asked: &Asked,
    addr: SocketAddr,
    out: &mut Vec<Outcome>,
) {
    let text = std::fs::read_to_string(DMARC_CASES)
        .unwrap_or_else(|e| panic!("{DMARC_CASES}: {e} (run from the repository root)"));
    let cases: Vec<DmarcCase> = serde_norway::from_str(&text).expect("DMARC cases YAML");
    for c in cases {
        *zone.lock().unwrap() = dmarc_zone(&c);
        asked.lock().unwrap().clear();
        let env = Envelope {
            client_ip: CLIENT.parse().ok(),
            helo: "mta.sender.invalid".into(),
            mail_from: c.mail_from.clone(),
            ..Default::default()
        };
        let got = verify(addr, &dmarc_message(&c), &env).await;
        let wrong = dmarc_mismatches(&c.expect, &got, &asked.lock().unwrap());
        out.push(Outcome {
            suite: "DMARC",
            name: c.name.clone(),
            ok: wrong.is_empty(),
            detail: wrong.join("; "),
        });
    }
}

fn main() {
    // `cargo test -- --list` and filters: this binary has no named trials.
    if std::env::args().any(|a| a == "--list") {
        println!("conformance: test");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcomes = rt.block_on(async {
        let zone = Arc::new(Mutex::new(Zone::new()));
        let asked = Asked::default();
        let addr = server(zone.clone(), asked.clone()).await;
        let mut out = Vec::new();
        let only_dmarc = std::env::var_os("CONFORMANCE_ONLY_DMARC").is_some();
        if !only_dmarc {
            run_spf(&zone, addr, &mut out).await;
            run_arc(&zone, addr, &mut out).await;
        }
        run_dmarc(&zone, &asked, addr, &mut out).await;
        out
    });
    let mut below = false;
    let suites = [
        ("SPF", SPF_FLOOR),
        ("ARC", ARC_FLOOR),
        ("DMARC", DMARC_FLOOR),
    ];
    for (suite, floor) in suites {
        let of: Vec<&Outcome> = outcomes.iter().filter(|o| o.suite == suite).collect();
        if of.is_empty() && suite != "DMARC" {
            continue;
        }
        let ok = of.iter().filter(|o| o.ok).count();
        for o in of.iter().filter(|o| !o.ok) {
            println!("{suite} fails {}: {}", o.name, o.detail);
        }
        println!(
            "{suite} suite: {ok}/{} scenarios pass (floor {floor})",
            of.len()
        );
        below |= ok < floor;
    }
    if below {
        eprintln!("conformance: a suite fell below its floor");
        std::process::exit(1);
    }
}
