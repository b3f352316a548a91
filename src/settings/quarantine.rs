//! The `[quarantine]` table: what the held-mail commands need from the
//! kinko-milter configuration (the daemon itself reads none of it).

use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct QuarantineConfig {
    /// The Postfix instance whose hold queue the commands read (its
    /// configuration directory, as Postfix's own `-c`); empty: the system
    /// Postfix. `--postfix-config` overrides it.
    pub postfix_config: PathBuf,
    /// Where `quarantine report` forwards held mail (e.g. the Council of
    /// Anti-Phishing Japan's info@antiphishing.jp); empty: reporting is off.
    pub report_to: String,
    /// The report's sender (envelope and From); empty: sendmail's default
    /// (the invoking user at this host).
    pub report_from: String,
    /// Postfix's sendmail, which hands reports to the instance above.
    pub sendmail: PathBuf,
    /// The team's labelled folder for `release --false-positive` (the
    /// layout `eval` reads); empty: give `--labels DIR`.
    pub labels: PathBuf,
}

impl Default for QuarantineConfig {
    fn default() -> Self {
        QuarantineConfig {
            postfix_config: PathBuf::new(),
            report_to: String::new(),
            report_from: String::new(),
            sendmail: PathBuf::from("/usr/sbin/sendmail"),
            labels: PathBuf::new(),
        }
    }
}

impl QuarantineConfig {
    /// The configured Postfix instance, if any.
    pub fn instance(&self) -> Option<PathBuf> {
        (!self.postfix_config.as_os_str().is_empty()).then(|| self.postfix_config.clone())
    }

    /// An address a report may go to: one `local@domain` with no
    /// characters sendmail would read as an option or a list.
    pub fn check_address(what: &str, addr: &str) -> Result<(), String> {
        let ok = !addr.is_empty()
            && !addr.starts_with('-')
            && addr.len() <= 254
            && addr.matches('@').count() == 1
            && addr
                .chars()
                .all(|c| c.is_ascii_graphic() && !matches!(c, ',' | '<' | '>' | '"' | '\\'));
        if ok {
            Ok(())
        } else {
            Err(format!(
                "quarantine.{what}: `{addr}` is not one mail address"
            ))
        }
    }
}
