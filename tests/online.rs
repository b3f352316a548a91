//! Detection measured online (issue #21): corpora replayed through
//! `eval --online` against a DNS server on loopback that publishes SPF,
//! DKIM and DMARC for every From domain, so authentication decides as it
//! does in the daemon. The commonest attack, a protected brand's own
//! address in From, is decided by authentication alone, which an offline
//! run cannot see.
//!
//! - the spoof set (scripts/make-spoof-set.py: development jp-phish with
//!   From rewritten to the claimed brand's own address), sent from a host
//!   the brand's SPF fails, with the owner publishing `p=none` and with no
//!   DMARC record;
//! - the brands' real mail: the legitimate corpora re-signed with a key of
//!   their own From domain, delivered directly (SPF and DKIM pass) and
//!   forwarded (SPF fails, the aligned DKIM signature survives).
//!
//! Prints every figure; fails below the targets.

#[path = "support/dns_server.rs"]
mod dns_server;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};
use kinko_milter::commands::eval::{run, EvalOptions, Replay};
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A host outside every SPF record the zone publishes (RFC 5737).
const OUTSIDE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
/// The brands' own sending host, inside their SPF records.
const OWN_HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
const SELECTOR: &str = "online";

const SHIPPED: &[&str] = &[
    "jp-financial.toml",
    "global-brands.toml",
    "jp-services.toml",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// TXT records by lower-case FQDN. Names with no record of the asked type
/// answer NODATA, unknown names NXDOMAIN, as an authoritative server does.
#[derive(Default)]
struct Zone(HashMap<String, Vec<String>>);

impl Zone {
    fn txt(&mut self, name: &str, text: &str) {
        let key = format!("{}.", name.trim_end_matches('.').to_ascii_lowercase());
        self.0.entry(key).or_default().push(text.to_string());
    }

    fn answer(&self, q: &Message) -> Option<Message> {
        let query = q.queries.first()?.clone();
        let mut r = Message::new(q.metadata.id, MessageType::Response, q.metadata.op_code);
        r.metadata.recursion_desired = q.metadata.recursion_desired;
        r.metadata.recursion_available = true;
        r.metadata.authoritative = true;
        r.add_query(query.clone());
        let key = query.name().to_ascii().to_ascii_lowercase();
        let key = if key.ends_with('.') {
            key
        } else {
            format!("{key}.")
        };
        match self.0.get(&key) {
            Some(texts) if query.query_type() == RecordType::TXT => {
                for t in texts {
                    // Long keys go out as several strings of at most 255.
                    let parts: Vec<String> = t
                        .as_bytes()
                        .chunks(255)
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    r.add_answer(Record::from_rdata(
                        query.name().clone(),
                        300,
                        RData::TXT(TXT::new(parts)),
                    ));
                }
            }
            Some(_) => {}
            None => {
                let below = format!(".{key}");
                if !self.0.keys().any(|k| k.ends_with(&below)) {
                    r.metadata.response_code = ResponseCode::NXDomain;
                }
            }
        }
        Some(r)
    }
}

/// Serves `zone` on loopback for as long as the returned runtime lives.
fn serve(zone: Zone) -> (SocketAddr, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let zone = Arc::new(zone);
    let answer: dns_server::Answer = Arc::new(move |q, _| zone.answer(q));
    let addr = rt.block_on(dns_server::serve(answer));
    (addr, rt)
}

/// A configuration whose resolver asks only the loopback server.
fn config(dir: &Path, dns: SocketAddr) -> PathBuf {
    let path = dir.join("kinko-milter.toml");
    std::fs::write(
        &path,
        format!(
            "authserv_id = \"mx.online.test\"\n[dns]\nnameservers = [\"{dns}\"]\ntimeout_ms = 2000\nattempts = 2\n"
        ),
    )
    .unwrap();
    path
}

fn eval_online(cfg: &Path, labels: &Path, client: IpAddr) -> serde_json::Value {
    let opts = EvalOptions {
        policies: SHIPPED
            .iter()
            .map(|p| root().join("policy").join(p))
            .collect(),
        config: Some(cfg.to_path_buf()),
        json: true,
        trust_authserv_id: None,
        diff: Vec::new(),
        messages: true,
        assume_auth: None,
        rcpt_to: None,
        diff_alone: false,
        online: Some(Replay {
            client_ip: Some(client),
            helo: "mail.online.test".into(),
        }),
        input: labels.to_path_buf(),
    };
    serde_json::from_str(&run(&opts).expect("eval runs")).unwrap()
}

/// Share of `label`'s messages at tag or above, and at quarantine or above.
fn rates(v: &serde_json::Value, label: &str) -> (f64, f64, f64) {
    let l = &v["labels"][label];
    (
        l["messages"].as_f64().unwrap_or(0.0),
        l["tagged_or_worse"].as_f64().unwrap_or(0.0),
        l["quarantined_or_worse"].as_f64().unwrap_or(0.0),
    )
}

/// What `eval --messages` says of the messages at tag or above.
fn flagged(v: &serde_json::Value) -> Vec<String> {
    v["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["action"] != "accept")
        .map(|m| {
            format!(
                "{} {} {} {}",
                m["file"], m["action"], m["score"], m["kinds"]
            )
        })
        .collect()
}

/// The brand's own address spoofed, decided by authentication: the owner
/// publishes `p=none`, or no DMARC record at all, and an SPF record the
/// sending host fails.
#[test]
fn spoofs_of_brands_own_domains_online_under_p_none_and_no_record() {
    let corpus = root().join("../shared/corpus");
    assert!(
        corpus.join("labels.tsv").is_file(),
        "{} is missing",
        corpus.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("spoofs");
    let made = std::process::Command::new("python3")
        .arg(root().join("scripts/make-spoof-set.py"))
        .arg(&corpus)
        .arg("--out")
        .arg(&set)
        .status()
        .expect("python3 runs");
    assert!(made.success(), "make-spoof-set.py failed");
    let domains = std::fs::read_to_string(set.join("domains.txt")).unwrap();
    let labels = set.join("labels.tsv");
    let policy_domains: BTreeSet<String> = std::fs::read_to_string(&labels)
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| l.split('\t').nth(5).map(str::to_string))
        .collect();
    for (case, dmarc) in [
        ("p=none", Some("v=DMARC1; p=none")),
        ("no DMARC record", None),
    ] {
        let mut zone = Zone::default();
        for d in domains.lines().filter(|d| !d.is_empty()) {
            zone.txt(d, "v=spf1 ip4:198.51.100.0/24 -all");
        }
        if let Some(record) = dmarc {
            for d in &policy_domains {
                zone.txt(&format!("_dmarc.{d}"), record);
            }
        }
        let (dns, _rt) = serve(zone);
        let cfg = config(dir.path(), dns);
        let v = eval_online(&cfg, &labels, OUTSIDE);
        let (n, tag, quar) = rates(&v, "jp-phish");
        eprintln!(
            "online, owner publishes {case}: {n} spoofs, {:.1}% flagged, {:.1}% held",
            tag * 100.0,
            quar * 100.0
        );
        let missed: Vec<String> = v["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["action"] == "accept" || m["action"] == "tag")
            .map(|m| {
                format!(
                    "{} {} {} {}",
                    m["file"], m["action"], m["score"], m["kinds"]
                )
            })
            .collect();
        eprintln!("not held ({}):\n  {}", missed.len(), missed.join("\n  "));
        assert!(n >= 200.0, "{case}: only {n} messages");
        assert!(tag >= 0.97, "{case}: {:.1}% flagged", tag * 100.0);
        assert!(quar >= 0.90, "{case}: {:.1}% held", quar * 100.0);
    }
}

/// The legitimate corpora as their senders' own authenticated mail.
struct Signed {
    labels: PathBuf,
    /// Messages with no single From domain to sign for, left out.
    skipped: usize,
    zone: Zone,
}

/// Signs every legitimate message of `sets` (labels.tsv, labels kept) with
/// an ed25519 key published for its own From domain, and publishes SPF for
/// [`OWN_HOST`] and DMARC `p=none` for that domain.
fn sign_legitimate(out: &Path, sets: &[(&Path, &[&str])]) -> Signed {
    let pkcs8 = Ed25519Key::generate_pkcs8().unwrap();
    let public = Ed25519Key::from_pkcs8_der(&pkcs8).unwrap().public_key();
    let key_txt = format!(
        "v=DKIM1; k=ed25519; p={}",
        kinko_milter::vocab::header_text::base64(&public)
    );
    let mut zone = Zone::default();
    let mut published = BTreeSet::new();
    let mut rows = String::from("file\tlabel\n");
    let mut skipped = 0;
    for (i, (labels, keep)) in sets.iter().enumerate() {
        let base = labels.parent().unwrap();
        for line in std::fs::read_to_string(labels).unwrap().lines().skip(1) {
            let mut cols = line.split('\t');
            let (Some(file), Some(label)) = (cols.next(), cols.next()) else {
                continue;
            };
            if !keep.contains(&label) {
                continue;
            }
            let raw =
                kinko_milter::vocab::message::as_received(std::fs::read(base.join(file)).unwrap());
            let from = {
                let msg = kinko_milter::analysis::parse(&raw);
                kinko_milter::vocab::message::from_domain(&msg)
            };
            let Some(domain) = from.filter(|d| d.contains('.')) else {
                skipped += 1;
                continue;
            };
            let Ok(sig) = DkimSigner::from_key(Ed25519Key::from_pkcs8_der(&pkcs8).unwrap())
                .domain(domain.as_str())
                .selector(SELECTOR)
                .headers(["From", "To", "Subject", "Date", "Message-ID"])
                .sign(&raw)
            else {
                skipped += 1;
                continue;
            };
            let mut signed = sig.to_header().into_bytes();
            signed.extend_from_slice(&raw);
            let name = format!("{i}-{}", file.replace('/', "__"));
            std::fs::write(out.join(&name), signed).unwrap();
            rows.push_str(&format!("{name}\t{label}\n"));
            if published.insert(domain.clone()) {
                zone.txt(&domain, "v=spf1 ip4:198.51.100.0/24 -all");
                zone.txt(&format!("{SELECTOR}._domainkey.{domain}"), &key_txt);
                zone.txt(&format!("_dmarc.{domain}"), "v=DMARC1; p=none");
            }
        }
    }
    let labels = out.join("labels.tsv");
    std::fs::write(&labels, rows).unwrap();
    Signed {
        labels,
        skipped,
        zone,
    }
}

/// Legitimate mail, authenticated as its own sender's, is neither flagged
/// nor held, whether it arrives directly or through a forwarder that
/// breaks SPF.
#[test]
fn legitimate_mail_signed_by_its_own_domain_direct_and_forwarded() {
    let corpus = root().join("../shared/corpus/labels.tsv");
    let commercial = root().join("../shared/corpus-commercial/labels.tsv");
    assert!(
        corpus.is_file() && commercial.is_file(),
        "the shared corpora are missing"
    );
    let dir = tempfile::tempdir().unwrap();
    let signed = sign_legitimate(
        dir.path(),
        &[
            (&corpus, &["ham", "jp-ham"]),
            (&commercial, &["ham", "ham-commercial"]),
        ],
    );
    let (dns, _rt) = serve(signed.zone);
    let cfg = config(dir.path(), dns);
    for (how, client) in [("direct", OWN_HOST), ("forwarded", OUTSIDE)] {
        let v = eval_online(&cfg, &signed.labels, client);
        let mut total = 0.0;
        let mut held = 0.0;
        for label in ["ham", "jp-ham", "ham-commercial"] {
            let (n, tag, quar) = rates(&v, label);
            eprintln!(
                "online {how}, {label}: {n} messages, {:.2}% flagged, {:.2}% held",
                tag * 100.0,
                quar * 100.0
            );
            total += n;
            held += quar * n;
        }
        let fp = v["false_positive_rate"].as_f64().unwrap();
        let flagged = flagged(&v);
        eprintln!(
            "online {how}: {total} messages ({} without a From domain left out), {:.2}% flagged:\n  {}",
            signed.skipped,
            fp * 100.0,
            flagged.join("\n  ")
        );
        assert!(total >= 1000.0, "{how}: only {total} messages");
        assert!(
            (signed.skipped as f64) < total * 0.03,
            "{} skipped",
            signed.skipped
        );
        assert_eq!(
            held,
            0.0,
            "{how}: legitimate mail held:\n{}",
            flagged.join("\n")
        );
        let spoofs: Vec<&String> = flagged
            .iter()
            .filter(|f| f.contains("brand-spoof"))
            .collect();
        assert!(
            spoofs.is_empty(),
            "{how}: authenticated mail called a spoof: {spoofs:?}"
        );
        assert!(fp <= LEGIT_FLAGGED_MAX, "{how}: {:.2}% flagged", fp * 100.0);
    }
}

/// Flagged (tag, never held) share of the legitimate corpora online. The
/// issue's target is 0.5 %; measured when set, see the closing note.
const LEGIT_FLAGGED_MAX: f64 = 0.005;
