//! The quarantine commands beyond looking: `expire`, `stats`, `report`,
//! and `release --false-positive`'s labelling.

use crate::commands::postfix::{Instance, Queued};
use crate::commands::quarantine;
use crate::commands::quarantine_context::{acted, fail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The held messages that arrived before `now - days`, oldest first.
pub fn older_than(held: &[Queued], days: u32, now: i64) -> Vec<&Queued> {
    let cutoff = now - i64::from(days) * 86_400;
    let mut old: Vec<&Queued> = held.iter().filter(|q| q.arrival_time < cutoff).collect();
    old.sort_by_key(|q| q.arrival_time);
    old
}

/// `expire --older-than DAYS`: deletes (through `postsuper -d ID hold`,
/// like `delete`) every held message older than DAYS days.
pub fn expire(pf: &Instance, days: u32, dry_run: bool) -> i32 {
    let held = match pf.held() {
        Ok(h) => h,
        Err(e) => return fail(&e),
    };
    let old = older_than(&held, days, now());
    if old.is_empty() {
        println!(
            "no held mail older than {days} day(s) in {} ({} held)",
            pf.describe(),
            held.len()
        );
        return 0;
    }
    if dry_run {
        for q in &old {
            println!(
                "would expire {} (arrived {})",
                q.queue_id,
                quarantine::rfc3339(q.arrival_time)
            );
        }
        return 0;
    }
    let ids: Vec<String> = old.iter().map(|q| q.queue_id.clone()).collect();
    acted(pf, "expired", "delete", pf.delete(&ids))
}

/// Metric names `stats --metrics-file` writes (tests/deploy.rs checks the
/// alert rules use only exported names).
pub const HOLD_METRICS: &[&str] = &[
    "kinko_hold_queue_up",
    "kinko_hold_queue_messages",
    "kinko_hold_queue_oldest_seconds",
    "kinko_hold_queue_bytes",
    "kinko_hold_queue_sampled_timestamp_seconds",
];

/// The hold queue in node_exporter's textfile format. A failed read says
/// `kinko_hold_queue_up 0` and nothing else: an unreadable queue must not
/// look like an empty one.
pub fn hold_metrics(held: Option<&[Queued]>, now: i64) -> String {
    let mut s = String::new();
    let mut gauge = |name: &str, help: &str, value: String| {
        s.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    };
    gauge(
        "kinko_hold_queue_up",
        "1 when postqueue -j was read; 0 when it failed (no other figure then).",
        u8::from(held.is_some()).to_string(),
    );
    gauge(
        "kinko_hold_queue_sampled_timestamp_seconds",
        "When this file was written (Unix time).",
        now.to_string(),
    );
    if let Some(held) = held {
        let oldest = held.iter().map(|q| q.arrival_time).min();
        gauge(
            "kinko_hold_queue_messages",
            "Messages in Postfix's hold queue.",
            held.len().to_string(),
        );
        gauge(
            "kinko_hold_queue_oldest_seconds",
            "Age of the oldest held message; 0 when none is held.",
            oldest.map(|t| (now - t).max(0)).unwrap_or(0).to_string(),
        );
        gauge(
            "kinko_hold_queue_bytes",
            "Bytes of the held messages.",
            held.iter().map(|q| q.message_size).sum::<u64>().to_string(),
        );
    }
    s
}

/// `stats`: prints the hold queue's size and age; with `--metrics-file`
/// also writes them for node_exporter (even when the read failed, as up 0).
///
/// Why a command on a timer rather than a gauge in the daemon: reading the
/// queue means running `postqueue -j`, which needs Postfix's `postdrop`
/// group (its public/showq socket) and a child process. The daemon runs
/// with PrivateUsers and NoNewPrivileges, where that group does not exist,
/// and its threads serve the mail path; a large hold queue during a
/// campaign (100,000 messages) would cost it memory and CPU exactly when
/// the mail needs them. A oneshot unit of its own has none of these costs
/// and fails alone.
pub fn stats(pf: &Instance, metrics_file: Option<&Path>) -> i32 {
    let t = now();
    let held = pf.held();
    if let Some(file) = metrics_file {
        let text = hold_metrics(held.as_ref().ok().map(Vec::as_slice), t);
        if let Err(e) = write_atomically(file, text.as_bytes()) {
            return fail(&format!("{}: {e}", file.display()));
        }
    }
    match held {
        Ok(held) => {
            let oldest = held.iter().map(|q| q.arrival_time).min();
            println!(
                "held: {} message(s), {} bytes; oldest: {}",
                held.len(),
                held.iter().map(|q| q.message_size).sum::<u64>(),
                match oldest {
                    Some(a) => format!("{} ({} s ago)", quarantine::rfc3339(a), (t - a).max(0)),
                    None => "-".into(),
                }
            );
            0
        }
        Err(e) => fail(&e),
    }
}

/// Written beside the target and renamed over it, so the collector never
/// reads half a file (it skips names not ending in `.prom`).
fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// `release --false-positive`: every id is read first (so a wrong id
/// labels nothing), then each is written as `ham` with the envelope Postfix
/// stored.
pub fn label_false_positives(
    ctx: &Context,
    pf: &Instance,
    ids: &[String],
    labels: Option<PathBuf>,
) -> Result<(), String> {
    let dir = match labels {
        Some(d) => d,
        None => {
            let d = ctx.config()?.quarantine.labels;
            if d.as_os_str().is_empty() {
                return Err(
                    "--false-positive needs a labelled folder: --labels DIR or quarantine.labels"
                        .into(),
                );
            }
            d
        }
    };
    let mut read = Vec::with_capacity(ids.len());
    for id in ids {
        let (_, raw) = quarantine::show(pf, id)?;
        read.push((id, raw, pf.envelope(id)?));
    }
    let stamp = crate::commands::labels::today();
    for (id, raw, env) in read {
        let path = crate::commands::labels::add(&dir, "ham", &format!("{stamp}-{id}"), &raw, &env)?;
        println!("labelled ham {id}: {}", path.display());
    }
    Ok(())
}

/// `report`: each held message forwarded whole, as a message/rfc822
/// attachment, to `quarantine.report_to` through Postfix's sendmail (of the
/// same instance). Postfix logs each submission; the report's Message-ID
/// names the held queue id, so mail.log ties the two together.
pub fn report(ctx: &Context, pf: &Instance, ids: &[String]) -> i32 {
    let cfg = match ctx.config() {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let q = &cfg.quarantine;
    if q.report_to.is_empty() {
        return fail(
            "reporting is off: set quarantine.report_to in the configuration \
             (the Council of Anti-Phishing Japan takes info@antiphishing.jp)",
        );
    }
    let mut failed = 0;
    for id in ids {
        let sent = quarantine::show(pf, id).and_then(|(held, raw)| {
            let mail = report_message(&held, &raw, &q.report_to, &q.report_from, &cfg.authserv_id);
            sendmail(&q.sendmail, pf, &q.report_to, &q.report_from, &mail)
        });
        match sent {
            Ok(()) => println!("reported {id} to {}", q.report_to),
            Err(e) => {
                failed += 1;
                println!("not reported {id}: {e}");
            }
        }
    }
    if failed > 0 {
        eprintln!(
            "kinko-milter quarantine: {failed} of {} id(s) not reported",
            ids.len()
        );
        1
    } else {
        0
    }
}

/// The report: a short text part saying what and why, then the held
/// message untouched (message/rfc822, 8bit: it is forwarded as stored).
pub fn report_message(
    held: &quarantine::Held,
    raw: &[u8],
    to: &str,
    from: &str,
    host: &str,
) -> Vec<u8> {
    let t = now();
    let mut boundary = format!("kinko-report-{}-{t}", held.queue_id);
    while raw
        .windows(boundary.len())
        .any(|w| w == boundary.as_bytes())
    {
        boundary.push('x');
    }
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc2822)
        .unwrap_or_default();
    let mut m = String::new();
    if !from.is_empty() {
        m.push_str(&format!("From: {from}\n"));
    }
    m.push_str(&format!(
        "To: {to}\nSubject: Phishing report: held mail {id} from {host}\nDate: {date}\n\
         Message-ID: <kinko-report.{id}.{t}@{host}>\nMIME-Version: 1.0\n\
         Content-Type: multipart/mixed; boundary=\"{boundary}\"\n\n\
         --{boundary}\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n\
         kinko-milter on {host} held this message as phishing; it is attached as received.\n\n",
        id = held.queue_id
    ));
    m.push_str(&quarantine::render_one(held));
    m.push_str(&format!(
        "\n--{boundary}\nContent-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n\
         Content-Disposition: attachment; filename=\"{}.eml\"\n\n",
        held.queue_id
    ));
    let mut out = m.into_bytes();
    out.extend_from_slice(raw);
    if !raw.ends_with(b"\n") {
        out.push(b'\n');
    }
    out.extend_from_slice(format!("--{boundary}--\n").as_bytes());
    out
}

/// Postfix's sendmail: `-C DIR` for the instance, `-i` (a lone dot is
/// text), `-f` the sender when configured; the addresses were checked
/// when the configuration was loaded, and `--` ends the options anyway.
fn sendmail(path: &Path, pf: &Instance, to: &str, from: &str, mail: &[u8]) -> Result<(), String> {
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(path);
    if let Some(dir) = &pf.config_dir {
        cmd.arg("-C").arg(dir);
    }
    cmd.arg("-i");
    if !from.is_empty() {
        cmd.arg("-f").arg(from);
    }
    cmd.arg("--").arg(to);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(mail)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} {}: {}",
            path.display(),
            out.status,
            crate::vocab::sanitize::one_line(String::from_utf8_lossy(&out.stderr).trim(), 300)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(id: &str, arrival: i64) -> Queued {
        Queued {
            queue_name: "hold".into(),
            queue_id: id.into(),
            arrival_time: arrival,
            message_size: 100,
            sender: String::new(),
            recipients: Vec::new(),
        }
    }

    #[test]
    fn expiry_takes_only_mail_older_than_the_days() {
        let now = 10 * 86_400;
        let held = [
            q("NEW", now - 3600),
            q("OLD", now - 3 * 86_400),
            q("OLDER", 0),
        ];
        let ids: Vec<_> = older_than(&held, 2, now)
            .iter()
            .map(|q| q.queue_id.as_str())
            .collect();
        assert_eq!(ids, ["OLDER", "OLD"]);
        assert!(older_than(&held, 11, now).is_empty());
    }

    #[test]
    fn metrics_say_when_the_queue_could_not_be_read() {
        let m = hold_metrics(Some(&[q("A", 40), q("B", 90)]), 100);
        assert!(m.contains("\nkinko_hold_queue_messages 2\n"), "{m}");
        assert!(m.contains("\nkinko_hold_queue_oldest_seconds 60\n"), "{m}");
        assert!(m.contains("\nkinko_hold_queue_up 1\n"), "{m}");
        let empty = hold_metrics(Some(&[]), 100);
        assert!(empty.contains("\nkinko_hold_queue_oldest_seconds 0\n"));
        let failed = hold_metrics(None, 100);
        assert!(failed.contains("\nkinko_hold_queue_up 0\n"));
        assert!(!failed.contains("kinko_hold_queue_messages"));
        for name in HOLD_METRICS {
            assert!(m.contains(&format!("# TYPE {name} gauge")), "{name}");
        }
    }
}
