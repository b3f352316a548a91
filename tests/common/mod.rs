//! End-to-end harness: a real DNS server (dnsmasq), a private Postfix
//! instance, kinko-milter processes and an SMTP sink, all on loopback and all
//! started once per test binary.
//!
//! A test binary declares what it needs with [`Builder`] (DNS records,
//! milters with their configuration, Postfix listeners wired to them), starts
//! it lazily with [`shared`] from its trials, and calls [`shutdown`] before
//! exiting. Trials then talk SMTP to a listener with [`Harness::send`] and look
//! at the outcome: the reply, the message in the sink
//! ([`Harness::wait_delivered`]) or in Postfix's hold queue
//! ([`Harness::wait_held`]).
//!
//! Nothing here may reach past 127.0.0.0/8: Postfix relays everything to the
//! sink, never looks up DNS itself, and the milters ask only dnsmasq. Addresses
//! such as 192.0.2.10 exist only inside PROXY headers.

#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod operator;
pub mod sink;
pub mod smtp;

pub use smtp::SmtpOutcome;

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Mail to this domain is deferred by the private Postfix, never delivered.
pub const DEFERRED_DOMAIN: &str = "parked.example";

/// The `authserv-id` every harness milter writes into Authentication-Results.
pub const AUTHSERV_ID: &str = "mx.kinko.test";
/// The HELO name test clients use; it has no SPF record (result "none").
pub const CLIENT_HELO: &str = "client.e2e.test";
/// The DKIM selector published for every signing domain.
pub const SELECTOR: &str = "sel";
/// Test-only RSA key (never used outside this suite); its public half is
/// published in dnsmasq at start.
const DKIM_KEY_PEM: &str = include_str!("../data/dkim-test-rsa.pem");

/// How long a trial waits for something Postfix does asynchronously.
pub const WAIT: Duration = Duration::from_secs(20);

/// Zones dnsmasq answers authoritatively (NXDOMAIN for unknown names).
/// Without this it answers REFUSED, which mail-auth reports as a temporary
/// error; DMARC also walks up to `_dmarc.<tld>.`, so every TLD a test name
/// or the built-in policy uses is listed.
const LOCAL_ZONES: &[&str] = &[
    "test",
    "example",
    "invalid",
    "localhost",
    "in-addr.arpa",
    "ip6.arpa",
    "com",
    "net",
    "org",
    "jp",
];

// ---------------------------------------------------------------------------
// Declaring the infrastructure.

/// What Postfix does with mail on a listener.
#[derive(Debug, Clone)]
pub enum MilterRef {
    /// No milter at all (checks the plumbing alone).
    None,
    /// A milter declared with [`Builder::milter`].
    Named(String),
    /// A port nothing listens on, to see `milter_default_action` at work.
    Down,
}

#[derive(Debug, Clone)]
pub struct ListenerSpec {
    pub milter: MilterRef,
    /// Postfix `milter_default_action`: accept, tempfail, reject, quarantine.
    pub default_action: String,
    /// `smtpd_upstream_proxy_protocol = haproxy`: clients must send a PROXY
    /// line, which lets a trial present an external client address.
    pub proxy: bool,
}

impl ListenerSpec {
    pub fn new(milter: MilterRef, default_action: &str, proxy: bool) -> Self {
        ListenerSpec {
            milter,
            default_action: default_action.into(),
            proxy,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct MilterSpec {
    /// TOML appended to the harness's base configuration: top-level keys
    /// first, then tables. `socket`, `metrics_address`, `authserv_id`,
    /// `policy`, `trusted_networks` and `dns` are set by the harness.
    pub config: String,
    /// A policy file merged over [`BASE_POLICY`] (same keys win).
    pub policy: String,
}

/// The policy every harness milter starts from: one protected brand whose
/// domain `bank.test` publishes SPF, DKIM and DMARC p=reject.
pub const BASE_POLICY: &str = r#"
[policy]
name = "e2e"
version = "1"

[auth]
dmarc_reject = "reject"
dmarc_quarantine = "quarantine"
honor_pct = false

[[brand]]
id = "test-bank"
names = ["Test Bank", "テスト銀行"]
domains = ["bank.test"]
"#;

#[derive(Default)]
pub struct Builder {
    txt: Vec<(String, String)>,
    dkim_domains: Vec<String>,
    milters: BTreeMap<String, MilterSpec>,
    listeners: BTreeMap<String, ListenerSpec>,
}

impl Builder {
    /// DNS records for the domains most trials use:
    /// - `bank.test`: SPF allows 127.0.0.1 only, DKIM key `sel`, DMARC p=reject;
    /// - `sender.example`: SPF allows 127.0.0.1, DKIM key, DMARC p=none.
    pub fn standard_dns(self) -> Self {
        self.txt("bank.test", "v=spf1 ip4:127.0.0.1 -all")
            .txt("_dmarc.bank.test", "v=DMARC1; p=reject")
            .dkim_key("bank.test")
            .txt("sender.example", "v=spf1 ip4:127.0.0.1 -all")
            .txt("_dmarc.sender.example", "v=DMARC1; p=none")
            .dkim_key("sender.example")
    }

    pub fn txt(mut self, name: &str, text: &str) -> Self {
        self.txt.push((name.into(), text.into()));
        self
    }

    /// Publishes the harness key as `sel._domainkey.DOMAIN`.
    pub fn dkim_key(mut self, domain: &str) -> Self {
        self.dkim_domains.push(domain.into());
        self
    }

    pub fn milter(mut self, name: &str, spec: MilterSpec) -> Self {
        self.milters.insert(name.into(), spec);
        self
    }

    pub fn listener(mut self, name: &str, spec: ListenerSpec) -> Self {
        self.listeners.insert(name.into(), spec);
        self
    }

    /// Starts everything. A milter that fails to start does not stop the
    /// rest: trials that need it fail with its log, the others still run.
    /// DNS, the sink and Postfix are required.
    pub fn start(self) -> Result<Harness, String> {
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("kinko-e2e-")
            .tempdir()
            .map_err(|e| format!("tempdir: {e}"))?;
        // Postfix daemons run as user postfix and must reach the queue.
        set_mode(dir.path(), 0o755)?;

        let public_key = dkim_public_key_b64()?;
        let mut records = self.txt.clone();
        for d in &self.dkim_domains {
            records.push((
                format!("{SELECTOR}._domainkey.{d}"),
                format!("v=DKIM1; k=rsa; p={public_key}"),
            ));
        }
        let dns = Dns::start(dir.path(), &records)?;
        let sink = sink::Sink::start().map_err(|e| format!("SMTP sink: {e}"))?;

        let mut milters = BTreeMap::new();
        for (name, spec) in &self.milters {
            let m = start_milter_in(dir.path(), name, dns.addr, spec);
            milters.insert(name.clone(), m);
        }

        let mut listeners = BTreeMap::new();
        // Every port is held until all are chosen: ports picked one by one
        // and released at once came back twice (two listeners on one port,
        // one of them the milter-less control).
        let mut held = Vec::new();
        let mut free_addr = || -> Result<SocketAddr, String> {
            let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"))?;
            let a = l.local_addr().map_err(|e| e.to_string())?;
            held.push(l);
            Ok(a)
        };
        for (name, spec) in &self.listeners {
            let milter_addr = match &spec.milter {
                MilterRef::None => None,
                MilterRef::Named(m) => Some(match milters.get(m) {
                    Some(Ok(h)) => h.addr,
                    // Still wire the listener; its trials fail on the milter's error.
                    Some(Err(_)) => free_addr()?,
                    None => return Err(format!("listener {name}: no milter named {m}")),
                }),
                MilterRef::Down => Some(free_addr()?),
            };
            listeners.insert(
                name.clone(),
                Listener {
                    addr: free_addr()?,
                    spec: spec.clone(),
                    milter_addr,
                },
            );
        }
        drop(held);
        let postfix = Postfix::start(dir.path(), sink.port(), &listeners)?;
        eprintln!(
            "e2e: infrastructure up in {:.1}s (dir {}, dns {}, sink {}, listeners {})",
            started.elapsed().as_secs_f64(),
            dir.path().display(),
            dns.addr,
            sink.port(),
            listeners
                .iter()
                .map(|(n, l)| format!("{n}={}", l.addr.port()))
                .collect::<Vec<_>>()
                .join(" "),
        );
        Ok(Harness {
            postfix,
            milters,
            extra_milters: Mutex::new(Vec::new()),
            listeners,
            sink,
            dns,
            dir,
        })
    }
}

// ---------------------------------------------------------------------------
// The running infrastructure.

pub struct Listener {
    pub addr: SocketAddr,
    pub spec: ListenerSpec,
    /// Where this listener's Postfix looks for its milter.
    pub milter_addr: Option<SocketAddr>,
}

/// Field order is teardown order: Postfix first, so nothing is mid-delivery
/// when the milters and the sink go away; the directory last.
pub struct Harness {
    postfix: Postfix,
    milters: BTreeMap<String, Result<MilterHandle, String>>,
    extra_milters: Mutex<Vec<MilterHandle>>,
    listeners: BTreeMap<String, Listener>,
    sink: sink::Sink,
    pub dns: Dns,
    dir: tempfile::TempDir,
}

/// One message in Postfix's queue.
#[derive(Debug, Clone)]
pub struct Queued {
    pub queue_id: String,
    pub queue_name: String,
    pub sender: String,
    pub recipients: Vec<String>,
    /// The header section as `postcat -h` prints it.
    pub headers: String,
}

impl Harness {
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn listener(&self, name: &str) -> &Listener {
        self.listeners
            .get(name)
            .unwrap_or_else(|| panic!("no listener named {name}"))
    }

    /// The milter declared as `name`, or why it is not running (with its log).
    pub fn milter(&self, name: &str) -> Result<&MilterHandle, String> {
        match self.milters.get(name) {
            Some(Ok(m)) => m.check_alive().map(|_| m),
            Some(Err(e)) => Err(e.clone()),
            None => Err(format!("no milter named {name}")),
        }
    }

    /// Makes sure the milter behind a listener runs, so a trial fails with
    /// the milter's own error instead of a puzzling SMTP reply.
    pub fn require_listener(&self, name: &str) -> Result<&Listener, String> {
        let l = self.listener(name);
        if let MilterRef::Named(m) = &l.spec.milter {
            self.milter(m)?;
        }
        Ok(l)
    }

    /// Sends one message through a Postfix listener and returns the reply
    /// that ended the transaction.
    pub fn send(
        &self,
        listener: &str,
        mail_from: &str,
        rcpt_to: &str,
        raw: &[u8],
        proxy_ip: Option<IpAddr>,
    ) -> Result<SmtpOutcome, String> {
        let l = self.require_listener(listener)?;
        if proxy_ip.is_some() != l.spec.proxy {
            return Err(format!(
                "listener {listener}: PROXY header {} but the listener {} one",
                if proxy_ip.is_some() {
                    "given"
                } else {
                    "missing"
                },
                if l.spec.proxy {
                    "expects"
                } else {
                    "does not expect"
                }
            ));
        }
        let env = smtp::Envelope {
            helo: CLIENT_HELO,
            mail_from,
            rcpt_to,
            proxy_ip,
        };
        smtp::send(l.addr, &env, raw).map_err(|e| format!("SMTP to {listener}: {e}"))
    }

    /// The delivery (envelope and message) containing `marker`.
    pub fn wait_delivery(&self, marker: &str) -> Result<sink::Delivered, String> {
        self.sink.wait_for(marker, WAIT).ok_or_else(|| {
            format!(
                "no message containing {marker:?} reached the sink within {WAIT:?}; \
                 postfix log tail:\n{}",
                self.postfix.log_tail(20)
            )
        })
    }

    /// The delivered message (as the sink received it) containing `marker`.
    pub fn wait_delivered(&self, marker: &str) -> Result<String, String> {
        self.sink
            .wait_for(marker, WAIT)
            .map(|d| {
                // The test output is not captured; show headers only on request.
                if std::env::var_os("KINKO_E2E_SHOW").is_some() {
                    eprintln!("e2e: delivered {marker}:\n{}\n", head(&d.data));
                }
                d.data
            })
            .ok_or_else(|| {
                format!(
                    "no message containing {marker:?} reached the sink within {WAIT:?}; \
                     queue: {:?}; postfix log tail:\n{}",
                    self.queue().unwrap_or_default(),
                    self.postfix.log_tail(20)
                )
            })
    }

    /// How many delivered messages contain `marker` (no waiting).
    pub fn delivered_count(&self, marker: &str) -> usize {
        self.sink.find(marker).len()
    }

    /// Whether a message containing `marker` reached the sink (no waiting).
    pub fn delivered_now(&self, marker: &str) -> bool {
        !self.sink.find(marker).is_empty()
    }

    /// Everything in Postfix's queue, with headers.
    pub fn queue(&self) -> Result<Vec<Queued>, String> {
        self.postfix.queue()
    }

    /// Messages in the hold queue (where milter QUARANTINE puts them).
    pub fn hold_queue(&self) -> Result<Vec<Queued>, String> {
        Ok(self
            .queue()?
            .into_iter()
            .filter(|q| q.queue_name == "hold")
            .collect())
    }

    /// Waits until a held message's headers contain `marker`.
    pub fn wait_held(&self, marker: &str) -> Result<Queued, String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(q) = self
                .hold_queue()?
                .into_iter()
                .find(|q| q.headers.contains(marker))
            {
                return Ok(q);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no held message containing {marker:?} within {WAIT:?}; queue: {:?}",
                    self.queue()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The private Postfix's whole log (`maillog_file`).
    pub fn maillog(&self) -> String {
        std::fs::read_to_string(&self.postfix.log).unwrap_or_default()
    }

    /// The private Postfix's configuration directory (for `-c DIR`).
    pub fn postfix_config_dir(&self) -> &Path {
        &self.postfix.conf
    }

    /// The body of a queued message, as `postcat -b` prints it.
    pub fn queued_body(&self, queue_id: &str) -> Result<String, String> {
        self.postfix.run("postcat", &["-bq", queue_id])
    }

    /// Removes a message from the queue (`postsuper -d`).
    pub fn delete_queued(&self, queue_id: &str) -> Result<(), String> {
        self.postfix.run("postsuper", &["-d", queue_id]).map(|_| ())
    }

    /// Starts one more milter, not wired to Postfix (for trials that talk to
    /// it directly or scrape its metrics). It is stopped at shutdown.
    pub fn start_milter(&self, name: &str, spec: &MilterSpec) -> Result<MilterInfo, String> {
        let m = start_milter_in(self.dir.path(), name, self.dns.addr, spec)?;
        let info = m.info();
        self.extra_milters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(m);
        Ok(info)
    }

    /// Stops every process the harness started. Idempotent.
    pub fn shutdown(&self) {
        self.postfix.stop();
        for m in self.milters.values().flatten() {
            m.proc.kill();
        }
        for m in self
            .extra_milters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            m.proc.kill();
        }
        self.dns.proc.kill();
        // The shared harness lives in a static that is never dropped, so the
        // directory is removed here; KINKO_E2E_KEEP=1 keeps configs and logs.
        if std::env::var_os("KINKO_E2E_KEEP").is_some() {
            eprintln!("e2e: kept {}", self.dir.path().display());
        } else {
            let _ = std::fs::remove_dir_all(self.dir.path());
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.shutdown();
    }
}

// ---------------------------------------------------------------------------
// One shared harness per test binary.

static SHARED: OnceLock<Result<Harness, String>> = OnceLock::new();

/// The binary's harness, started by the first trial that asks for it (so
/// `--list` or a filter that selects nothing starts no processes). Every
/// trial gets the same start-up error if it failed: the trials fail, they
/// are not skipped.
pub fn shared(build: impl FnOnce() -> Builder) -> Result<&'static Harness, String> {
    SHARED
        .get_or_init(|| build().start())
        .as_ref()
        .map_err(|e| format!("e2e infrastructure failed to start: {e}"))
}

/// Tears down the shared harness; call it after the trials have run.
pub fn shutdown() {
    if let Some(Ok(h)) = SHARED.get() {
        h.shutdown();
    }
}

/// Runs `f` and shuts the harness down even if `f` panics (the statics that
/// hold the harness are never dropped).
pub fn with_teardown<T>(f: impl FnOnce() -> T) -> T {
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    shutdown();
    match r {
        Ok(v) => v,
        Err(p) => std::panic::resume_unwind(p),
    }
}

// ---------------------------------------------------------------------------
// Processes.

/// A child process killed on drop; its output goes to a log file.
pub struct Proc {
    name: String,
    child: Mutex<Option<Child>>,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Result<Proc, String> {
        let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start {name} ({:?}): {e}", cmd.get_program()))?;
        Ok(Proc {
            name: name.into(),
            child: Mutex::new(Some(child)),
            log,
        })
    }

    /// Exit status if the process has ended.
    fn exited(&self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.lock().unwrap_or_else(|e| e.into_inner());
        match c.as_mut() {
            Some(child) => child.try_wait().ok().flatten(),
            None => None,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn log_tail(&self, lines: usize) -> String {
        tail(&self.log(), lines)
    }

    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the process's log names the address it bound after
    /// `marker` (as `kinko-milter run` does on its first lines), failing
    /// early if the process exits.
    fn wait_announced(&self, marker: &str, timeout: Duration) -> Result<SocketAddr, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if let Some(at) = log.find(marker) {
                let rest = &log[at + marker.len()..];
                let word = rest
                    .split(|c: char| c.is_whitespace() || matches!(c, ';' | '/' | '"'))
                    .next()
                    .unwrap_or("");
                return word.parse().map_err(|e| {
                    format!("{}: bad address {word:?} after {marker:?}: {e}", self.name)
                });
            }
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited ({status}) before announcing {marker:?}; log:\n{}",
                    self.name,
                    self.log_tail(30)
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} did not announce {marker:?} after {timeout:?}; log:\n{}",
                    self.name,
                    self.log_tail(30)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until `addr` accepts connections, failing early if the
    /// process exits.
    fn wait_listening(&self, addr: SocketAddr, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(format!(
                    "{} exited ({status}) before listening on {addr}; log:\n{}",
                    self.name,
                    self.log_tail(30)
                ));
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} not listening on {addr} after {timeout:?}; log:\n{}",
                    self.name,
                    self.log_tail(30)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

// ---------------------------------------------------------------------------
// DNS.

pub struct Dns {
    pub addr: SocketAddr,
    proc: Proc,
}

impl Dns {
    fn start(dir: &Path, records: &[(String, String)]) -> Result<Dns, String> {
        let bin = which("dnsmasq").ok_or("dnsmasq not found (Debian package dnsmasq-base)")?;
        let mut last_err = String::new();
        // The free port may be taken between probing and binding; retry.
        for _ in 0..3 {
            let port = free_udp_port()?;
            let mut cmd = Command::new(&bin);
            cmd.args([
                "--no-daemon",
                "--keep-in-foreground",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--no-resolv",
                "--no-hosts",
                "--no-poll",
                "--pid-file=",
                "--user=root",
                "--log-queries",
                "--log-facility=-",
            ])
            .arg(format!("--port={port}"));
            for zone in LOCAL_ZONES {
                cmd.arg(format!("--local=/{zone}/"));
            }
            for (name, text) in records {
                cmd.arg(txt_record_arg(name, text)?);
            }
            let proc = Proc::spawn("dnsmasq", cmd, dir.join("dnsmasq.log"))?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            // dnsmasq serves TCP on the same port; that tells us it is ready.
            match proc.wait_listening(addr, Duration::from_secs(10)) {
                Ok(()) => return Ok(Dns { addr, proc }),
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }
}

/// `--txt-record=NAME,chunk,chunk`: DNS character-strings hold at most 255
/// bytes, so long records (DKIM keys) are split; resolvers join them. On the
/// command line dnsmasq takes quotes literally, so the text goes unquoted and
/// commas cannot be part of it.
fn txt_record_arg(name: &str, text: &str) -> Result<String, String> {
    if !text.is_ascii() || text.contains([',', '"', '\\']) {
        return Err(format!(
            "TXT for {name}: only ASCII without commas, quotes or backslashes"
        ));
    }
    let chunks: Vec<String> = text
        .as_bytes()
        .chunks(250)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    Ok(format!("--txt-record={name},{}", chunks.join(",")))
}

// ---------------------------------------------------------------------------
// Milters.

pub struct MilterHandle {
    pub name: String,
    /// Where Postfix connects.
    pub addr: SocketAddr,
    /// `/metrics` and `/ready`.
    pub metrics_addr: SocketAddr,
    pub config_path: PathBuf,
    proc: Proc,
}

/// What a trial needs to reach a milter it started.
#[derive(Debug, Clone)]
pub struct MilterInfo {
    pub addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
}

impl MilterHandle {
    pub fn info(&self) -> MilterInfo {
        MilterInfo {
            addr: self.addr,
            metrics_addr: self.metrics_addr,
            config_path: self.config_path.clone(),
            log_path: self.proc.log.clone(),
        }
    }

    pub fn log(&self) -> String {
        self.proc.log()
    }

    /// Kills the milter process (SIGKILL), as a crash or an OOM kill would.
    pub fn kill(&self) {
        self.proc.kill();
    }

    fn check_alive(&self) -> Result<(), String> {
        match self.proc.exited() {
            None => Ok(()),
            Some(status) => Err(format!(
                "milter {} has exited ({status}); log:\n{}",
                self.name,
                self.proc.log_tail(30)
            )),
        }
    }
}

fn start_milter_in(
    dir: &Path,
    name: &str,
    dns: SocketAddr,
    spec: &MilterSpec,
) -> Result<MilterHandle, String> {
    let bin = env!("CARGO_BIN_EXE_kinko-milter");
    let mdir = dir.join(format!("milter-{name}"));
    std::fs::create_dir_all(&mdir).map_err(|e| e.to_string())?;
    write(&mdir.join("base-policy.toml"), BASE_POLICY)?;
    let mut policies = vec!["base-policy.toml"];
    if !spec.policy.is_empty() {
        write(&mdir.join("policy.toml"), &spec.policy)?;
        policies.push("policy.toml");
    }
    // Port 0 for both listeners: the daemon binds what is free and says
    // which ports it got, so no other process can take them in between.
    let config = format!(
        "# Written by the e2e harness for milter {name}.\n\
         socket = \"inet:127.0.0.1:0\"\n\
         metrics_address = \"127.0.0.1:0\"\n\
         authserv_id = \"{AUTHSERV_ID}\"\n\
         policy = {policies:?}\n\
         # Loopback clients stand for the Internet here.\n\
         trusted_networks = []\n\
         dns = {{ nameservers = [\"{dns}\"], timeout_ms = 2000, attempts = 1 }}\n\
         {}\n",
        spec.config
    );
    let config_path = mdir.join("kinko-milter.toml");
    write(&config_path, &config)?;
    let mut cmd = Command::new(bin);
    cmd.arg("run")
        .arg("--config")
        .arg(&config_path)
        .env("RUST_LOG", "kinko_milter=debug,info")
        .env("RUST_BACKTRACE", "1");
    let proc = Proc::spawn(
        &format!("kinko-milter {name}"),
        cmd,
        mdir.join("kinko-milter.log"),
    )?;
    let addr = proc.wait_announced("listening on inet:", Duration::from_secs(15))?;
    let metrics_addr = proc.wait_announced("metrics on http://", Duration::from_secs(1))?;
    proc.wait_listening(addr, Duration::from_secs(15))?;
    Ok(MilterHandle {
        name: name.into(),
        addr,
        metrics_addr,
        config_path,
        proc,
    })
}

// ---------------------------------------------------------------------------
// Postfix.

struct Postfix {
    conf: PathBuf,
    log: PathBuf,
    stopped: AtomicBool,
}

/// Only the services a relay-to-sink instance needs, none chrooted (the
/// queue lives in a temporary directory, not where Debian's chroot expects).
const MASTER_CF_SERVICES: &str = "\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
";

impl Postfix {
    fn start(
        dir: &Path,
        sink_port: u16,
        listeners: &BTreeMap<String, Listener>,
    ) -> Result<Postfix, String> {
        which("postfix").ok_or("postfix not found (Debian package postfix)")?;
        let root = dir.join("postfix");
        let conf = root.join("conf");
        let queue = root.join("queue");
        let data = root.join("data");
        for d in [&conf, &queue, &data] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        set_mode(&root, 0o755)?;
        // master refuses a data_directory it does not own.
        run_cmd(Command::new("chown").arg("postfix").arg(&data))?;
        let log = root.join("maillog");
        let next_hop = format!("smtp:[127.0.0.1]:{sink_port}");
        let main_cf = format!(
            "# Private test instance; nothing here refers to the system's Postfix.\n\
             compatibility_level = 3.6\n\
             queue_directory = {queue}\n\
             data_directory = {data}\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             myhostname = mx.kinko.test\n\
             mydomain = kinko.test\n\
             mydestination =\n\
             inet_interfaces = loopback-only\n\
             inet_protocols = ipv4\n\
             # Relay test recipients, and send all of it to the sink.\n\
             relay_domains = test example\n\
             default_transport = {next_hop}\n\
             relay_transport = {next_hop}\n\
             # Mail for this domain stays queued (deferred: nothing listens\n\
             # on port 9), never held: what the quarantine commands must not\n\
             # act on.\n\
             transport_maps = inline:{{ {DEFERRED_DOMAIN}=smtp:[127.0.0.1]:9 }}\n\
             # No DNS from Postfix: no MX lookups, and no reverse lookups of\n\
             # PROXY addresses that would leave the machine.\n\
             smtp_dns_support_level = disabled\n\
             smtpd_peername_lookup = no\n\
             alias_maps =\n\
             alias_database =\n\
             local_recipient_maps =\n\
             smtpd_tls_security_level = none\n\
             smtp_tls_security_level = none\n\
             biff = no\n\
             maillog_file = {log}\n\
             maillog_file_prefixes = {root}\n\
             # Retry quickly should the sink ever be slow to answer.\n\
             queue_run_delay = 1s\n\
             minimal_backoff_time = 1s\n\
             maximal_backoff_time = 2s\n",
            queue = queue.display(),
            data = data.display(),
            log = log.display(),
            root = root.display(),
        );
        write(&conf.join("main.cf"), &main_cf)?;
        let mut master_cf = String::new();
        for (name, l) in listeners {
            master_cf.push_str(&format!(
                "{} inet n - n - - smtpd\n  -o syslog_name=postfix/{name}\n",
                l.addr
            ));
            match l.milter_addr {
                Some(m) => master_cf.push_str(&format!(
                    "  -o smtpd_milters=inet:{m}\n  -o milter_default_action={}\n",
                    l.spec.default_action
                )),
                None => master_cf.push_str("  -o smtpd_milters=\n"),
            }
            if l.spec.proxy {
                master_cf.push_str("  -o smtpd_upstream_proxy_protocol=haproxy\n");
            }
        }
        master_cf.push_str(MASTER_CF_SERVICES);
        write(&conf.join("master.cf"), &master_cf)?;

        let pf = Postfix {
            conf,
            log,
            stopped: AtomicBool::new(false),
        };
        pf.run("postfix", &["start"])
            .map_err(|e| format!("postfix start failed: {e}\nmaillog:\n{}", pf.log_tail(20)))?;
        // master binds every listener at once, so probing the plain ones is
        // enough; a probe of a PROXY listener would only log a warning.
        for (name, l) in listeners.iter().filter(|(_, l)| !l.spec.proxy) {
            wait_port(l.addr, Duration::from_secs(10))
                .map_err(|e| format!("postfix listener {name}: {e}\n{}", pf.log_tail(20)))?;
        }
        Ok(pf)
    }

    /// Runs a Postfix command against this instance (`-c DIR`).
    fn run(&self, cmd: &str, args: &[&str]) -> Result<String, String> {
        // Postfix commands live in /usr/sbin, which a user's PATH may lack.
        let bin = which(cmd).unwrap_or_else(|| cmd.into());
        run_cmd(Command::new(bin).arg("-c").arg(&self.conf).args(args))
    }

    fn queue(&self) -> Result<Vec<Queued>, String> {
        let json = self.run("postqueue", &["-j"])?;
        let mut out = Vec::new();
        for line in json.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value =
                serde_json::from_str(line).map_err(|e| format!("postqueue -j: {e}: {line}"))?;
            let s = |k: &str| v[k].as_str().unwrap_or("").to_string();
            let queue_id = s("queue_id");
            // A message can leave the queue between listing and reading it.
            let headers = self.run("postcat", &["-hq", &queue_id]).unwrap_or_default();
            out.push(Queued {
                queue_name: s("queue_name"),
                sender: s("sender"),
                recipients: v["recipients"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|r| r["address"].as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                queue_id,
                headers,
            });
        }
        Ok(out)
    }

    fn log_tail(&self, lines: usize) -> String {
        tail(
            &std::fs::read_to_string(&self.log).unwrap_or_default(),
            lines,
        )
    }

    fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        if let Err(e) = self.run("postfix", &["stop"]) {
            eprintln!("e2e: postfix stop: {e}");
            let _ = self.run("postfix", &["abort"]);
        }
        // master exits shortly after the signal; wait so the queue directory
        // can be removed.
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.run("postfix", &["status"]).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// Messages and DKIM.

/// A name no other trial or run uses, for Message-ID and Subject.
pub fn unique(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{tag}.{}.{}.{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A plain text message; `marker` goes into Message-ID and Subject so the
/// delivered or held copy can be found.
pub struct Mail {
    pub from: String,
    pub to: String,
    pub subject: String,
    pub marker: String,
    /// Header lines (without CRLF) placed above the standard ones.
    pub extra_headers: Vec<String>,
    pub body: String,
}

impl Mail {
    pub fn new(tag: &str, from: &str, to: &str) -> Mail {
        let marker = unique(tag);
        Mail {
            from: from.into(),
            to: to.into(),
            subject: format!("e2e {marker}"),
            marker,
            extra_headers: Vec::new(),
            body: "Hello,\r\n\r\nthis is an end-to-end test message.\r\n".into(),
        }
    }

    pub fn header(mut self, line: &str) -> Mail {
        self.extra_headers.push(line.into());
        self
    }

    pub fn body(mut self, body: &str) -> Mail {
        self.body = body.replace("\r\n", "\n").replace('\n', "\r\n");
        self
    }

    pub fn render(&self) -> Vec<u8> {
        let mut s = String::new();
        for h in &self.extra_headers {
            s.push_str(h);
            s.push_str("\r\n");
        }
        s.push_str(&format!(
            "From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: Mon, 24 Nov 2025 10:00:00 +0900\r\n\
             Message-ID: <{}@e2e.test>\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{}",
            self.from, self.to, self.subject, self.marker, self.body
        ));
        s.into_bytes()
    }
}

fn dkim_key() -> Result<mail_auth::common::crypto::RsaKey<mail_auth::common::crypto::Sha256>, String>
{
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::PrivateKeyDer::from_pem_slice(DKIM_KEY_PEM.as_bytes())
        .map_err(|e| format!("DKIM test key: {e}"))?;
    mail_auth::common::crypto::RsaKey::from_key_der(der).map_err(|e| format!("DKIM test key: {e}"))
}

fn dkim_public_key_b64() -> Result<String, String> {
    Ok(kinko_milter::vocab::header_text::base64(
        &dkim_key()?.public_key(),
    ))
}

/// Signs `raw` as `d=domain; s=selector` with the harness key and returns
/// the message with its DKIM-Signature on top. The key is published only
/// for domains given to [`Builder::dkim_key`] (selector [`SELECTOR`]).
pub fn dkim_sign(raw: &[u8], domain: &str, selector: &str) -> Result<Vec<u8>, String> {
    use mail_auth::common::headers::HeaderWriter;
    let sig = mail_auth::dkim::DkimSigner::from_key(dkim_key()?)
        .domain(domain)
        .selector(selector)
        .headers(["From", "To", "Subject", "Date", "Message-ID"])
        .sign(raw)
        .map_err(|e| format!("DKIM signing: {e}"))?;
    let mut out = sig.to_header().into_bytes();
    out.extend_from_slice(raw);
    Ok(out)
}

/// Seals `raw` as the first ARC set of `domain` (selector [`SELECTOR`], the
/// harness key), as a mailing list that received the original would: its
/// ARC-Authentication-Results record `dmarc=pass header.from=FROM` when
/// `saw_dmarc_pass` names a From domain, and nothing but the list's own
/// id otherwise.
pub fn arc_seal(raw: &[u8], domain: &str, saw_dmarc_pass: Option<&str>) -> Result<Vec<u8>, String> {
    use mail_auth::common::headers::HeaderWriter;
    let msg = mail_auth::AuthenticatedMessage::parse(raw).ok_or("ARC: message does not parse")?;
    let mut results = mail_auth::AuthenticationResults::new(domain);
    if let Some(from) = saw_dmarc_pass {
        let dmarc = mail_auth::DmarcOutput::new(from.to_string())
            .with_dkim_result(mail_auth::DmarcResult::Pass);
        results = results.with_dmarc_result(&dmarc);
    }
    let set = mail_auth::arc::ArcSealer::from_key(dkim_key()?)
        .domain(domain)
        .selector(SELECTOR)
        .headers([
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "DKIM-Signature",
        ])
        .seal(&msg, &results, &mail_auth::ArcOutput::default())
        .map_err(|e| format!("ARC sealing: {e}"))?;
    let mut out = set.to_header().into_bytes();
    out.extend_from_slice(raw);
    Ok(out)
}

// ---------------------------------------------------------------------------
// Header inspection.

/// Unfolded values of every header field called `name`, in order.
pub fn header_values(message: &str, name: &str) -> Vec<String> {
    let head = message
        .split("\r\n\r\n")
        .next()
        .unwrap_or(message)
        .replace("\r\n", "\n");
    let mut fields: Vec<String> = Vec::new();
    for line in head.split('\n') {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = fields.last_mut() {
                last.push(' ');
                last.push_str(line.trim());
            }
        } else {
            fields.push(line.to_string());
        }
    }
    fields
        .into_iter()
        .filter_map(|f| {
            let (n, v) = f.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
        .collect()
}

/// The Authentication-Results values written by [`AUTHSERV_ID`].
pub fn our_auth_results(message: &str) -> Vec<String> {
    header_values(message, "Authentication-Results")
        .into_iter()
        .filter(|v| {
            v.split(';')
                .next()
                .is_some_and(|id| id.trim().eq_ignore_ascii_case(AUTHSERV_ID))
        })
        .collect()
}

/// The header section, for failure messages.
pub fn head(message: &str) -> &str {
    message.split("\r\n\r\n").next().unwrap_or(message)
}

// ---------------------------------------------------------------------------
// Small helpers.

/// A loopback address with a port that was free a moment ago.
pub fn free_addr() -> Result<SocketAddr, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("free port: {e}"))?;
    l.local_addr().map_err(|e| e.to_string())
}

/// A port free for both UDP and TCP (dnsmasq needs both).
fn free_udp_port() -> Result<u16, String> {
    for _ in 0..20 {
        let u = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let port = u.local_addr().map_err(|e| e.to_string())?.port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err("no port free for both UDP and TCP".into())
}

fn wait_port(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            return Err(format!("{addr} not accepting after {timeout:?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn run_cmd(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{:?} {:?}: {}: {}{}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        ))
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn set_mode(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A plain HTTP/1.0 GET (for `/metrics` and `/ready` of a milter): status
/// code and body.
pub fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    use std::io::Write;
    let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("GET {addr}{path}: {e}"))?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    write!(conn, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")
        .map_err(|e| format!("GET {addr}{path}: {e}"))?;
    let mut text = String::new();
    conn.read_to_string(&mut text)
        .map_err(|e| format!("GET {addr}{path}: {e}"))?;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("GET {addr}{path}: not HTTP: {head:?}"))?;
    Ok((status, body.to_string()))
}
