//! End to end: real Postfix, real DNS (dnsmasq), kinko-milter processes and an
//! SMTP sink, all on loopback. One infrastructure serves every trial; see
//! tests/common/mod.rs. Run with `cargo test --test e2e` (as root: Postfix
//! must run its daemons as user postfix).
//!
//! KINKO_E2E_SHOW=1 prints the headers of every delivered message;
//! KINKO_E2E_KEEP=1 keeps the directory with the Postfix, dnsmasq and milter
//! configurations and logs (its path is printed at start).

mod common;
#[path = "support/qr_image.rs"]
mod qr_image;

use common::{
    arc_seal, dkim_sign, head, header_values, our_auth_results, Builder, Harness, ListenerSpec,
    Mail, MilterRef, MilterSpec, SmtpOutcome, AUTHSERV_ID, SELECTOR,
};
use libtest_mimic::{Arguments, Trial};
use std::net::{IpAddr, Ipv4Addr};
use std::process::ExitCode;

/// A documentation address (RFC 5737) outside every SPF record; it only
/// ever appears inside PROXY headers, no packet goes to it.
const EXTERNAL: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
const RCPT: &str = "customer@customer.example";

fn infrastructure() -> Builder {
    let named = |m: &str| MilterRef::Named(m.into());
    Builder::default()
        .standard_dns()
        .milter("normal", MilterSpec::default())
        .milter(
            "dryrun",
            MilterSpec {
                config: "dry_run = true\n".into(),
                ..Default::default()
            },
        )
        .milter(
            "quarantine",
            MilterSpec {
                policy: "[auth]\ndmarc_reject = \"quarantine\"\n".into(),
                ..Default::default()
            },
        )
        .listener(
            "plain",
            ListenerSpec::new(MilterRef::None, "tempfail", false),
        )
        .listener(
            "normal",
            ListenerSpec::new(named("normal"), "tempfail", false),
        )
        .listener(
            "normal-proxy",
            ListenerSpec::new(named("normal"), "tempfail", true),
        )
        .listener(
            "dryrun-proxy",
            ListenerSpec::new(named("dryrun"), "tempfail", true),
        )
        .listener(
            "quarantine-proxy",
            ListenerSpec::new(named("quarantine"), "tempfail", true),
        )
        // A bank that holds any mail claiming its name from elsewhere.
        .txt("attacker.example", "v=spf1 ip4:127.0.0.1 -all")
        .txt("_dmarc.attacker.example", "v=DMARC1; p=none")
        .dkim_key("attacker.example")
        .milter(
            "strict",
            MilterSpec {
                policy: "[bands]\ntag = 30\nquarantine = 60\n".into(),
                ..Default::default()
            },
        )
        .listener(
            "strict",
            ListenerSpec::new(named("strict"), "tempfail", false),
        )
        // The strict bank in JSON log mode: the quarantine commands and the
        // report read what it holds and logs.
        .milter(
            "json-strict",
            MilterSpec {
                config: "log_format = \"json\"\n".into(),
                policy: "[bands]\ntag = 30\nquarantine = 60\n".into(),
            },
        )
        .listener(
            "json-strict",
            ListenerSpec::new(named("json-strict"), "tempfail", false),
        )
        // The same bank capped at tag: impersonations are delivered with
        // the warning banner, in the policy's own words.
        .milter(
            "banner",
            MilterSpec {
                config: "[actions]\nmax_action = \"tag\"\n".into(),
                policy: format!(
                    "[policy]\nname = \"banner\"\nbanner = \"{BANK_STATEMENT}\"\n\
                     [bands]\ntag = 30\nquarantine = 60\n"
                ),
            },
        )
        .listener(
            "banner",
            ListenerSpec::new(named("banner"), "tempfail", false),
        )
        // Used by the metrics trial alone, so its counters are exact.
        .milter("metered", MilterSpec::default())
        .listener(
            "metered",
            ListenerSpec::new(named("metered"), "tempfail", false),
        )
        .listener(
            "metered-proxy",
            ListenerSpec::new(named("metered"), "tempfail", true),
        )
        // A bank protecting a real brand, for the QR code trial.
        .milter(
            "qr",
            MilterSpec {
                policy: "[[brand]]\nid = \"smbc\"\nnames = [\"三井住友銀行\", \"SMBC\"]\n\
                         domains = [\"smbc.co.jp\"]\n"
                    .into(),
                ..Default::default()
            },
        )
        .listener("qr", ListenerSpec::new(named("qr"), "tempfail", false))
        // A mailing list that relays from EXTERNAL and ARC-seals what it
        // relays; a bank that trusts its seal (RFC 8617 §7.2) and another
        // that does not ("normal").
        .txt("lists.example", "v=spf1 ip4:192.0.2.10 -all")
        .txt("_dmarc.lists.example", "v=DMARC1; p=none")
        .dkim_key("lists.example")
        .milter(
            "arc-trusting",
            MilterSpec {
                config: "[actions]\nheaders_on_accept = true\n".into(),
                policy: "[[auth.trusted_arc_sealers]]\ndomain = \"lists.example\"\nreason = \"our customers' list server\"\n".into(),
            },
        )
        .listener(
            "arc-trusting-proxy",
            ListenerSpec::new(named("arc-trusting"), "tempfail", true),
        )
        // A bank whose owner publishes p=none (weakbank.test) or no DMARC
        // record (nodmarcbank.test), and sends some of its mail through a
        // provider that signs and bounces with its own domain (esp.test).
        .txt("weakbank.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt("_dmarc.weakbank.test", "v=DMARC1; p=none")
        .dkim_key("weakbank.test")
        .txt("nodmarcbank.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt("esp.test", "v=spf1 ip4:192.0.2.10 -all")
        .dkim_key("esp.test")
        .milter(
            "brand-owner",
            MilterSpec {
                config: "[actions]\nheaders_on_accept = true\n".into(),
                policy: "[[brand]]\nid = \"weakbank\"\nnames = [\"ウィーク銀行\", \"Weakbank\"]\n\
                         domains = [\"weakbank.test\", \"nodmarcbank.test\"]\nauthorized = [\"esp.test\"]\n\
                         [[auth.trusted_arc_sealers]]\ndomain = \"lists.example\"\n\
                         reason = \"our customers' list server\"\n"
                    .into(),
            },
        )
        .listener(
            "brand-owner-proxy",
            ListenerSpec::new(named("brand-owner"), "tempfail", true),
        )
        // Domains that ask for aggregate reports: to themselves, to an
        // outside service that agreed (its _report._dmarc record), and to
        // the same service without its agreement.
        .txt("inrep.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt("_dmarc.inrep.test", "v=DMARC1; p=none; rua=mailto:dmarc@inrep.test")
        .dkim_key("inrep.test")
        .txt("extrep.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt("_dmarc.extrep.test", "v=DMARC1; p=quarantine; rua=mailto:agg@reports.example")
        .txt("extrep.test._report._dmarc.reports.example", "v=DMARC1")
        .dkim_key("extrep.test")
        .txt("unverified.test", "v=spf1 ip4:127.0.0.1 -all")
        .txt("_dmarc.unverified.test", "v=DMARC1; p=none; rua=mailto:agg@reports.example")
        .dkim_key("unverified.test")
        // A second MX host logging JSON, for reports from several hosts.
        .milter(
            "json-b",
            MilterSpec {
                config: "log_format = \"json\"\n".into(),
                ..Default::default()
            },
        )
        .listener(
            "json-b",
            ListenerSpec::new(named("json-b"), "tempfail", false),
        )
        // One campaign's two MX hosts, logging JSON behind PROXY listeners
        // (the campaign comes from three client hosts): one holds, one is
        // capped at tag and delivers with the banner. Used by one trial.
        .milter(
            "campaign-hold",
            MilterSpec {
                config: "log_format = \"json\"\n".into(),
                policy: "[bands]\ntag = 30\nquarantine = 60\n".into(),
            },
        )
        .listener(
            "campaign-hold-proxy",
            ListenerSpec::new(named("campaign-hold"), "tempfail", true),
        )
        .milter(
            "campaign-tag",
            MilterSpec {
                config: "log_format = \"json\"\n[actions]\nmax_action = \"tag\"\n".into(),
                policy: "[bands]\ntag = 30\nquarantine = 60\n".into(),
            },
        )
        .listener(
            "campaign-tag-proxy",
            ListenerSpec::new(named("campaign-tag"), "tempfail", true),
        )
        // Killed mid-run by one trial; nothing else uses it.
        .milter("victim", MilterSpec::default())
        .listener(
            "victim-tempfail",
            ListenerSpec::new(named("victim"), "tempfail", false),
        )
        .listener(
            "victim-accept",
            ListenerSpec::new(named("victim"), "accept", false),
        )
        .listener(
            "down-tempfail",
            ListenerSpec::new(MilterRef::Down, "tempfail", false),
        )
        .listener(
            "down-accept",
            ListenerSpec::new(MilterRef::Down, "accept", false),
        )
}

type TrialFn = fn(&Harness) -> Result<(), String>;

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let trials: &[(&str, TrialFn)] = &[
        (
            "infra_postfix_delivers_without_milter",
            postfix_delivers_without_milter,
        ),
        ("infra_dns_serves_test_zones", dns_serves_test_zones),
        ("aligned_signed_mail_passes", aligned_signed_mail_passes),
        ("forged_from_rejected_at_end_of_data", forged_from_rejected),
        (
            "forged_from_quarantined_in_hold_queue",
            forged_from_quarantined,
        ),
        ("forged_auth_results_removed", forged_auth_results_removed),
        (
            "twenty_thousand_forged_fields_refused_and_cleanup_stays_alive",
            forged_field_flood_refused,
        ),
        (
            "list_copy_of_p_reject_mail_delivered_only_when_its_arc_sealer_is_trusted",
            arc_trusted_sealer_overrides_dmarc_reject,
        ),
        ("dry_run_tags_but_delivers", dry_run_tags_but_delivers),
        (
            "brand_domain_spoofed_under_p_none_or_no_record_is_held",
            brand_domain_spoof_held,
        ),
        (
            "brands_real_mail_forwarded_through_a_provider_or_a_trusted_list_is_delivered",
            brand_real_mail_delivered,
        ),
        (
            "display_name_impersonation_with_passing_auth_is_held",
            display_name_impersonation_held,
        ),
        (
            "bank_lure_with_credential_link_is_held_without_link_is_not",
            bank_lure_with_link_held,
        ),
        (
            "quarantine_commands_list_show_release_delete_held_mail",
            quarantine_commands,
        ),
        (
            "quarantine_runbook_as_non_root_operator_through_sudo",
            quarantine_as_operator,
        ),
        (
            "report_and_jpcert_export_from_the_verdict_log",
            report_from_verdict_log,
        ),
        (
            "report_campaign_to_twenty_recipients_from_three_hosts_is_one_row_held_and_delivered",
            report_campaign_rows,
        ),
        (
            "executable_in_zip_is_held_plain_pdf_delivered_untouched",
            attachments_by_content,
        ),
        (
            "link_only_in_a_qr_code_image_is_held_with_the_url_in_evidence",
            qr_code_link_held,
        ),
        (
            "tagged_impersonation_gets_banner_in_text_and_html_utf8_and_iso2022jp",
            tagged_mail_gets_banner,
        ),
        ("metrics_scrape_moves_and_passes_promtool", metrics_scrape),
        (
            "dmarc_aggregate_reports_from_two_hosts_sent_once_to_consenting_destinations",
            dmarc_reports,
        ),
        (
            "milter_killed_in_flight_loses_and_duplicates_nothing",
            milter_killed_in_flight,
        ),
        ("milter_down_tempfail_answers_4xx", milter_down_tempfail),
        ("milter_down_accept_delivers", milter_down_accept),
    ];
    let trials = trials
        .iter()
        .map(|&(name, f)| {
            Trial::test(name, move || {
                let h = common::shared(infrastructure)?;
                f(h).map_err(Into::into)
            })
        })
        .collect();
    common::with_teardown(|| libtest_mimic::run(&args, trials)).exit_code()
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

// The quarantine commands' trials (after the macro, which they use).
#[path = "e2e/quarantine.rs"]
mod quarantine;
use quarantine::{bank_lure, hold_one, quarantine_as_operator, quarantine_commands, PHISH_LINK};

// ---------------------------------------------------------------------------
// The plumbing alone, so a broken milter is not mistaken for broken infrastructure.

fn postfix_delivers_without_milter(h: &Harness) -> Result<(), String> {
    let mail = Mail::new("plain", "someone@sender.example", RCPT);
    let r = h.send(
        "plain",
        "someone@sender.example",
        RCPT,
        &mail.render(),
        None,
    )?;
    ensure!(r.accepted(), "plain listener: {r}");
    let got = h.wait_delivered(&mail.marker)?;
    ensure!(
        our_auth_results(&got).is_empty(),
        "no milter, yet our Authentication-Results:\n{}",
        head(&got)
    );
    Ok(())
}

fn dns_serves_test_zones(h: &Harness) -> Result<(), String> {
    use kinko_milter::auth::dns::{resolver, Upstream};
    use std::time::Duration;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let r = resolver(
        &Upstream::Servers(vec![h.dns.addr]),
        Duration::from_secs(2),
        1,
    )
    .map_err(|e| e.to_string())?;
    rt.block_on(async {
        let spf = r.txt_raw_lookup("bank.test.").await;
        ensure!(
            matches!(&spf, Ok(t) if t.starts_with(b"v=spf1 ip4:127.0.0.1")),
            "SPF of bank.test: {spf:?}"
        );
        // Unknown names must be NXDOMAIN, not REFUSED (a temporary error).
        for name in ["_dmarc.test.", "nothing.bank.test.", "_dmarc.com."] {
            let e = r.txt_raw_lookup(name).await;
            ensure!(
                format!("{e:?}").contains("NXDomain"),
                "{name} should be NXDOMAIN, got {e:?}"
            );
        }
        // The published key verifies what the harness signs.
        let mail = Mail::new("dnscheck", "alerts@bank.test", RCPT);
        let signed = dkim_sign(&mail.render(), "bank.test", SELECTOR)?;
        let msg = mail_auth::AuthenticatedMessage::parse(&signed).ok_or("unparsable message")?;
        let out = r.verify_dkim(&msg).await;
        ensure!(
            out.len() == 1 && *out[0].result() == mail_auth::DkimResult::Pass,
            "DKIM self-check: {:?}\ndnsmasq log:\n{}",
            out.iter().map(|o| o.result()).collect::<Vec<_>>(),
            h.dns.log()
        );
        Ok(())
    })
}

// ---------------------------------------------------------------------------
// Authentication through Postfix.

fn aligned_signed_mail_passes(h: &Harness) -> Result<(), String> {
    let mail = Mail::new("aligned", "Test Bank <alerts@bank.test>", RCPT);
    let raw = dkim_sign(&mail.render(), "bank.test", SELECTOR)?;
    let r = h.send("normal", "bounce@bank.test", RCPT, &raw, None)?;
    ensure!(r.accepted(), "aligned mail not accepted: {r}");
    let got = h.wait_delivered(&mail.marker)?;
    let ours = our_auth_results(&got);
    ensure!(
        ours.len() == 1,
        "expected exactly one Authentication-Results from {AUTHSERV_ID}, got {ours:?}\n{}",
        head(&got)
    );
    for want in ["spf=pass", "dkim=pass", "dmarc=pass"] {
        ensure!(
            ours[0].contains(want),
            "{want} missing from Authentication-Results: {}",
            ours[0]
        );
    }
    Ok(())
}

fn forged_mail(tag: &str) -> Mail {
    Mail::new(tag, "Test Bank <security@bank.test>", RCPT)
        .body("Your account is locked. Sign in to unlock it.\n")
}

fn forged_from_rejected(h: &Harness) -> Result<(), String> {
    let mail = forged_mail("forged-reject");
    let r = h.send(
        "normal-proxy",
        "security@bank.test",
        RCPT,
        &mail.render(),
        Some(EXTERNAL),
    )?;
    ensure!(
        r.stage == "end-of-data" && r.code == 550 && r.text.starts_with("5.7.1"),
        "expected 550 5.7.1 at end of DATA, got {r}"
    );
    ensure!(
        !h.delivered_now(&mail.marker),
        "rejected mail was delivered anyway"
    );
    Ok(())
}

fn forged_from_quarantined(h: &Harness) -> Result<(), String> {
    let mail = forged_mail("forged-hold");
    let r = h.send(
        "quarantine-proxy",
        "security@bank.test",
        RCPT,
        &mail.render(),
        Some(EXTERNAL),
    )?;
    ensure!(
        r.accepted(),
        "quarantine milter should accept into hold: {r}"
    );
    let held = h.wait_held(&mail.marker);
    // Clean up before judging, so a failure leaves no held mail behind.
    if let Ok(q) = &held {
        h.delete_queued(&q.queue_id)?;
    }
    let held = held?;
    ensure!(
        held.recipients == [RCPT],
        "held recipients: {:?}",
        held.recipients
    );
    ensure!(
        !h.delivered_now(&mail.marker),
        "quarantined mail was also delivered"
    );
    Ok(())
}

/// What a mailing list makes of a `p=reject` bank's signed mail: a footer
/// added to the body (the bank's DKIM signature no longer verifies), then
/// its own ARC seal, recording what it saw on arrival.
fn list_copy(tag: &str, saw_dmarc_pass: bool) -> Result<(Mail, Vec<u8>), String> {
    let mail = Mail::new(tag, "Test Bank <news@bank.test>", "members@lists.example");
    let mut relayed = dkim_sign(&mail.render(), "bank.test", SELECTOR)?;
    relayed.extend_from_slice(b"-- \r\nmembers mailing list\r\n");
    let sealed = arc_seal(
        &relayed,
        "lists.example",
        saw_dmarc_pass.then_some("bank.test"),
    )?;
    Ok((mail, sealed))
}

fn arc_trusted_sealer_overrides_dmarc_reject(h: &Harness) -> Result<(), String> {
    const LIST_BOUNCE: &str = "members-bounces@lists.example";
    let (mail, raw) = list_copy("arc-trusted", true)?;
    let r = h.send(
        "arc-trusting-proxy",
        LIST_BOUNCE,
        RCPT,
        &raw,
        Some(EXTERNAL),
    )?;
    ensure!(
        r.accepted(),
        "list copy sealed by a trusted sealer not accepted: {r}"
    );
    let got = h.wait_delivered(&mail.marker)?;
    let ours = our_auth_results(&got);
    ensure!(
        ours.len() == 1,
        "our Authentication-Results: {ours:?}\n{}",
        head(&got)
    );
    for want in [
        "dkim=fail",
        "dmarc=fail",
        "policy.dmarc=reject policy.arc=override (trusted ARC sealer lists.example recorded dmarc=pass)",
        "arc=pass",
    ] {
        ensure!(ours[0].contains(want), "{want} missing from: {}", ours[0]);
    }
    let reasons = header_values(&got, "X-Kinko-Reasons").join(" ");
    ensure!(
        reasons.contains("p=reject not applied, trusted ARC sealer lists.example (our customers' list server) recorded dmarc=pass"),
        "X-Kinko-Reasons: {reasons:?}"
    );

    // Rejected: the same relaying where this bank does not trust the list,
    // and a trusted list that did not see DMARC pass (vouches for nothing).
    for (listener, tag, saw_pass) in [
        ("normal-proxy", "arc-untrusted", true),
        ("arc-trusting-proxy", "arc-no-pass", false),
    ] {
        let (mail, raw) = list_copy(tag, saw_pass)?;
        let r = h.send(listener, LIST_BOUNCE, RCPT, &raw, Some(EXTERNAL))?;
        ensure!(
            r.stage == "end-of-data" && r.code == 550,
            "{tag}: expected 550 at end of DATA, got {r}"
        );
        ensure!(
            !h.delivered_now(&mail.marker),
            "{tag}: rejected list copy delivered"
        );
    }
    // `check` takes the same path, with the trusting milter's configuration.
    let (_, raw) = list_copy("arc-check", true)?;
    let file = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    std::fs::write(file.path(), &raw).map_err(|e| e.to_string())?;
    let check = |json: bool| -> Result<String, String> {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kinko-milter"));
        cmd.arg("check")
            .arg("-c")
            .arg(&h.milter("arc-trusting")?.config_path)
            .args(["--client-ip", "192.0.2.10", "--mail-from", LIST_BOUNCE]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.arg(file.path()).output().map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let text = check(false)?;
    ensure!(
        text.starts_with("action: accept")
            && text.contains("arc:    override: p=reject not applied, trusted sealer lists.example recorded dmarc=pass"),
        "check:\n{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&check(true)?).map_err(|e| e.to_string())?;
    ensure!(
        json["auth"]["arc_override"]["sealer"] == "lists.example"
            && json["auth"]["arc_sealer"]["vouches"] == "dmarc=pass",
        "check --json auth: {}",
        json["auth"]
    );
    let (_, text) = common::http_get(h.milter("arc-trusting")?.metrics_addr, "/metrics")?;
    ensure!(
        text.contains("kinko_arc_override_total 1\n"),
        "one override of two list copies: {:?}",
        text.lines()
            .find(|l| l.starts_with("kinko_arc_override_total"))
    );
    Ok(())
}

/// The commonest phishing in Japan: the brand's own address in From, sent
/// from a host its SPF fails, under an owner policy that asks for nothing.
/// With a link off the brand's domains it is held; without a request it is
/// delivered, tagged as a spoof.
fn brand_domain_spoof_held(h: &Harness) -> Result<(), String> {
    for domain in ["weakbank.test", "nodmarcbank.test"] {
        let from = format!("security@{domain}");
        let mail = Mail::new(
            &format!("spoof-{domain}"),
            &format!("Weakbank <{from}>"),
            RCPT,
        )
        .body("Please review your account: https://weakbank-review.example/account\n");
        let r = h.send(
            "brand-owner-proxy",
            &from,
            RCPT,
            &mail.render(),
            Some(EXTERNAL),
        )?;
        ensure!(r.accepted(), "{domain}: spoof not accepted into hold: {r}");
        let held = h.wait_held(&mail.marker);
        if let Ok(q) = &held {
            h.delete_queued(&q.queue_id)?;
        }
        let held = held?;
        let reasons = header_values(&held.headers, "X-Kinko-Reasons").join(" ");
        ensure!(
            reasons.contains("brand-spoof [weakbank]")
                && reasons.contains("brand-impersonation [weakbank]"),
            "{domain}: held without the spoof among its reasons: {reasons:?}"
        );
        ensure!(
            !h.delivered_now(&mail.marker),
            "{domain}: held spoof delivered"
        );
    }
    let mail = Mail::new("spoof-quiet", "Weakbank <info@weakbank.test>", RCPT)
        .body("Our branch opens at ten tomorrow.\n");
    let r = h.send(
        "brand-owner-proxy",
        "info@weakbank.test",
        RCPT,
        &mail.render(),
        Some(EXTERNAL),
    )?;
    ensure!(r.accepted(), "quiet spoof not accepted: {r}");
    let got = h.wait_delivered(&mail.marker)?;
    let verdict = header_values(&got, "X-Kinko-Verdict").join(" ");
    let reasons = header_values(&got, "X-Kinko-Reasons").join(" ");
    ensure!(
        verdict.contains("tag") && reasons.contains("spoofed weakbank.test"),
        "a spoof with no request is tagged: {verdict:?} {reasons:?}"
    );
    Ok(())
}

/// The brand's real mail, which `p=none` owners publish for: forwarded by
/// an alias (SPF fails, the aligned signature survives), sent through its
/// listed provider (DKIM and SPF pass for esp.test, DMARC fails), and
/// relayed by a list whose trusted ARC seal recorded DMARC pass.
fn brand_real_mail_delivered(h: &Harness) -> Result<(), String> {
    let body = "Your statement is ready at https://www.weakbank.test/statements\n";
    let forwarded = Mail::new("real-forwarded", "Weakbank <news@weakbank.test>", RCPT).body(body);
    let provider = Mail::new("real-provider", "Weakbank <news@weakbank.test>", RCPT).body(body);
    let listed = Mail::new(
        "real-listed",
        "Weakbank <news@weakbank.test>",
        "members@lists.example",
    )
    .body(body);
    let mut list_raw = dkim_sign(&listed.render(), "weakbank.test", SELECTOR)?;
    list_raw.extend_from_slice(b"-- \r\nmembers mailing list\r\n");
    let cases = [
        (
            &forwarded,
            "news@weakbank.test",
            dkim_sign(&forwarded.render(), "weakbank.test", SELECTOR)?,
            ["spf=fail", "dkim=pass", "dmarc=pass"],
        ),
        (
            &provider,
            "bounce@esp.test",
            dkim_sign(&provider.render(), "esp.test", SELECTOR)?,
            ["spf=pass", "dkim=pass", "dmarc=fail"],
        ),
        (
            &listed,
            "members-bounces@lists.example",
            arc_seal(&list_raw, "lists.example", Some("weakbank.test"))?,
            ["dkim=fail", "arc=pass", "dmarc=fail"],
        ),
    ];
    for (mail, mail_from, raw, want) in cases {
        let r = h.send("brand-owner-proxy", mail_from, RCPT, &raw, Some(EXTERNAL))?;
        ensure!(r.accepted(), "{}: not accepted: {r}", mail.marker);
        let got = h.wait_delivered(&mail.marker)?;
        let ours = our_auth_results(&got).join(" ");
        for w in want {
            ensure!(ours.contains(w), "{}: {w} missing from {ours}", mail.marker);
        }
        let verdict = header_values(&got, "X-Kinko-Verdict").join(" ");
        let reasons = header_values(&got, "X-Kinko-Reasons").join(" ");
        ensure!(
            verdict.contains("accept") && !reasons.contains("spoof"),
            "{}: the brand's real mail judged {verdict:?}: {reasons:?}",
            mail.marker
        );
    }
    Ok(())
}

fn forged_auth_results_removed(h: &Harness) -> Result<(), String> {
    let forged_ours = format!("{AUTHSERV_ID}; dkim=pass header.d=forger.example");
    // The authserv-id compares case-insensitively (RFC 8601 §2.2).
    let forged_upper = format!("{}; dmarc=pass", AUTHSERV_ID.to_ascii_uppercase());
    let foreign = "relay.other.example; spf=pass smtp.mailfrom=bank.test";
    let mail = Mail::new("forged-ar", "Test Bank <alerts@bank.test>", RCPT)
        .header(&format!("Authentication-Results: {forged_ours}"))
        .header(&format!("authentication-results: {forged_upper}"))
        .header(&format!("Authentication-Results: {foreign}"))
        // Other RFC 8601 forms of the same authserv-id.
        .header(&format!(
            "Authentication-Results: (x) {AUTHSERV_ID}; dkim=pass header.d=forger.example"
        ))
        .header(&format!(
            "Authentication-Results: (folded\r\n\tcomment)\r\n\t{AUTHSERV_ID}; dkim=pass header.d=forger.example"
        ))
        .header(&format!(
            "Authentication-Results: \"{AUTHSERV_ID}\"; dkim=pass header.d=forger.example"
        ))
        .header(&format!(
            "Authentication-Results: {AUTHSERV_ID}.; dkim=pass header.d=forger.example"
        ))
        .header("X-Kinko-Verdict: forged-by-sender");
    let raw = dkim_sign(&mail.render(), "bank.test", SELECTOR)?;
    let r = h.send("normal", "bounce@bank.test", RCPT, &raw, None)?;
    ensure!(
        r.accepted(),
        "signed mail with forged headers not accepted: {r}"
    );
    let got = h.wait_delivered(&mail.marker)?;
    let ours = our_auth_results(&got);
    ensure!(
        ours.len() == 1 && !ours[0].contains("forger.example") && ours[0].contains("dkim=pass"),
        "expected only our own Authentication-Results, got {ours:?}\n{}",
        head(&got)
    );
    let all = header_values(&got, "Authentication-Results");
    ensure!(
        !all.iter().any(|v| v.contains("forger.example")),
        "a forged Authentication-Results survived:\n{}",
        head(&got)
    );
    ensure!(
        all.iter().any(|v| v == foreign),
        "foreign Authentication-Results was removed:\n{}",
        head(&got)
    );
    ensure!(
        !header_values(&got, "X-Kinko-Verdict")
            .iter()
            .any(|v| v == "forged-by-sender"),
        "incoming X-Kinko-Verdict survived:\n{}",
        head(&got)
    );
    Ok(())
}

/// 20,000 forged verdict fields asked Postfix for 20,000 deletions, and its
/// cleanup gave up from about 14,000 (451 for the sender). Past
/// `max_forged_fields` the milter refuses the message with no edit asked,
/// and the next message goes through the same Postfix as usual.
fn forged_field_flood_refused(h: &Harness) -> Result<(), String> {
    let mut mail = Mail::new("forged-flood", "Test Bank <alerts@bank.test>", RCPT);
    for _ in 0..20_000 {
        mail = mail.header("X-Kinko-Verdict: accept");
    }
    let started = std::time::Instant::now();
    let r = h.send("normal", "bounce@bank.test", RCPT, &mail.render(), None)?;
    let took = started.elapsed();
    ensure!(
        r.stage == "end-of-data" && r.code == 550 && r.text.starts_with("5.7.1"),
        "expected 550 5.7.1, got {r}"
    );
    ensure!(
        took < std::time::Duration::from_secs(10),
        "the refusal took {took:?} (SMTP transfer included)"
    );
    let next = Mail::new("after-flood", "Test Bank <alerts@bank.test>", RCPT);
    let raw = dkim_sign(&next.render(), "bank.test", SELECTOR)?;
    let r = h.send("normal", "bounce@bank.test", RCPT, &raw, None)?;
    ensure!(r.accepted(), "the next message was not accepted: {r}");
    h.wait_delivered(&next.marker)?;
    Ok(())
}

fn dry_run_tags_but_delivers(h: &Harness) -> Result<(), String> {
    let mail = forged_mail("forged-dryrun");
    let r = h.send(
        "dryrun-proxy",
        "security@bank.test",
        RCPT,
        &mail.render(),
        Some(EXTERNAL),
    )?;
    ensure!(r.accepted(), "dry run must not refuse mail: {r}");
    let got = h.wait_delivered(&mail.marker)?;
    let verdict = header_values(&got, "X-Kinko-Verdict");
    ensure!(
        verdict.len() == 1,
        "expected one X-Kinko-Verdict in dry run, got {verdict:?}\n{}",
        head(&got)
    );
    ensure!(
        !header_values(&got, "X-Kinko-Score").is_empty()
            && !header_values(&got, "X-Kinko-Reasons").is_empty(),
        "X-Kinko-Score / X-Kinko-Reasons missing:\n{}",
        head(&got)
    );
    let ours = our_auth_results(&got);
    ensure!(
        ours.len() == 1 && ours[0].contains("dmarc=fail") && ours[0].contains("spf=fail"),
        "expected spf=fail and dmarc=fail, got {ours:?}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Impersonation and lures: the attacker's own domain authenticates fine.

/// `テスト銀行 <addr>` with the name RFC 2047-encoded, as mail clients send it.
fn bank_name_from(addr: &str) -> String {
    format!(
        "{} <{addr}>",
        kinko_milter::vocab::header_text::encode_word("テスト銀行")
    )
}

fn display_name_impersonation_held(h: &Harness) -> Result<(), String> {
    let mail = Mail::new(
        "display-name",
        &bank_name_from("info@attacker.example"),
        RCPT,
    )
    .body("お客様各位\n\nいつもご利用ありがとうございます。\n");
    let raw = dkim_sign(&mail.render(), "attacker.example", SELECTOR)?;
    let r = h.send("strict", "bounce@attacker.example", RCPT, &raw, None)?;
    ensure!(r.accepted(), "held mail is accepted into the queue: {r}");
    let held = h.wait_held(&mail.marker);
    if let Ok(q) = &held {
        h.delete_queued(&q.queue_id)?;
    }
    let held = held?;
    // Held mail is kept as it came: the banner is for tagged mail only.
    ensure!(
        !h.queued_body(&held.queue_id)
            .unwrap_or_default()
            .contains("kinko-milter"),
        "a held message got a banner"
    );
    let ours = our_auth_results(&held.headers);
    ensure!(
        ours.len() == 1
            && ["spf=pass", "dkim=pass", "dmarc=pass"]
                .iter()
                .all(|w| ours[0].contains(w)),
        "the attacker's domain authenticates, yet: {ours:?}"
    );
    let reasons = header_values(&held.headers, "X-Kinko-Reasons").join(" ");
    ensure!(
        header_values(&held.headers, "X-Kinko-Verdict") == ["quarantine"],
        "verdict header on held mail:\n{}",
        held.headers
    );
    ensure!(
        reasons.contains("quarantine") && reasons.contains("display-name [test-bank]"),
        "reasons name the band, the kind and the brand: {reasons}"
    );
    let (_, metrics) = common::http_get(h.milter("strict")?.metrics_addr, "/metrics")?;
    ensure!(
        metrics.contains("kinko_findings_total{kind=\"display-name\"} 1")
            && metrics.contains("kinko_impersonations_total{brand=\"test-bank\"} 1"),
        "display-name finding and impersonation of test-bank not counted"
    );
    Ok(())
}

const BANK_STATEMENT: &str =
    "テスト銀行は、メールやSMSのリンクからお客様の情報をお尋ねすることはありません。";

/// A multipart/alternative impersonation of the test bank in `charset`:
/// returns the message and the text and HTML it carries.
fn alternative_mail(marker: &str, charset: &str, cte: &str) -> (Vec<u8>, String, String) {
    let text = "テスト銀行をご利用のお客様\r\n\r\nお取引の確認をお願いいたします。\r\n";
    let html = "<html><head><meta charset=\"x\"></head><body>\r\n<p>テスト銀行をご利用のお客様</p>\r\n<p>お取引の確認をお願いいたします。</p>\r\n</body></html>\r\n";
    let enc = encoding_rs::Encoding::for_label(charset.as_bytes()).expect("charset");
    let part = |sub: &str, s: &str| {
        let bytes = enc.encode(s).0.into_owned();
        let body = match cte {
            "base64" => kinko_milter::vocab::header_text::base64(&bytes)
                .as_bytes()
                .chunks(76)
                .flat_map(|l| [l, b"\r\n"].concat())
                .collect(),
            _ => bytes,
        };
        let mut p = format!(
            "Content-Type: text/{sub}; charset={charset}\r\nContent-Transfer-Encoding: {cte}\r\n\r\n"
        )
        .into_bytes();
        p.extend_from_slice(&body);
        p
    };
    let mut raw = format!(
        "From: {}\r\nTo: {RCPT}\r\nSubject: e2e {marker}\r\nDate: Mon, 24 Nov 2025 10:00:00 +0900\r\n\
         Message-ID: <{marker}@e2e.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/alternative; boundary=\"b-{marker}\"\r\n\r\n--b-{marker}\r\n",
        bank_name_from("info@attacker.example")
    )
    .into_bytes();
    raw.extend(part("plain", text));
    raw.extend(format!("\r\n--b-{marker}\r\n").into_bytes());
    raw.extend(part("html", html));
    raw.extend(format!("\r\n--b-{marker}--\r\n").into_bytes());
    (raw, text.replace("\r\n", "\n"), html.replace("\r\n", "\n"))
}

fn tagged_mail_gets_banner(h: &Harness) -> Result<(), String> {
    use mail_parser::{MessageParser, PartType};
    for (charset, cte) in [("utf-8", "base64"), ("iso-2022-jp", "7bit")] {
        let marker = common::unique("banner");
        let (raw, text, html) = alternative_mail(&marker, charset, cte);
        let raw = dkim_sign(&raw, "attacker.example", SELECTOR)?;
        let r = h.send("banner", "bounce@attacker.example", RCPT, &raw, None)?;
        ensure!(r.accepted(), "{charset}: {r}");
        let got = h.wait_delivered(&marker)?;
        ensure!(
            header_values(&got, "X-Kinko-Verdict") == ["tag"],
            "{charset}: tagged:\n{}",
            head(&got)
        );
        // Written from what was verified before the body changed.
        let ours = our_auth_results(&got);
        ensure!(
            ours.len() == 1 && ours[0].contains("dkim=pass"),
            "{charset}: {ours:?}"
        );
        // Each part stays in its own charset: the banner fits both.
        ensure!(
            got.to_ascii_lowercase()
                .matches(&format!("charset={charset}"))
                .count()
                == 2,
            "{charset}: parts keep their charset:\n{got}"
        );
        let msg = MessageParser::default()
            .parse(got.as_bytes())
            .ok_or("delivered mail does not parse")?;
        let (mut plain, mut htmls) = (Vec::new(), Vec::new());
        for p in &msg.parts {
            match &p.body {
                PartType::Text(t) => plain.push(t.replace("\r\n", "\n")),
                PartType::Html(t) => htmls.push(t.replace("\r\n", "\n")),
                _ => {}
            }
        }
        ensure!(
            plain.len() == 1 && htmls.len() == 1,
            "{charset}: one text and one HTML part:\n{got}"
        );
        let p = &plain[0];
        let first = p.lines().next().unwrap_or("");
        ensure!(
            first.starts_with("【ご注意】") && first.ends_with("[kinko-milter]"),
            "{charset}: text banner on top: {p}"
        );
        ensure!(
            p.contains("「テスト銀行」を名乗っていますが") && p.contains(BANK_STATEMENT),
            "{charset}: banner names the brand and says the bank's words: {p}"
        );
        ensure!(
            p.trim_end().ends_with(&format!("\n\n{}", text.trim_end())),
            "{charset}: the original text follows, intact: {p}"
        );
        let hb = &htmls[0];
        let start = hb
            .find("<table data-kinko-banner")
            .ok_or(format!("{charset}: no HTML banner: {hb}"))?;
        let end = hb[start..]
            .find("</table>\n")
            .map(|e| start + e + 9)
            .ok_or("unended banner")?;
        ensure!(
            hb[start..end].contains(BANK_STATEMENT) && hb[start..end].contains("テスト銀行"),
            "{charset}: HTML banner words: {hb}"
        );
        let without = format!("{}{}", &hb[..start], &hb[end..]);
        ensure!(
            without.trim_end() == html.trim_end() && hb[..start].ends_with("<body>"),
            "{charset}: banner right after <body>, the rest intact:\n{hb}"
        );
    }
    Ok(())
}

fn bank_lure_with_link_held(h: &Harness) -> Result<(), String> {
    let lure = "テスト銀行をご利用のお客様\n\n\
        お客様の口座で不正な取引の可能性が確認されたため、ご利用を一時制限しております。\n\
        下記URLより本人確認を行ってください。\n";
    let link = "https://testbank-secure-login.example.net/login/verify?id=8841\n";
    let with_link = Mail::new(
        "lure-link",
        &bank_name_from("notice@attacker.example"),
        RCPT,
    )
    .body(&format!("{lure}\n{link}"));
    let without = Mail::new(
        "lure-nolink",
        &bank_name_from("notice@attacker.example"),
        RCPT,
    )
    .body(lure);
    for (mail, expect_held) in [(&with_link, true), (&without, false)] {
        let raw = dkim_sign(&mail.render(), "attacker.example", SELECTOR)?;
        let r = h.send("normal", "bounce@attacker.example", RCPT, &raw, None)?;
        ensure!(r.accepted(), "{}: {r}", mail.marker);
        if expect_held {
            let held = h.wait_held(&mail.marker);
            if let Ok(q) = &held {
                h.delete_queued(&q.queue_id)?;
            }
            let held = held?;
            let reasons = header_values(&held.headers, "X-Kinko-Reasons").join(" ");
            ensure!(
                header_values(&held.headers, "X-Kinko-Verdict") == ["quarantine"],
                "lure with link: {}",
                held.headers
            );
            ensure!(!reasons.is_empty(), "no reasons on held mail");
        } else {
            let got = h.wait_delivered(&mail.marker)?;
            ensure!(
                !header_values(&got, "X-Kinko-Verdict")
                    .iter()
                    .any(|v| v == "quarantine" || v == "reject"),
                "lure without link must not be held:\n{}",
                head(&got)
            );
        }
    }
    Ok(())
}

/// `mail` with one base64 attachment after its text.
fn with_attachment(mail: &Mail, name: &str, ctype: &str, data: &[u8]) -> Vec<u8> {
    let plain = "Content-Type: text/plain; charset=utf-8\r\n\r\n";
    let rendered = String::from_utf8(mail.render()).expect("rendered as UTF-8");
    let (head, body) = rendered.split_once(plain).expect("one text/plain body");
    let b64: String = data
        .chunks(57)
        .map(|c| kinko_milter::vocab::header_text::base64(c) + "\r\n")
        .collect();
    format!(
        "{head}Content-Type: multipart/mixed; boundary=\"att\"\r\n\r\n\
         --att\r\n{plain}{body}\r\n--att\r\nContent-Type: {ctype}\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{b64}--att--\r\n"
    )
    .into_bytes()
}

fn attachments_by_content(h: &Harness) -> Result<(), String> {
    use std::io::Write;
    // A PE header under a harmless name, inside an ordinary zip.
    let mut pe = b"MZ".to_vec();
    pe.resize(0x200, 0);
    pe[0x3c] = 0x80;
    pe[0x80..0x86].copy_from_slice(b"PE\0\0\x4c\x01");
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    z.start_file("scan.jpg", opts).map_err(|e| e.to_string())?;
    z.write_all(&pe).map_err(|e| e.to_string())?;
    let zip = z.finish().map_err(|e| e.to_string())?.into_inner();
    let exe = Mail::new("zip-exe", "Shop <info@attacker.example>", RCPT)
        .body("ご注文の写真を添付します。\n");
    let raw = dkim_sign(
        &with_attachment(&exe, "photos.zip", "application/zip", &zip),
        "attacker.example",
        SELECTOR,
    )?;
    held_in_quarantine(h, "normal", &exe.marker, &raw)?;
    // No other trial sends an executable: the counter shows which finding held it.
    let (_, metrics) = common::http_get(h.milter("normal")?.metrics_addr, "/metrics")?;
    let counted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kinko_findings_total{kind=\"attachment-executable\"} "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    ensure!(
        counted.is_some_and(|n| n >= 1.0),
        "attachment-executable not counted: {counted:?}"
    );

    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n";
    let invoice = Mail::new("pdf-invoice", "Shop <info@attacker.example>", RCPT)
        .body("請求書を添付します。\n");
    let unsigned = with_attachment(&invoice, "請求書.pdf", "application/pdf", pdf);
    let raw = dkim_sign(&unsigned, "attacker.example", SELECTOR)?;
    let r = h.send("normal", "bounce@attacker.example", RCPT, &raw, None)?;
    ensure!(r.accepted(), "pdf invoice: {r}");
    let got = h.wait_delivered(&invoice.marker)?;
    ensure!(
        header_values(&got, "X-Kinko-Verdict")
            .iter()
            .all(|v| v == "accept"),
        "pdf invoice must be accepted:\n{}",
        head(&got)
    );
    let body_of = |m: &str| {
        m.split_once("\r\n\r\n")
            .map(|(_, b)| b.replace("\r\n", "\n"))
    };
    let sent = String::from_utf8_lossy(&unsigned).into_owned();
    ensure!(
        body_of(&got) == body_of(&sent),
        "pdf invoice body changed on the way:\n{got}"
    );
    Ok(())
}

/// Sends `raw` from attacker.example through `listener`, expects it held
/// with verdict `quarantine`, and removes it from the hold queue.
fn held_in_quarantine(
    h: &Harness,
    listener: &str,
    marker: &str,
    raw: &[u8],
) -> Result<common::Queued, String> {
    let r = h.send(listener, "bounce@attacker.example", RCPT, raw, None)?;
    ensure!(
        r.accepted(),
        "{marker}: held mail is accepted into the queue: {r}"
    );
    let held = h.wait_held(marker);
    // Clean up before judging, so a failure leaves no held mail behind.
    if let Ok(q) = &held {
        h.delete_queued(&q.queue_id)?;
    }
    let held = held?;
    ensure!(
        header_values(&held.headers, "X-Kinko-Verdict") == ["quarantine"],
        "{marker}: not held as quarantine:\n{}",
        held.headers
    );
    Ok(held)
}

/// A real phishing URL of SMBC from the JPCERT/CC list
/// (../shared/corpus/urls/jpcert-phishurl/2019, 2019/01/30, 三井住友銀行).
const SMBC_PHISH: &str = "http://www.smbc.co.at/phone.php";

fn qr_code_link_held(h: &Harness) -> Result<(), String> {
    use image::{DynamicImage, ImageFormat};
    let code = qr_image::qr_picture(SMBC_PHISH, 4);
    let png = qr_image::encode(&DynamicImage::ImageLuma8(code), ImageFormat::Png);
    let from = format!(
        "{} <info@attacker.example>",
        kinko_milter::vocab::header_text::encode_word("三井住友銀行")
    );
    let mail = Mail::new("qr-only-link", &from, RCPT)
        .body("セキュリティ強化のため、添付のQRコードをスマートフォンで読み取ってください。\n");
    ensure!(
        !String::from_utf8_lossy(&mail.render()).contains("smbc.co.at"),
        "the URL must be in the image only"
    );
    let raw = dkim_sign(
        &with_attachment(&mail, "qr.png", "image/png", &png),
        "attacker.example",
        SELECTOR,
    )?;
    let held = held_in_quarantine(h, "qr", &mail.marker, &raw)?;
    let reasons = header_values(&held.headers, "X-Kinko-Reasons").join(" ");
    ensure!(
        reasons.contains("brand-impersonation [smbc]"),
        "reasons: {reasons}"
    );
    // The log names the image and the URL the reader would have opened.
    let milter = h.milter("qr")?;
    let want = format!("QR code in \"qr.png\": {SMBC_PHISH}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let log = milter.log();
        let verdict_urls = log
            .lines()
            .any(|l| l.contains("verdict") && l.contains(SMBC_PHISH));
        if verdict_urls && log.contains(&want) {
            return Ok(());
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "log lacks the QR code evidence ({want}) or the URL:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------
// The security team's commands against the real hold queue and log.

fn report_from_verdict_log(h: &Harness) -> Result<(), String> {
    let (_, id) = hold_one(h, "report")?;
    h.delete_queued(&id)?;
    let log = h.milter("json-strict")?.info().log_path;
    // Several hosts: the same log twice stands for two MX hosts' lines.
    let run = |args: &[&str]| -> Result<String, String> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kinko-milter"))
            .arg("report")
            .arg(&log)
            .arg(&log)
            .args(args)
            .output()
            .map_err(|e| e.to_string())?;
        ensure!(
            out.status.success(),
            "report {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let rows: serde_json::Value =
        serde_json::from_str(&run(&["--format", "json"])?).map_err(|e| e.to_string())?;
    let row = rows
        .as_array()
        .and_then(|a| a.iter().find(|r| r["brand"] == "test-bank"))
        .ok_or_else(|| format!("no test-bank row: {rows}"))?;
    ensure!(
        row["messages"].as_u64().unwrap_or(0) >= 2
            && row["kinds"]["display-name"].as_u64().unwrap_or(0) >= 2
            && row["url_hosts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|h| h == "testbank-secure-login.example.net")),
        "row: {row}"
    );
    let csv = run(&["--format", "csv"])?;
    ensure!(csv.starts_with("brand,day,messages,"), "{csv}");
    let export = run(&["--export-jpcert"])?;
    // The phishing site, named by the finding that points at it; the
    // description carries the brand, the kind and how sure it is.
    ensure!(
        export.starts_with("date,URL,description\n")
            && export
                .lines()
                .any(|l| l.contains("://testbank-secure-login.example.net")
                    && l.contains(",test-bank kind=")
                    && l.contains(" confidence=")),
        "export:\n{export}"
    );
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    let lines_of = |message: &str| -> Vec<&str> {
        let tag = format!("\"message\":\"{message}\"");
        logged.lines().filter(|l| l.contains(&tag)).collect()
    };
    let (verdict_lines, finding_lines) = (lines_of("verdict"), lines_of("finding"));
    ensure!(
        !verdict_lines.is_empty() && !finding_lines.is_empty(),
        "no verdict or debug finding lines in {}",
        log.display()
    );
    ensure!(
        !export.contains("customer")
            && !verdict_lines
                .iter()
                .chain(&finding_lines)
                .any(|l| l.contains("customer@")),
        "a recipient address leaked into a verdict or finding line or the export"
    );
    Ok(())
}

/// Issue #22 item 3: one lure sent to twenty recipients from three client
/// hosts, through two MX hosts (one holds, one tags and delivers), is one
/// campaign row: twenty messages, held and delivered counted, twenty
/// recipients counted but not named, three hosts in one /24, queue ids.
fn report_campaign_rows(h: &Harness) -> Result<(), String> {
    let hosts = [21u8, 22, 23].map(|o| IpAddr::V4(Ipv4Addr::new(192, 0, 2, o)));
    let (mut held, mut delivered) = (Vec::new(), Vec::new());
    for i in 0..20 {
        let rcpt = format!("customer{i}@customer.example");
        let mail = bank_lure("campaign", &rcpt);
        let raw = dkim_sign(&mail.render(), "attacker.example", SELECTOR)?;
        let listener = if i < 14 {
            "campaign-hold-proxy"
        } else {
            "campaign-tag-proxy"
        };
        let r = h.send(
            listener,
            "bounce@attacker.example",
            &rcpt,
            &raw,
            Some(hosts[i % 3]),
        )?;
        ensure!(r.accepted(), "campaign {i}: {r}");
        if i < 14 {
            held.push(mail.marker);
        } else {
            delivered.push(mail.marker);
        }
    }
    let mut held_ids = Vec::new();
    for m in &held {
        held_ids.push(h.wait_held(m)?.queue_id);
    }
    for m in &delivered {
        h.wait_delivered(m)?;
    }
    for id in &held_ids {
        h.delete_queued(id)?;
    }
    let logs = [
        h.milter("campaign-hold")?.info().log_path,
        h.milter("campaign-tag")?.info().log_path,
    ];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kinko-milter"))
        .arg("report")
        .args(&logs)
        .args(["--campaigns", "--format", "json", "--brand", "test-bank"])
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "report: {stderr}");
    ensure!(
        stderr.contains(" 0 input line(s) could not be read"),
        "the report did not say what it could not read: {stderr}"
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
    let rows = rows.as_array().ok_or("campaigns are not a list")?;
    ensure!(rows.len() == 1, "one campaign expected: {rows:#?}");
    let c = &rows[0];
    let n = |k: &str| c[k].as_u64().unwrap_or(u64::MAX);
    ensure!(
        c["brand"] == "test-bank"
            && c["link_host"] == "testbank-secure-login.example.net"
            && c["sender_domain"] == "attacker.example"
            && (n("messages"), n("held"), n("delivered")) == (20, 14, 6)
            && (n("recipients"), n("delivered_recipients")) == (20, 6)
            && n("client_hosts") == 3
            && c["networks"]["192.0.2.0/24"] == 20
            && c["queue_ids"].as_array().is_some_and(|q| {
                q.len() == 20 && held_ids.iter().all(|id| q.iter().any(|x| x == id.as_str()))
            }),
        "campaign: {c:#}"
    );
    // A host left on the text log format is read too, announcements and all.
    let mail = Mail::new(
        "campaign-text",
        &bank_name_from("notice@attacker.example"),
        RCPT,
    )
    .body(&format!("お客様各位\n\n{PHISH_LINK}\n"));
    let raw = dkim_sign(&mail.render(), "attacker.example", SELECTOR)?;
    let r = h.send("normal", "bounce@attacker.example", RCPT, &raw, None)?;
    ensure!(!r.is_temporary(), "text host: {r}");
    let text_log = h.milter("normal")?.info().log_path;
    let mut seen = String::new();
    for _ in 0..50 {
        seen = std::fs::read_to_string(&text_log).unwrap_or_default();
        if seen.contains(&mail.marker) || seen.lines().any(|l| l.contains(": verdict ")) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kinko-milter"))
        .arg("report")
        .arg(&text_log)
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure!(
        out.status.success()
            && stderr.contains(" 0 input line(s) could not be read")
            && !stderr.contains(": 0 verdict line(s) read"),
        "text log: {stderr}\n{seen}"
    );
    // Counted, never named: no recipient reaches the verdict lines.
    for log in &logs {
        let text = std::fs::read_to_string(log).map_err(|e| e.to_string())?;
        let verdicts: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("\"message\":\"verdict\""))
            .collect();
        ensure!(
            verdicts.len() >= 6
                && verdicts
                    .iter()
                    .all(|l| !l.contains("customer@") && !l.contains("customer1")),
            "verdict lines of {}: {verdicts:#?}",
            log.display()
        );
    }
    Ok(())
}

/// RFC 9990 aggregate reports from the JSON verdict lines of two daemon
/// instances (two MX hosts): one report per policy domain, sent through
/// Postfix to the domain's `rua` when the destination is its own or has
/// agreed; a second run sends nothing; `--dry-run` writes the same XML.
fn dmarc_reports(h: &Harness) -> Result<(), String> {
    let mut sent = 0;
    for (i, domain) in ["inrep.test", "extrep.test", "unverified.test"]
        .iter()
        .enumerate()
    {
        for (j, listener) in ["json-strict", "json-b"].iter().enumerate() {
            let mail = Mail::new(
                &format!("agg-{i}-{j}"),
                &format!("News <news@{domain}>"),
                RCPT,
            );
            let raw = dkim_sign(&mail.render(), domain, SELECTOR)?;
            let r = h.send(listener, &format!("bounce@{domain}"), RCPT, &raw, None)?;
            ensure!(r.accepted(), "{domain} via {listener}: {r}");
            h.wait_delivered(&mail.marker)?;
            sent += 1;
        }
    }
    let logs = [
        h.milter("json-strict")?.info().log_path,
        h.milter("json-b")?.info().log_path,
    ];
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    // The private Postfix's sendmail, as the site's would be.
    let sendmail = dir.path().join("sendmail");
    std::fs::write(
        &sendmail,
        format!(
            "#!/bin/sh\nexec /usr/sbin/sendmail -C {} \"$@\"\n",
            h.postfix_config_dir().display()
        ),
    )
    .map_err(|e| e.to_string())?;
    common::set_mode(&sendmail, 0o755)?;
    let state = dir.path().join("sent");
    let today = {
        let t = time::OffsetDateTime::now_utc();
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
    };
    let run = |extra: &[&str]| -> Result<String, String> {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kinko-milter"))
            .arg("dmarc-report")
            .args(&logs)
            .arg("-c")
            .arg(&h.milter("json-strict")?.config_path)
            .args([
                "--day",
                &today,
                "--org-name",
                "Kinko Test MX",
                "--email",
                "dmarc-reports@kinko.test",
            ])
            .arg("--state")
            .arg(&state)
            .arg("--sendmail")
            .arg(&sendmail)
            .args(extra)
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        ensure!(
            out.status.success(),
            "dmarc-report {extra:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(text)
    };
    let first = run(&[])?;
    ensure!(
        first.contains("sent inrep.test")
            && first.contains("sent extrep.test")
            && !first.contains("sent unverified.test"),
        "first run:\n{first}"
    );
    ensure!(
        first.contains("unverified.test._report._dmarc.reports.example does not accept"),
        "the unverified destination is not named:\n{first}"
    );
    let mut xml = Vec::new();
    for (domain, rcpt) in [
        ("inrep.test", "dmarc@inrep.test"),
        ("extrep.test", "agg@reports.example"),
    ] {
        let d = h.wait_delivery(&format!("Report Domain: {domain} Submitter: {AUTHSERV_ID}"))?;
        ensure!(
            d.rcpt_to == [rcpt],
            "{domain}: delivered to {:?}",
            d.rcpt_to
        );
        let report = report_xml(&d.data)?;
        check_report_xml(&report, domain, 2)?;
        xml.push(report);
    }
    ensure!(
        !h.delivered_now("Report Domain: unverified.test"),
        "a report went to a destination that did not agree to it"
    );
    let second = run(&[])?;
    ensure!(
        !second.lines().any(|l| l.starts_with("sent ")) && second.contains("was sent before"),
        "second run:\n{second}"
    );
    let dry = dir.path().join("dry");
    let third = run(&["--dry-run", dry.to_str().unwrap_or_default()])?;
    ensure!(third.contains("wrote inrep.test"), "dry run:\n{third}");
    for (domain, sent_xml) in [("inrep.test", &xml[0]), ("extrep.test", &xml[1])] {
        let file = std::fs::read_dir(&dry)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| {
                let n = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                n.contains(&format!("!{domain}!")) && n.ends_with(".xml.gz")
            })
            .ok_or_else(|| format!("dry run wrote no file for {domain}"))?;
        let gz = std::fs::read(&file).map_err(|e| e.to_string())?;
        ensure!(
            gunzip(&gz)? == *sent_xml,
            "{domain}: the dry run's XML differs from the sent one"
        );
    }
    ensure!(sent == 6, "sent {sent}");
    Ok(())
}

/// The XML of a delivered report: its base64 gzip attachment, unpacked.
fn report_xml(message: &str) -> Result<String, String> {
    let msg = mail_parser::MessageParser::new()
        .parse(message.as_bytes())
        .ok_or("report does not parse")?;
    let part = msg
        .attachments()
        .find(|a| {
            mail_parser::MimeHeaders::attachment_name(*a).is_some_and(|n| n.ends_with(".xml.gz"))
        })
        .ok_or("no .xml.gz attachment")?;
    gunzip(part.contents())
}

fn gunzip(gz: &[u8]) -> Result<String, String> {
    use std::io::Read;
    let mut s = String::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_string(&mut s)
        .map_err(|e| format!("gunzip: {e}"))?;
    Ok(s)
}

/// Checks the report against RFC 9990's structure with
/// tests/support/dmarc_report_check.py, and what it says of the domain.
fn check_report_xml(xml: &str, domain: &str, messages: u64) -> Result<(), String> {
    use std::io::Write;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/support/dmarc_report_check.py"
    );
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    child
        .stdin
        .take()
        .ok_or("stdin")?
        .write_all(xml.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    ensure!(
        out.status.success(),
        "{domain}: report does not follow RFC 9990: {}\n{xml}",
        String::from_utf8_lossy(&out.stderr)
    );
    let counted: u64 = xml
        .split("<count>")
        .skip(1)
        .filter_map(|s| s.split('<').next()?.parse::<u64>().ok())
        .sum();
    ensure!(
        xml.contains(&format!("<domain>{domain}</domain>")) && counted == messages,
        "{domain}: {counted} messages in\n{xml}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Monitoring: the counters a dashboard reads move with real traffic.

fn metrics_scrape(h: &Harness) -> Result<(), String> {
    let m = h.milter("metered")?;
    let good = Mail::new("metrics-pass", "Test Bank <alerts@bank.test>", RCPT);
    let raw = dkim_sign(&good.render(), "bank.test", SELECTOR)?;
    let r = h.send("metered", "bounce@bank.test", RCPT, &raw, None)?;
    ensure!(r.accepted(), "{r}");
    h.wait_delivered(&good.marker)?;
    let bad = forged_mail("metrics-reject");
    let r = h.send(
        "metered-proxy",
        "security@bank.test",
        RCPT,
        &bad.render(),
        Some(EXTERNAL),
    )?;
    ensure!(r.code == 550, "{r}");
    // Postfix closes its milter connection when the SMTP session ends,
    // after the reply the sender saw: wait for the gauge to settle.
    let deadline = std::time::Instant::now() + common::WAIT;
    let (status, text) = loop {
        let (status, text) = common::http_get(m.metrics_addr, "/metrics")?;
        if text.contains("kinko_connections_active 0") || std::time::Instant::now() > deadline {
            break (status, text);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    ensure!(status == 200, "/metrics answered {status}");
    for series in [
        "kinko_messages_total{action=\"accept\"} 1",
        "kinko_messages_total{action=\"reject\"} 1",
        "kinko_auth_results_total{method=\"dmarc\",result=\"pass\"} 1",
        "kinko_auth_results_total{method=\"dmarc\",result=\"fail\"} 1",
        "kinko_findings_total{kind=\"dmarc-reject\"} 1",
        "kinko_arc_override_total 0",
        "kinko_eom_duration_seconds_count 2",
        "kinko_connections_active 0",
    ] {
        ensure!(
            text.contains(series),
            "missing `{series}` in scrape:\n{text}"
        );
    }
    let (status, ready) = common::http_get(m.metrics_addr, "/ready")?;
    ensure!(
        status == 200 && ready.starts_with("ready"),
        "/ready: {status} {ready}"
    );
    // The exposition format as Prometheus's own linter reads it.
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("promtool (Debian package prometheus): {e}"))?;
    promtool
        .stdin
        .take()
        .ok_or("promtool stdin")?
        .write_all(text.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = promtool.wait_with_output().map_err(|e| e.to_string())?;
    ensure!(
        out.status.success(),
        "promtool check metrics:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// What Postfix does when the milter is not there.

/// Senders on two listeners (milter_default_action tempfail and accept)
/// while the milter is killed with SIGKILL halfway. Every message Postfix
/// accepted is delivered exactly once; with tempfail, the rest were refused
/// with 4xx (the sender still has them); with accept, all are delivered.
fn milter_killed_in_flight(h: &Harness) -> Result<(), String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    const PER_SENDER: usize = 12;
    let victim = h.milter("victim")?;
    let sent = Arc::new(AtomicUsize::new(0));
    let results = std::thread::scope(|scope| {
        let mut senders = Vec::new();
        for (i, listener) in ["victim-tempfail", "victim-accept"]
            .iter()
            .cycle()
            .take(4)
            .enumerate()
        {
            let sent = sent.clone();
            senders.push(scope.spawn(move || {
                let mut out = Vec::new();
                for n in 0..PER_SENDER {
                    let mail = Mail::new(
                        &format!("kill-{i}-{n}"),
                        "Test Bank <alerts@bank.test>",
                        RCPT,
                    );
                    let raw = dkim_sign(&mail.render(), "bank.test", SELECTOR);
                    let r =
                        raw.and_then(|raw| h.send(listener, "bounce@bank.test", RCPT, &raw, None));
                    sent.fetch_add(1, Ordering::Relaxed);
                    out.push((*listener, mail.marker, r));
                }
                out
            }));
        }
        // Kill once about a third of the mail is through.
        let start = std::time::Instant::now();
        while sent.load(Ordering::Relaxed) < 4 * PER_SENDER / 3 && start.elapsed() < common::WAIT {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        victim.kill();
        senders
            .into_iter()
            .flat_map(|s| s.join().unwrap_or_default())
            .collect::<Vec<_>>()
    });
    let (mut accepted, mut refused) = (0, 0);
    for (listener, marker, r) in &results {
        let r = r.as_ref().map_err(|e| format!("{marker}: {e}"))?;
        if r.accepted() {
            accepted += 1;
            h.wait_delivered(marker)?;
        } else {
            ensure!(
                *listener == "victim-tempfail" && r.is_temporary(),
                "{listener}: {marker} got {r}"
            );
            refused += 1;
        }
    }
    // Give duplicates, if Postfix made any, time to arrive before counting.
    std::thread::sleep(std::time::Duration::from_millis(500));
    for (_, marker, r) in &results {
        let n = h.delivered_count(marker);
        let want = usize::from(r.as_ref().is_ok_and(|r| r.accepted()));
        ensure!(n == want, "{marker}: delivered {n} times, expected {want}");
    }
    ensure!(
        refused > 0 && accepted > 4 * PER_SENDER / 3,
        "the kill should split the run: {accepted} accepted, {refused} refused"
    );
    Ok(())
}

/// Sends one plain message to a listener whose milter is down.
fn send_to_down_listener(h: &Harness, listener: &str) -> Result<(Mail, SmtpOutcome), String> {
    let mail = Mail::new(listener, "someone@sender.example", RCPT);
    let r = h.send(
        listener,
        "someone@sender.example",
        RCPT,
        &mail.render(),
        None,
    )?;
    Ok((mail, r))
}

fn milter_down_tempfail(h: &Harness) -> Result<(), String> {
    let (_, r) = send_to_down_listener(h, "down-tempfail")?;
    ensure!(
        r.is_temporary(),
        "milter_default_action=tempfail with no milter should answer 4xx, got {r}"
    );
    Ok(())
}

fn milter_down_accept(h: &Harness) -> Result<(), String> {
    let (mail, r) = send_to_down_listener(h, "down-accept")?;
    ensure!(
        r.accepted(),
        "milter_default_action=accept with no milter: {r}"
    );
    let got = h.wait_delivered(&mail.marker)?;
    ensure!(
        our_auth_results(&got).is_empty(),
        "no milter ran, yet our Authentication-Results is present"
    );
    Ok(())
}
