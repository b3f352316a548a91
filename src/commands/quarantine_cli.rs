//! `kinko-milter quarantine …`: the arguments and what each command prints.

use crate::commands::quarantine_context::{acted, fail, Context};
use crate::commands::{quarantine, quarantine_more, quarantine_show};
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
