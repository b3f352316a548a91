//! `kinko-milter quarantine …`: the arguments and what each command prints.

use crate::commands::postfix::Instance;
use crate::commands::{quarantine, quarantine_more, quarantine_show};
use crate::settings::config::Config;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct QuarantineArgs {
    /// kinko-milter configuration, as for `run`, `check` and `eval`: its
    /// `[quarantine]` table (Postfix instance, reporting address, labelled
    /// folder) and, for `show --check`, its policy. Default:
    /// /etc/kinko-milter/kinko-milter.toml when it exists, else built-in
    /// defaults.
    #[arg(short = 'c', long = "config", global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Postfix configuration directory of the instance (what Postfix's own
    /// `-c` takes); overrides the configuration's quarantine.postfix_config.
    /// Default: the system Postfix.
    #[arg(long = "postfix-config", global = true, value_name = "DIR")]
    postfix_config: Option<PathBuf>,
    #[command(subcommand)]
    command: QuarantineCommand,
}

#[derive(Subcommand, Debug)]
enum QuarantineCommand {
    /// Every held message: queue id, arrival, score, brand, sender, subject, first reason.
    List {
        /// Print one JSON array.
        #[arg(long)]
        json: bool,
    },
    /// One held message: envelope, decoded From and Subject, brand and every reason.
    Show {
        /// The queue id (from `list`).
        queue_id: String,
        /// Also re-run the analysis (`check`, without DNS, with our
        /// recorded authentication results and the envelope Postfix
        /// stored: MAIL FROM, RCPT TO, client and HELO) on the held
        /// message, with the configuration's policy files.
        #[arg(long)]
        check: bool,
        /// Also print the whole message as stored (it may be live phishing:
        /// open nothing in it).
        #[arg(long)]
        raw: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Release held messages for delivery (`postsuper -H`, then `postqueue -i`).
    Release {
        /// Queue ids.
        #[arg(required = true)]
        queue_ids: Vec<String>,
        /// It was legitimate: also keep the message, labelled `ham`, in
        /// the labelled folder `eval` reads (before releasing it).
        #[arg(long)]
        false_positive: bool,
        /// The labelled folder for --false-positive; default: the
        /// configuration's quarantine.labels.
        #[arg(long, value_name = "DIR", requires = "false_positive")]
        labels: Option<PathBuf>,
    },
    /// Delete held messages (`postsuper -d ID hold`); mail not on hold is never touched.
    Delete {
        /// Queue ids.
        #[arg(required = true)]
        queue_ids: Vec<String>,
    },
    /// Delete held mail that arrived more than DAYS days ago, one line per id.
    Expire {
        /// Age in days (at least 1).
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..))]
        older_than: u32,
        /// Say what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// How many messages are held and how old the oldest is (`postqueue -j`).
    Stats {
        /// Also write the figures for node_exporter's textfile collector
        /// (replaced atomically; a failed read is written as
        /// kinko_hold_queue_up 0, never as an empty queue).
        #[arg(long, value_name = "FILE")]
        metrics_file: Option<PathBuf>,
    },
    /// Forward held messages as message/rfc822 attachments to the
    /// configuration's quarantine.report_to, through Postfix's sendmail.
    Report {
        /// Queue ids.
        #[arg(required = true)]
        queue_ids: Vec<String>,
    },
}

/// Where the Debian package installs the daemon's configuration.
pub const INSTALLED_CONFIG: &str = "/etc/kinko-milter/kinko-milter.toml";

/// What the command line says about where things are; the configuration is
/// read only by the commands that need it, so `--postfix-config` alone
/// works for a user who may not read the configuration.
pub struct Context {
    config: Option<PathBuf>,
    postfix_config: Option<PathBuf>,
}

impl Context {
    /// The kinko-milter configuration: `-c FILE`, else the installed one
    /// if present (an unreadable one is an error, never the defaults: it
    /// may name another Postfix instance), else the defaults.
    pub fn config(&self) -> Result<Config, String> {
        let path = self.config.clone().or_else(|| {
            let installed = PathBuf::from(INSTALLED_CONFIG);
            installed.exists().then_some(installed)
        });
        match path {
            Some(p) => Config::load(&p).map_err(|e| e.to_string()),
            None => Ok(Config::default()),
        }
    }

    /// The Postfix instance: `--postfix-config`, else the configuration's.
    pub fn instance(&self) -> Result<Instance, String> {
        let config_dir = match &self.postfix_config {
            Some(d) => Some(d.clone()),
            None => self.config()?.quarantine.instance(),
        };
        Ok(Instance { config_dir })
    }
}

pub fn main(args: QuarantineArgs) -> i32 {
    let ctx = Context {
        config: args.config,
        postfix_config: args.postfix_config,
    };
    let pf = match ctx.instance() {
        Ok(pf) => pf,
        Err(e) => return fail(&e),
    };
    let result = match args.command {
        QuarantineCommand::List { json } => quarantine::list(&pf).and_then(|held| {
            if json {
                serde_json::to_string_pretty(&held)
                    .map(|s| s + "\n")
                    .map_err(|e| e.to_string())
            } else {
                Ok(quarantine::render_list(&held))
            }
        }),
        QuarantineCommand::Show {
            queue_id,
            check,
            raw,
            json,
        } => quarantine_show::show(&ctx, &pf, &queue_id, check, raw, json),
        QuarantineCommand::Release {
            queue_ids,
            false_positive,
            labels,
        } => {
            if false_positive {
                if let Err(e) =
                    quarantine_more::label_false_positives(&ctx, &pf, &queue_ids, labels)
                {
                    return fail(&e);
                }
            }
            return acted(&pf, "released", "release", pf.release(&queue_ids));
        }
        QuarantineCommand::Delete { queue_ids } => {
            return acted(&pf, "deleted", "delete", pf.delete(&queue_ids))
        }
        QuarantineCommand::Expire {
            older_than,
            dry_run,
        } => return quarantine_more::expire(&pf, older_than, dry_run),
        QuarantineCommand::Stats { metrics_file } => {
            return quarantine_more::stats(&pf, metrics_file.as_deref())
        }
        QuarantineCommand::Report { queue_ids } => {
            return quarantine_more::report(&ctx, &pf, &queue_ids)
        }
    };
    match result {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err(e) => fail(&e),
    }
}

pub fn fail(e: &str) -> i32 {
    eprintln!("kinko-milter quarantine: {e}");
    1
}

/// One line per id saying what postsuper did with it; exit 1 when any id
/// was not acted on, so a script (or the on-call operator) never takes
/// "nothing happened" for "done".
pub fn acted(
    pf: &Instance,
    done_word: &str,
    verb: &str,
    result: Result<Vec<(String, u32)>, String>,
) -> i32 {
    let done = match result {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let mut missed = 0;
    for (id, n) in &done {
        if *n > 0 {
            println!("{done_word} {id}");
        } else {
            missed += 1;
            println!(
                "not {done_word} {id}: postsuper did not {verb} it (not on hold in {}: unknown, already released or delivered)",
                pf.describe()
            );
        }
    }
    if missed > 0 {
        eprintln!(
            "kinko-milter quarantine: {missed} of {} id(s) not {done_word}",
            done.len()
        );
        1
    } else {
        0
    }
}
