//! The quarantine commands against the real hold queue: what each prints
//! and its exit status must match what postqueue and postsuper did, for
//! held, unknown, queued-but-not-held, delivered and deleted ids, and for
//! a user without the rights to read the queue.

use super::{bank_name_from, RCPT};
use crate::common::{dkim_sign, Harness, Mail, DEFERRED_DOMAIN, SELECTOR};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) const PHISH_LINK: &str =
    "https://testbank-secure-login.example.net/login/verify?u=customer@customer.example";
/// Where `quarantine report` sends in these trials (relayed to the sink).
const REPORT_TO: &str = "phish-report@reports.test";
const UNKNOWN: &str = "4NOSUCHID0";
const BIN: &str = env!("CARGO_BIN_EXE_kinko-milter");

/// Holds one impersonation of the test bank with a link; returns the mail
/// and its queue id.
pub fn hold_one(h: &Harness, tag: &str) -> Result<(Mail, String), String> {
    hold_one_from(h, tag, "bounce@attacker.example")
}

/// A MAIL FROM that only the envelope carries: the brand's domain placed
/// left of the attacker's (a `subdomain` finding the header does not give).
const LOOKALIKE_MAIL_FROM: &str = "bounce@bank.test.attacker.example";

/// The test bank's name in the display name, a Japanese account-check
/// subject and a link to a credential page off the bank's domains: mail
/// the strict policy holds.
pub(crate) fn bank_lure(tag: &str, rcpt: &str) -> Mail {
    let mut mail = Mail::new(tag, &bank_name_from("notice@attacker.example"), rcpt)
        .body(&format!("お客様各位\n\n{PHISH_LINK}\n"));
    mail.subject = format!(
        "{} {}",
        kinko_milter::vocab::header_text::encode_word("口座確認のお願い"),
        mail.marker
    );
    mail
}

/// [`hold_one`] with the envelope sender `mail_from`.
fn hold_one_from(h: &Harness, tag: &str, mail_from: &str) -> Result<(Mail, String), String> {
    let mail = bank_lure(tag, RCPT);
    let raw = dkim_sign(&mail.render(), "attacker.example", SELECTOR)?;
    let r = h.send("json-strict", mail_from, RCPT, &raw, None)?;
    ensure!(r.accepted(), "{tag}: {r}");
    let q = h.wait_held(&mail.marker)?;
    Ok((mail, q.queue_id))
}

/// One message Postfix keeps queued (deferred) but never held.
fn park_one(h: &Harness, tag: &str) -> Result<(Mail, String), String> {
    let to = format!("someone@{DEFERRED_DOMAIN}");
    let mail = Mail::new(tag, "someone@sender.example", &to);
    let r = h.send("plain", "someone@sender.example", &to, &mail.render(), None)?;
    ensure!(r.accepted(), "{tag}: {r}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(q) = h
            .queue()?
            .into_iter()
            .find(|q| q.headers.contains(&mail.marker))
        {
            ensure!(q.queue_name != "hold", "{tag} is on hold");
            return Ok((mail, q.queue_id));
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "{tag} never showed in the queue"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The configuration the commands are given: the json-strict milter's own
/// (its policy files and authserv-id, so `show --check` judges as it did)
/// with a `[quarantine]` table naming the test Postfix, a fresh labelled
/// folder and the reporting address. Returns (configuration, folder).
fn commands_config(h: &Harness, tag: &str, report_to: &str) -> Result<(PathBuf, PathBuf), String> {
    let milter = h.milter("json-strict")?;
    let base = std::fs::read_to_string(&milter.config_path).map_err(|e| e.to_string())?;
    let labels = h.dir().join(format!("labels-{tag}"));
    let _ = std::fs::remove_dir_all(&labels);
    let text = format!(
        "{base}\n[quarantine]\npostfix_config = {}\nlabels = {}\nreport_to = {}\n\
         report_from = \"security@mx.kinko.test\"\n",
        toml_string(&h.postfix_config_dir().display().to_string()),
        toml_string(&labels.display().to_string()),
        toml_string(report_to),
    );
    let dir = milter.config_path.parent().ok_or("milter dir")?;
    let path = dir.join(format!("quarantine-{tag}.toml"));
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    // Root's alone, as the installed one is root's and the daemon's group's.
    crate::common::set_mode(&path, 0o600)?;
    Ok((path, labels))
}

/// `kinko-milter quarantine -c CONFIG ARGS…`, the whole outcome.
fn quarantine(config: &Path, args: &[&str]) -> Result<Output, String> {
    Command::new(BIN)
        .arg("quarantine")
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .map_err(|e| e.to_string())
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Expected to succeed: its standard output.
fn ok(out: Output, what: &str) -> Result<String, String> {
    let (stdout, stderr) = text(&out);
    ensure!(
        out.status.success(),
        "{what}: {:?}\n{stdout}{stderr}",
        out.status
    );
    Ok(stdout)
}

/// Expected to exit 1 with every id in `missed` said to be not acted on
/// (`not released ID:`…); standard output and error together.
fn refused(out: Output, word: &str, missed: &[&str], what: &str) -> Result<String, String> {
    let (stdout, stderr) = text(&out);
    ensure!(
        out.status.code() == Some(1),
        "{what} should exit 1: {:?}\n{stdout}{stderr}",
        out.status
    );
    for id in missed {
        ensure!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("not {word} {id}"))),
            "{what} does not say {id} was not {word}:\n{stdout}{stderr}"
        );
    }
    Ok(stdout + &stderr)
}

/// Postfix's hold line for `id` in its log, as an operator greps for it.
fn hold_log_line(h: &Harness, id: &str) -> Result<String, String> {
    h.maillog()
        .lines()
        .find(|l| l.contains(&format!("{id}: milter-hold")) || l.contains(&format!("{id}: hold")))
        .map(str::to_string)
        .ok_or_else(|| format!("no hold line for {id} in the Postfix log"))
}

fn eval_labels(labels: &Path) -> Result<serde_json::Value, String> {
    let out = Command::new(BIN)
        .args(["eval", "--json"])
        .arg(labels)
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = ok(out, "eval on the labelled folder")?;
    serde_json::from_str(&stdout).map_err(|e| format!("eval --json: {e}: {stdout}"))
}

/// list, show (--check with the stored envelope, both option orders),
/// stats, expire, report, release --false-positive → eval, label, delete,
/// each against held, unknown, parked, delivered and deleted ids.
pub fn quarantine_commands(h: &Harness) -> Result<(), String> {
    let (keep, keep_id) = hold_one_from(h, "q-release", LOOKALIKE_MAIL_FROM)?;
    let (drop, drop_id) = hold_one(h, "q-delete")?;
    let (sent, sent_id) = hold_one(h, "q-report")?;
    let (_, parked_id) = park_one(h, "q-parked")?;
    let result = quarantine_steps(
        h,
        (&keep, &keep_id),
        (&drop, &drop_id),
        (&sent, &sent_id),
        &parked_id,
    );
    for id in [&keep_id, &drop_id, &sent_id, &parked_id] {
        let _ = h.delete_queued(id);
    }
    result
}

fn quarantine_steps(
    h: &Harness,
    (keep, keep_id): (&Mail, &str),
    (drop, drop_id): (&Mail, &str),
    (sent, sent_id): (&Mail, &str),
    parked_id: &str,
) -> Result<(), String> {
    let (cfg, labels) = commands_config(h, "root", REPORT_TO)?;
    let run = |args: &[&str]| quarantine(&cfg, args);

    // The configuration names the instance: no --postfix-config needed.
    let list: serde_json::Value =
        serde_json::from_str(&ok(run(&["list", "--json"])?, "list")?).map_err(|e| e.to_string())?;
    let entry = list
        .as_array()
        .and_then(|a| a.iter().find(|e| e["queue_id"] == keep_id))
        .ok_or_else(|| format!("{keep_id} not listed: {list}"))?;
    ensure!(
        entry["subject"] == format!("口座確認のお願い {}", keep.marker).as_str()
            && entry["from"] == "テスト銀行 <notice@attacker.example>"
            && entry["envelope_sender"] == LOOKALIKE_MAIL_FROM
            && entry["brands"] == serde_json::json!(["test-bank"])
            && entry["verdict"] == "quarantine",
        "list entry: {entry}"
    );
    ensure!(
        !list
            .as_array()
            .is_some_and(|a| a.iter().any(|e| e["queue_id"] == parked_id)),
        "the parked (deferred) message is listed as held"
    );
    let listed = ok(run(&["list"])?, "list")?;
    ensure!(
        listed.contains(keep_id) && listed.contains("brand test-bank"),
        "{listed}"
    );

    // show --check re-judges with the envelope Postfix stored, and so
    // reaches the score the daemon gave.
    let shown: serde_json::Value = serde_json::from_str(&ok(
        run(&["show", keep_id, "--check", "--json"])?,
        "show --check",
    )?)
    .map_err(|e| e.to_string())?;
    ensure!(
        shown["envelope"]["mail_from"] == LOOKALIKE_MAIL_FROM
            && shown["envelope"]["rcpt_to"] == serde_json::json!([RCPT]),
        "stored envelope: {}",
        shown["envelope"]
    );
    ensure!(
        shown["check"]["score"] == shown["held"]["score"]
            && shown["check"]["action"] == "quarantine",
        "the re-judgement differs from the daemon's: held {} check {} ({})",
        shown["held"]["score"],
        shown["check"]["score"],
        shown["check"]["findings"]
    );
    for args in [
        &["show", keep_id, "--check"][..],
        &["show", "--check", keep_id],
    ] {
        let out = ok(run(args)?, "show --check")?;
        ensure!(
            out.contains("subject:  口座確認のお願い")
                && out.contains("analysis now (check, with the stored envelope):")
                && out.contains(&format!("MAIL FROM <{LOOKALIKE_MAIL_FROM}>"))
                && out.contains("subdomain [test-bank]")
                && out.contains("display-name [test-bank]"),
            "{args:?}:\n{out}"
        );
    }
    // What Postfix itself logs for the hold (the README says so).
    let line = hold_log_line(h, keep_id)?;
    ensure!(
        line.contains("milter triggers HOLD action"),
        "Postfix's hold line: {line}"
    );

    // Ids Postfix does not hold: unknown, and queued but not on hold.
    for id in [UNKNOWN, parked_id] {
        refused(run(&["release", id])?, "released", &[id], "release")?;
        refused(run(&["delete", id])?, "deleted", &[id], "delete")?;
        refused(run(&["report", id])?, "reported", &[id], "report")?;
        let (stdout, stderr) = text(&run(&["show", id])?);
        ensure!(
            stdout.is_empty() && stderr.contains("not on hold"),
            "show {id}: {stdout}{stderr}"
        );
    }
    ensure!(
        h.queue()?
            .iter()
            .any(|q| q.queue_id == parked_id && q.queue_name != "hold"),
        "the parked message was touched"
    );
    ensure!(
        run(&["release", "ALL"])?.status.code() == Some(1)
            && run(&["delete", "-d"])?.status.code() == Some(2),
        "ALL and options are not queue ids"
    );

    // stats: the gauges node_exporter reads.
    let prom = h.dir().join("hold-queue.prom");
    let said = ok(
        run(&["stats", "--metrics-file", prom.to_str().unwrap_or_default()])?,
        "stats",
    )?;
    let metrics = std::fs::read_to_string(&prom).map_err(|e| e.to_string())?;
    let value = |name: &str| -> Option<f64> {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
    };
    ensure!(
        said.starts_with("held: ")
            && value("kinko_hold_queue_up") == Some(1.0)
            && value("kinko_hold_queue_messages").is_some_and(|n| n >= 3.0)
            && value("kinko_hold_queue_oldest_seconds").is_some_and(|s| s >= 0.0),
        "stats: {said}\n{metrics}"
    );

    // expire: nothing here is a day old; the dry run and the run say so.
    for args in [
        &["expire", "--older-than", "1", "--dry-run"][..],
        &["expire", "--older-than", "1"],
    ] {
        let out = ok(run(args)?, "expire")?;
        ensure!(
            !out.contains(keep_id) && out.starts_with("no held mail older than 1 day"),
            "{args:?}: {out}"
        );
    }
    ensure!(
        h.hold_queue()?.iter().any(|q| q.queue_id == keep_id),
        "expire took fresh mail"
    );

    // report: forwarded whole to the reporting address through sendmail.
    let said = ok(run(&["report", sent_id])?, "report")?;
    ensure!(
        said == format!("reported {sent_id} to {REPORT_TO}\n"),
        "{said}"
    );
    let report = h.wait_delivered(&sent.marker)?;
    ensure!(
        report.contains("Content-Type: message/rfc822")
            && report.contains(&format!("Subject: Phishing report: held mail {sent_id}"))
            && report.contains(&format!("filename=\"{sent_id}.eml\""))
            && report.contains("X-Kinko-Reasons"),
        "the report:\n{report}"
    );
    ensure!(
        h.maillog()
            .contains(&format!("message-id=<kinko-report.{sent_id}.")),
        "Postfix's log does not tie the report to {sent_id}"
    );
    let (off_cfg, _) = commands_config(h, "off", "")?;
    let (stdout, stderr) = text(&quarantine(&off_cfg, &["report", sent_id])?);
    ensure!(
        stdout.is_empty() && stderr.contains("reporting is off"),
        "report without report_to: {stdout}{stderr}"
    );

    // release --false-positive: labelled ham, released, delivered; eval
    // reads the folder with that label.
    let said = ok(
        run(&["release", "--false-positive", keep_id])?,
        "release --false-positive",
    )?;
    ensure!(
        said.starts_with(&format!("labelled ham {keep_id}: "))
            && said.ends_with(&format!("released {keep_id}\n")),
        "{said}"
    );
    let got = h.wait_delivered(&keep.marker)?;
    ensure!(
        got.contains("X-Kinko-Reasons"),
        "released mail keeps our headers"
    );
    let rows = std::fs::read_to_string(labels.join("labels.tsv")).map_err(|e| e.to_string())?;
    ensure!(
        rows.starts_with("file\tlabel\tmail_from\trcpt_to\tclient_ip\n")
            && rows.contains(&format!(
                "{keep_id}.eml\tham\t{LOOKALIKE_MAIL_FROM}\t{RCPT}\t"
            )),
        "labels.tsv:\n{rows}"
    );
    // Without the stored envelope the same copy loses the MAIL FROM
    // finding and scores lower (issue 22: 175 became 110), so the equal
    // scores above are the envelope's doing.
    let copy = labels.join("messages").join(
        rows.lines()
            .find(|l| l.contains(keep_id))
            .and_then(|l| l.split('\t').next())
            .and_then(|f| f.strip_prefix("messages/"))
            .ok_or("no row for the released message")?,
    );
    let milter_cfg = h.milter("json-strict")?.config_path.clone();
    let bare = Command::new(BIN)
        .args([
            "check",
            "--json",
            "--no-dns",
            "--trust-authserv-id",
            crate::common::AUTHSERV_ID,
            "-c",
        ])
        .arg(&milter_cfg)
        .arg(&copy)
        .output()
        .map_err(|e| e.to_string())?;
    let bare: serde_json::Value = serde_json::from_str(&ok(bare, "check without the envelope")?)
        .map_err(|e| e.to_string())?;
    ensure!(
        bare["score"].as_i64() < shown["held"]["score"].as_i64()
            && !bare["findings"].to_string().contains("MAIL FROM"),
        "without the envelope: {} (held {})",
        bare["score"],
        shown["held"]["score"]
    );
    // The missed phishing, from a delivered .eml, labelled phish.
    let eml = h.dir().join("missed.eml");
    std::fs::write(&eml, got.as_bytes()).map_err(|e| e.to_string())?;
    let out = Command::new(BIN)
        .args(["label", "--phish", "--labels"])
        .arg(&labels)
        .arg(&eml)
        .output()
        .map_err(|e| e.to_string())?;
    let said = ok(out, "label --phish")?;
    ensure!(said.starts_with("labelled phish: "), "{said}");
    let eval = eval_labels(&labels)?;
    ensure!(
        eval["labels"]["ham"]["messages"] == 1
            && eval["labels"]["phish"]["messages"] == 1
            && eval["unreadable"].as_array().is_none_or(|a| a.is_empty()),
        "eval on the labelled folder: {eval}"
    );

    let said = ok(run(&["delete", drop_id, sent_id])?, "delete")?;
    ensure!(
        said == format!("deleted {drop_id}\ndeleted {sent_id}\n"),
        "delete said: {said}"
    );
    ensure!(!h.delivered_now(&drop.marker), "deleted mail was delivered");
    // Delivered and deleted ids are no longer on hold; one id acted on
    // does not make a mixed command succeed.
    let again = refused(
        run(&["release", keep_id, drop_id])?,
        "released",
        &[keep_id, drop_id],
        "release again",
    )?;
    ensure!(!again.contains(&format!("\nreleased {keep_id}")), "{again}");
    refused(
        run(&["delete", keep_id])?,
        "deleted",
        &[keep_id],
        "delete delivered",
    )?;
    let (stdout, stderr) = text(&run(&["release", "--false-positive", keep_id])?);
    ensure!(
        stdout.is_empty() && stderr.contains("not on hold"),
        "release --false-positive of a delivered id: {stdout}{stderr}"
    );
    Ok(())
}

/// The runbook's steps as its on-call operator runs them: not root, through
/// the runbook's own sudo rule (tests/common/operator.rs), against the real
/// hold queue, in either option order. A user outside the group is
/// refused, and so are arguments the rule does not list; without sudo the
/// commands refuse plainly instead of reporting an empty hold queue.
pub fn quarantine_as_operator(h: &Harness) -> Result<(), String> {
    use crate::common::operator::Operators;
    let (cfg, labels) = commands_config(h, "op", REPORT_TO)?;
    let ops = Operators::install(Path::new(BIN), &cfg)?;
    let (keep, keep_id) = hold_one(h, "op-release")?;
    let (drop, drop_id) = hold_one(h, "op-delete")?;
    let result = operator_steps(h, &ops, &cfg, &labels, (&keep, &keep_id), (&drop, &drop_id));
    for id in [&keep_id, &drop_id] {
        let _ = h.delete_queued(id);
    }
    result
}

fn operator_steps(
    h: &Harness,
    ops: &crate::common::operator::Operators,
    cfg: &Path,
    labels: &Path,
    (keep, keep_id): (&Mail, &str),
    (drop, drop_id): (&Mail, &str),
) -> Result<(), String> {
    use crate::common::operator::{OPERATOR, OUTSIDER};
    let cfg_text = cfg.display().to_string();
    let dir = h.postfix_config_dir().display().to_string();
    let as_user = |user: &str, args: &[&str]| {
        let mut all = vec!["quarantine", "-c", cfg_text.as_str()];
        all.extend_from_slice(args);
        ops.sudo(user, &all)
    };
    // `kinko-milter quarantine ARGS…` run directly (no sudo) by a user
    // outside the operators' group.
    let outsider = |args: &[&str]| -> Result<Output, String> {
        Command::new("runuser")
            .args(["-u", OUTSIDER, "--", BIN, "quarantine"])
            .args(args)
            .output()
            .map_err(|e| format!("runuser: {e}"))
    };
    let op = |args: &[&str]| -> Result<String, String> {
        ok(
            as_user(OPERATOR, args)?,
            &format!("{OPERATOR}: sudo kinko-milter quarantine {args:?}"),
        )
    };
    let sudo_refused = |out: Output, what: &str| -> Result<(), String> {
        let (stdout, stderr) = text(&out);
        ensure!(
            !out.status.success() && stderr.contains("sudo:") && stdout.is_empty(),
            "{what} was not refused by sudo: {stderr}"
        );
        Ok(())
    };

    sudo_refused(as_user(OUTSIDER, &["list"])?, "list by a non-member")?;
    sudo_refused(
        as_user(OUTSIDER, &["release", keep_id])?,
        "release by a non-member",
    )?;
    // Without sudo: every command refuses plainly (exit 1, Postfix's or
    // the file system's error), never "no mail on hold". With the test
    // instance named directly, postqueue and postsuper refuse its -c to a
    // non-root user; with the configuration, it cannot be read.
    let no_rights: &[(&[&str], &str)] = &[
        (&["list"], ": fatal: "),
        (&["list", "--json"], ": fatal: "),
        (&["show", keep_id], ": fatal: "),
        (&["release", keep_id], ": fatal: "),
        (&["delete", keep_id], ": fatal: "),
        (&["expire", "--older-than", "1"], ": fatal: "),
        (&["stats"], ": fatal: "),
    ];
    for (args, why) in no_rights {
        let mut all = vec!["--postfix-config", dir.as_str()];
        all.extend_from_slice(args);
        let out = outsider(&all)?;
        let (stdout, stderr) = text(&out);
        ensure!(
            out.status.code() == Some(1)
                && stderr.contains(why)
                && !stdout.contains("no mail on hold"),
            "{OUTSIDER} without sudo, quarantine {args:?}: {:?}\n{stdout}{stderr}",
            out.status
        );
    }
    let out = outsider(&["-c", &cfg_text, "list"])?;
    let (stdout, stderr) = text(&out);
    ensure!(
        out.status.code() == Some(1) && stdout.is_empty() && stderr.contains("denied"),
        "{OUTSIDER} with an unreadable configuration: {:?}\n{stdout}{stderr}",
        out.status
    );
    for (args, what) in [
        (
            &["--postfix-config", "/etc/postfix", "list"][..],
            "another Postfix instance",
        ),
        (&["-c", "/etc/shadow", "list"], "another configuration"),
        (
            &["show", keep_id, "--check", "--config", "/etc/shadow"],
            "show --config",
        ),
        (
            &["release", "--false-positive", keep_id, "--labels", "/tmp"],
            "release --labels",
        ),
        (
            &["stats", "--metrics-file", "/etc/motd"],
            "stats --metrics-file",
        ),
    ] {
        sudo_refused(as_user(OPERATOR, args)?, what)?;
    }
    ensure!(
        h.hold_queue()?.iter().any(|q| q.queue_id == keep_id),
        "{keep_id} left the hold queue after refused commands"
    );

    let list: serde_json::Value =
        serde_json::from_str(&op(&["list", "--json"])?).map_err(|e| e.to_string())?;
    ensure!(
        list.as_array().is_some_and(|a| a
            .iter()
            .any(|e| e["queue_id"] == keep_id && e["brands"] == serde_json::json!(["test-bank"]))),
        "{keep_id} not listed for the operator: {list}"
    );
    ensure!(
        op(&["list"])?.contains(keep_id),
        "text list lacks {keep_id}"
    );
    for args in [
        &["show", keep_id, "--check"][..],
        &["show", "--check", keep_id],
        &["show", "--raw", keep_id, "--check"],
    ] {
        let shown = op(args)?;
        ensure!(
            shown.contains("subject:  口座確認のお願い")
                && shown.contains("analysis now (check, with the stored envelope):")
                && shown.contains("display-name [test-bank]"),
            "{args:?} as the operator:\n{shown}"
        );
    }
    ensure!(
        op(&["show", keep_id, "--raw"])?.contains(&keep.marker),
        "show --raw lacks the message"
    );
    ensure!(
        op(&["stats"])?.starts_with("held: "),
        "stats as the operator"
    );
    ensure!(
        op(&["expire", "--dry-run", "--older-than", "30"])?
            .starts_with("no held mail older than 30 day"),
        "expire --dry-run as the operator"
    );

    let said = op(&["release", keep_id, "--false-positive"])?;
    ensure!(
        said.ends_with(&format!("released {keep_id}\n")),
        "release said: {said}"
    );
    h.wait_delivered(&keep.marker)?;
    let eval = eval_labels(labels)?;
    ensure!(eval["labels"]["ham"]["messages"] == 1, "eval: {eval}");
    let said = op(&["delete", drop_id])?;
    ensure!(
        said == format!("deleted {drop_id}\n"),
        "delete said: {said}"
    );
    ensure!(
        !h.queue()?.iter().any(|q| q.queue_id == drop_id),
        "{drop_id} still queued after delete"
    );
    ensure!(!h.delivered_now(&drop.marker), "deleted mail was delivered");
    let out = as_user(OPERATOR, &["delete", drop_id])?;
    refused(
        out,
        "deleted",
        &[drop_id],
        "delete of a deleted id through sudo",
    )?;
    Ok(())
}
