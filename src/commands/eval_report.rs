//! What `eval` reports: the figures as data (its JSON form) and as text.

use crate::vocab::findings::{Action, FindingKind};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Labels whose messages should be stopped: recall is measured on them.
pub const PHISH_LABELS: &[&str] = &["phish", "jp-phish", "phish-credential"];
/// Labels whose messages must get through: false positives are measured
/// on them.
pub const HAM_LABELS: &[&str] = &["ham", "jp-ham", "ham-commercial"];

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
    /// Per finding kind: in how many messages of each label it fired.
    pub kinds: BTreeMap<String, BTreeMap<String, usize>>,
    /// Per brand: how many messages of each label were flagged (≥ tag)
    /// with a finding naming the brand.
    pub brands: BTreeMap<String, BTreeMap<String, usize>>,
    /// What `--diff` compared: the base policy files, and the files of
    /// the other side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compared: Option<(String, String)>,
    /// The --diff policy's figures on the same messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Rates>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diff: Vec<Change>,
    /// Rows of labels that are not scored (parse fixtures, auth vectors).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub not_scored: BTreeMap<String, usize>,
    /// Per message, when asked for: tuning needs to see which mail moved.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<MessageResult>,
    /// Files listed but unreadable.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<String>,
}

/// The headline figures of one policy.
#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Rates {
    pub recall_tag: f64,
    pub recall_quarantine: f64,
    pub false_positive_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub file: String,
    pub label: String,
    pub before: Action,
    pub after: Action,
    pub score_before: i32,
    pub score_after: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct MessageResult {
    pub file: String,
    pub label: String,
    pub action: Action,
    pub score: i32,
    pub kinds: Vec<FindingKind>,
}

pub fn render(r: &Report) -> String {
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
    let now = Rates {
        recall_tag: r.recall_tag,
        recall_quarantine: r.recall_quarantine,
        false_positive_rate: r.false_positive_rate,
    };
    rates(&mut s, "", &now, &r.labels);
    if let Some(after) = &r.after {
        if let Some((base, other)) = &r.compared {
            let _ = writeln!(s, "compared: {base}\n    with: {other}");
        }
        rates(&mut s, "with the --diff policy: ", after, &r.labels);
    }
    let labels: Vec<&String> = r.labels.keys().collect();
    confusion(
        &mut s,
        "finding kind (messages per label)",
        &r.kinds,
        &labels,
    );
    confusion(
        &mut s,
        "brand (flagged messages per label)",
        &r.brands,
        &labels,
    );
    if r.after.is_some() {
        let _ = writeln!(
            s,
            "action changes with the --diff policy ({}):",
            r.diff.len()
        );
        for c in &r.diff {
            let _ = writeln!(
                s,
                "  {} [{}]: {} ({}) -> {} ({})",
                c.file, c.label, c.before, c.score_before, c.after, c.score_after
            );
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
    for (label, n) in &r.not_scored {
        let _ = writeln!(s, "not scored: {n} row(s) labelled {label}");
    }
    for u in &r.unreadable {
        let _ = writeln!(s, "unreadable: {u}");
    }
    s
}

/// The headline figures, naming the labels they were measured on; a
/// figure with no messages behind it is said to be absent, not 0.0%.
fn rates(s: &mut String, lead: &str, r: &Rates, labels: &BTreeMap<String, LabelStats>) {
    let present = |set: &[&'static str]| -> Vec<&'static str> {
        set.iter()
            .copied()
            .filter(|l| labels.get(*l).is_some_and(|st| st.messages > 0))
            .collect()
    };
    let phish = present(PHISH_LABELS);
    if phish.is_empty() {
        let _ = writeln!(
            s,
            "{lead}recall: no messages labelled {} in the input",
            PHISH_LABELS.join(", ")
        );
    } else {
        let _ = writeln!(
            s,
            "{lead}recall ({}): {:.1}% at tag or above, {:.1}% at quarantine or above",
            phish.join(", "),
            r.recall_tag * 100.0,
            r.recall_quarantine * 100.0
        );
    }
    let ham = present(HAM_LABELS);
    if ham.is_empty() {
        let _ = writeln!(
            s,
            "{lead}false positives: no messages labelled {} in the input",
            HAM_LABELS.join(", ")
        );
    } else {
        let _ = writeln!(
            s,
            "{lead}false positives ({}): {:.2}% at tag or above",
            ham.join(", "),
            r.false_positive_rate * 100.0
        );
    }
}

/// One row per kind or brand, one column per label.
fn confusion(
    s: &mut String,
    title: &str,
    rows: &BTreeMap<String, BTreeMap<String, usize>>,
    labels: &[&String],
) {
    if rows.is_empty() {
        return;
    }
    let _ = write!(s, "{title}:\n  {:<26}", "");
    for l in labels {
        let _ = write!(s, " {l:>9}");
    }
    s.push('\n');
    for (name, by_label) in rows {
        let _ = write!(s, "  {name:<26}");
        for l in labels {
            let _ = write!(s, " {:>9}", by_label.get(*l).copied().unwrap_or(0));
        }
        s.push('\n');
    }
}
