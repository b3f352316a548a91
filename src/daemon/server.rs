//! The daemon: listeners, the metrics endpoint, reload on SIGHUP and
//! graceful shutdown on SIGTERM.

use crate::daemon::listener::{MilterListener, TcpAccept};
use crate::daemon::runtime::{build_state, Runtime};
use crate::settings::config::{Config, Socket};
use crate::telemetry::metrics::Metrics;
use serde_json::json;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{signal, SignalKind};
use tracing::{error, info, warn};

/// How long messages in progress may take to finish after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

fn load_config(path: Option<&Path>) -> Result<Config, String> {
    match path {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
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
    let guards = runtime.guards.clone();
    let callbacks = crate::daemon::milter::callbacks(runtime);
    let listener = MilterListener::new(TcpAccept(listener), guards);
    indymilter::run(listener, callbacks, config, shutdown).await
}

/// Serves the milter protocol on a unix socket until `shutdown` completes.
pub async fn serve_unix(
    listener: UnixListener,
    runtime: Arc<Runtime>,
    config: indymilter::Config,
    shutdown: impl std::future::Future,
) -> io::Result<()> {
    let guards = runtime.guards.clone();
    let callbacks = crate::daemon::milter::callbacks(runtime);
    let listener = MilterListener::new(listener, guards);
    indymilter::run(listener, callbacks, config, shutdown).await
}

/// Binds a unix socket, removing a stale socket file left by a crash but
/// refusing to steal the socket of a running instance.
/// The bound milter socket.
enum Listener {
    Tcp(TcpListener),
    /// With its path, removed when the milter stops.
    Unix(UnixListener, std::path::PathBuf),
}

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
            fatal(&e);
            return 2;
        }
    };
    cfg.dry_run |= cli_dry_run;
    let socket = match cfg.socket() {
        Ok(s) => s,
        Err(e) => {
            fatal(&format!("socket: {e}"));
            return 2;
        }
    };
    let metrics_address = cfg.metrics_address.clone();
    let max_connections = cfg.limits.max_connections;
    let connection_timeout = Duration::from_secs(cfg.limits.connection_timeout_s.max(1));
    let state = match build_state(cfg, config_path.as_deref(), &metrics, None) {
        Ok(s) => s,
        Err(e) => {
            fatal(&e);
            return 2;
        }
    };
    let policy_desc = format!(
        "{} ({}, from {})",
        state.policy.name,
        state.policy.brands_counted(),
        state.policy.sources.join(", ")
    );
    let dry_run = state.config.dry_run;
    let runtime = Arc::new(Runtime::new(state, metrics.clone()));

    let milter_config = indymilter::Config {
        max_connections,
        connection_timeout,
        ..Default::default()
    };
    // The milter socket is bound first: a port already in use must fail
    // the start before anything announces a metrics endpoint that will
    // never serve a live milter.
    let listener = match &socket {
        Socket::Inet(addr) => match TcpListener::bind(addr).await {
            Ok(l) => Listener::Tcp(l),
            Err(e) => {
                fatal(&format!("cannot listen on {addr}: {e}"));
                return 2;
            }
        },
        Socket::Unix(path) => match bind_unix(path).await {
            Ok(l) => Listener::Unix(l, path.clone()),
            Err(e) => {
                fatal(&format!("cannot listen on {}: {e}", path.display()));
                return 2;
            }
        },
    };
    if !metrics_address.is_empty() {
        match crate::daemon::httpd::bind(&metrics_address).await {
            Ok(listener) => {
                let bound = listener
                    .local_addr()
                    .map(|a| a.to_string())
                    .unwrap_or(metrics_address);
                announce_line(
                    &format!("metrics on http://{bound}/metrics"),
                    &[("metrics", json!(format!("http://{bound}/metrics")))],
                );
                tokio::spawn(crate::daemon::httpd::serve(listener, runtime.clone()));
            }
            Err(e) => {
                fatal(&format!("metrics address {metrics_address}: {e}"));
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
    tokio::spawn(drain_on_signal(runtime.clone()));
    let shutdown = stopped(runtime.clone());

    let served = match listener {
        Listener::Tcp(listener) => {
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
            serve_tcp(listener, runtime.clone(), milter_config, shutdown).await
        }
        Listener::Unix(listener, path) => {
            announce(&format!("unix:{}", path.display()), &policy_desc, dry_run);
            let r = serve_unix(listener, runtime.clone(), milter_config, shutdown).await;
            let _ = std::fs::remove_file(&path);
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
    announce_line(
        &format!("listening on {socket}{mode}; policy {policy}"),
        &[
            ("socket", json!(socket)),
            ("policy", json!(policy)),
            ("dry_run", json!(dry_run)),
        ],
    );
}

/// Startup lines pass every log filter: operators and tests read the
/// addresses from them.
fn announce_line(message: &str, fields: &[(&str, serde_json::Value)]) {
    crate::telemetry::logfmt::announce("INFO", message, fields);
}

fn fatal(message: &str) {
    crate::telemetry::logfmt::announce("ERROR", message, &[]);
}

/// SIGTERM or SIGINT starts draining: the listener closes, idle
/// connections end, messages in progress go on to their end.
async fn drain_on_signal(runtime: Arc<Runtime>) {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            error!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM: no new connections; finishing messages in progress"),
        _ = tokio::signal::ctrl_c() => info!("interrupt: no new connections; finishing messages in progress"),
    }
    runtime.guards.drain();
}

/// Completes when the daemon may stop: draining has started and every
/// connection has ended, or [`SHUTDOWN_GRACE`] has passed. indymilter then
/// ends whatever is left.
async fn stopped(runtime: Arc<Runtime>) {
    let guards = runtime.guards.clone();
    let _ = guards.subscribe_drain().wait_for(|d| *d).await;
    if tokio::time::timeout(SHUTDOWN_GRACE, guards.all_closed())
        .await
        .is_err()
    {
        warn!(
            grace_s = SHUTDOWN_GRACE.as_secs(),
            connections = guards.active(),
            "messages still in progress after the grace period; exiting"
        );
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

/// Settings fixed when the daemon starts: the listeners, the runtime and
/// indymilter's own configuration. A reload says so rather than pretend.
fn restart_only_changes(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut check = |name: &'static str, differs: bool| {
        if differs {
            changed.push(name);
        }
    };
    check("socket", old.socket != new.socket);
    check(
        "metrics_address",
        old.metrics_address != new.metrics_address,
    );
    check(
        "limits.max_connections",
        old.limits.max_connections != new.limits.max_connections,
    );
    check(
        "limits.connection_timeout_s",
        old.limits.connection_timeout_s != new.limits.connection_timeout_s,
    );
    check("worker_threads", old.worker_threads != new.worker_threads);
    changed
}

pub fn reload(config_path: Option<&Path>, cli_dry_run: bool, runtime: &Runtime) -> bool {
    let current = runtime.snapshot();
    let result = load_config(config_path).and_then(|mut cfg| {
        cfg.dry_run |= cli_dry_run;
        for setting in restart_only_changes(&current.config, &cfg) {
            warn!(setting, "changed setting takes effect only after a restart");
        }
        build_state(cfg, config_path, &runtime.metrics, Some(&current))
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
