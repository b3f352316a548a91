//! `kinko-milter report …`: reading the log lines and printing the report.

use crate::commands::report::{classify, Csv, Line, Report, Row};
use clap::{Args, ValueEnum};
use std::io::BufRead;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Files of JSON log lines (the daemon's with `log_format = "json"`, or
    /// `journalctl -o json`); none or `-` reads standard input.
    files: Vec<PathBuf>,
    /// Output format of the report.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Print instead the indicators (phishing URLs, lookalike domains as
    /// `http://DOMAIN`) in JPCERT/CC's phishing URL list format
    /// (`date,URL,description`, description = brand).
    #[arg(long)]
    export_jpcert: bool,
    /// At most this many indicator rows, newest first.
    #[arg(long, default_value_t = 10_000)]
    limit: usize,
    /// Only indicators first seen on or after this day (YYYY-MM-DD, UTC).
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
    report: &mut Report,
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
            Line::Flagged(s) => {
                counts.verdicts += 1;
                report.add(&s);
            }
            Line::Accepted => counts.verdicts += 1,
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
    let mut report = Report::default();
    let mut counts = Counts::default();
    let stdin_only = args.files.is_empty() || args.files.iter().all(|f| f.as_os_str() == "-");
    if stdin_only {
        read(&mut report, &mut counts, std::io::stdin().lock(), "stdin")?;
    } else {
        for f in &args.files {
            if f.as_os_str() == "-" {
                read(&mut report, &mut counts, std::io::stdin().lock(), "stdin")?;
                continue;
            }
            let file = std::fs::File::open(f).map_err(|e| format!("{}: {e}", f.display()))?;
            read(
                &mut report,
                &mut counts,
                std::io::BufReader::new(file),
                &f.display().to_string(),
            )?;
        }
    }
    if counts.unreadable > 0 {
        eprintln!(
            "kinko-milter report: {} input line(s) are not JSON log lines and were skipped \
             (the report reads the daemon's log_format = \"json\"); {} verdict line(s) read",
            counts.unreadable, counts.verdicts
        );
        if counts.verdicts == 0 {
            return Err("no verdict line could be read from the input".into());
        }
    }
    if args.export_jpcert {
        return report.export(args.limit, args.since.as_deref());
    }
    let rows: Vec<&Row> = report.rows().collect();
    match args.format {
        Format::Json => serde_json::to_string_pretty(&rows)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        Format::Csv => csv(&rows),
        Format::Table => Ok(table(&rows, counts.verdicts)),
    }
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

fn table(rows: &[&Row], verdicts: usize) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if rows.is_empty() {
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
    s
}
