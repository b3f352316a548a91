//! An on-call operator who is not root, set up exactly as the quarantine
//! runbook (deploy/quarantine-runbook.md) tells an admin to: a system group,
//! a member, and the runbook's own sudo rule, adapted only to where the
//! test's binary and Postfix instance live. A second user outside the group
//! shows what the rule refuses.
//!
//! Needs root and sudo (scripts/test.sh installs it). The users and the
//! group stay (creating them is idempotent); the sudoers file is removed
//! when the `Operators` value is dropped.

use super::set_mode;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The group the runbook's rule names.
pub const GROUP: &str = "kinko-oncall";
/// A member of `GROUP`.
pub const OPERATOR: &str = "kinko-op";
/// Not a member: sudo must refuse every command to this user.
pub const OUTSIDER: &str = "kinko-outsider";

const RUNBOOK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/quarantine-runbook.md");
/// The path the runbook's rule allows (the Debian package's binary).
const INSTALLED_BINARY: &str = "/usr/bin/kinko-milter";

pub struct Operators {
    sudoers: PathBuf,
    binary: PathBuf,
}

/// The sudoers rule exactly as the runbook shows it (between `<<'RULE'` and
/// `RULE`), so the test checks the text an admin copies.
pub fn runbook_rule() -> Result<String, String> {
    let text = std::fs::read_to_string(RUNBOOK).map_err(|e| format!("{RUNBOOK}: {e}"))?;
    let body = text
        .split_once("<<'RULE'\n")
        .and_then(|(_, rest)| rest.split_once("\nRULE\n"))
        .map(|(rule, _)| rule.to_string())
        .ok_or_else(|| format!("{RUNBOOK}: no <<'RULE' … RULE block"))?;
    Ok(body + "\n")
}

/// Escapes the characters a POSIX extended regular expression or sudoers
/// would read as syntax, so a path is matched literally.
fn regex_literal(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.^$|()[]{}*+?,:=# ".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn run(cmd: &str, args: &[&str]) -> Result<Output, String> {
    Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))
}

fn succeed(cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = run(cmd, args)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn exists(db: &str, name: &str) -> Result<bool, String> {
    Ok(run("getent", &[db, name])?.status.success())
}

impl Operators {
    /// Creates the group and users if missing and installs the runbook's
    /// rule, with `/usr/bin/kinko-milter` replaced by `binary` and `-c
    /// CONFIG` required right after `quarantine`: the rule as shipped admits
    /// no `-c` (the installed configuration is the only one); this test's
    /// configuration, which names its Postfix instance, stands for it.
    pub fn install(binary: &Path, config: &Path) -> Result<Operators, String> {
        if !is_root() {
            return Err("the operator trial needs root (useradd, sudoers)".into());
        }
        if run("sudo", &["-V"]).is_err() {
            return Err("sudo is not installed (scripts/test.sh installs it)".into());
        }
        remove_stale_rules();
        // Another test run on the machine may create them at the same
        // moment: a failure counts only if the name is still missing.
        if !exists("group", GROUP)? {
            if let Err(e) = succeed("groupadd", &["--system", GROUP]) {
                if !exists("group", GROUP)? {
                    return Err(e);
                }
            }
        }
        for (user, groups) in [(OPERATOR, GROUP), (OUTSIDER, "")] {
            if !exists("passwd", user)? {
                let mut args = vec![
                    "--system",
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                ];
                if !groups.is_empty() {
                    args.extend(["--groups", groups]);
                }
                args.push(user);
                if let Err(e) = succeed("useradd", &args) {
                    if !exists("passwd", user)? {
                        return Err(e);
                    }
                }
            }
            if !groups.is_empty() {
                succeed("usermod", &["-aG", groups, user])?;
            }
        }

        let rule = runbook_rule()?;
        let binary_text = binary.to_str().ok_or("binary path is not UTF-8")?;
        let config_text = config.to_str().ok_or("configuration path is not UTF-8")?;
        ensure_contains(&rule, INSTALLED_BINARY)?;
        ensure_contains(&rule, "^quarantine (")?;
        let adapted = rule.replace(INSTALLED_BINARY, binary_text).replace(
            "^quarantine (",
            &format!("^quarantine -c {} (", regex_literal(config_text)),
        );

        // Written and checked under a name sudo skips (it has a dot), then
        // moved into place: a broken file must never be live, or every sudo
        // on the machine stops working.
        let sudoers = PathBuf::from(format!("/etc/sudoers.d/kinko-e2e-{}", std::process::id()));
        let staging = sudoers.with_extension("new");
        std::fs::write(&staging, adapted).map_err(|e| format!("{}: {e}", staging.display()))?;
        set_mode(&staging, 0o440)?;
        let staging_text = staging.to_str().unwrap_or_default().to_string();
        if let Err(e) = succeed("visudo", &["-cf", &staging_text]) {
            let _ = std::fs::remove_file(&staging);
            return Err(format!("visudo rejects the runbook's rule: {e}"));
        }
        std::fs::rename(&staging, &sudoers).map_err(|e| format!("{}: {e}", sudoers.display()))?;
        Ok(Operators {
            sudoers,
            binary: binary.to_path_buf(),
        })
    }

    /// `runuser -u USER -- sudo -n BINARY ARGS…`, as the runbook's operator
    /// types `sudo kinko-milter …` (no password prompt: -n).
    pub fn sudo(&self, user: &str, args: &[&str]) -> Result<Output, String> {
        Command::new("runuser")
            .args(["-u", user, "--", "sudo", "-n"])
            .arg(&self.binary)
            .args(args)
            .output()
            .map_err(|e| format!("runuser: {e}"))
    }
}

impl Drop for Operators {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.sudoers);
    }
}

/// Rules left by a run that was killed before it could remove its own (the
/// file names the process id).
fn remove_stale_rules() {
    let Ok(entries) = std::fs::read_dir("/etc/sudoers.d") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("kinko-e2e-") else {
            continue;
        };
        let pid = pid.trim_end_matches(".new");
        if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

fn ensure_contains(rule: &str, part: &str) -> Result<(), String> {
    if rule.contains(part) {
        Ok(())
    } else {
        Err(format!(
            "the runbook's rule no longer contains {part:?}: {rule}"
        ))
    }
}

fn is_root() -> bool {
    run("id", &["-u"]).is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
