//! Regression guard: detection on the development corpus must not drop.
//! Thresholds sit a little under what was measured when they were set; raise
//! them when detection improves. Skips when the shared corpus is absent.

use kinko_milter::eval::{run, EvalOptions};
use std::path::PathBuf;

#[test]
fn corpus_figures_do_not_regress() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let labels = root.join("../shared/corpus/labels.tsv");
    if !labels.exists() {
        eprintln!("skipped: {} not present", labels.display());
        return;
    }
    let opts = EvalOptions {
        policies: vec![root.join("policy/jp-financial.toml")],
        json: true,
        trust_authserv_id: None,
        diff: None,
        messages: false,
        input: labels,
    };
    let out = run(&opts).expect("eval runs");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f = |k: &str| v[k].as_f64().unwrap();
    let label = |l: &str, k: &str| v["labels"][l][k].as_f64().unwrap_or(0.0);
    eprintln!("{out}");
    assert!(
        f("false_positive_rate") <= FP_MAX,
        "false positives {}",
        f("false_positive_rate")
    );
    assert!(
        label("jp-phish", "tagged_or_worse") >= JP_PHISH_TAG_MIN,
        "jp-phish recall dropped"
    );
    assert!(
        label("jp-phish", "quarantined_or_worse") >= JP_PHISH_QUARANTINE_MIN,
        "jp-phish quarantine recall dropped"
    );
    assert!(f("recall_tag") >= RECALL_TAG_MIN, "recall dropped");
}

// Measured with sender and display-name checks only (links not yet built):
// false positives 0.0% (ham 0/1029, jp-ham 0/65); jp-phish 26.5% at tag or
// above, 17.2% at quarantine or above; overall recall 6.8% (the English
// phish imitate brands this policy does not protect).
const FP_MAX: f64 = 0.005;
const JP_PHISH_TAG_MIN: f64 = 0.24;
const JP_PHISH_QUARANTINE_MIN: f64 = 0.15;
const RECALL_TAG_MIN: f64 = 0.06;
