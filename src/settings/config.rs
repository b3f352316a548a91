//! Daemon configuration (TOML, unknown keys rejected). Every key has a
//! default, so an empty file, or no file, is a working configuration.

use crate::settings::limits::Limits;
use crate::vocab::findings::Action;
use crate::vocab::tomlfile::{parse_net, parse_toml, SourceError};
use ipnet::IpNet;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `inet:HOST:PORT` or `unix:PATH`.
    pub socket: String,
    /// Address of the HTTP listener for `/metrics` and `/ready`; empty disables it.
    pub metrics_address: String,
    /// Our name in `Authentication-Results`; forged headers carrying it are removed.
    pub authserv_id: String,
    /// Policy files, in order. Empty: the built-in example policy.
    pub policy: Vec<PathBuf>,
    pub dns: DnsConfig,
    pub limits: Limits,
    /// What to do when DNS fails so a result the verdict needs is unknown.
    pub on_dns_error: Fallback,
    /// What to do when the milter itself fails on a message.
    pub on_internal_error: Fallback,
    /// Compute and log everything, but never quarantine or reject.
    pub dry_run: bool,
    /// Clients whose mail is not analysed (they are our own relays).
    pub trusted_networks: Vec<String>,
    /// Skip mail submitted with SMTP AUTH (`{auth_authen}` is set).
    pub skip_authenticated: bool,
    /// Take authentication results from this upstream authserv-id's header
    /// instead of checking ourselves.
    pub trust_authserv_id: Option<String>,
    pub actions: ActionsConfig,
    pub log_format: LogFormat,
    /// Threads running connections; 0: half the CPUs, at least one.
    pub worker_threads: usize,
    /// The held-mail commands' settings (not read by the daemon).
    pub quarantine: crate::settings::quarantine::QuarantineConfig,
}

impl Config {
    /// The runtime's thread count for [`Config::worker_threads`].
    ///
    /// The milter shares its machine with the MTA, which spends several
    /// times the milter's CPU on each message. Measured on 2 cores under
    /// full load, one worker thread used a fifth less CPU per message than
    /// one per core (fewer cross-thread wake-ups), and both Postfix with
    /// kinko-milter and with a no-op milter delivered more.
    pub fn threads(&self) -> usize {
        match self.worker_threads {
            0 => std::thread::available_parallelism()
                .map(|n| n.get() / 2)
                .unwrap_or(1)
                .max(1),
            n => n,
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    Accept,
    Tempfail,
}

/// Where DNS queries go, parsed once from `[dns] nameservers`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// `/etc/resolv.conf`.
    System,
    Servers(Vec<std::net::SocketAddr>),
}

/// The language of the warning banner (`[actions] banner_language`).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Ja,
    En,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DnsConfig {
    /// `ADDR:PORT` list; empty means the system resolver (`/etc/resolv.conf`).
    pub nameservers: Vec<String>,
    pub timeout_ms: u64,
    pub attempts: usize,
    /// Cached TXT answers (other record types get a quarter each).
    pub cache_entries: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsConfig {
    /// Add `X-Kinko-Verdict`, `X-Kinko-Score`, `X-Kinko-Reasons` to messages that are tagged or held.
    pub add_headers: bool,
    /// Also add verdict headers to accepted mail (useful while tuning).
    pub headers_on_accept: bool,
    /// Prefix for the Subject of tagged mail; may be Japanese. Empty: none.
    pub subject_prefix: String,
    /// SMTP reply text for rejected mail.
    pub reject_text: String,
    /// SMTP reply text for temporary failures.
    pub tempfail_text: String,
    /// In dry run, still add the verdict headers.
    pub dry_run_headers: bool,
    /// The most severe action to take; a verdict above it is capped.
    pub max_action: Action,
    /// Put a warning at the top of the text of tagged mail (never of held
    /// or rejected mail): the body is replaced through the milter.
    pub banner: bool,
    /// The banner's language: `ja` or `en`.
    pub banner_language: Lang,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            socket: "inet:127.0.0.1:7044".into(),
            metrics_address: "127.0.0.1:9442".into(),
            authserv_id: hostname(),
            policy: Vec::new(),
            dns: DnsConfig::default(),
            limits: Limits::default(),
            on_dns_error: Fallback::Tempfail,
            on_internal_error: Fallback::Accept,
            dry_run: false,
            trusted_networks: vec!["127.0.0.0/8".into(), "::1/128".into()],
            skip_authenticated: true,
            trust_authserv_id: None,
            actions: ActionsConfig::default(),
            log_format: LogFormat::Text,
            worker_threads: 0,
            quarantine: Default::default(),
        }
    }
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            nameservers: Vec::new(),
            timeout_ms: 3000,
            attempts: 2,
            cache_entries: 20_000,
        }
    }
}

impl Default for ActionsConfig {
    fn default() -> Self {
        ActionsConfig {
            add_headers: true,
            headers_on_accept: false,
            subject_prefix: String::new(),
            reject_text: "Message rejected as impersonation or phishing".into(),
            tempfail_text: "Temporary failure checking message, try again later".into(),
            dry_run_headers: true,
            max_action: Action::Reject,
            banner: true,
            banner_language: Lang::Ja,
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The milter socket, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Socket {
    Inet(String),
    Unix(PathBuf),
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, SourceError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| SourceError {
            file: file.clone(),
            line: 0,
            field: "(file)".into(),
            message: e.to_string(),
            ..Default::default()
        })?;
        let mut cfg = Config::parse(&file, &text)?;
        // Policy paths are relative to the configuration file, so a config
        // and its policies move together.
        let dir = path.parent().unwrap_or(Path::new("."));
        for p in &mut cfg.policy {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        }
        Ok(cfg)
    }

    pub fn parse(file: &str, text: &str) -> Result<Config, SourceError> {
        let cfg: Config = parse_toml(file, text)?;
        let at = |field: &str, message: String| {
            let key = field.rsplit('.').next().unwrap_or(field);
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with(key))
                .map(|i| i + 1)
                .unwrap_or(1);
            SourceError {
                file: file.to_string(),
                line,
                field: field.to_string(),
                message,
                ..Default::default()
            }
        };
        cfg.socket().map_err(|m| at("socket", m))?;
        if !cfg.metrics_address.is_empty() {
            cfg.metrics_address.parse::<SocketAddr>().map_err(|_| {
                at(
                    "metrics_address",
                    "expected ADDRESS:PORT, e.g. 127.0.0.1:9442".into(),
                )
            })?;
        }
        if cfg.authserv_id.is_empty()
            || !cfg
                .authserv_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c))
        {
            return Err(at(
                "authserv_id",
                "must be a host name (letters, digits, '.', '-')".into(),
            ));
        }
        cfg.upstream().map_err(|m| at("dns.nameservers", m))?;
        cfg.trusted().map_err(|m| at("trusted_networks", m))?;
        if cfg.dns.timeout_ms == 0 || cfg.dns.attempts == 0 {
            return Err(at(
                "dns.timeout_ms",
                "timeout and attempts must be positive".into(),
            ));
        }
        if cfg.limits.max_connections == 0 {
            return Err(at("limits.max_connections", "must be at least 1".into()));
        }
        if cfg.limits.max_message_bytes < 1024 {
            return Err(at(
                "limits.max_message_bytes",
                "must be at least 1024".into(),
            ));
        }
        if cfg.actions.max_action == Action::Tempfail {
            return Err(at(
                "actions.max_action",
                "use accept, tag, quarantine or reject".into(),
            ));
        }
        for (field, text) in [
            ("actions.reject_text", &cfg.actions.reject_text),
            ("actions.tempfail_text", &cfg.actions.tempfail_text),
        ] {
            if !text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) || text.contains('%') {
                return Err(at(
                    field,
                    "SMTP reply text must be printable ASCII without '%'".into(),
                ));
            }
        }
        let q = &cfg.quarantine;
        for (key, addr) in [("report_to", &q.report_to), ("report_from", &q.report_from)] {
            if !addr.is_empty() {
                crate::settings::quarantine::QuarantineConfig::check_address(key, addr)
                    .map_err(|m| at(&format!("quarantine.{key}"), m))?;
            }
        }
        Ok(cfg)
    }

    pub fn socket(&self) -> Result<Socket, String> {
        if let Some(rest) = self.socket.strip_prefix("inet:") {
            // Postfix writes `inet:PORT@HOST`; accept that as well as HOST:PORT.
            let addr = match rest.split_once('@') {
                Some((port, host)) => format!("{host}:{port}"),
                None => rest.to_string(),
            };
            let ok = addr.parse::<SocketAddr>().is_ok()
                || addr
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
            if ok {
                return Ok(Socket::Inet(addr));
            }
        } else if let Some(path) = self.socket.strip_prefix("unix:") {
            if !path.is_empty() {
                return Ok(Socket::Unix(PathBuf::from(path)));
            }
        }
        Err(format!(
            "`{}`: expected inet:HOST:PORT or unix:/PATH",
            self.socket
        ))
    }

    pub fn upstream(&self) -> Result<Upstream, String> {
        if self.dns.nameservers.is_empty() {
            return Ok(Upstream::System);
        }
        self.dns
            .nameservers
            .iter()
            .map(|s| {
                s.parse::<SocketAddr>()
                    .or_else(|_| {
                        s.parse::<std::net::IpAddr>()
                            .map(|ip| SocketAddr::new(ip, 53))
                    })
                    .map_err(|_| format!("`{s}`: expected ADDRESS or ADDRESS:PORT"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Upstream::Servers)
    }

    pub fn trusted(&self) -> Result<Vec<IpNet>, String> {
        self.trusted_networks.iter().map(|s| parse_net(s)).collect()
    }

    pub fn dns_timeout(&self) -> Duration {
        Duration::from_millis(self.dns.timeout_ms)
    }

    pub fn time_budget(&self) -> Duration {
        Duration::from_millis(self.limits.message_time_budget_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_threads_leave_half_the_cpus_unless_set() {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let auto = Config::default();
        assert_eq!(auto.threads(), (cpus / 2).max(1));
        let set = Config {
            worker_threads: 3,
            ..Config::default()
        };
        assert_eq!(set.threads(), 3);
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::parse("c.toml", "").unwrap(), Config::default());
    }

    #[test]
    fn sample_config_in_deploy_is_valid_and_shows_defaults() {
        let text = include_str!("../../deploy/kinko-milter.toml");
        let cfg = Config::parse("deploy/kinko-milter.toml", text).unwrap();
        let expected = Config {
            authserv_id: cfg.authserv_id.clone(),
            policy: cfg.policy.clone(),
            // The shipped daemon logs JSON lines, which `report` reads.
            log_format: LogFormat::Json,
            ..Config::default()
        };
        assert_eq!(
            cfg, expected,
            "the sample must show every key at its default"
        );
    }

    #[test]
    fn unknown_key_is_an_error_with_line() {
        let e = Config::parse(
            "c.toml",
            "socket = \"inet:127.0.0.1:1\"\n[dns]\ntimeout = 5\n",
        )
        .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "dns.timeout"));
    }

    #[test]
    fn sockets() {
        let mut c = Config::default();
        assert_eq!(c.socket().unwrap(), Socket::Inet("127.0.0.1:7044".into()));
        c.socket = "inet:7044@localhost".into();
        assert_eq!(c.socket().unwrap(), Socket::Inet("localhost:7044".into()));
        c.socket = "unix:/run/kinko/milter.sock".into();
        assert_eq!(
            c.socket().unwrap(),
            Socket::Unix("/run/kinko/milter.sock".into())
        );
        c.socket = "tcp:1".into();
        assert!(c.socket().is_err());
    }

    #[test]
    fn bad_values_name_their_field() {
        let e = Config::parse("c.toml", "\n[dns]\nnameservers = [\"not-an-ip\"]\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "dns.nameservers"));
        let e = Config::parse("c.toml", "on_dns_error = \"maybe\"\n").unwrap_err();
        assert_eq!(e.line, 1);
        let e = Config::parse("c.toml", "[actions]\nreject_text = \"a\\r\\nb\"\n").unwrap_err();
        assert_eq!(e.field, "actions.reject_text");
    }
}
