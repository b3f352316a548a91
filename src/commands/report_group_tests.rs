use super::*;
use crate::commands::report::{classify, parse_line, Line};

/// A JSON verdict line as the daemon writes it.
fn line(ts: &str, brands: &str, action: &str, ip: &str, queue_id: &str) -> String {
    // Under dry run the action is accept and the policy's is kept: the
    // "accept" line here is of unflagged mail.
    let policy_action = action;
    format!(
        r#"{{"timestamp":"{ts}","level":"INFO","fields":{{"message":"verdict","queue_id":"{queue_id}","client_ip":"{ip}","from_domain":"smbc.co.jp","action":"{action}","policy_action":"{policy_action}","findings":["tld-swap","link-lookalike"],"brands":{brands},"lookalike_domains":["smbc.co.com"],"url_hosts":["smbc-card.example.evil"],"urls":["https://smbc-card.example.evil/login"],"indicators":[{{"kind":"tld-swap","value":"smbc.co.com","on":["envelope-from"],"confidence":"high"}},{{"kind":"link-lookalike","value":"http://smbc-card.example.evil","on":["link"],"confidence":"high"}},{{"kind":"link-credential-path","value":"https://other.example/login","on":["qr"],"confidence":"medium"}}],"link_hosts":["smbc-card.example.evil","other.example"],"rcpts":2}},"target":"kinko_milter::daemon::session"}}"#
    )
}

fn accepted(ts: &str, host: &str, queue_id: &str) -> String {
    format!(
        r#"{{"timestamp":"{ts}","fields":{{"message":"verdict","queue_id":"{queue_id}","client_ip":"198.51.100.7","from_domain":"news.example","action":"accept","policy_action":"accept","findings":[],"brands":[],"link_hosts":["{host}"],"rcpts":3}}}}"#
    )
}

fn report_of(lines: &[String], filter: Filter, dims: &[Dimension]) -> Report {
    let mut r = Report::new(filter, dims);
    for l in lines {
        if let Line::Verdict(s) = classify(l) {
            r.add(&s);
        }
    }
    r
}

#[test]
fn lines_merge_per_brand_and_day_and_export_what_findings_point_at() {
    let journald = serde_json::json!({
        "MESSAGE": line("2026-11-30T09:00:00.5Z", r#"["smbc"]"#, "tag", "192.0.2.1", "Q1"),
        "_HOSTNAME": "mx2",
    })
    .to_string();
    let lines = [
        line(
            "2026-11-30T10:00:00.1Z",
            r#"["smbc"]"#,
            "quarantine",
            "192.0.2.2",
            "Q2",
        ),
        journald,
        line(
            "2026-12-01T01:00:00Z",
            r#"["smbc"]"#,
            "quarantine",
            "192.0.2.3",
            "Q3",
        ),
        line(
            "2026-12-01T02:00:00Z",
            r#"["smbc"]"#,
            "accept",
            "192.0.2.4",
            "Q4",
        ),
        "not json".into(),
    ];
    let r = report_of(&lines, Filter::default(), DEFAULT_DIMENSIONS);
    let rows: Vec<&Row> = r.rows().collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].messages, 2);
    assert_eq!(rows[0].first_seen, "2026-11-30T09:00:00.5Z");
    assert_eq!(rows[0].kinds["tld-swap"], 2);
    assert_eq!(rows[1].messages, 1);
    assert_eq!(
        r.export(10, "medium").unwrap(),
        "date,URL,description\n\
         2026/11/30 09:00:00,http://smbc-card.example.evil,smbc kind=link-lookalike confidence=high on=link\n\
         2026/11/30 09:00:00,http://smbc.co.com,smbc kind=tld-swap confidence=high on=envelope-from\n\
         2026/11/30 09:00:00,https://other.example/login,smbc kind=link-credential-path confidence=medium on=qr\n"
    );
    assert_eq!(r.export(1, "high").unwrap().lines().count(), 2);
    let bad = line(
        "2026-11-30T09:00:00Z",
        r#"["smbc"]"#,
        "tag",
        "192.0.2.1",
        "Q9",
    )
    .replace("smbc.co.com", "pedido%correiosbr.net");
    let r = report_of(&[bad], Filter::default(), DEFAULT_DIMENSIONS);
    assert!(!r.export(10, "medium").unwrap().contains("pedido"));
    // The URLs of the line's old `urls` field are not the export's.
    let old = r#"{"timestamp":"2026-11-30T09:00:00Z","fields":{"message":"verdict","policy_action":"tag","brands":["smbc"],"urls":["https://lists.example/listinfo/x"]}}"#;
    let r = report_of(&[old.to_string()], Filter::default(), DEFAULT_DIMENSIONS);
    assert_eq!(r.without_indicators, 1);
    assert_eq!(r.export(10, "medium").unwrap(), "date,URL,description\n");
}

/// Issue #22 item 3: one lure from three hosts of one network to twenty
/// recipients is one campaign, with what was held and what delivered, and
/// the unflagged mail that linked to its host.
#[test]
fn a_campaign_from_several_hosts_is_one_row_with_held_and_delivered() {
    let mut lines = Vec::new();
    for i in 0..9 {
        let action = if i < 6 { "quarantine" } else { "tag" };
        let ip = format!("192.0.2.{}", 10 + i % 3);
        lines.push(line(
            &format!("2026-12-07T10:0{i}:00Z"),
            r#"["smbc"]"#,
            action,
            &ip,
            &format!("Q{i}"),
        ));
    }
    lines.push(accepted(
        "2026-12-07T11:00:00Z",
        "smbc-card.example.evil",
        "QA",
    ));
    // Another day's unflagged mail to the host is not this day's campaign.
    lines.push(accepted(
        "2026-12-08T11:00:00Z",
        "smbc-card.example.evil",
        "QB",
    ));
    lines.push(accepted("2026-12-07T11:00:00Z", "unrelated.example", "QC"));
    let r = report_of(&lines, Filter::default(), DEFAULT_DIMENSIONS);
    let c = r.campaigns();
    assert_eq!(c.len(), 1, "{c:?}");
    let c = &c[0];
    assert_eq!(
        (
            c.day.as_str(),
            c.brand.as_str(),
            c.link_host.as_str(),
            c.sender_domain.as_str(),
            c.network.as_str()
        ),
        (
            "2026-12-07",
            "smbc",
            "smbc-card.example.evil",
            "smbc.co.jp",
            "-"
        )
    );
    assert_eq!((c.messages, c.held, c.delivered), (9, 6, 3));
    assert_eq!(c.delivered_unflagged, 1);
    assert_eq!(c.recipients, 9 * 2 + 3);
    assert_eq!(c.delivered_recipients, 3 * 2 + 3);
    assert_eq!(c.client_hosts, 3);
    assert_eq!(c.networks["192.0.2.0/24"], 9);
    assert_eq!(c.queue_ids.len(), 10);
    assert!(c.queue_ids.contains(&"QA".to_string()));
    assert_eq!(
        (c.first_seen.as_str(), c.last_seen.as_str()),
        ("2026-12-07T10:00:00Z", "2026-12-07T10:08:00Z")
    );
    // Grouped by network as well, the three hosts' /24 is still one row;
    // without the day, the other day's unflagged copy counts too.
    let by_net = report_of(
        &lines,
        Filter::default(),
        &[Dimension::Network, Dimension::LinkHost],
    );
    let c = by_net.campaigns();
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].network.as_str(), c[0].day.as_str()),
        ("192.0.2.0/24", "-")
    );
    assert_eq!(c[0].delivered_unflagged, 2);
}

#[test]
fn brand_and_since_filter_every_view_and_the_export() {
    let lines = [
        line(
            "2026-12-06T10:00:00Z",
            r#"["smbc"]"#,
            "quarantine",
            "192.0.2.1",
            "Q1",
        ),
        line(
            "2026-12-07T10:00:00Z",
            r#"["mufg"]"#,
            "quarantine",
            "192.0.2.1",
            "Q2",
        ),
        line("2026-12-07T11:00:00Z", "[]", "tag", "192.0.2.1", "Q3"),
    ];
    let since = Filter {
        since: Some("2026-12-07".into()),
        ..Default::default()
    };
    let r = report_of(&lines, since, DEFAULT_DIMENSIONS);
    let brands: Vec<&str> = r.rows().map(|r| r.brand.as_str()).collect();
    assert_eq!(brands, [NO_BRAND, "mufg"]);
    assert_eq!(r.campaigns().len(), 2);
    assert!(!r.export(10, "medium").unwrap().contains("2026/12/06"));
    let smbc = Filter {
        brand: Some("smbc".into()),
        ..Default::default()
    };
    let r = report_of(&lines, smbc, DEFAULT_DIMENSIONS);
    assert_eq!(r.rows().count(), 1);
    let c = r.campaigns();
    assert_eq!((c.len(), c[0].brand.as_str()), (1, "smbc"));
    let export = r.export(10, "medium").unwrap();
    assert!(
        export.lines().skip(1).all(|l| l.contains(",smbc kind=")),
        "{export}"
    );
    let none = Filter {
        brand: Some(NO_BRAND.into()),
        ..Default::default()
    };
    let r = report_of(&lines, none, DEFAULT_DIMENSIONS);
    assert_eq!(r.campaigns()[0].brand, NO_BRAND);
    assert!(parse_line(&lines[2]).is_some());
}

#[test]
fn networks_are_slash_24_and_slash_48() {
    assert_eq!(network("192.0.2.77"), "192.0.2.0/24");
    assert_eq!(network("2001:db8:1:2::5"), "2001:db8:1::/48");
    assert_eq!(network(""), "(unknown)");
    assert_eq!(host_of("https://a.example:8443/x"), "a.example");
    assert_eq!(host_of("smbc.co.com"), "smbc.co.com");
}
