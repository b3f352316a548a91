//! `eval`: how a policy does on a labelled corpus.
//!
//! Runs exactly what `check` runs ([`crate::commands::check::offline`]) over every
//! message, so the figures describe the deployed analysis, not a model of it.

use crate::analysis::policy::Policy;
use crate::commands::check;
pub use crate::commands::eval_report::{Change, LabelStats, MessageResult, Rates, Report};
use crate::settings::config::Config;
use crate::vocab::findings::{Action, FindingKind};
use crate::vocab::message::Envelope;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct EvalOptions {
    pub policies: Vec<PathBuf>,
    /// The daemon's configuration: its policy files, limits and trusted
    /// authserv-id, so the figures are those of what the daemon loads.
    pub config: Option<PathBuf>,
    pub json: bool,
    pub trust_authserv_id: Option<String>,
    pub diff: Vec<PathBuf>,
    /// List every message with its action, score and finding kinds.
    pub messages: bool,
    /// Judge every message as if authentication had given this, instead of
    /// offline: `fail` is the From domain spoofed (SPF fail, DMARC fail
    /// under `p=none`), `pass` its owner's real mail (DMARC pass).
    pub assume_auth: Option<check::Assumed>,
    /// The envelope recipient of every message (it names the recipient's
    /// own organisation); otherwise a `rcpt_to` column, else the To header.
    pub rcpt_to: Option<String>,
    /// The `--diff` files replace the base policies instead of being
    /// layered on them.
    pub diff_alone: bool,
    /// Authenticate every message through the DNS the configuration names
    /// (`[dns] nameservers`), from `client_ip` (or the labels' column of
    /// that name) with MAIL FROM the labels' `mail_from` or the header From
    /// address: a corpus replayed as the daemon would see it.
    pub online: Option<Replay>,
    pub input: PathBuf,
}

/// The SMTP client of an `--online` replay.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub client_ip: Option<std::net::IpAddr>,
    pub helo: String,
}

use crate::commands::eval_report::{HAM_LABELS, PHISH_LABELS};
/// Labels scored at all; parse fixtures and auth vectors are not mail to judge.
const SCORED_LABELS: &[&str] = &[
    "phish",
    // tests/data/phish-classes.tsv sorts `phish` by hand: credential
    // phishing, and the spam and scams that are not this product's job.
    "phish-credential",
    "phish-other",
    "jp-phish",
    "jp-spam",
    "ham",
    "jp-ham",
    "ham-commercial",
];

/// Counts behind [`Rates`].
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    phish: usize,
    phish_tag: usize,
    phish_quar: usize,
    ham: usize,
    ham_tag: usize,
}

impl Tally {
    fn add(&mut self, label: &str, action: Action) {
        let (tag, quar) = (action >= Action::Tag, action >= Action::Quarantine);
        if PHISH_LABELS.contains(&label) {
            self.phish += 1;
            self.phish_tag += usize::from(tag);
            self.phish_quar += usize::from(quar);
        } else if HAM_LABELS.contains(&label) {
            self.ham += 1;
            self.ham_tag += usize::from(tag);
        }
    }

    fn rates(&self) -> Rates {
        Rates {
            recall_tag: share(self.phish_tag, self.phish),
            recall_quarantine: share(self.phish_quar, self.phish),
            false_positive_rate: share(self.ham_tag, self.ham),
        }
    }
}

/// The labelled messages of a labels.tsv or a directory of .eml files, and
/// the rows of labels that are not scored, counted per label.
pub fn load_input(input: &Path) -> Result<Input, String> {
    // A labelled folder (commands::labels) is read through its labels.tsv.
    let labelled = input.join(crate::commands::labels::LABELS_FILE);
    if input.is_dir() && labelled.is_file() {
        return load_input(&labelled);
    }
    let mut out = Input::default();
    if input.is_dir() {
        let label = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "unlabelled".into());
        let mut files: Vec<PathBuf> = std::fs::read_dir(input)
            .map_err(|e| format!("{}: {e}", input.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml") && p.is_file())
            .collect();
        files.sort();
        out.messages = files
            .into_iter()
            .map(|f| Row::new(f, &label, None))
            .collect();
        return Ok(out);
    }
    let text = std::fs::read_to_string(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let base = input.parent().unwrap_or(Path::new("."));
    // The header row names further columns; `rcpt_to` is the envelope
    // recipient.
    let (mut rcpt_col, mut mail_from_col, mut ip_col) = (None, None, None);
    for (i, line) in text.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        let (Some(file), Some(label)) = (cols.first().copied(), cols.get(1).copied()) else {
            continue;
        };
        if i == 0 && file == "file" {
            let col = |name: &str| cols.iter().position(|c| *c == name);
            (rcpt_col, mail_from_col, ip_col) =
                (col("rcpt_to"), col("mail_from"), col("client_ip"));
            continue;
        }
        // Every row of a scored label is judged, whatever its file name:
        // a row silently left out would flatter the figures.
        if SCORED_LABELS.contains(&label) {
            let cell = |c: Option<usize>| {
                c.and_then(|c| cols.get(c))
                    .map(|r| r.trim())
                    .filter(|r| !r.is_empty())
            };
            let mut row = Row::new(base.join(file), label, cell(rcpt_col));
            row.mail_from = cell(mail_from_col).map(str::to_string);
            row.client_ip = match cell(ip_col) {
                Some(ip) => Some(ip.parse().map_err(|_| {
                    format!(
                        "{}:{}: client_ip `{ip}` is not an IP address",
                        input.display(),
                        i + 1
                    )
                })?),
                None => None,
            };
            out.messages.push(row);
        } else {
            *out.not_scored.entry(label.to_string()).or_default() += 1;
        }
    }
    Ok(out)
}

/// One labelled message, and what its labels say of its envelope.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Row {
    pub path: PathBuf,
    pub label: String,
    pub rcpt_to: Option<String>,
    pub mail_from: Option<String>,
    pub client_ip: Option<std::net::IpAddr>,
}

impl Row {
    fn new(path: PathBuf, label: &str, rcpt_to: Option<&str>) -> Row {
        Row {
            path,
            label: label.to_string(),
            rcpt_to: rcpt_to.map(str::to_string),
            ..Row::default()
        }
    }
}

/// The envelope of a stored message: the recipient given, else the To
/// header's addresses (what the MTA's RCPT TO most often was); for a
/// replay, the client and MAIL FROM given, else the header From address
/// (a spoofer's envelope, and a forwarder's that does not rewrite it).
/// The recipients an offline run assumes when none is given: the message's
/// To addresses (at most 8, as a list's copy may name many).
pub fn header_recipients(raw: &[u8]) -> Vec<String> {
    crate::analysis::parse(raw)
        .to()
        .into_iter()
        .flat_map(|a| a.iter())
        .filter_map(|a| a.address())
        .take(8)
        .map(str::to_string)
        .collect()
}

fn envelope(raw: &[u8], rcpt: Option<&str>, row: &Row, replay: Option<&Replay>) -> Envelope {
    let msg = crate::analysis::parse(raw);
    let rcpts = match rcpt {
        Some(r) => vec![r.to_string()],
        None => header_recipients(raw),
    };
    let mut env = Envelope {
        rcpts,
        ..Envelope::default()
    };
    if let Some(replay) = replay {
        env.client_ip = row.client_ip.or(replay.client_ip);
        env.helo = replay.helo.clone();
        env.mail_from = row.mail_from.clone().unwrap_or_else(|| {
            msg.from()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_string()
        });
    }
    env
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Input {
    pub messages: Vec<Row>,
    pub not_scored: BTreeMap<String, usize>,
}

fn load_policy(paths: &[PathBuf]) -> Result<Policy, String> {
    Policy::load_files(paths).map_err(|e| e.to_string())
}

fn share(n: usize, of: usize) -> f64 {
    if of == 0 {
        0.0
    } else {
        n as f64 / of as f64
    }
}

/// Evaluates and renders the report (text, or JSON with `opts.json`).
pub fn run(opts: &EvalOptions) -> Result<String, String> {
    let mut cfg = match &opts.config {
        Some(p) => Config::load(p).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    // The policy's decision is what is measured, not a dry run's accept.
    cfg.dry_run = false;
    let paths = if opts.policies.is_empty() && opts.config.is_some() {
        cfg.policy.clone()
    } else {
        opts.policies.clone()
    };
    let policy = load_policy(&paths)?;
    // A tuning file is an override: judged on top of what it overrides,
    // as the daemon would load it after the base files.
    let other_paths: Vec<PathBuf> = if opts.diff_alone {
        opts.diff.clone()
    } else {
        paths.iter().chain(&opts.diff).cloned().collect()
    };
    let other = (!opts.diff.is_empty())
        .then(|| load_policy(&other_paths))
        .transpose()?;
    let input = load_input(&opts.input)?;
    let trust = opts
        .trust_authserv_id
        .as_deref()
        .or(cfg.trust_authserv_id.as_deref());

    let names = |ps: &[PathBuf]| {
        if ps.is_empty() {
            "(built-in example)".to_string()
        } else {
            ps.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" + ")
        }
    };
    let mut report = Report {
        policy: policy.name.clone(),
        compared: other.as_ref().map(|_| (names(&paths), names(&other_paths))),
        input: opts.input.display().to_string(),
        not_scored: input.not_scored,
        ..Default::default()
    };
    let online = opts
        .online
        .as_ref()
        .map(|_| check::Online::new(&cfg))
        .transpose()?;
    let mut kind_counts: BTreeMap<FindingKind, usize> = BTreeMap::new();
    let (mut before, mut after) = (Tally::default(), Tally::default());
    for row in &input.messages {
        let (path, label) = (&row.path, &row.label);
        let raw = match std::fs::read(path) {
            Ok(r) => crate::vocab::message::as_received(r),
            Err(e) => {
                report.unreadable.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let rcpt = opts.rcpt_to.as_deref().or(row.rcpt_to.as_deref());
        let env = envelope(&raw, rcpt, row, opts.online.as_ref());
        // Authenticated once: both sides of a --diff judge the same results.
        let replayed = online
            .as_ref()
            .map(|o| o.authenticate(&raw, &env, &policy, &cfg));
        let judge = |p: &Policy| match (&replayed, opts.assume_auth) {
            (Some(auth), _) => check::assess(&raw, &env, auth.clone(), p, &cfg),
            (None, Some(a)) => check::assess(&raw, &env, a.auth(), p, &cfg),
            (None, None) => check::offline_to(&raw, &env, p, &cfg, trust),
        };
        let checked = judge(&policy);
        let action = checked.action;
        let stats = report.labels.entry(label.clone()).or_default();
        stats.messages += 1;
        *stats.actions.entry(action.to_string()).or_default() += 1;
        let mut kinds: Vec<FindingKind> = checked.findings.iter().map(|f| f.kind).collect();
        kinds.sort();
        kinds.dedup();
        for k in &kinds {
            *kind_counts.entry(*k).or_default() += 1;
            *report
                .kinds
                .entry(k.as_str().to_string())
                .or_default()
                .entry(label.clone())
                .or_default() += 1;
        }
        if action >= Action::Tag {
            let mut brands: Vec<&str> = checked
                .findings
                .iter()
                .filter_map(|f| f.brand.as_deref())
                .collect();
            brands.sort();
            brands.dedup();
            for b in brands {
                *report
                    .brands
                    .entry(b.to_string())
                    .or_default()
                    .entry(label.clone())
                    .or_default() += 1;
            }
        }
        if opts.messages {
            report.messages.push(MessageResult {
                file: path.display().to_string(),
                label: label.clone(),
                action,
                score: checked.score,
                kinds,
            });
        }
        before.add(label, action);
        if let Some(other) = &other {
            let then = judge(other);
            after.add(label, then.action);
            if then.action != action {
                report.diff.push(Change {
                    file: path.display().to_string(),
                    label: label.clone(),
                    before: action,
                    after: then.action,
                    score_before: checked.score,
                    score_after: then.score,
                });
            }
        }
    }
    for stats in report.labels.values_mut() {
        let count = |a: Action| stats.actions.get(a.as_str()).copied().unwrap_or(0);
        let tagged = count(Action::Tag) + count(Action::Quarantine) + count(Action::Reject);
        let quar = count(Action::Quarantine) + count(Action::Reject);
        stats.tagged_or_worse = share(tagged, stats.messages);
        stats.quarantined_or_worse = share(quar, stats.messages);
    }
    let rates = before.rates();
    report.recall_tag = rates.recall_tag;
    report.recall_quarantine = rates.recall_quarantine;
    report.false_positive_rate = rates.false_positive_rate;
    report.after = other.is_some().then(|| after.rates());
    let mut top: Vec<(String, usize)> = kind_counts
        .into_iter()
        .map(|(k, n)| (k.as_str().to_string(), n))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(15);
    report.top_findings = top;

    if opts.json {
        return serde_json::to_string_pretty(&report).map_err(|e| e.to_string());
    }
    Ok(crate::commands::eval_report::render(&report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_rows_are_filtered_and_resolved_against_the_tsv() {
        let dir = tempfile::tempdir().unwrap();
        let tsv = dir.path().join("labels.tsv");
        std::fs::write(
            &tsv,
            "file\tlabel\tsource\njp/a.eml\tjp-phish\tx\nauth/v.txt\tauth-vector\tx\nparse/b.eml\tparse-test\tx\nham/c.eml\tham\tx\nham/d.txt\tham\tx\n",
        )
        .unwrap();
        let rows = load_input(&tsv).unwrap();
        assert_eq!(
            rows.messages,
            vec![
                Row::new(dir.path().join("jp/a.eml"), "jp-phish", None),
                Row::new(dir.path().join("ham/c.eml"), "ham", None),
                Row::new(dir.path().join("ham/d.txt"), "ham", None),
            ]
        );
        assert_eq!(rows.not_scored.get("auth-vector"), Some(&1));
        assert_eq!(rows.not_scored.get("parse-test"), Some(&1));
    }
}
