//! `eval`: how a policy does on a labelled corpus.
//!
//! Runs exactly what `check` runs ([`crate::commands::check::offline`]) over every
//! message, so the figures describe the deployed analysis, not a model of it.

use crate::analysis::policy::Policy;
use crate::commands::check;
pub use crate::commands::eval_report::{Change, LabelStats, MessageResult, Rates, Report};
use crate::settings::config::Config;
use crate::vocab::findings::{Action, FindingKind};
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
    pub input: PathBuf,
}

/// Labels whose messages should be stopped.
const PHISH_LABELS: &[&str] = &["phish", "jp-phish", "phish-credential"];
/// Labels whose messages must get through.
const HAM_LABELS: &[&str] = &["ham", "jp-ham", "ham-commercial"];
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
        out.messages = files.into_iter().map(|f| (f, label.clone())).collect();
        return Ok(out);
    }
    let text = std::fs::read_to_string(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let base = input.parent().unwrap_or(Path::new("."));
    for (i, line) in text.lines().enumerate() {
        let mut cols = line.split('\t');
        let (Some(file), Some(label)) = (cols.next(), cols.next()) else {
            continue;
        };
        if i == 0 && file == "file" {
            continue;
        }
        // Every row of a scored label is judged, whatever its file name:
        // a row silently left out would flatter the figures.
        if SCORED_LABELS.contains(&label) {
            out.messages.push((base.join(file), label.to_string()));
        } else {
            *out.not_scored.entry(label.to_string()).or_default() += 1;
        }
    }
    Ok(out)
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Input {
    pub messages: Vec<(PathBuf, String)>,
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
    let other = (!opts.diff.is_empty())
        .then(|| load_policy(&opts.diff))
        .transpose()?;
    let input = load_input(&opts.input)?;
    let trust = opts
        .trust_authserv_id
        .as_deref()
        .or(cfg.trust_authserv_id.as_deref());

    let mut report = Report {
        policy: policy.name.clone(),
        input: opts.input.display().to_string(),
        not_scored: input.not_scored,
        ..Default::default()
    };
    let mut kind_counts: BTreeMap<FindingKind, usize> = BTreeMap::new();
    let (mut before, mut after) = (Tally::default(), Tally::default());
    for (path, label) in &input.messages {
        let raw = match std::fs::read(path) {
            Ok(r) => crate::vocab::message::as_received(r),
            Err(e) => {
                report.unreadable.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let checked = match opts.assume_auth {
            Some(a) => check::assess(
                &raw,
                &crate::vocab::message::Envelope::default(),
                a.auth(),
                &policy,
                &cfg,
            ),
            None => check::offline(&raw, &policy, &cfg, trust),
        };
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
            let then = check::offline(&raw, other, &cfg, trust).action;
            after.add(label, then);
            if then != action {
                report.diff.push(Change {
                    file: path.display().to_string(),
                    label: label.clone(),
                    before: action,
                    after: then,
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
                (dir.path().join("jp/a.eml"), "jp-phish".to_string()),
                (dir.path().join("ham/c.eml"), "ham".to_string()),
                (dir.path().join("ham/d.txt"), "ham".to_string()),
            ]
        );
        assert_eq!(rows.not_scored.get("auth-vector"), Some(&1));
        assert_eq!(rows.not_scored.get("parse-test"), Some(&1));
    }
}
