//! The files in deploy/ are checked by the tools that will consume them:
//! systemd for the unit, promtool for the rules, and our own metric names
//! for the rules and the dashboard (a renamed metric must not leave a
//! dashboard panel silently empty).

use kinko_milter::telemetry::metrics::Metrics;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_kinko-milter");

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tool(name: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn systemd_unit_verifies() {
    assert!(
        tool("systemd-analyze"),
        "systemd-analyze is missing: scripts/test.sh installs systemd"
    );
    let dir = tempfile::tempdir().unwrap();
    let man8 = dir.path().join("man/man8");
    std::fs::create_dir_all(&man8).unwrap();
    // The pages the package build generates (units name man:kinko-milter(8)).
    let gen = Command::new(BIN)
        .arg("manpages")
        .arg(&man8)
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    // Every unit shipped, the timer with the service it starts.
    for name in [
        "kinko-milter.service",
        "kinko-milter-dmarc-report.service",
        "kinko-milter-dmarc-report.timer",
        "kinko-milter-quarantine-expire.service",
        "kinko-milter-quarantine-expire.timer",
        "kinko-milter-hold-stats.service",
        "kinko-milter-hold-stats.timer",
    ] {
        let mut unit = std::fs::read_to_string(root().join("deploy").join(name))
            .unwrap()
            .replace("/usr/bin/kinko-milter", BIN);
        for default in [
            "kinko-milter-dmarc-report",
            "kinko-milter-quarantine-expire",
        ] {
            unit = unit.replace(
                &format!("EnvironmentFile=/etc/default/{default}"),
                &format!(
                    "EnvironmentFile={}",
                    root().join(format!("deploy/{default}.default")).display()
                ),
            );
        }
        std::fs::write(dir.path().join(name), unit).unwrap();
    }
    for name in [
        "kinko-milter.service",
        "kinko-milter-dmarc-report.timer",
        "kinko-milter-quarantine-expire.timer",
        "kinko-milter-hold-stats.timer",
    ] {
        let out = Command::new("systemd-analyze")
            .arg("verify")
            .arg(dir.path().join(name))
            .env("MANPATH", dir.path().join("man"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "systemd-analyze verify {name}: {stderr}"
        );
        assert!(
            !stderr.contains("kinko-milter"),
            "warnings about {name}: {stderr}"
        );
    }
}

#[test]
fn prometheus_rules_pass_promtool() {
    assert!(
        tool("promtool"),
        "promtool is missing: scripts/test.sh installs prometheus"
    );
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(root().join("deploy/prometheus/kinko-milter.rules.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every `kinko_…` name used in rules and dashboard is one we export.
#[test]
fn rules_and_dashboard_use_exported_metrics() {
    let metrics = Metrics::new();
    // Per-brand series exist once a policy names its brands.
    metrics.set_policy("p", "1", &["some-bank".into()]);
    let mut exported: BTreeSet<String> = metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("# TYPE "))
        .filter_map(|l| l.split_whitespace().nth(2))
        .map(str::to_string)
        .collect();
    // The hold queue's gauges come from `quarantine stats --metrics-file`.
    let hold = kinko_milter::commands::quarantine_more::hold_metrics(Some(&[]), 0);
    for name in kinko_milter::commands::quarantine_more::HOLD_METRICS {
        assert!(hold.contains(&format!("# TYPE {name} gauge")), "{name}");
        exported.insert(name.to_string());
    }
    let name = regex::Regex::new(r"\bkinko_[a-z_]+").unwrap();
    for file in [
        "deploy/prometheus/kinko-milter.rules.yml",
        "deploy/grafana/kinko-milter-dashboard.json",
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let mut used = 0;
        for m in name.find_iter(&text) {
            let n = m.as_str();
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .unwrap_or(n);
            assert!(
                exported.contains(base),
                "{file} uses {n}, which is not exported"
            );
            used += 1;
        }
        assert!(used > 5, "{file} refers to only {used} metrics");
    }
    serde_json::from_str::<serde_json::Value>(
        &std::fs::read_to_string(root().join("deploy/grafana/kinko-milter-dashboard.json"))
            .unwrap(),
    )
    .expect("dashboard is valid JSON");
}

/// The sample configuration and the shipped policies pass `config check`.
#[test]
fn shipped_files_pass_config_check() {
    let out = Command::new(BIN)
        .args(["config", "check"])
        .arg(root().join("deploy/kinko-milter.toml"))
        .arg("--policy")
        .arg(root().join("policy/example-shinkin.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok: "));
}

/// Every installation would name the example host until edited.
#[test]
fn shipped_config_leaves_authserv_id_to_the_host_name() {
    let text = std::fs::read_to_string(root().join("deploy/kinko-milter.toml")).unwrap();
    assert!(
        !text
            .lines()
            .any(|l| l.trim_start().starts_with("authserv_id")),
        "authserv_id is set in deploy/kinko-milter.toml"
    );
    assert!(
        text.contains("# authserv_id = "),
        "no example left in a comment"
    );
}

/// A broken policy is reported as file:line: field, with a failing exit.
#[test]
fn config_check_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bad.toml");
    std::fs::write(
        &p,
        "[policy]\nname = \"x\"\n\n[bands]\ntag = 10\nquarantine = \"lots\"\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["config", "check", "--policy"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("{}:6: bands.quarantine: ", p.display())),
        "{err}"
    );
}

/// The source paths of `[package.metadata.deb] assets`.
fn deb_assets() -> Vec<String> {
    let manifest: toml::Value =
        toml::from_str(&std::fs::read_to_string(root().join("Cargo.toml")).unwrap()).unwrap();
    manifest["package"]["metadata"]["deb"]["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a[0].as_str().unwrap().to_string())
        .collect()
}

/// Every shipped policy and list file goes into the Debian package, so the
/// installed policies find the lists they name.
#[test]
fn debian_package_ships_every_policy_file() {
    let assets = deb_assets();
    let mut shipped = 0;
    for entry in std::fs::read_dir(root().join("policy")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".toml") || name.ends_with(".txt") {
            let path = format!("policy/{name}");
            assert!(
                assets.contains(&path),
                "{path} is not in [package.metadata.deb] assets"
            );
            shipped += 1;
        }
    }
    assert!(shipped >= 6, "only {shipped} policy files found");
}

/// Every unit and default file in deploy/ is in the package, and the
/// timers that act on their own (or need a site's settings) are shipped
/// off: no maintainer script enables them.
#[test]
fn debian_package_ships_every_unit_and_leaves_timers_off() {
    let assets = deb_assets();
    let mut units = 0;
    for entry in std::fs::read_dir(root().join("deploy")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if [".service", ".timer", ".default"]
            .iter()
            .any(|s| name.ends_with(s))
        {
            let path = format!("deploy/{name}");
            assert!(assets.contains(&path), "{path} is not in the package");
            units += 1;
        }
    }
    assert!(units >= 9, "only {units} units and default files found");
    for script in ["deploy/debian/postinst", "deploy/debian/postrm"] {
        let text = std::fs::read_to_string(root().join(script)).unwrap();
        assert!(!text.contains("enable"), "{script} enables a unit");
    }
    let expire =
        std::fs::read_to_string(root().join("deploy/kinko-milter-quarantine-expire.timer"))
            .unwrap();
    assert!(
        expire.contains("systemctl enable --now kinko-milter-quarantine-expire.timer"),
        "the expire timer does not say how to enable it"
    );
}
