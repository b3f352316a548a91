//! The real binary as an operator runs it: start, scrape, reload with a bad
//! and then a good policy, stop with SIGTERM.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/http.rs"]
mod http;

const BIN: &str = env!("CARGO_BIN_EXE_kinko-milter");

fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    http::get(SocketAddr::from(([127, 0, 0, 1], port)), path)
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("timed out waiting for {what}");
}

fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no series {series}"))
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill {sig}");
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write_policy(path: &Path, name: &str, broken: bool) {
    let bands = if broken { "tag = \"high\"" } else { "tag = 40" };
    std::fs::write(
        path,
        format!(
            "[policy]\nname = \"{name}\"\nversion = \"1\"\n\n[bands]\n{bands}\n\n[[brand]]\nid = \"test-bank\"\nnames = [\"テスト銀行\"]\ndomains = [\"test-bank.example\"]\n"
        ),
    )
    .unwrap();
}

#[test]
fn reload_keeps_the_old_policy_on_errors_and_sigterm_stops() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    write_policy(&policy, "first", false);
    let config = dir.path().join("kinko.toml");
    std::fs::write(
        &config,
        "socket = \"inet:127.0.0.1:0\"\nmetrics_address = \"127.0.0.1:0\"\nauthserv_id = \"mx.test\"\npolicy = [\"policy.toml\"]\n[dns]\nnameservers = [\"127.0.0.1:9\"]\n"
    )
    .unwrap();
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("log")).unwrap())
        .spawn()
        .unwrap();
    let mut d = Daemon(child);
    // Both listeners bind port 0; the daemon names the ports it got.
    let log = dir.path().join("log");
    let port_after = |marker: &str| -> Option<u16> {
        let text = std::fs::read_to_string(&log).ok()?;
        let rest = &text[text.find(marker)? + marker.len()..];
        let addr = rest.split([';', '/', ' ', '\n', '"']).next()?;
        addr.rsplit(':').next()?.parse().ok()
    };
    let mut ports = (None, None);
    wait_for("both listeners announced", || {
        ports = (
            port_after("listening on inet:"),
            port_after("metrics on http://"),
        );
        ports.0.is_some() && ports.1.is_some()
    });
    let (milter_port, metrics_port) = (ports.0.unwrap(), ports.1.unwrap());
    wait_for("metrics endpoint", || {
        http_get(metrics_port, "/ready").is_some()
    });
    wait_for("milter port", || {
        TcpStream::connect(("127.0.0.1", milter_port)).is_ok()
    });

    let (status, body) = http_get(metrics_port, "/ready").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("policy first"), "{body}");
    let (_, m) = http_get(metrics_port, "/metrics").unwrap();
    assert_eq!(
        metric(&m, "kinko_policy_info{name=\"first\",version=\"1\"}"),
        1.0
    );
    assert_eq!(
        metric(&m, "kinko_impersonations_total{brand=\"test-bank\"}"),
        0.0
    );

    // A broken policy: the reload fails, the old policy stays.
    write_policy(&policy, "second", true);
    signal(&d.0, "-HUP");
    wait_for("failed reload counted", || {
        http_get(metrics_port, "/metrics")
            .is_some_and(|(_, m)| metric(&m, "kinko_reloads_total{outcome=\"failure\"}") == 1.0)
    });
    let (_, body) = http_get(metrics_port, "/ready").unwrap();
    assert!(
        body.contains("policy first"),
        "old policy must stay: {body}"
    );

    // A configuration naming a policy file that is not there: the reload
    // fails, the log names both files (as `config check` does), the old
    // policy stays.
    let good_config = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        good_config.replace("[\"policy.toml\"]", "[\"missing.toml\"]"),
    )
    .unwrap();
    signal(&d.0, "-HUP");
    wait_for("second failed reload counted", || {
        http_get(metrics_port, "/metrics")
            .is_some_and(|(_, m)| metric(&m, "kinko_reloads_total{outcome=\"failure\"}") == 2.0)
    });
    let logged = std::fs::read_to_string(&log).unwrap();
    let line = logged
        .lines()
        .find(|l| l.contains("reload failed") && l.contains("missing.toml"))
        .unwrap_or_else(|| panic!("no reload error naming missing.toml:\n{logged}"));
    assert!(
        line.contains(&format!("{}: policy: ", config.display())),
        "the reload error names the configuration that refers to the file: {line}"
    );
    let (_, body) = http_get(metrics_port, "/ready").unwrap();
    assert!(
        body.contains("policy first"),
        "old policy must stay: {body}"
    );

    // Fixed: the reload succeeds and the new policy is in force.
    std::fs::write(&config, good_config).unwrap();
    write_policy(&policy, "second", false);
    signal(&d.0, "-HUP");
    wait_for("successful reload", || {
        http_get(metrics_port, "/ready").is_some_and(|(_, b)| b.contains("policy second"))
    });
    let (_, m) = http_get(metrics_port, "/metrics").unwrap();
    assert_eq!(metric(&m, "kinko_reloads_total{outcome=\"success\"}"), 1.0);
    assert_eq!(
        metric(&m, "kinko_policy_info{name=\"second\",version=\"1\"}"),
        1.0
    );
    assert!(
        !m.contains("name=\"first\""),
        "the old policy_info series is gone"
    );

    signal(&d.0, "-TERM");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = d.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");
}

/// `run --config FILE` with `text` as the configuration must exit 2 at
/// once; returns the directory (keep it alive), the file and stderr.
fn start_fails(text: &str) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kinko.toml");
    std::fs::write(&config, text).unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (dir, config, err)
}

#[test]
fn bad_config_fails_fast_with_file_and_line() {
    let (_dir, config, err) = start_fails("socket = \"inet:127.0.0.1:1\"\ndry_runn = true\n");
    assert!(
        err.contains(&format!("{}:2: dry_runn: unknown field", config.display())),
        "{err}"
    );
}

#[test]
fn missing_policy_file_at_start_names_the_configuration_that_refers_to_it() {
    let (dir, config, err) = start_fails(
        "socket = \"inet:127.0.0.1:0\"\nmetrics_address = \"\"\npolicy = [\"missing.toml\"]\n",
    );
    let missing = dir.path().join("missing.toml");
    assert!(
        err.contains(&format!(
            "{}: policy: {}: ",
            config.display(),
            missing.display()
        )),
        "{err}"
    );
    // The same words as `config check`, so either leads to the same fix.
    let check = Command::new(BIN)
        .args(["config", "check"])
        .arg(&config)
        .output()
        .unwrap();
    let check_err = String::from_utf8_lossy(&check.stderr);
    let first_line = check_err.lines().next().unwrap_or_default();
    assert!(
        !first_line.is_empty() && err.contains(first_line),
        "run: {err}\nconfig check: {check_err}"
    );
}

#[test]
fn stale_unix_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("milter.sock");
    // A socket file nobody listens on, as a crash leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    assert!(sock.exists());
    let config = dir.path().join("kinko.toml");
    std::fs::write(
        &config,
        format!(
            "socket = \"unix:{}\"\nmetrics_address = \"\"\n",
            sock.display()
        ),
    )
    .unwrap();
    let child = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let d = Daemon(child);
    wait_for("unix socket accepting", || {
        std::os::unix::net::UnixStream::connect(&sock).is_ok()
    });
    signal(&d.0, "-TERM");
    wait_for("socket removed at exit", || !sock.exists());
}

/// A milter port already in use stops the start before the metrics
/// endpoint is announced: the on-call must not read "metrics on …" from a
/// daemon that never served mail.
#[test]
fn busy_milter_port_fails_before_metrics_are_announced() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kinko.toml");
    std::fs::write(
        &config,
        format!("socket = \"inet:127.0.0.1:{port}\"\nmetrics_address = \"127.0.0.1:0\"\n"),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(2), "{all}");
    assert!(
        all.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{all}"
    );
    assert!(!all.contains("metrics on"), "{all}");
}
