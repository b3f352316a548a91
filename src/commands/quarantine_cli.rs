//! `kinko-milter quarantine …`: the arguments and what each command prints.

use crate::commands::postfix::Instance;
use crate::commands::quarantine;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct QuarantineArgs {
    /// Postfix configuration directory of the instance (as Postfix's own
    /// `-c`); default: the system Postfix.
    #[arg(short = 'c', long = "postfix-config", global = true)]
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
        /// recorded authentication results) on the held message.
        #[arg(long)]
        check: bool,
        /// kinko-milter configuration for --check (its policy files and
        /// authserv-id); default: /etc/kinko-milter/kinko-milter.toml when
        /// installed, else built-in defaults.
        #[arg(long, requires = "check")]
        config: Option<PathBuf>,
        /// Also print the whole message as stored (it may be live phishing:
        /// open nothing in it).
        #[arg(long)]
        raw: bool,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Release held messages for delivery (`postsuper -H`).
    Release {
        /// Queue ids.
        #[arg(required = true)]
        queue_ids: Vec<String>,
    },
    /// Delete held messages (`postsuper -d ID hold`); mail not on hold is never touched.
    Delete {
        /// Queue ids.
        #[arg(required = true)]
        queue_ids: Vec<String>,
    },
}

/// Where the Debian package installs the daemon's configuration.
const INSTALLED_CONFIG: &str = "/etc/kinko-milter/kinko-milter.toml";

pub fn main(args: QuarantineArgs) -> i32 {
    let pf = Instance {
        config_dir: args.postfix_config,
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
            config,
            raw,
            json,
        } => show(&pf, &queue_id, check.then_some(config), raw, json),
        QuarantineCommand::Release { queue_ids } => {
            return acted(&pf, "released", "release", pf.release(&queue_ids))
        }
        QuarantineCommand::Delete { queue_ids } => {
            return acted(&pf, "deleted", "delete", pf.delete(&queue_ids))
        }
    };
    match result {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err(e) => {
            eprintln!("kinko-milter quarantine: {e}");
            1
        }
    }
}

/// One line per id saying what postsuper did with it; exit 1 when any id
/// was not acted on, so a script (or the on-call operator) never takes
/// "nothing happened" for "done".
fn acted(
    pf: &Instance,
    done_word: &str,
    verb: &str,
    result: Result<Vec<(String, u32)>, String>,
) -> i32 {
    let done = match result {
        Ok(d) => d,
        Err(e) => {
            eprintln!("kinko-milter quarantine: {e}");
            return 1;
        }
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

fn show(
    pf: &Instance,
    queue_id: &str,
    check: Option<Option<PathBuf>>,
    raw: bool,
    json: bool,
) -> Result<String, String> {
    let (held, message) = quarantine::show(pf, queue_id)?;
    let report = match check {
        Some(config) => {
            let cfg = match config.or_else(|| {
                let installed = PathBuf::from(INSTALLED_CONFIG);
                installed.exists().then_some(installed)
            }) {
                Some(p) => crate::settings::config::Config::load(&p).map_err(|e| e.to_string())?,
                None => crate::settings::config::Config::default(),
            };
            let policy = crate::analysis::policy::Policy::load_files(&cfg.policy)
                .map_err(|e| e.to_string())?;
            // Our own Authentication-Results on the held copy: what the
            // daemon found when the message arrived.
            let id = cfg
                .trust_authserv_id
                .clone()
                .unwrap_or_else(|| cfg.authserv_id.clone());
            let mut r = crate::commands::check::offline(&message, &policy, &cfg, Some(&id));
            r.describe(&message);
            Some(r)
        }
        None => None,
    };
    if json {
        let v = serde_json::json!({ "held": held, "check": report });
        return serde_json::to_string_pretty(&v)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string());
    }
    let mut out = quarantine::render_one(&held);
    if let Some(r) = &report {
        out.push_str("\nanalysis now (check):\n");
        out.push_str(&crate::commands::check::render(r));
    }
    if raw {
        out.push_str("\n--- message as stored ---\n");
        // Escape sequences in a phisher's message must not drive the terminal.
        let text: String = String::from_utf8_lossy(&message)
            .chars()
            .map(|c| {
                if c.is_control() && c != '\n' && c != '\t' {
                    '?'
                } else {
                    c
                }
            })
            .collect();
        out.push_str(&text);
    }
    Ok(out)
}
