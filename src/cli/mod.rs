//! Command line: `run`, `check`, `config check`, `eval`, `quarantine`,
//! `label`, `report`, `dmarc-report`, `completions`.

use crate::analysis::policy::Policy;
use crate::settings::config::{Config, LogFormat};
use crate::vocab::message::Envelope;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

mod docs;

#[derive(Parser, Debug)]
#[command(
    name = "kinko-milter",
    version,
    about = "Postfix milter: email authentication and protection against bank impersonation and credential phishing",
    long_about = "Postfix milter: email authentication and protection against bank impersonation and credential phishing.\n\n\
kinko-milter authenticates inbound mail (SPF, DKIM, DMARC, ARC) and writes an RFC 8601 \
Authentication-Results header; it recognises mail that impersonates protected brands and the \
recipient's own organisation (their own domains unauthenticated, lookalike sender domains, \
display names and subjects that claim them) and requests for credentials (links off the \
brand's sites, forms, dangerous attachments, QR codes); and it tags, quarantines (Postfix hold \
queue) or rejects such mail as the policy says. Every command has its own page: \
kinko-milter-run(8), kinko-milter-check(8), kinko-milter-quarantine(8), …"
)]
pub struct Cli {
    /// Log format (overrides the configuration's log_format).
    #[arg(long, global = true, value_enum)]
    log_format: Option<LogFormatArg>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the milter daemon (embedded defaults and example policy without --config).
    Run {
        /// Configuration file (default: built-in defaults).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Compute and log verdicts but never quarantine or reject.
        #[arg(long)]
        dry_run: bool,
    },
    /// Analyse one message offline and print the action and every reason.
    Check(CheckArgs),
    /// Validate configuration and policy files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run the analysis over a labelled corpus: recall on phishing, false positives on legitimate mail.
    Eval(EvalArgs),
    /// Held mail in Postfix's hold queue: list, show, release, delete, expire, stats, report.
    Quarantine(crate::commands::quarantine_cli::QuarantineArgs),
    /// Add a message (.eml) the policy got wrong to the team's labelled folder, for `eval`.
    Label(crate::commands::labels::LabelArgs),
    /// Impersonation report from the daemon's verdict lines; `--dmarc`: the DMARC of the brands' domains.
    Report(crate::commands::report_cli::ReportArgs),
    /// DMARC aggregate reports (RFC 9990) from the verdict lines of every MX host.
    DmarcReport(crate::commands::dmarc_report_cli::DmarcReportArgs),
    /// Print a shell completion script (bash, zsh, fish, ...).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (kinko-milter.8 and one per command) into DIR:
    /// the package build's step, so the pages say what `--help` says.
    #[command(hide = true)]
    Manpages {
        /// Output directory.
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Exit 0 when valid; otherwise print `file:line: field: what is wrong`.
    Check {
        /// Configuration file (default: built-in defaults).
        file: Option<PathBuf>,
        /// Policy files to check instead of the configuration's.
        #[arg(long = "policy")]
        policies: Vec<PathBuf>,
    },
}

#[derive(Args, Debug)]
struct CheckArgs {
    /// Configuration file (default: built-in defaults).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Policy files (default: the configuration's, or the built-in example).
    #[arg(long = "policy")]
    policies: Vec<PathBuf>,
    /// SMTP client address, for SPF.
    #[arg(long)]
    client_ip: Option<std::net::IpAddr>,
    /// HELO name the client gave, for SPF's HELO check.
    #[arg(long)]
    helo: Option<String>,
    /// Envelope sender (MAIL FROM), for SPF.
    #[arg(long)]
    mail_from: Option<String>,
    /// Envelope recipient (RCPT TO): its domain is the recipient's own
    /// organisation (repeat for several).
    #[arg(long)]
    rcpt_to: Vec<String>,
    /// Skip DNS-based checks (SPF, DKIM, DMARC, ARC).
    #[arg(long)]
    no_dns: bool,
    /// Take authentication results from this authserv-id's recorded header.
    #[arg(long)]
    trust_authserv_id: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// The message (.eml); `-` reads standard input.
    message: PathBuf,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// Policy files (default: the configuration's, or the built-in example).
    #[arg(long = "policy")]
    policies: Vec<PathBuf>,
    /// Evaluate what the daemon with this configuration loads: its policy
    /// files, limits and trusted authserv-id.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Also evaluate with this policy (repeat for several files): recall and
    /// false positives before and after, and the messages whose action changes.
    #[arg(long = "diff")]
    diff: Vec<PathBuf>,
    /// Take authentication results from this authserv-id's recorded header.
    #[arg(long)]
    trust_authserv_id: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// List every message: file, label, action, score, finding kinds.
    #[arg(long)]
    messages: bool,
    /// Judge as if authentication gave this (fail: the From domain
    /// spoofed, DMARC fail under p=none; pass: its owner's real mail).
    #[arg(long, value_enum)]
    assume_auth: Option<crate::commands::check::Assumed>,
    /// The envelope recipient of every message: its domain is the
    /// recipient's own organisation (default: the labels' `rcpt_to`
    /// column, else each message's To addresses).
    #[arg(long)]
    rcpt_to: Option<String>,
    /// The --diff files replace the base policies rather than being
    /// layered on them.
    #[arg(long, requires = "diff")]
    diff_alone: bool,
    /// Authenticate every message through the DNS of the configuration's
    /// [dns] nameservers, as the daemon would: MAIL FROM is the labels'
    /// `mail_from` column or the header From address.
    #[arg(long, conflicts_with_all = ["assume_auth", "trust_authserv_id"])]
    online: bool,
    /// The SMTP client address of an --online replay (default: the labels'
    /// `client_ip` column, else none: SPF is then not evaluated).
    #[arg(long, requires = "online")]
    client_ip: Option<std::net::IpAddr>,
    /// labels.tsv (file, label, …), a labelled folder (a directory holding
    /// labels.tsv, as `label` and `quarantine release --false-positive`
    /// write it), or a directory of .eml files with one label.
    input: PathBuf,
}

pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Run { config, dry_run } => {
            let format = cli.log_format.map(|f| match f {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            });
            // A config that does not load is reported by server::run, with
            // logging up; until then the defaults stand in.
            let early = config
                .as_deref()
                .and_then(|p| Config::load(p).ok())
                .unwrap_or_default();
            crate::telemetry::logfmt::init(format.unwrap_or(early.log_format));
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(early.threads())
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("kinko-milter: cannot start the runtime: {e}");
                    return 1;
                }
            };
            rt.block_on(crate::daemon::server::run(config, dry_run))
        }
        Command::Check(args) => check(args),
        Command::Config {
            command: ConfigCommand::Check { file, policies },
        } => config_check(file, policies),
        Command::Eval(args) => eval(args),
        Command::Quarantine(args) => crate::commands::quarantine_cli::main(args),
        Command::Label(args) => crate::commands::labels::main(args),
        Command::Report(args) => crate::commands::report_cli::main(args),
        Command::DmarcReport(args) => crate::commands::dmarc_report_cli::main(args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let script = docs::completions(shell, &mut cmd);
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("kinko-milter completions: {e}");
                    1
                }
            }
        }
        Command::Manpages { dir } => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match std::fs::create_dir_all(&dir).and_then(|()| docs::manpages(cmd, &dir)) {
                Ok(pages) => {
                    for p in pages {
                        println!("{}", p.display());
                    }
                    0
                }
                Err(e) => {
                    eprintln!("kinko-milter manpages: {}: {e}", dir.display());
                    1
                }
            }
        }
    }
}

fn load_config(file: Option<&std::path::Path>) -> Result<Config, String> {
    match file {
        Some(p) => Config::load(p).map_err(|e| e.to_string()),
        None => Ok(Config::default()),
    }
}

fn config_check(file: Option<PathBuf>, policies: Vec<PathBuf>) -> i32 {
    let cfg = match load_config(file.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let from_config = policies.is_empty();
    let paths = if from_config {
        cfg.policy.clone()
    } else {
        policies
    };
    let loaded = Policy::load_files(&paths).map_err(|e| match (&file, from_config) {
        (Some(f), true) => e.referred_by(&f.display().to_string(), "policy"),
        _ => e.to_string(),
    });
    match loaded {
        Ok(p) => {
            println!(
                "ok: configuration {}; policy {} {} ({}) from {}",
                file.as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(built-in defaults)".into()),
                p.name,
                p.version,
                p.brands_counted(),
                p.sources.join(", ")
            );
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

fn check(args: CheckArgs) -> i32 {
    let mut cfg = match load_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    if !args.policies.is_empty() {
        cfg.policy = args.policies.clone();
    }
    let loaded = Policy::load_files(&cfg.policy).map_err(|e| match &args.config {
        Some(f) if args.policies.is_empty() => e.referred_by(&f.display().to_string(), "policy"),
        _ => e.to_string(),
    });
    let policy = match loaded {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let raw = crate::vocab::message::as_received(if args.message.as_os_str() == "-" {
        let mut buf = Vec::new();
        if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf) {
            eprintln!("stdin: {e}");
            return 2;
        }
        buf
    } else {
        match std::fs::read(&args.message) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{}: {e}", args.message.display());
                return 2;
            }
        }
    });
    let env = Envelope {
        client_ip: args.client_ip,
        helo: args.helo.clone().unwrap_or_default(),
        mail_from: args.mail_from.clone().unwrap_or_default(),
        rcpts: args.rcpt_to.clone(),
        ..Default::default()
    };
    let trust = args
        .trust_authserv_id
        .as_deref()
        .or(cfg.trust_authserv_id.as_deref());
    let auth = if args.no_dns || trust.is_some() {
        crate::commands::check::recorded_auth(&raw, trust)
    } else {
        match crate::commands::check::Online::new(&cfg) {
            Ok(online) => online.authenticate(&raw, &env, &policy, &cfg),
            Err(e) => {
                eprintln!("{e}");
                return 2;
            }
        }
    };
    let mut report = crate::commands::check::assess(&raw, &env, auth, &policy, &cfg);
    report.describe(&raw);
    report.warn_unseen_authentication(&policy, &env);
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("json: {e}");
                return 2;
            }
        }
    } else {
        print!("{}", crate::commands::check::render(&report));
    }
    0
}

fn eval(args: EvalArgs) -> i32 {
    let opts = crate::commands::eval::EvalOptions {
        policies: args.policies,
        config: args.config,
        json: args.json,
        trust_authserv_id: args.trust_authserv_id,
        diff: args.diff,
        messages: args.messages,
        assume_auth: args.assume_auth,
        rcpt_to: args.rcpt_to,
        diff_alone: args.diff_alone,
        online: args.online.then(|| crate::commands::eval::Replay {
            client_ip: args.client_ip,
            helo: "replay.invalid".into(),
        }),
        input: args.input,
    };
    match crate::commands::eval::run(&opts) {
        Ok(report) => {
            print!("{report}");
            0
        }
        Err(e) => {
            eprintln!("eval: {e}");
            2
        }
    }
}
