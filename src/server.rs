//! The daemon: listeners, the metrics endpoint, reload on SIGHUP and
//! graceful shutdown on SIGTERM.

use crate::auth::Authenticator;
use crate::config::{Config, Socket};
use crate::dns::{self, Caches};
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::session::{Runtime, State};
use indymilter::Listener;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

/// How long messages in progress may take to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Builds the connection state from a configuration, reusing the previous
/// authenticator (and its warm DNS caches) when the DNS settings are unchanged.
pub fn build_state(
    cfg: Config,
    metrics: &Arc<Metrics>,
    previous: Option<&State>,
) -> Result<State, String> {
    let policy = Policy::load_files(&cfg.policy).map_err(|e| e.to_string())?;
    let trusted = cfg.trusted()?;
    let authenticator = match previous {
        Some(p) if p.config.dns == cfg.dns => p.authenticator.clone(),
        _ => Arc::new(authenticator(&cfg, Some(metrics.clone()))?),
    };
    metrics.set_policy(
        &policy.name,
        &policy.version,
        &policy
            .brands
            .iter()
            .map(|b| b.id.clone())
            .collect::<Vec<_>>(),
    );
    Ok(State {
        config: Arc::new(cfg),
        policy: Arc::new(policy),
        authenticator,
        trusted,
    })
}

pub fn authenticator(cfg: &Config, metrics: Option<Arc<Metrics>>) -> Result<Authenticator, String> {
    let upstream = cfg.upstream()?;
    let resolver = dns::resolver(&upstream, cfg.dns_timeout(), cfg.dns.attempts)
        .map_err(|e| format!("DNS resolver: {e}"))?;
    Ok(Authenticator::new(
        resolver,
        Caches::new(cfg.dns.cache_entries, metrics),
    ))
}

fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
    }
}

/// A TCP listener whose connections have Nagle's algorithm off: the milter
/// protocol is request/response with small packets, and Nagle with delayed
/// ACKs would stall each reply by tens of milliseconds.
pub struct NoDelayListener(pub TcpListener);

impl Listener for NoDelayListener {
    type Io = QuickAckStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<QuickAckStream>> {
        self.0.poll_accept(cx).map_ok(|(stream, _)| {
            if let Err(e) = stream.set_nodelay(true) {
                warn!(error = %e, "could not disable Nagle on a milter connection");
            }
            QuickAckStream(stream)
        })
    }
}

/// A milter connection that acknowledges what it reads at once.
///
/// Postfix's end keeps Nagle on. At the stages negotiated to need no answer
/// it writes header fields, body and end of message back to back, so each
/// write after the first waits for the ACK of the one before, which delayed
/// ACK holds back 40 ms: every message stalled that long. Linux drops out of
/// quick-ACK mode by itself, so it is asked for again after every read.
pub struct QuickAckStream(TcpStream);

impl QuickAckStream {
    fn quickack(&self) {
        // Failure only costs latency; there is nothing better to do.
        let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
    }
}

impl AsyncRead for QuickAckStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.0).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.quickack();
        }
        polled
    }
}

impl AsyncWrite for QuickAckStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Serves the milter protocol on a TCP listener until `shutdown` completes.
/// The daemon uses it, and so do in-process protocol tests.
pub async fn serve_tcp(
    listener: TcpListener,
    runtime: Arc<Runtime>,
    config: indymilter::Config,
    shutdown: impl std::future::Future,
) -> io::Result<()> {
    let callbacks = crate::milter::callbacks(runtime);
    indymilter::run(NoDelayListener(listener), callbacks, config, shutdown).await
}

/// Serves the milter protocol on a unix socket until `shutdown` completes.
pub async fn serve_unix(
    listener: UnixListener,
    runtime: Arc<Runtime>,
    config: indymilter::Config,
    shutdown: impl std::future::Future,
) -> io::Result<()> {
    let callbacks = crate::milter::callbacks(runtime);
    indymilter::run(listener, callbacks, config, shutdown).await
}

/// Binds a unix socket, removing a stale socket file left by a crash but
/// refusing to steal the socket of a running instance.
async fn bind_unix(path: &Path) -> io::Result<UnixListener> {
    if path.exists() {
        match tokio::net::UnixStream::connect(path).await {
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by a running process", path.display()),
                ))
            }
            Err(_) => {
                std::fs::remove_file(path)?;
                info!(path = %path.display(), "removed stale socket file");
            }
        }
    }
    UnixListener::bind(path)
}

/// Runs the daemon until SIGTERM or SIGINT. Returns the process exit code.
pub async fn run(config_path: Option<PathBuf>, cli_dry_run: bool) -> i32 {
    let metrics = Arc::new(Metrics::new());
    let mut cfg = match load_config(config_path.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            error!("{e}");
            eprintln!("kinko-milter: {e}");
            return 2;
        }
    };
    cfg.dry_run |= cli_dry_run;
    let socket = match cfg.socket() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kinko-milter: socket: {e}");
            return 2;
        }
    };
    let metrics_address = cfg.metrics_address.clone();
    let max_connections = cfg.limits.max_connections;
    let connection_timeout = Duration::from_secs(cfg.limits.connection_timeout_s.max(1));
    let state = match build_state(cfg, &metrics, None) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kinko-milter: {e}");
            return 2;
        }
    };
    let policy_desc = format!(
        "{} ({} brands, from {})",
        state.policy.name,
        state.policy.brands.len(),
        state.policy.sources.join(", ")
    );
    let dry_run = state.config.dry_run;
    let runtime = Arc::new(Runtime::new(state, metrics.clone()));

    let milter_config = indymilter::Config {
        max_connections,
        connection_timeout,
        ..Default::default()
    };
    let (shutdown_tx, shutdown_rx) = tokio::sync::watch::channel(false);

    if !metrics_address.is_empty() {
        match crate::httpd::bind(&metrics_address).await {
            Ok(listener) => {
                eprintln!("kinko-milter: metrics on http://{metrics_address}/metrics");
                tokio::spawn(crate::httpd::serve(
                    listener,
                    runtime.clone(),
                    shutdown_rx.clone(),
                ));
            }
            Err(e) => {
                eprintln!("kinko-milter: metrics address {metrics_address}: {e}");
                return 2;
            }
        }
    }

    tokio::spawn(reload_loop(
        config_path.clone(),
        cli_dry_run,
        runtime.clone(),
    ));
    tokio::spawn(watch_feeds(
        config_path.clone(),
        cli_dry_run,
        runtime.clone(),
    ));

    let shutdown = {
        let mut rx = shutdown_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    tokio::spawn(async move {
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                error!(error = %e, "cannot listen for SIGTERM");
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => info!("SIGTERM: no new connections; finishing messages in progress"),
            _ = tokio::signal::ctrl_c() => info!("interrupt: shutting down"),
        }
        let _ = shutdown_tx.send(true);
    });

    let served = match &socket {
        Socket::Inet(addr) => {
            let listener = match TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("kinko-milter: cannot listen on {addr}: {e}");
                    return 2;
                }
            };
            announce(
                &format!(
                    "inet:{}",
                    listener
                        .local_addr()
                        .map(|a| a.to_string())
                        .unwrap_or_default()
                ),
                &policy_desc,
                dry_run,
            );
            with_grace(
                serve_tcp(listener, runtime.clone(), milter_config, shutdown),
                shutdown_rx,
            )
            .await
        }
        Socket::Unix(path) => {
            let listener = match bind_unix(path).await {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("kinko-milter: cannot listen on {}: {e}", path.display());
                    return 2;
                }
            };
            announce(&format!("unix:{}", path.display()), &policy_desc, dry_run);
            let r = with_grace(
                serve_unix(listener, runtime.clone(), milter_config, shutdown),
                shutdown_rx,
            )
            .await;
            let _ = std::fs::remove_file(path);
            r
        }
    };
    match served {
        Ok(()) => {
            info!("stopped");
            0
        }
        Err(e) => {
            error!(error = %e, "milter stopped with an error");
            1
        }
    }
}

fn announce(socket: &str, policy: &str, dry_run: bool) {
    let mode = if dry_run {
        " in DRY RUN (no reject, no quarantine)"
    } else {
        ""
    };
    eprintln!("kinko-milter: listening on {socket}{mode}; policy {policy}");
    info!(socket, policy, dry_run, "listening");
}

/// Lets sessions finish for at most [`SHUTDOWN_GRACE`] after shutdown starts.
async fn with_grace(
    run: impl std::future::Future<Output = io::Result<()>>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> io::Result<()> {
    tokio::pin!(run);
    tokio::select! {
        r = &mut run => return r,
        _ = shutdown.wait_for(|s| *s) => {}
    }
    match tokio::time::timeout(SHUTDOWN_GRACE, run).await {
        Ok(r) => r,
        Err(_) => {
            warn!(
                grace_s = SHUTDOWN_GRACE.as_secs(),
                "messages still in progress after the grace period; exiting"
            );
            Ok(())
        }
    }
}

/// SIGHUP: reload configuration, policy and feeds; keep the old state on any error.
async fn reload_loop(config_path: Option<PathBuf>, cli_dry_run: bool, runtime: Arc<Runtime>) {
    let mut hup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot listen for SIGHUP; reload disabled");
            return;
        }
    };
    while hup.recv().await.is_some() {
        reload(config_path.as_deref(), cli_dry_run, &runtime);
    }
}

/// Phishing feeds change often and are written by other tools (a cron job
/// fetching JPCERT's list): reload when a feed file changes, without
/// waiting for someone to send SIGHUP.
async fn watch_feeds(config_path: Option<PathBuf>, cli_dry_run: bool, runtime: Arc<Runtime>) {
    const EVERY: Duration = Duration::from_secs(30);
    let stamps = |rt: &Runtime| -> Vec<(PathBuf, Option<std::time::SystemTime>)> {
        rt.snapshot()
            .policy
            .links
            .feed_paths()
            .iter()
            .map(|p| {
                let p = p.to_path_buf();
                let m = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
                (p, m)
            })
            .collect()
    };
    let mut last = stamps(&runtime);
    loop {
        tokio::time::sleep(EVERY).await;
        let now = stamps(&runtime);
        if now != last {
            info!("a phishing feed file changed; reloading");
            reload(config_path.as_deref(), cli_dry_run, &runtime);
            last = stamps(&runtime);
        }
    }
}

pub fn reload(config_path: Option<&Path>, cli_dry_run: bool, runtime: &Runtime) -> bool {
    let current = runtime.snapshot();
    let result = load_config(config_path).and_then(|mut cfg| {
        cfg.dry_run |= cli_dry_run;
        for (what, old, new) in [
            ("socket", &current.config.socket, &cfg.socket),
            (
                "metrics_address",
                &current.config.metrics_address,
                &cfg.metrics_address,
            ),
        ] {
            if old != new {
                warn!(
                    setting = what,
                    "changed setting takes effect only after a restart"
                );
            }
        }
        if current.config.limits.max_connections != cfg.limits.max_connections {
            warn!(
                setting = "limits.max_connections",
                "changed setting takes effect only after a restart"
            );
        }
        if current.config.worker_threads != cfg.worker_threads {
            warn!(
                setting = "worker_threads",
                "changed setting takes effect only after a restart"
            );
        }
        build_state(cfg, &runtime.metrics, Some(&current))
    });
    match result {
        Ok(state) => {
            info!(policy = %state.policy.name, brands = state.policy.brands.len(), "reloaded");
            runtime.replace(state);
            runtime.metrics.reload(true);
            true
        }
        Err(e) => {
            error!(error = %e, "reload failed; keeping the previous configuration and policy");
            runtime.metrics.reload(false);
            false
        }
    }
}
