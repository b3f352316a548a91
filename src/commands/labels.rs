//! The team's labelled folder: mail the policy got wrong, kept with its
//! label so `kinko-milter eval DIR` measures the next policy change on the
//! very messages that fooled the last one.
//!
//! The layout is the one `eval` reads (see [`crate::commands::eval::load_input`]):
//! `DIR/labels.tsv`, tab-separated with a header row naming the columns
//! `file`, `label`, `mail_from`, `rcpt_to`, `client_ip`, and the messages
//! as `DIR/messages/NAME.eml` (paths in the file are relative to it).

use crate::vocab::message::Envelope;
use std::io::Write;
use std::path::{Path, PathBuf};

pub const LABELS_FILE: &str = "labels.tsv";
const HEADER: &str = "file\tlabel\tmail_from\trcpt_to\tclient_ip";

/// Labels a person may give: the ones `eval` scores.
pub const LABELS: &[&str] = &["phish", "jp-phish", "jp-spam", "ham", "jp-ham"];

/// Writes `raw` as `DIR/messages/NAME.eml` and appends its row; returns the
/// message file's path. An existing message file is never overwritten, and
/// a labels.tsv of another layout is never appended to.
pub fn add(
    dir: &Path,
    label: &str,
    name: &str,
    raw: &[u8],
    env: &Envelope,
) -> Result<PathBuf, String> {
    if !LABELS.contains(&label) {
        return Err(format!(
            "label `{label}` is not one eval scores ({})",
            LABELS.join(", ")
        ));
    }
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let safe = safe.trim_start_matches('.');
    if safe.is_empty() {
        return Err(format!("{name:?}: no usable file name"));
    }
    let labels = dir.join(LABELS_FILE);
    let fresh = match std::fs::read_to_string(&labels) {
        Ok(text) => {
            if text.lines().next() != Some(HEADER) {
                return Err(format!(
                    "{}: its header row is not `{}`: not appending to a file of another layout",
                    labels.display(),
                    HEADER.replace('\t', "<TAB>")
                ));
            }
            false
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
        Err(e) => return Err(format!("{}: {e}", labels.display())),
    };
    let messages = dir.join("messages");
    std::fs::create_dir_all(&messages).map_err(|e| format!("{}: {e}", messages.display()))?;
    let file = format!("messages/{safe}.eml");
    let path = dir.join(&file);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    out.write_all(raw)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    // Tabs and line ends in an envelope would shift the columns.
    let cell = |s: &str| -> String { s.chars().filter(|c| !c.is_control()).take(320).collect() };
    let mut row = String::new();
    if fresh {
        row.push_str(HEADER);
        row.push('\n');
    }
    row.push_str(&format!(
        "{file}\t{label}\t{}\t{}\t{}\n",
        cell(&env.mail_from),
        cell(env.rcpts.first().map(String::as_str).unwrap_or("")),
        env.client_ip.map(|ip| ip.to_string()).unwrap_or_default()
    ));
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&labels)
        .and_then(|mut f| f.write_all(row.as_bytes()))
        .map_err(|e| format!("{}: {e}", labels.display()))?;
    Ok(path)
}

/// `kinko-milter label`: a delivered message the policy missed (or held
/// wrongly), from a `.eml`, into the labelled folder.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["phish", "ham", "label"])))]
pub struct LabelArgs {
    /// It was phishing the policy let through (label `phish`).
    #[arg(long)]
    phish: bool,
    /// It was legitimate mail the policy flagged (label `ham`).
    #[arg(long)]
    ham: bool,
    /// Another label eval scores: jp-phish, jp-spam, jp-ham.
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(LABELS))]
    label: Option<String>,
    /// The labelled folder (the layout `eval` reads).
    #[arg(long, value_name = "DIR")]
    labels: PathBuf,
    /// Envelope sender as received, if known (eval's `mail_from` column).
    #[arg(long)]
    mail_from: Option<String>,
    /// Envelope recipient as received, if known (eval's `rcpt_to` column).
    #[arg(long)]
    rcpt_to: Option<String>,
    /// SMTP client address, if known (eval's `client_ip` column).
    #[arg(long)]
    client_ip: Option<std::net::IpAddr>,
    /// The message (.eml).
    message: PathBuf,
}

pub fn main(args: LabelArgs) -> i32 {
    let label = match (&args.label, args.phish) {
        (Some(l), _) => l.clone(),
        (None, true) => "phish".to_string(),
        (None, false) => "ham".to_string(),
    };
    let run = || -> Result<PathBuf, String> {
        let raw =
            std::fs::read(&args.message).map_err(|e| format!("{}: {e}", args.message.display()))?;
        let env = Envelope {
            mail_from: args.mail_from.clone().unwrap_or_default(),
            rcpts: args.rcpt_to.iter().cloned().collect(),
            client_ip: args.client_ip,
            ..Envelope::default()
        };
        let stem = args
            .message
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = format!("{}-{label}-{stem}", today());
        add(&args.labels, &label, &name, &raw, &env)
    };
    match run() {
        Ok(path) => {
            println!("labelled {label}: {}", path.display());
            0
        }
        Err(e) => {
            eprintln!("kinko-milter label: {e}");
            1
        }
    }
}

/// UTC date and time as a file-name prefix, so the folder sorts by when
/// mail was labelled.
pub fn today() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_appended_in_evals_layout_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let env = Envelope {
            mail_from: "a@b.example".into(),
            rcpts: vec!["c@d.example".into()],
            client_ip: "192.0.2.1".parse().ok(),
            ..Envelope::default()
        };
        add(
            dir.path(),
            "ham",
            "x/../4ABC",
            b"From: a@b.example\r\n\r\nhi\r\n",
            &env,
        )
        .unwrap();
        add(
            dir.path(),
            "phish",
            "y",
            b"From: z@b.example\r\n\r\n",
            &Envelope::default(),
        )
        .unwrap();
        assert!(add(dir.path(), "phish", "y", b"", &Envelope::default()).is_err());
        assert!(add(dir.path(), "maybe", "z", b"", &Envelope::default()).is_err());
        let input = crate::commands::eval::load_input(dir.path()).unwrap();
        let got: Vec<_> = input
            .messages
            .iter()
            .map(|r| {
                (
                    r.label.as_str(),
                    r.mail_from.as_deref(),
                    r.rcpt_to.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("ham", Some("a@b.example"), Some("c@d.example")),
                ("phish", None, None)
            ]
        );
        assert!(input.messages[0].path.ends_with("messages/x_.._4ABC.eml"));
        assert!(input.messages[0].path.is_file());
        assert_eq!(input.messages[0].client_ip, "192.0.2.1".parse().ok());
    }
}
