//! Postfix's own queue tools, for the quarantine commands: `postqueue -j`
//! lists, `postcat` reads, `postsuper` releases and deletes. We never touch
//! the queue files ourselves: Postfix's tools know its locking and layout.

use std::path::PathBuf;
use std::process::Command;

/// One Postfix instance: the system's, or the one configured in `-c DIR`.
#[derive(Debug, Clone, Default)]
pub struct Instance {
    pub config_dir: Option<PathBuf>,
}

/// One queued message as `postqueue -j` describes it.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Queued {
    pub queue_name: String,
    pub queue_id: String,
    #[serde(default)]
    pub arrival_time: i64,
    #[serde(default)]
    pub message_size: u64,
    #[serde(default)]
    pub sender: String,
    #[serde(default)]
    pub recipients: Vec<Recipient>,
}

#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct Recipient {
    pub address: String,
}

/// Postfix's tools live in /usr/sbin, which an operator's PATH may lack.
fn tool(name: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A queue id as Postfix writes them (short hex or long base-52 form); any
/// other word would be an option, or `ALL`, to postsuper.
pub fn valid_queue_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id != "ALL" && id.chars().all(|c| c.is_ascii_alphanumeric())
}

impl Instance {
    /// Runs one of Postfix's tools; its standard output and error on
    /// success, its error as the message on failure.
    fn run_both(&self, name: &str, args: &[&str]) -> Result<(Vec<u8>, String), String> {
        let mut cmd = Command::new(tool(name));
        if let Some(dir) = &self.config_dir {
            cmd.arg("-c").arg(dir);
        }
        cmd.args(args);
        let out = cmd
            .output()
            .map_err(|e| format!("{name}: cannot run: {e}"))?;
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            return Err(format!(
                "{name} {}: {}",
                args.join(" "),
                crate::vocab::sanitize::one_line(err.trim(), 500)
            ));
        }
        Ok((out.stdout, err))
    }

    fn run(&self, name: &str, args: &[&str]) -> Result<Vec<u8>, String> {
        self.run_both(name, args).map(|(out, _)| out)
    }

    /// Every message in the queue (`postqueue -j`).
    pub fn queue(&self) -> Result<Vec<Queued>, String> {
        let out = self.run("postqueue", &["-j"])?;
        String::from_utf8_lossy(&out)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).map_err(|e| format!("postqueue -j: {e}")))
            .collect()
    }

    /// The messages on hold.
    pub fn held(&self) -> Result<Vec<Queued>, String> {
        Ok(self
            .queue()?
            .into_iter()
            .filter(|q| q.queue_name == "hold")
            .collect())
    }

    /// The message as stored: header only, or header and body.
    pub fn message(&self, queue_id: &str, with_body: bool) -> Result<Vec<u8>, String> {
        check_id(queue_id)?;
        let sections = if with_body { "-bh" } else { "-h" };
        let out = self.run("postcat", &[sections, "-q", queue_id])?;
        Ok(strip_markers(&out))
    }

    /// The envelope Postfix stored with the message (`postcat -e`): MAIL
    /// FROM, RCPT TO and the client's address, name and HELO when the
    /// queue file records them, so a re-judgement sees what the daemon saw.
    pub fn envelope(&self, queue_id: &str) -> Result<crate::vocab::message::Envelope, String> {
        check_id(queue_id)?;
        let out = self.run("postcat", &["-e", "-q", queue_id])?;
        Ok(envelope_records(&String::from_utf8_lossy(&out), queue_id))
    }

    /// Releases held messages (`postsuper -H`); Postfix delivers them at its
    /// next queue run. Per id, how many messages postsuper says it released
    /// (0: not on hold, unknown or already gone).
    pub fn release(&self, ids: &[String]) -> Result<Vec<(String, u32)>, String> {
        let done = self.each("-H", RELEASED, ids)?;
        // Without this a released message waits for the next queue run
        // (queue_run_delay, 5 minutes by default). Best effort: the message
        // is released either way.
        for (id, n) in &done {
            if *n > 0 {
                let _ = self.run("postqueue", &["-i", id]);
            }
        }
        Ok(done)
    }

    /// Deletes messages, but only from the hold queue (`postsuper -d ID
    /// hold`): a mistyped id cannot delete mail that is being delivered.
    /// Per id, how many messages postsuper says it deleted.
    pub fn delete(&self, ids: &[String]) -> Result<Vec<(String, u32)>, String> {
        self.each("-d", DELETED, ids)
    }

    /// One postsuper run per id, so each id's count is its own: postsuper
    /// exits 0 whether or not it found the message and only its report on
    /// standard error says what it did.
    fn each(&self, op: &str, what: &str, ids: &[String]) -> Result<Vec<(String, u32)>, String> {
        for id in ids {
            check_id(id)?;
        }
        let mut done = Vec::with_capacity(ids.len());
        for id in ids {
            let (_, err) = self.run_both("postsuper", &[op, id, "hold"])?;
            done.push((id.clone(), postsuper_count(&err, what)));
        }
        Ok(done)
    }

    pub fn describe(&self) -> String {
        match &self.config_dir {
            Some(d) => format!("Postfix instance {}", d.display()),
            None => "the system Postfix".into(),
        }
    }
}

/// postsuper's report words (postsuper.c, "Report." at the end of main).
const RELEASED: &str = "Released from hold";
const DELETED: &str = "Deleted";

/// The count in postsuper's `postsuper: Released from hold: 2 messages`
/// line for `what`; 0 when there is none (postsuper prints nothing for 0).
pub fn postsuper_count(stderr: &str, what: &str) -> u32 {
    stderr
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix("postsuper: ").unwrap_or(l);
            let n = rest.strip_prefix(what)?.strip_prefix(": ")?;
            let (n, unit) = n.split_once(' ')?;
            unit.starts_with("message").then(|| n.parse::<u32>().ok())?
        })
        .sum()
}

fn check_id(id: &str) -> Result<(), String> {
    if valid_queue_id(id) {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a Postfix queue id",
            crate::vocab::sanitize::one_line(id, 40)
        ))
    }
}

/// The envelope in `postcat -e` records (`sender: …`, `recipient: …`,
/// `named_attribute: client_address=…`). Postfix writes the client's
/// attributes twice (`log_client_address` for logging, `client_address`
/// as received, XCLIENT/PROXY applied); the latter wins.
pub fn envelope_records(text: &str, queue_id: &str) -> crate::vocab::message::Envelope {
    let mut env = crate::vocab::message::Envelope {
        queue_id: Some(queue_id.to_string()),
        ..Default::default()
    };
    let (mut log_ip, mut log_name, mut log_helo) = (None, None, None);
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "sender" => env.mail_from = value.to_string(),
            "recipient" if env.rcpts.len() < 1000 => env.rcpts.push(value.to_string()),
            "named_attribute" => {
                let Some((name, v)) = value.split_once('=') else {
                    continue;
                };
                let v = v.trim();
                match name.trim() {
                    "client_address" => env.client_ip = v.parse().ok(),
                    "client_name" => env.client_name = Some(v.to_string()),
                    "helo_name" => env.helo = v.to_string(),
                    "log_client_address" => log_ip = v.parse().ok(),
                    "log_client_name" => log_name = Some(v.to_string()),
                    "log_helo_name" => log_helo = Some(v.to_string()),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    env.client_ip = env.client_ip.or(log_ip);
    env.client_name = env.client_name.or(log_name);
    if env.helo.is_empty() {
        env.helo = log_helo.unwrap_or_default();
    }
    env
}

/// postcat frames sections with `*** ... ***` lines on some versions.
fn strip_markers(out: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(out.len());
    for line in out.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"*** ") {
            continue;
        }
        kept.extend_from_slice(line);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_ids_are_words_not_options() {
        assert!(valid_queue_id("4dXyZ12abcz"));
        assert!(valid_queue_id("3F2A1B0C9D"));
        assert!(!valid_queue_id("-d"));
        assert!(!valid_queue_id("ALL"));
        assert!(!valid_queue_id("ALL hold"));
        assert!(!valid_queue_id(""));
    }

    #[test]
    fn postsuper_counts_are_read_per_action() {
        let err = "postsuper: Released from hold: 1 message\n";
        assert_eq!(postsuper_count(err, RELEASED), 1);
        assert_eq!(postsuper_count(err, DELETED), 0);
        assert_eq!(
            postsuper_count("postsuper: Deleted: 3 messages\n", DELETED),
            3
        );
        // What postsuper writes for an id it did not find: nothing.
        assert_eq!(postsuper_count("", RELEASED), 0);
        assert_eq!(
            postsuper_count(
                "postsuper: warning: ignoring bad queue id\npostsuper: Requeued: 2 messages\n",
                DELETED
            ),
            0
        );
    }

    #[test]
    fn stored_envelope_is_read_from_postcat_records() {
        let text = "*** ENVELOPE RECORDS hold/4ABC ***\nmessage_size: 1 2 3\n\
                    sender: bounce@attacker.example\n\
                    named_attribute: log_client_address=127.0.0.1\n\
                    named_attribute: log_helo_name=proxy.local\n\
                    named_attribute: client_address=192.0.2.10\n\
                    named_attribute: helo_name=mx.attacker.example\n\
                    original_recipient: Customer@customer.example\n\
                    recipient: customer@customer.example\n";
        let env = envelope_records(text, "4ABC");
        assert_eq!(env.mail_from, "bounce@attacker.example");
        assert_eq!(env.rcpts, ["customer@customer.example"]);
        assert_eq!(env.client_ip, "192.0.2.10".parse().ok());
        assert_eq!(env.helo, "mx.attacker.example");
        assert_eq!(env.queue_id.as_deref(), Some("4ABC"));
        let only_log = envelope_records("named_attribute: log_client_address=::1\n", "X");
        assert_eq!(only_log.client_ip, "::1".parse().ok());
    }

    #[test]
    fn markers_are_dropped() {
        let out = strip_markers(
            b"*** HEADER EXTRACTED x ***\nFrom: a\n\nbody\n*** MESSAGE FILE END x ***\n",
        );
        assert_eq!(out, b"From: a\n\nbody\n");
    }
}
