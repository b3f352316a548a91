//! Regression guard: detection on the development corpus must not drop.
//! Thresholds sit a little under what was measured when they were set; raise
//! them when detection improves. A missing shared corpus fails the test.

use kinko_milter::commands::eval::{run, EvalOptions};
use std::path::{Path, PathBuf};

fn eval(root: &Path, labels: &Path, policies: &[&str]) -> serde_json::Value {
    eval_as(root, labels, policies, None)
}

fn eval_as(
    root: &Path,
    labels: &Path,
    policies: &[&str],
    assume_auth: Option<kinko_milter::commands::check::Assumed>,
) -> serde_json::Value {
    let opts = EvalOptions {
        policies: policies
            .iter()
            .map(|p| root.join("policy").join(p))
            .collect(),
        config: None,
        json: true,
        trust_authserv_id: None,
        diff: Vec::new(),
        messages: false,
        assume_auth,
        rcpt_to: None,
        diff_alone: false,
        online: None,
        input: labels.to_path_buf(),
    };
    let out = run(&opts).expect("eval runs");
    eprintln!("{out}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn corpus_figures_do_not_regress() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let labels = root.join("../shared/corpus/labels.tsv");
    assert!(
        labels.exists(),
        "{} is missing: this test needs the shared corpus beside the project",
        labels.display()
    );
    // What a deployment loads: the banks, then the other phished brands.
    let v = eval(&root, &labels, SHIPPED);
    let f = |k: &str| v[k].as_f64().unwrap();
    let label = |l: &str, k: &str| v["labels"][l][k].as_f64().unwrap_or(0.0);
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

    // `phish` sorted by hand (tests/data/phish-classes.tsv): the credential
    // phishing is this product's job; the prize, casino and advance-fee spam
    // beside it is not, and is only reported.
    let sorted = eval(&root, &root.join("tests/data/phish-classes.tsv"), SHIPPED);
    let sorted_label = |l: &str, k: &str| sorted["labels"][l][k].as_f64().unwrap_or(0.0);
    assert!(
        sorted_label("phish-credential", "messages") >= 320.0,
        "the sorted phish rows are not all judged"
    );
    assert!(
        sorted_label("phish-credential", "tagged_or_worse") >= CREDENTIAL_TAG_MIN,
        "credential phishing recall dropped"
    );
    assert!(
        sorted_label("phish-credential", "quarantined_or_worse") >= CREDENTIAL_QUARANTINE_MIN,
        "credential phishing quarantine recall dropped"
    );

    // The bank policy alone must be as careful with legitimate mail.
    let alone = eval(&root, &labels, &["jp-financial.toml"]);
    let fp = alone["false_positive_rate"].as_f64().unwrap();
    assert!(fp <= FP_MAX, "jp-financial alone: false positives {fp}");
}

/// Newsletters, receipts and shipping notices: where brand and link rules
/// misfire. Offline there is no authentication, so a brand's own mail is
/// judged on its content alone.
#[test]
fn commercial_mail_is_not_held() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let labels = root.join("../shared/corpus-commercial/labels.tsv");
    assert!(
        labels.exists(),
        "{} is missing: this test needs the shared corpus beside the project",
        labels.display()
    );
    let v = eval(&root, &labels, SHIPPED);
    let label = |l: &str, k: &str| v["labels"][l][k].as_f64().unwrap_or(0.0);
    assert!(
        label("ham-commercial", "messages") >= 200.0,
        "commercial mail not counted"
    );
    assert_eq!(label("ham-commercial", "quarantined_or_worse"), 0.0);
    assert!(label("ham-commercial", "tagged_or_worse") <= COMMERCIAL_TAG_MAX);
    assert_eq!(label("ham", "quarantined_or_worse"), 0.0);
}

/// The policies the sample configuration loads after the example brand.
const SHIPPED: &[&str] = &[
    "jp-financial.toml",
    "global-brands.toml",
    "jp-services.toml",
];

// Measured with jp-financial.toml + global-brands.toml + jp-services.toml
// (2026-12-01): false positives 0.0% (ham 0/1061, jp-ham 0/66); jp-phish
// 98.7% at tag or above, 93.2% at quarantine or above; credential phishing
// in `phish` 75.5% / 67.2% (323 messages); the rest of `phish` (prize,
// casino, advance-fee, marketing) 13.7% / 5.4%; recall over phish and
// jp-phish 51.9%. ham-commercial 1.0% tagged (2 of 204), none held.
// jp-financial alone: false positives 0.0%.
const FP_MAX: f64 = 0.003;
const JP_PHISH_TAG_MIN: f64 = 0.97;
const JP_PHISH_QUARANTINE_MIN: f64 = 0.91;
const CREDENTIAL_TAG_MIN: f64 = 0.72;
const CREDENTIAL_QUARANTINE_MIN: f64 = 0.65;
const RECALL_TAG_MIN: f64 = 0.50;
const COMMERCIAL_TAG_MAX: f64 = 0.01;

/// The commonest attack: the brand's own address in From. The development
/// jp-phish with From rewritten to the claimed brand's own domain
/// (scripts/make-spoof-set.py, tests/data/spoof-brands.tsv), judged as the
/// daemon sees it when the owner publishes `p=none` (or nothing) and the
/// sending host fails SPF; and the same legitimate corpus as the owners'
/// authenticated mail stays as clean as offline.
#[test]
fn spoofs_of_the_brands_own_domains_are_held() {
    use kinko_milter::commands::check::Assumed;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let corpus = root.join("../shared/corpus");
    assert!(corpus.exists(), "{} is missing", corpus.display());
    let out = tempfile::tempdir().unwrap();
    let made = std::process::Command::new("python3")
        .arg(root.join("scripts/make-spoof-set.py"))
        .arg(&corpus)
        .arg("--out")
        .arg(out.path())
        .status()
        .expect("python3 runs");
    assert!(made.success(), "make-spoof-set.py failed");
    let v = eval_as(
        &root,
        &out.path().join("labels.tsv"),
        SHIPPED,
        Some(Assumed::Fail),
    );
    let l = &v["labels"]["jp-phish"];
    assert!(l["messages"].as_f64().unwrap() >= 200.0, "{l}");
    assert!(l["tagged_or_worse"].as_f64().unwrap() >= 0.97, "{l}");
    assert!(l["quarantined_or_worse"].as_f64().unwrap() >= 0.90, "{l}");
    let v = eval_as(
        &root,
        &root.join("../shared/corpus-commercial/labels.tsv"),
        SHIPPED,
        Some(Assumed::Pass),
    );
    let c = &v["labels"]["ham-commercial"];
    assert!(c["quarantined_or_worse"].as_f64().unwrap() == 0.0, "{c}");
    assert!(
        c["tagged_or_worse"].as_f64().unwrap() <= COMMERCIAL_TAG_MAX,
        "{c}"
    );
}

/// Issue #21 item 3: credential phishing aimed at the recipient's own
/// organisation (tests/data/own-org, written for this test: spoofed own
/// domain, throwaway and freemail senders naming it) is flagged, and
/// outside mail that only names the organisation (tests/data/own-org-ham)
/// is not. The organisation is what Postfix hands over (the labels'
/// `rcpt_to`) plus the names a bank puts in its policy
/// (tests/data/own-org/organisation.toml). Online without a DMARC record
/// (`--assume-auth fail`) and offline, where a spoofed own domain is only
/// caught when it also asks for credentials in words.
#[test]
fn phishing_aimed_at_the_recipients_own_organisation_is_flagged() {
    use kinko_milter::commands::check::Assumed;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let data = root.join("tests/data");
    let mut policies: Vec<String> = SHIPPED.iter().map(|s| s.to_string()).collect();
    policies.push("../tests/data/own-org/organisation.toml".into());
    let policies: Vec<&str> = policies.iter().map(String::as_str).collect();
    let recall = |v: &serde_json::Value| v["recall_tag"].as_f64().unwrap();
    let online = eval_as(
        &root,
        &data.join("own-org/labels.tsv"),
        &policies,
        Some(Assumed::Fail),
    );
    assert!(
        recall(&online) >= 0.95,
        "online (no DMARC record): {}",
        recall(&online)
    );
    let offline = eval_as(&root, &data.join("own-org/labels.tsv"), &policies, None);
    assert!(recall(&offline) >= 0.85, "offline: {}", recall(&offline));
    for assume in [None, Some(Assumed::Pass)] {
        let ham = eval_as(
            &root,
            &data.join("own-org-ham/labels.tsv"),
            &policies,
            assume,
        );
        let l = &ham["labels"]["ham"];
        assert_eq!(
            l["tagged_or_worse"].as_f64().unwrap(),
            0.0,
            "{assume:?}: {l}"
        );
    }
}
