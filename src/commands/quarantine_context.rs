//! What every quarantine command shares: where the configuration and the
//! Postfix instance are, and how results and failures are printed. Apart
//! from the argument parsing so the commands do not import their caller.

use crate::commands::postfix::Instance;
use crate::settings::config::Config;
use std::path::PathBuf;

/// Where the Debian package installs the daemon's configuration.
pub const INSTALLED_CONFIG: &str = "/etc/kinko-milter/kinko-milter.toml";

/// What the command line says about where things are; the configuration is
/// read only by the commands that need it, so `--postfix-config` alone
/// works for a user who may not read the configuration.
pub struct Context {
    pub(crate) config: Option<PathBuf>,
    pub(crate) postfix_config: Option<PathBuf>,
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
