//! `eval`: how a policy does on a labelled corpus.
//!
//! Runs exactly what `check` runs ([`crate::check::offline`]) over every
//! message, so the figures describe the deployed analysis, not a model of it.

use crate::check;
use crate::config::Config;
use crate::findings::{Action, FindingKind};
use crate::policy::Policy;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub struct EvalOptions {
    pub policies: Vec<PathBuf>,
    pub json: bool,
    pub trust_authserv_id: Option<String>,
    pub diff: Option<Vec<PathBuf>>,
    /// List every message with its action, score and finding kinds.
    pub messages: bool,
    pub input: PathBuf,
}

/// Labels whose messages should be stopped.
const PHISH_LABELS: &[&str] = &["phish", "jp-phish"];
/// Labels whose messages must get through.
const HAM_LABELS: &[&str] = &["ham", "jp-ham", "ham-commercial"];
/// Labels scored at all; parse fixtures and auth vectors are not mail to judge.
const SCORED_LABELS: &[&str] = &[
    "phish",
    "jp-phish",
    "jp-spam",
    "ham",
    "jp-ham",
    "ham-commercial",
];

#[derive(Debug, Default, Clone, Serialize)]
pub struct LabelStats {
    pub messages: usize,
    /// Messages per action name.
    pub actions: BTreeMap<String, usize>,
    /// Share with action tag or stronger.
    pub tagged_or_worse: f64,
    /// Share with action quarantine or stronger.
    pub quarantined_or_worse: f64,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub policy: String,
    pub input: String,
    pub labels: BTreeMap<String, LabelStats>,
    /// Phishing labels together: share with action ≥ tag.
    pub recall_tag: f64,
    /// Phishing labels together: share with action ≥ quarantine.
    pub recall_quarantine: f64,
    /// Legitimate labels together: share with action ≥ tag.
    pub false_positive_rate: f64,
    /// Finding kinds by the number of messages they fired in, most first.
    pub top_findings: Vec<(String, usize)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<Change>,
    /// Per message, when asked for: tuning needs to see which mail moved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageResult>,
    /// Files listed but unreadable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub file: String,
    pub label: String,
    pub before: Action,
    pub after: Action,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageResult {
    pub file: String,
    pub label: String,
    pub action: Action,
    pub score: i32,
    pub kinds: Vec<FindingKind>,
}

/// The labelled messages of a labels.tsv or a directory of .eml files.
pub fn load_input(input: &Path) -> Result<Vec<(PathBuf, String)>, String> {
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
        return Ok(files.into_iter().map(|f| (f, label.clone())).collect());
    }
    let text = std::fs::read_to_string(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let base = input.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut cols = line.split('\t');
        let (Some(file), Some(label)) = (cols.next(), cols.next()) else {
            continue;
        };
        if i == 0 && file == "file" {
            continue;
        }
        if !file.ends_with(".eml") || !SCORED_LABELS.contains(&label) {
            continue;
        }
        out.push((base.join(file), label.to_string()));
    }
    Ok(out)
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
    let policy = load_policy(&opts.policies)?;
    let other = opts.diff.as_deref().map(load_policy).transpose()?;
    let messages = load_input(&opts.input)?;
    let cfg = Config::default();
    let trust = opts.trust_authserv_id.as_deref();

    let mut report = Report {
        policy: policy.name.clone(),
        input: opts.input.display().to_string(),
        ..Default::default()
    };
    let mut kind_counts: BTreeMap<FindingKind, usize> = BTreeMap::new();
    let (mut phish, mut phish_tag, mut phish_quar) = (0, 0, 0);
    let (mut ham, mut ham_tag) = (0, 0);
    for (path, label) in &messages {
        let raw = match std::fs::read(path) {
            Ok(r) => r,
            Err(e) => {
                report.unreadable.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let checked = check::offline(&raw, &policy, &cfg, trust);
        // Judge on what the policy decided, not on a dry-run or capped action.
        let action = checked.action;
        let stats = report.labels.entry(label.clone()).or_default();
        stats.messages += 1;
        *stats.actions.entry(action.to_string()).or_default() += 1;
        let mut kinds: Vec<FindingKind> = checked.findings.iter().map(|f| f.kind).collect();
        kinds.sort();
        kinds.dedup();
        for k in &kinds {
            *kind_counts.entry(*k).or_default() += 1;
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
        let (tag, quar) = (action >= Action::Tag, action >= Action::Quarantine);
        if PHISH_LABELS.contains(&label.as_str()) {
            phish += 1;
            phish_tag += usize::from(tag);
            phish_quar += usize::from(quar);
        } else if HAM_LABELS.contains(&label.as_str()) {
            ham += 1;
            ham_tag += usize::from(tag);
        }
        if let Some(other) = &other {
            let after = check::offline(&raw, other, &cfg, trust).action;
            if after != action {
                report.diff.push(Change {
                    file: path.display().to_string(),
                    label: label.clone(),
                    before: action,
                    after,
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
    report.recall_tag = share(phish_tag, phish);
    report.recall_quarantine = share(phish_quar, phish);
    report.false_positive_rate = share(ham_tag, ham);
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
    Ok(render(&report))
}

fn render(r: &Report) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "policy {}; input {}", r.policy, r.input);
    let _ = writeln!(
        s,
        "{:<10} {:>6} {:>7} {:>6} {:>10} {:>7} {:>8} {:>8}",
        "label", "msgs", "accept", "tag", "quarantine", "reject", ">=tag", ">=quar"
    );
    for (label, st) in &r.labels {
        let c = |a: Action| st.actions.get(a.as_str()).copied().unwrap_or(0);
        let _ = writeln!(
            s,
            "{:<10} {:>6} {:>7} {:>6} {:>10} {:>7} {:>7.1}% {:>7.1}%",
            label,
            st.messages,
            c(Action::Accept),
            c(Action::Tag),
            c(Action::Quarantine),
            c(Action::Reject),
            st.tagged_or_worse * 100.0,
            st.quarantined_or_worse * 100.0
        );
    }
    let _ = writeln!(
        s,
        "recall (phish, jp-phish): {:.1}% at tag or above, {:.1}% at quarantine or above",
        r.recall_tag * 100.0,
        r.recall_quarantine * 100.0
    );
    let _ = writeln!(
        s,
        "false positives (ham, jp-ham): {:.2}% at tag or above",
        r.false_positive_rate * 100.0
    );
    let _ = writeln!(s, "findings by messages:");
    for (k, n) in &r.top_findings {
        let _ = writeln!(s, "  {k:<26} {n}");
    }
    if !r.diff.is_empty() {
        let _ = writeln!(
            s,
            "action changes with the --diff policy ({}):",
            r.diff.len()
        );
        for c in &r.diff {
            let _ = writeln!(s, "  {} [{}]: {} -> {}", c.file, c.label, c.before, c.after);
        }
    }
    for m in &r.messages {
        let kinds: Vec<&str> = m.kinds.iter().map(|k| k.as_str()).collect();
        let _ = writeln!(
            s,
            "{}\t{}\t{}\t{}\t{}",
            m.file,
            m.label,
            m.action,
            m.score,
            kinds.join(",")
        );
    }
    for u in &r.unreadable {
        let _ = writeln!(s, "unreadable: {u}");
    }
    s
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
            "file\tlabel\tsource\njp/a.eml\tjp-phish\tx\nauth/v.txt\tauth-vector\tx\nparse/b.eml\tparse-test\tx\nham/c.eml\tham\tx\n",
        )
        .unwrap();
        let rows = load_input(&tsv).unwrap();
        assert_eq!(
            rows,
            vec![
                (dir.path().join("jp/a.eml"), "jp-phish".to_string()),
                (dir.path().join("ham/c.eml"), "ham".to_string()),
            ]
        );
    }

    #[test]
    fn directory_input_labels_by_directory_name() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("jp-phish");
        std::fs::create_dir(&sub).unwrap();
        std::fs::write(
            sub.join("1.eml"),
            "From: 三井住友カード <x@evil.example>\r\nSubject: x\r\n\r\nbody\r\n",
        )
        .unwrap();
        std::fs::write(sub.join("note.txt"), "not mail").unwrap();
        let policy = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policy/jp-financial.toml");
        let opts = EvalOptions {
            policies: vec![policy.clone()],
            json: true,
            trust_authserv_id: None,
            diff: Some(vec![
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policy/example-shinkin.toml")
            ]),
            messages: false,
            input: sub,
        };
        let out = run(&opts).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["labels"]["jp-phish"]["messages"], 1);
        assert_eq!(v["recall_tag"], 1.0);
        // The example policy does not know the brand, so the action changes.
        assert_eq!(v["diff"].as_array().map(Vec::len), Some(1));
        let text = run(&EvalOptions {
            json: false,
            ..opts
        })
        .unwrap();
        assert!(text.contains("recall (phish, jp-phish): 100.0%"), "{text}");
    }
}
