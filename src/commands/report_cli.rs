//! `kinko-milter report …`: reading the log lines and printing the report.

use crate::analysis::policy::Policy;
use crate::commands::report::{classify, Csv, Line, Sighting};
use crate::commands::report_dmarc::DmarcView;
use crate::commands::report_group::{Campaign, Dimension, Filter, Report, Row, DEFAULT_DIMENSIONS};
use crate::settings::config::Config;
use clap::{Args, ValueEnum};
use std::io::BufRead;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Files of verdict log lines: the daemon's JSON lines (`log_format =
    /// "json"`, `journalctl -o json`) or its text lines; none or `-` reads
    /// standard input.
    files: Vec<PathBuf>,
    /// Output format of the report. The table shows brands per day, then
    /// campaigns; csv and json show brands, or campaigns with `--campaigns`,
    /// or the DMARC view with `--dmarc`.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Print campaigns (flagged mail alike in the `--group-by` dimensions,
    /// with held and delivered counts, recipients counted, queue ids)
    /// instead of brands per day.
    #[arg(long)]
    campaigns: bool,
    /// What tells campaigns apart (comma-separated): day, brand, link-host,
    /// sender-domain (the header From), network (the client's /24 or /48).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = DEFAULT_DIMENSIONS.to_vec())]
    group_by: Vec<Dimension>,
    /// Print instead the indicators that a finding points at (lookalike
    /// sender domains as `http://DOMAIN`, link hosts judged lookalike,
    /// credential pages, bare-IP links, form targets, feed hits, QR
    /// targets; never the brands' own domains) in JPCERT/CC's phishing URL
    /// list format (`date,URL,description`; description = brands, then
    /// `kind=… confidence=… on=…`).
    #[arg(long)]
    export_jpcert: bool,
    /// At most this many indicator rows, newest first.
    #[arg(long, default_value_t = 10_000)]
    limit: usize,
    /// The least sure indicators exported: `high` (lookalikes of a protected
    /// domain, feed hits) or `medium` (everything with evidence).
    #[arg(long, value_parser = ["high", "medium"], default_value = "medium")]
    confidence: String,
    /// Print instead the DMARC results of mail whose header From is a
    /// protected brand's own or authorised domain (the brands of the
    /// policy: `--policy`, else the `--config`'s, else the built-in
    /// example): per policy domain, messages, DMARC pass, fail and none,
    /// the policy evaluated, the disposition applied and our overrides, and
    /// the client networks whose mail failed with their SPF and DKIM
    /// domains and results. `--brand` picks one brand's domains.
    #[arg(long, conflicts_with_all = ["campaigns", "export_jpcert"])]
    dmarc: bool,
    /// kinko-milter configuration whose policy files name the protected
    /// brands, for `--dmarc`.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// Policy files naming the protected brands, for `--dmarc` (default:
    /// the configuration's, or the built-in example).
    #[arg(long = "policy")]
    policies: Vec<PathBuf>,
    /// Only mail naming this brand id (`(none)`: mail naming no brand), in
    /// every view and the export; with `--dmarc`, mail from this brand's
    /// domains.
    #[arg(long)]
    brand: Option<String>,
    /// Only lines of this day (YYYY-MM-DD, UTC) or later, in every view and
    /// the export.
    #[arg(long)]
    since: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Format {
    Table,
    Csv,
    Json,
}

/// A log line longer than this is not ours: skipped, not buffered whole.
const MAX_LINE: usize = 64 * 1024;

pub fn main(args: ReportArgs) -> i32 {
    match run(&args) {
        Ok(out) => {
            print!("{out}");
            0
        }
        Err(e) => {
            eprintln!("kinko-milter report: {e}");
            2
        }
    }
}

/// How many input lines were what, for the note on standard error.
#[derive(Debug, Default)]
struct Counts {
    verdicts: usize,
    unreadable: usize,
}

fn read(
    add: &mut dyn FnMut(&Sighting),
    counts: &mut Counts,
    input: impl BufRead,
    name: &str,
) -> Result<(), String> {
    for line in input.split(b'\n') {
        let line = line.map_err(|e| format!("{name}: {e}"))?;
        if line.trim_ascii().is_empty() {
            continue;
        }
        if line.len() > MAX_LINE {
            counts.unreadable += 1;
            continue;
        }
        match classify(&String::from_utf8_lossy(&line)) {
            Line::Verdict(s) => {
                counts.verdicts += 1;
                add(&s);
            }
            Line::Other => {}
            Line::Unreadable => counts.unreadable += 1,
        }
    }
    Ok(())
}

fn run(args: &ReportArgs) -> Result<String, String> {
    if let Some(d) = &args.since {
        time::Date::parse(
            d,
            &time::macros::format_description!("[year]-[month]-[day]"),
        )
        .map_err(|_| format!("--since {d:?}: expected YYYY-MM-DD"))?;
    }
    let filter = Filter {
        brand: args.brand.clone(),
        since: args.since.clone(),
    };
    let mut report = Report::new(filter, &args.group_by);
    let mut counts = Counts::default();
    if args.dmarc {
        let (name, brands) = protected_brands(args)?;
        let mut view = DmarcView::new(&brands, args.brand.as_deref(), args.since.clone())?;
        read_all(args, &mut |s| view.add(s), &mut counts)?;
        say_counts(&counts)?;
        let rows = view.rows();
        return match args.format {
            Format::Table => Ok(crate::commands::report_dmarc::table(
                &rows,
                &name,
                counts.verdicts,
            )),
            Format::Csv => crate::commands::report_dmarc::csv(&rows),
            Format::Json => json(&rows),
        };
    }
    read_all(args, &mut |s| report.add(s), &mut counts)?;
    say_counts(&counts)?;
    if report.without_indicators > 0 {
        eprintln!(
            "kinko-milter report: {} flagged line(s) predate the indicators field and \
             export nothing (their urls were every link of the mail)",
            report.without_indicators
        );
    }
    if report.unflagged_dropped > 0 {
        eprintln!(
            "kinko-milter report: {} link host(s) of unflagged mail past the bound of \
             {} were not counted into campaigns",
            report.unflagged_dropped,
            crate::commands::report_group::MAX_UNFLAGGED_HOSTS
        );
    }
    if args.export_jpcert {
        return report.export(args.limit, &args.confidence);
    }
    let rows: Vec<&Row> = report.rows().collect();
    let campaigns = report.campaigns();
    match (args.format, args.campaigns) {
        (Format::Json, false) => json(&rows),
        (Format::Json, true) => json(&campaigns),
        (Format::Csv, false) => csv(&rows),
        (Format::Csv, true) => campaigns_csv(&campaigns),
        (Format::Table, only) => Ok(table(
            if only { &[] } else { &rows[..] },
            &campaigns,
            counts.verdicts,
        )),
    }
}

/// The files, or standard input, line by line into `add`.
fn read_all(
    args: &ReportArgs,
    add: &mut dyn FnMut(&Sighting),
    counts: &mut Counts,
) -> Result<(), String> {
    let stdin_only = args.files.is_empty() || args.files.iter().all(|f| f.as_os_str() == "-");
    if stdin_only {
        return read(add, counts, std::io::stdin().lock(), "stdin");
    }
    for f in &args.files {
        if f.as_os_str() == "-" {
            read(add, counts, std::io::stdin().lock(), "stdin")?;
            continue;
        }
        let file = std::fs::File::open(f).map_err(|e| format!("{}: {e}", f.display()))?;
        read(
            add,
            counts,
            std::io::BufReader::new(file),
            &f.display().to_string(),
        )?;
    }
    Ok(())
}

/// The note on standard error, always said, so a count of zero is seen to
/// have been checked; an input of nothing readable is an error.
fn say_counts(counts: &Counts) -> Result<(), String> {
    eprintln!(
        "kinko-milter report: {} verdict line(s) read, {} input line(s) could not be read \
         (neither JSON nor the daemon's text log lines)",
        counts.verdicts, counts.unreadable
    );
    if counts.unreadable > 0 && counts.verdicts == 0 {
        return Err("no verdict line could be read from the input".into());
    }
    Ok(())
}

/// The protected brands for `--dmarc`, and the policy's name and version
/// for the table's heading.
fn protected_brands(
    args: &ReportArgs,
) -> Result<(String, Vec<crate::policy::data::Brand>), String> {
    let cfg = match &args.config {
        Some(p) => Config::load(p).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    let from_config = args.policies.is_empty();
    let paths = if from_config {
        cfg.policy.clone()
    } else {
        args.policies.clone()
    };
    let policy = Policy::load_files(&paths).map_err(|e| match &args.config {
        Some(f) if from_config => e.referred_by(&f.display().to_string(), "policy"),
        _ => e.to_string(),
    })?;
    let name = format!(
        "policy {} {}, {}",
        policy.name,
        policy.version,
        policy.brands_counted()
    );
    Ok((name, policy.brands))
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, String> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| e.to_string())
}

fn counted(m: &std::collections::BTreeMap<String, usize>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, n)| format!("{k}={n}")).collect();
    parts.join(" ")
}

fn campaigns_csv(campaigns: &[Campaign]) -> Result<String, String> {
    let mut w = Csv::default();
    w.row([
        "day",
        "brand",
        "link_host",
        "sender_domain",
        "network",
        "messages",
        "held",
        "delivered",
        "delivered_unflagged",
        "recipients",
        "delivered_recipients",
        "client_hosts",
        "networks",
        "kinds",
        "queue_ids",
        "first_seen",
        "last_seen",
    ])?;
    for c in campaigns {
        w.row([
            c.day.clone(),
            c.brand.clone(),
            c.link_host.clone(),
            c.sender_domain.clone(),
            c.network.clone(),
            c.messages.to_string(),
            c.held.to_string(),
            c.delivered.to_string(),
            c.delivered_unflagged.to_string(),
            c.recipients.to_string(),
            c.delivered_recipients.to_string(),
            c.client_hosts.to_string(),
            counted(&c.networks),
            counted(&c.kinds),
            c.queue_ids.join(" "),
            c.first_seen.clone(),
            c.last_seen.clone(),
        ])?;
    }
    w.finish()
}

fn joined<'a>(items: impl IntoIterator<Item = &'a String>) -> String {
    items.into_iter().cloned().collect::<Vec<_>>().join(" ")
}

fn kinds(r: &Row) -> String {
    let parts: Vec<String> = r.kinds.iter().map(|(k, n)| format!("{k}={n}")).collect();
    parts.join(" ")
}

fn csv(rows: &[&Row]) -> Result<String, String> {
    let mut w = Csv::default();
    w.row([
        "brand",
        "day",
        "messages",
        "tag",
        "quarantine",
        "reject",
        "kinds",
        "lookalike_domains",
        "url_hosts",
        "first_seen",
        "last_seen",
    ])?;
    for r in rows {
        let a = |k: &str| r.actions.get(k).copied().unwrap_or(0).to_string();
        w.row([
            r.brand.clone(),
            r.day.clone(),
            r.messages.to_string(),
            a("tag"),
            a("quarantine"),
            a("reject"),
            kinds(r),
            joined(&r.lookalike_domains),
            joined(&r.url_hosts),
            r.first_seen.clone(),
            r.last_seen.clone(),
        ])?;
    }
    w.finish()
}

fn table(rows: &[&Row], campaigns: &[Campaign], verdicts: usize) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if campaigns.is_empty() {
        let _ = writeln!(s, "no flagged mail in {verdicts} verdict line(s)");
        return s;
    }
    for r in rows {
        let _ = writeln!(
            s,
            "{}  {}  {} message(s)  first {}  last {}",
            r.brand, r.day, r.messages, r.first_seen, r.last_seen
        );
        let _ = writeln!(s, "    kinds:     {}", kinds(r));
        if !r.lookalike_domains.is_empty() {
            let _ = writeln!(s, "    lookalike: {}", joined(&r.lookalike_domains));
        }
        if !r.url_hosts.is_empty() {
            let _ = writeln!(s, "    url hosts: {}", joined(&r.url_hosts));
        }
    }
    if !rows.is_empty() {
        let _ = writeln!(s);
    }
    for c in campaigns {
        let _ = writeln!(
            s,
            "campaign {}  {}  link {}  from {}  net {}",
            c.day, c.brand, c.link_host, c.sender_domain, c.network
        );
        let _ = writeln!(
            s,
            "    {} flagged: {} held, {} delivered; {} unflagged delivered; {} recipient(s), {} delivered to",
            c.messages, c.held, c.delivered, c.delivered_unflagged, c.recipients, c.delivered_recipients
        );
        let _ = writeln!(
            s,
            "    {} client host(s) in {}  first {}  last {}",
            c.client_hosts,
            counted(&c.networks),
            c.first_seen,
            c.last_seen
        );
        let _ = writeln!(s, "    queue ids: {}", c.queue_ids.join(" "));
    }
    s
}
