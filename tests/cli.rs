//! The command line as a new admin meets it: the real binary, its messages
//! and its argument orders.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kinko-milter");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A directory input is labelled by its name; files that are not mail
/// (`note.txt`) are left out.
#[test]
fn eval_takes_diff_before_the_corpus_and_reports_rates_before_and_after() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("jp-phish");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(
        sub.join("1.eml"),
        "From: 三井住友カード <x@evil.example>\r\nSubject: x\r\n\r\nbody\r\n",
    )
    .unwrap();
    std::fs::write(sub.join("note.txt"), "not mail").unwrap();
    let policy = root().join("policy/jp-financial.toml");
    let other = root().join("policy/example-shinkin.toml");
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "--policy",
            policy.to_str().unwrap(),
            "--diff",
            other.to_str().unwrap(),
            "--diff-alone",
        ];
        args.extend_from_slice(extra);
        args.push(sub.to_str().unwrap());
        let o = run(&args);
        assert!(o.status.success(), "{}", text(&o));
        o
    };
    let t = text(&eval(&[]));
    // The figures name the labels they were measured on, and say so when
    // there was nothing to measure instead of printing 0.0%.
    assert!(t.contains("recall (jp-phish): 100.0%"), "{t}");
    assert!(
        t.contains("with the --diff policy: recall (jp-phish): 0.0%"),
        "{t}"
    );
    assert!(
        t.contains(
            "false positives: no messages labelled ham, jp-ham, ham-commercial in the input"
        ),
        "{t}"
    );
    assert!(t.contains("brand (flagged messages per label)"), "{t}");
    assert!(
        t.contains(&format!("    with: {}\n", other.display())),
        "{t}"
    );

    // Issue #22: an override is judged on top of the policy it tunes, and
    // the changed messages show their scores on both sides.
    let tweak = dir.path().join("tweak.toml");
    std::fs::write(
        &tweak,
        "[policy]\nname = \"tweak\"\n[scores]\ndisplay-name = 0\n",
    )
    .unwrap();
    let o = run(&[
        "eval",
        "--policy",
        policy.to_str().unwrap(),
        "--diff",
        tweak.to_str().unwrap(),
        sub.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(
        t.contains(&format!(
            "    with: {} + {}\n",
            policy.display(),
            tweak.display()
        )),
        "{t}"
    );
    assert!(t.contains("jp-phish]: tag (60) -> accept (0)"), "{t}");

    let v: serde_json::Value = serde_json::from_slice(&eval(&["--json"]).stdout).unwrap();
    assert_eq!(v["labels"]["jp-phish"]["messages"], 1, "{v}");
    assert_eq!(v["recall_tag"], 1.0, "{v}");
    // The example policy does not know the brand, so the action changes.
    assert_eq!(v["diff"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["after"]["recall_tag"], 0.0, "{v}");
    assert!(
        v["brands"]
            .as_object()
            .is_some_and(|b| b.values().any(|l| l["jp-phish"] == 1)),
        "{v}"
    );
}

/// One run lists every mistake, in every file, in plain words; a
/// duplicate brand points at its first definition too.
#[test]
fn config_check_lists_every_error_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    let c = dir.path().join("c.toml");
    std::fs::write(
        &a,
        "[[brand]]\nid = \"a bank\"\nnames = [\"Alpha Bank\"]\n\n[[brand]]\nid = \"beta\"\nnames = [\"Beta Bank\"]\ndomains = [\"not a domain!\"]\n\n[[brand]]\nid = \"gamma\"\nnames = [\"Gamma Bank\"]\n",
    )
    .unwrap();
    std::fs::write(&b, "[[brand]]\nid = \"gamma\"\nnames = [\"Gamma\"]\n").unwrap();
    std::fs::write(&c, "[scores]\ntypo = sixty\n").unwrap();
    let o = run(&[
        "config",
        "check",
        "--policy",
        a.to_str().unwrap(),
        "--policy",
        b.to_str().unwrap(),
        "--policy",
        c.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(!o.status.success());
    assert!(t.contains("a.toml:2: brand.id: use ASCII letters"), "{t}");
    assert!(
        t.contains("a.toml:8: brand.domains: `not a domain!`"),
        "{t}"
    );
    assert!(
        t.contains("b.toml:2: brand.id: brand `gamma` is defined twice (first at ")
            && t.contains("a.toml:11)"),
        "{t}"
    );
    assert!(
        t.contains("c.toml:2: scores.typo: text must be in double quotes"),
        "{t}"
    );
    assert!(
        !t.contains("expected 'inf'") && !t.contains("invalid float"),
        "{t}"
    );
}

#[test]
fn config_check_names_table_and_key_in_toml_words_and_the_referring_config() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("p.toml");
    std::fs::write(
        &p,
        "[policy]\nname = \"x\"\nversion = \"1\"\n# a comment\n\n[scores]\ntypo = \"high\"\n",
    )
    .unwrap();
    let o = run(&["config", "check", "--policy", p.to_str().unwrap()]);
    let t = text(&o);
    assert!(!o.status.success());
    assert!(t.contains("p.toml:7: scores.typo: wrong type"), "{t}");
    assert!(!t.contains("i32"), "{t}");

    let c = dir.path().join("k.toml");
    std::fs::write(&c, "policy = [\"nope.toml\"]\n").unwrap();
    let o = run(&["config", "check", c.to_str().unwrap()]);
    let t = text(&o);
    assert!(!o.status.success());
    assert!(
        t.starts_with(&format!("{}: policy: ", c.display())) && t.contains("nope.toml: "),
        "{t}"
    );
    assert!(!t.contains(":0:"), "{t}");
}

#[test]
fn check_warns_on_non_mail_and_shows_decoded_subject_and_display_name() {
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("passwd");
    std::fs::write(&passwd, "root:x:0:0:root:/root:/bin/bash\n").unwrap();
    let o = run(&["check", "--no-dns", passwd.to_str().unwrap()]);
    let t = text(&o);
    assert!(
        t.contains("warning: this does not look like an email message"),
        "{t}"
    );

    let mail = dir.path().join("m.eml");
    std::fs::write(
        &mail,
        "From: =?UTF-8?B?44OG44K544OI6YqA6KGM?= <info@attacker.example>\r\n\
         Subject: =?UTF-8?B?5Y+j5bqn56K66KqN?=\r\nDate: Mon, 1 Dec 2025 10:00:00 +0900\r\n\r\nhello\r\n",
    )
    .unwrap();
    let o = run(&["check", "--no-dns", mail.to_str().unwrap()]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("from:   テスト銀行 <info@attacker.example>"),
        "{t}"
    );
    assert!(t.contains("subject: 口座確認"), "{t}");
    assert!(t.contains("(p=none)") && !t.contains("policy None"), "{t}");
    assert!(!t.contains("warning"), "{t}");
}

#[test]
fn every_option_has_a_description_in_help() {
    for sub in [
        vec!["run"],
        vec!["check"],
        vec!["eval"],
        vec!["config", "check"],
        vec!["quarantine", "show"],
        vec!["report"],
    ] {
        let mut args = sub.clone();
        args.push("--help");
        let t = text(&run(&args));
        let lines: Vec<&str> = t.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            // Options only: "- value: …" lines are clap's possible values.
            if !line.trim_start().starts_with('-') || line.trim_start().starts_with("- ") {
                continue;
            }
            // Help on the same line, or (clap's long form) on the next.
            let same = line
                .trim()
                .split("  ")
                .filter(|p| !p.trim().is_empty())
                .count()
                >= 2;
            let next = lines
                .get(i + 1)
                .is_some_and(|n| !n.trim().is_empty() && !n.trim_start().starts_with('-'));
            assert!(
                same || next,
                "{sub:?}: option without description: {line}\n{t}"
            );
        }
    }
}

#[test]
fn completions_for_bash_zsh_and_fish() {
    for sh in ["bash", "zsh", "fish"] {
        let o = run(&["completions", sh]);
        let t = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success() && t.contains("quarantine"), "{sh}: {t}");
    }
}

/// What a real bash offers after `words` (the last one being completed),
/// with the generated script sourced, as `complete -F` would call it.
fn bash_completes(words: &[&str]) -> Vec<String> {
    let o = run(&["completions", "bash"]);
    assert!(o.status.success());
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("kinko-milter.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prog = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\n_kinko__milter kinko-milter '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display(),
        quoted.join(" "),
        words.len() - 1,
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let out = Command::new("bash").arg("-c").arg(prog).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// clap_complete writes case labels that never match for a hyphenated
/// binary name; src/cli/docs.rs works around it. Completing past the
/// first word proves the work-around (and catches a generator change).
#[test]
fn bash_completes_subcommands_and_values_past_the_first_word() {
    let top = bash_completes(&["kinko-milter", ""]);
    assert!(top.contains(&"quarantine".to_string()), "{top:?}");
    let sub = bash_completes(&["kinko-milter", "quarantine", ""]);
    for want in ["list", "show", "release", "delete"] {
        assert!(sub.contains(&want.to_string()), "quarantine <TAB>: {sub:?}");
    }
    let values = bash_completes(&["kinko-milter", "report", "--format", ""]);
    assert!(
        !values.is_empty() && values.iter().all(|v| !v.starts_with('-')),
        "report --format <TAB>: {values:?}"
    );
    let shells = bash_completes(&["kinko-milter", "completions", ""]);
    assert!(
        shells.contains(&"zsh".to_string()),
        "completions <TAB>: {shells:?}"
    );
}

#[test]
fn report_reads_stdin_and_exports_only_flagged_indicators() {
    let lines = concat!(
        r#"{"timestamp":"2026-11-30T10:00:00Z","level":"INFO","fields":{"message":"verdict","action":"quarantine","policy_action":"quarantine","findings":["display-name"],"brands":["smbc"],"lookalike_domains":[],"url_hosts":["evil.example"],"urls":["https://evil.example/a"],"indicators":[{"kind":"credential-page","value":"https://evil.example/a","on":"link","confidence":"medium"}]},"target":"kinko_milter::daemon::session"}"#,
        "\n",
        r#"{"timestamp":"2026-11-30T11:00:00Z","level":"INFO","fields":{"message":"verdict","action":"accept","policy_action":"accept","findings":[],"brands":[],"lookalike_domains":[],"url_hosts":[],"urls":["https://fine.example/"]},"target":"kinko_milter::daemon::session"}"#,
        "\n"
    );
    let mut child = Command::new(BIN)
        .args(["report", "--export-jpcert"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "date,URL,description\n2026/11/30 10:00:00,https://evil.example/a,smbc kind=credential-page confidence=medium on=link\n"
    );
}

/// `kinko-milter report ARGS` with `input` on standard input.
fn report_stdin(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("report")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Issue #19 item 8: the attacker names the lookalike domain, so it must
/// reach a spreadsheet as text, not as a formula.
#[test]
fn report_csv_cells_never_start_a_formula() {
    let line = r#"{"timestamp":"2026-11-30T10:00:00Z","level":"INFO","fields":{"message":"verdict","policy_action":"quarantine","findings":["combo"],"brands":["-smbc"],"lookalike_domains":["=1+1-smbc-security.com"],"url_hosts":["@evil.example"],"urls":[]},"target":"kinko_milter::daemon::session"}"#;
    let o = report_stdin(&["--format", "csv"], &format!("{line}\n"));
    let out = String::from_utf8_lossy(&o.stdout);
    let row = out.lines().nth(1).unwrap_or_default();
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        row.starts_with("'-smbc,2026-11-30,1,")
            && row.contains(",'=1+1-smbc-security.com,'@evil.example,"),
        "{out}"
    );
}

/// A directory of stand-ins for Postfix's queue tools that replay what
/// Postfix 3.7 prints to a user who may list the queue (postqueue is
/// set-gid postdrop) but not read the queue files (postcat, hold/ is mode
/// 0700 postfix) — the system instance as a non-root operator meets it,
/// which the e2e suite's private instance cannot show (postqueue refuses
/// its `-c` to non-root users).
fn postfix_without_read_rights() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let held = r#"{"queue_name": "hold", "queue_id": "4dXyZ12abcz", "arrival_time": 1764500000, "message_size": 1200, "forced_expire": false, "sender": "bounce@attacker.example", "recipients": [{"address": "customer@customer.example"}]}"#;
    for (name, script) in [
        ("postqueue", format!("#!/bin/sh\necho '{held}'\n")),
        (
            "postcat",
            "#!/bin/sh\necho 'postcat: fatal: open queue file 4dXyZ12abcz: Permission denied' >&2\nexit 1\n"
                .to_string(),
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    dir
}

#[test]
fn quarantine_list_without_rights_to_the_queue_files_refuses_plainly() {
    let fake = postfix_without_read_rights();
    let path = format!(
        "{}:{}",
        fake.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for args in [
        &["quarantine", "list"][..],
        &["quarantine", "list", "--json"],
    ] {
        let o = Command::new(BIN)
            .args(args)
            .env("PATH", &path)
            .output()
            .unwrap();
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        assert!(
            o.status.code() == Some(1) && out.is_empty() && err.contains("Permission denied"),
            "{args:?}: {:?}\n{out}{err}",
            o.status
        );
    }
}

/// Issue #22 item 5: a text-format log (the old shipped default) is not
/// "no flagged mail": the report says how many lines it could not read and
/// fails when it read no verdict at all.
#[test]
fn report_counts_lines_it_cannot_read_and_never_passes_them_for_clean_mail() {
    // The daemon's text-format verdict line is read; a line that is
    // neither is counted on stderr, never silently dropped.
    let text_log = concat!(
        "2026-11-30T10:00:00.1Z  INFO kinko_milter::daemon::session: verdict queue_id=\"4dX\" action=\"quarantine\" score=175\n",
        "garbage line\n",
    );
    let o = report_stdin(&[], text_log);
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success()
            && out.contains("queue ids: 4dX")
            && err.contains("1 verdict line(s) read, 1 input line(s) could not be read"),
        "{out}{err}"
    );
}

/// Issue #23 item 5: `report --dmarc` shows, per protected brand's
/// domain, how its mail fared under DMARC and who sends as it and fails.
#[test]
fn report_dmarc_shows_who_sends_as_a_brand_and_fails() {
    let row = |ip: &str,
               envelope: &str,
               spf: &str,
               dkim: &str,
               aligned: (bool, bool),
               disposition: &str| {
        format!(
            r#"{{"source_ip":"{ip}","header_from":"smbc.co.jp","envelope_from":"{envelope}","policy_domain":"smbc.co.jp","policy":"reject","disposition":"{disposition}","dkim_aligned":{},"spf_aligned":{},"spf":{{"domain":"{envelope}","scope":"mfrom","result":"{spf}"}},"dkim":[{dkim}]}}"#,
            aligned.0, aligned.1
        )
    };
    let signed = r#"{"domain":"smbc.co.jp","selector":"s1","result":"pass"}"#;
    let line = |ts: &str, ip: &str, dmarc: &str, action: &str, row: String| {
        format!(
            r#"{{"timestamp":"{ts}","level":"INFO","fields":{{"message":"verdict","client_ip":"{ip}","from_domain":"smbc.co.jp","action":"{action}","policy_action":"{action}","dmarc":"{dmarc}","brands":[],"dmarc_report":{row}}},"target":"kinko_milter::daemon::session"}}"#
        )
    };
    let input = [
        // The bank's own mail.
        line(
            "2026-12-07T09:00:00Z",
            "192.0.2.10",
            "pass",
            "accept",
            row(
                "192.0.2.10",
                "smbc.co.jp",
                "pass",
                signed,
                (true, true),
                "none",
            ),
        ),
        // A spoof from an outside network, rejected on the bank's p=reject.
        line(
            "2026-12-07T10:00:00Z",
            "203.0.113.66",
            "fail",
            "reject",
            row(
                "203.0.113.66",
                "evil.example",
                "pass",
                "",
                (false, false),
                "reject",
            ),
        ),
        // The bank's mail through a forwarder: SPF fails, DKIM passes.
        line(
            "2026-12-07T11:00:00Z",
            "198.51.100.5",
            "pass",
            "accept",
            row(
                "198.51.100.5",
                "smbc.co.jp",
                "fail",
                signed,
                (true, false),
                "none",
            ),
        ),
        // A spoof of the day before --since.
        line(
            "2026-12-01T10:00:00Z",
            "203.0.113.1",
            "fail",
            "reject",
            row(
                "203.0.113.1",
                "evil.example",
                "pass",
                "",
                (false, false),
                "reject",
            ),
        ),
    ]
    .join("\n");
    let policy = root().join("policy/jp-financial.toml");
    let policy = policy.to_str().unwrap();
    let args = [
        "--dmarc",
        "--policy",
        policy,
        "--brand",
        "smbc",
        "--since",
        "2026-12-02",
    ];
    let o = report_stdin(&args, &input);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", text(&o));
    assert!(out.contains("\nsmbc.co.jp  (smbc)\n"), "{out}");
    assert!(
        out.contains("3 message(s): 2 pass, 1 fail, 0 none"),
        "{out}"
    );
    assert!(
        out.contains("policy evaluated: reject=3   disposition applied: none=2 reject=1"),
        "{out}"
    );
    // The outside network is listed, the forwarder (DKIM pass) is not.
    assert!(
        out.contains("203.0.113.0/24  1 message(s) from 1 host(s): 203.0.113.66")
            && out
                .contains("spf: evil.example pass=1   dkim: (unsigned)=1   disposition: reject=1")
            && !out.contains("198.51.100"),
        "{out}"
    );
    let mut csv_args = args.to_vec();
    csv_args.extend(["--format", "csv"]);
    let o = report_stdin(&csv_args, &input);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        out.lines().nth(1),
        Some("smbc.co.jp,smbc,3,2,1,0,reject=3,none=2 reject=1,,203.0.113.0/24,1,203.0.113.66,evil.example pass=1,(unsigned)=1,reject=1"),
        "{out}"
    );
    // Another brand's domains saw none of this mail; an unknown brand is an error.
    let o = report_stdin(
        &["--dmarc", "--policy", policy, "--brand", "mufg-bank"],
        &input,
    );
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .starts_with("no mail from the protected brands' domains"),
        "{}",
        text(&o)
    );
    let o = report_stdin(&["--dmarc", "--policy", policy, "--brand", "nope"], &input);
    assert!(
        o.status.code() == Some(2) && text(&o).contains("no such brand"),
        "{}",
        text(&o)
    );
}

#[test]
fn shipped_configuration_logs_what_report_reads() {
    let cfg = std::fs::read_to_string(root().join("deploy/kinko-milter.toml")).unwrap();
    let value: toml::Value = toml::from_str(&cfg).unwrap();
    assert_eq!(
        value["log_format"].as_str(),
        Some("json"),
        "deploy/kinko-milter.toml"
    );
}

/// Issue #21 item 5: offline, mail from a protected brand's own domain (or
/// the recipient's organisation's) says its verdict hangs on the
/// authentication that was not run.
#[test]
fn check_offline_says_a_brands_own_domain_needs_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let brand = dir.path().join("brand.eml");
    std::fs::write(
        &brand,
        "From: JCB <info@jcb.co.jp>\r\nTo: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n",
    )
    .unwrap();
    let own = dir.path().join("own.eml");
    std::fs::write(
        &own,
        "From: IT <it@corp.example.jp>\r\nTo: a@corp.example.jp\r\nSubject: hi\r\n\r\nbody\r\n",
    )
    .unwrap();
    let policy = root().join("policy/jp-financial.toml");
    let o = run(&[
        "check",
        "--no-dns",
        "--policy",
        policy.to_str().unwrap(),
        brand.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(
        t.contains("warning: jcb.co.jp is protected brand jcb's own domain"),
        "{t}"
    );
    let o = run(&[
        "check",
        "--no-dns",
        "--policy",
        policy.to_str().unwrap(),
        "--rcpt-to",
        "a@corp.example.jp",
        own.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(
        t.contains("warning: corp.example.jp is the recipient's own organisation's domain"),
        "{t}"
    );
    let o = run(&[
        "check",
        "--no-dns",
        "--policy",
        policy.to_str().unwrap(),
        own.to_str().unwrap(),
    ]);
    assert!(!text(&o).contains("warning:"), "{}", text(&o));
}
