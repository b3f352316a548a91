//! `kinko-milter dmarc-report …`: one period's aggregate reports, each
//! checked, written and sent at most once, safe to run from cron.

use crate::commands::dmarc_report::{
    file_name, gzip, message, report_id, xml_report, Aggregate, Published, Reporter,
};
use crate::settings::config::Config;
use crate::vocab::domain;
use clap::Args;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct DmarcReportArgs {
    /// Files of the daemon's JSON verdict lines (or `journalctl -o json`),
    /// from any number of hosts; none or `-` reads standard input.
    inputs: Vec<PathBuf>,
    /// kinko-milter configuration: its DNS resolver, and its authserv-id as
    /// the receiver's name.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The UTC day to report (YYYY-MM-DD); default: yesterday.
    #[arg(long)]
    day: Option<String>,
    /// The reporting organisation, in every report.
    #[arg(long)]
    org_name: String,
    /// The reporting address: report_metadata's email and the sender.
    #[arg(long)]
    email: String,
    /// Reports sent, one `DOMAIN DAY REPORT-ID` a line: a rerun sends
    /// nothing twice.
    #[arg(long, default_value = "/var/lib/kinko-milter/dmarc-reports.sent")]
    state: PathBuf,
    /// Write the reports (.xml.gz and the .eml that would be sent) to this
    /// folder instead of sending them; the state file is left as it is.
    #[arg(long)]
    dry_run: Option<PathBuf>,
    /// Never report on this policy domain nor send to this destination
    /// domain (repeat).
    #[arg(long)]
    exclude: Vec<String>,
    /// A compressed report larger than this is not sent (logged).
    #[arg(long, default_value_t = 5 * 1024 * 1024)]
    max_bytes: usize,
    /// At most this many reports per destination domain in one run.
    #[arg(long, default_value_t = 50)]
    per_destination: usize,
    /// The sendmail program the reports go through.
    #[arg(long, default_value = "/usr/sbin/sendmail")]
    sendmail: PathBuf,
    /// Also write the run's counts here, for node_exporter's textfile
    /// collector.
    #[arg(long)]
    metrics_file: Option<PathBuf>,
}

pub fn main(args: DmarcReportArgs) -> i32 {
    match run(&args) {
        Ok(c) => {
            if let Some(p) = &args.metrics_file {
                if let Err(e) = c.write_metrics(p) {
                    eprintln!("dmarc-report: {}: {e}", p.display());
                    return 1;
                }
            }
            i32::from(c.failed.values().sum::<u64>() > 0)
        }
        Err(e) => {
            eprintln!("dmarc-report: {e}");
            2
        }
    }
}

/// What one run did.
#[derive(Debug, Default)]
pub struct Counts {
    pub rows: u64,
    pub written: u64,
    pub sent: u64,
    /// Domains not reported, by cause.
    pub skipped: BTreeMap<&'static str, u64>,
    /// Reports not sent, by cause.
    pub failed: BTreeMap<&'static str, u64>,
}

impl Counts {
    fn write_metrics(&self, path: &Path) -> std::io::Result<()> {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(s, "# HELP kinko_dmarc_report_rows Report rows of the last run.\n# TYPE kinko_dmarc_report_rows gauge\nkinko_dmarc_report_rows {}", self.rows);
        let _ = writeln!(s, "# HELP kinko_dmarc_reports Reports of the last run, by outcome.\n# TYPE kinko_dmarc_reports gauge");
        let _ = writeln!(
            s,
            "kinko_dmarc_reports{{outcome=\"written\"}} {}",
            self.written
        );
        let _ = writeln!(s, "kinko_dmarc_reports{{outcome=\"sent\"}} {}", self.sent);
        for (cause, n) in &self.skipped {
            let _ = writeln!(
                s,
                "kinko_dmarc_reports{{outcome=\"skipped\",cause=\"{cause}\"}} {n}"
            );
        }
        for (cause, n) in &self.failed {
            let _ = writeln!(
                s,
                "kinko_dmarc_reports{{outcome=\"failed\",cause=\"{cause}\"}} {n}"
            );
        }
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, s)?;
        std::fs::rename(tmp, path)
    }
}

fn yesterday() -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

/// The period's first and last second, UTC.
fn day_range(day: &str) -> Result<(i64, i64), String> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(day, &fmt).map_err(|_| format!("--day `{day}` is not YYYY-MM-DD"))?;
    let begin = d.midnight().assume_utc().unix_timestamp();
    Ok((begin, begin + 86_399))
}

fn read_inputs(inputs: &[PathBuf], day: &str) -> Result<Aggregate, String> {
    let mut agg = Aggregate::default();
    let stdin = inputs.is_empty() || inputs.iter().any(|p| p.as_os_str() == "-");
    for p in inputs.iter().filter(|p| p.as_os_str() != "-") {
        let f = std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?;
        agg.read(std::io::BufReader::new(f), day)
            .map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if stdin {
        agg.read(std::io::stdin().lock(), day)
            .map_err(|e| format!("stdin: {e}"))?;
    }
    Ok(agg)
}

fn sent_before(state: &Path) -> BTreeSet<(String, String)> {
    std::fs::read_to_string(state)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            Some((w.next()?.to_string(), w.next()?.to_string()))
        })
        .collect()
}

/// DNS answers the run needs: the policy records and the external
/// destinations' consent (RFC 9990 §3).
struct Dns {
    resolver: mail_auth::MessageAuthenticator,
    rt: tokio::runtime::Runtime,
}

impl Dns {
    fn new(cfg: &Config) -> Result<Dns, String> {
        let upstream = cfg.upstream()?;
        let resolver = crate::auth::dns::resolver(&upstream, cfg.dns_timeout(), cfg.dns.attempts)
            .map_err(|e| format!("DNS resolver: {e}"))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("runtime: {e}"))?;
        Ok(Dns { resolver, rt })
    }

    fn txt(&self, name: &str) -> Option<String> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        self.rt
            .block_on(self.resolver.txt_raw_lookup(fqdn.as_str()))
            .ok()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
    }

    /// The policy domain's record as published now. The period's lines
    /// carry what was evaluated; the record supplies the rest of
    /// `policy_published` and where to send.
    fn published(&self, domain: &str) -> Option<Published> {
        Published::parse(domain, &self.txt(&format!("_dmarc.{domain}"))?)
    }

    /// Whether `dest` agreed to receive `domain`'s reports: its own
    /// organisation, or a `DOMAIN._report._dmarc.DEST` record.
    fn accepts(&self, domain: &str, dest: &str) -> bool {
        if domain::registrable(domain) == domain::registrable(dest) {
            return true;
        }
        self.txt(&format!("{domain}._report._dmarc.{dest}"))
            .is_some_and(|t| t.trim_start().to_ascii_lowercase().starts_with("v=dmarc1"))
    }
}

fn run(args: &DmarcReportArgs) -> Result<Counts, String> {
    let cfg = match &args.config {
        Some(p) => Config::load(p).map_err(|e| e.to_string())?,
        None => Config::default(),
    };
    let day = args.day.clone().unwrap_or_else(yesterday);
    let (begin, end) = day_range(&day)?;
    let agg = read_inputs(&args.inputs, &day)?;
    let dns = Dns::new(&cfg)?;
    let reporter = Reporter {
        org_name: args.org_name.clone(),
        email: args.email.clone(),
        receiver: cfg.authserv_id.clone(),
    };
    let excluded = |d: &str| {
        args.exclude
            .iter()
            .any(|x| domain::is_within(d, &x.to_ascii_lowercase()))
    };
    let sent = sent_before(&args.state);
    let mut per_dest: BTreeMap<String, usize> = BTreeMap::new();
    let mut c = Counts {
        rows: agg.rows,
        ..Counts::default()
    };
    println!(
        "{day}: {} verdict rows for {} policy domains ({} duplicate lines, {} unreadable)",
        agg.rows,
        agg.domains.len(),
        agg.duplicates,
        agg.unreadable
    );
    let skip = |c: &mut Counts, cause: &'static str, domain: &str, why: String| {
        *c.skipped.entry(cause).or_default() += 1;
        println!("skipped {domain}: {why}");
    };
    for (domain, rows) in &agg.domains {
        if excluded(domain) {
            skip(&mut c, "excluded", domain, "excluded".into());
            continue;
        }
        let id = report_id(&reporter.receiver, domain, &day);
        if args.dry_run.is_none() && sent.contains(&(domain.clone(), day.clone())) {
            skip(
                &mut c,
                "already_sent",
                domain,
                format!("report {id} was sent before"),
            );
            continue;
        }
        let Some(published) = dns.published(domain) else {
            skip(&mut c, "no_record", domain, "no DMARC record now".into());
            continue;
        };
        let mut to = Vec::new();
        for addr in &published.rua {
            let dest = domain::of_address(addr).unwrap_or_default();
            if excluded(&dest) {
                println!("  {domain}: destination {addr} excluded");
            } else if !dns.accepts(domain, &dest) {
                println!("  {domain}: {addr} is outside {domain} and {domain}._report._dmarc.{dest} does not accept its reports");
            } else if per_dest.get(&dest).copied().unwrap_or(0) >= args.per_destination {
                println!(
                    "  {domain}: {addr} already got {} reports this run",
                    args.per_destination
                );
            } else {
                to.push((addr.clone(), dest));
            }
        }
        if to.is_empty() {
            skip(
                &mut c,
                "no_destination",
                domain,
                "no rua destination that accepts it".into(),
            );
            continue;
        }
        if rows.dropped > 0 {
            println!(
                "  {domain}: {} messages left out: past {} distinct rows for the domain or {} in all",
                rows.dropped,
                crate::commands::dmarc_report::MAX_ROWS_PER_DOMAIN,
                crate::commands::dmarc_report::MAX_ROWS
            );
        }
        let xml = xml_report(&reporter, &published, rows, &id, begin, end);
        let gz = gzip(xml.as_bytes());
        if gz.len() > args.max_bytes {
            *c.failed.entry("too_large").or_default() += 1;
            println!(
                "not sent {domain}: {} bytes compressed, over --max-bytes {}",
                gz.len(),
                args.max_bytes
            );
            continue;
        }
        let file = file_name(&reporter.receiver, domain, begin, end, &id);
        let addrs: Vec<String> = to.iter().map(|(a, _)| a.clone()).collect();
        let date =
            crate::commands::quarantine::rfc3339(time::OffsetDateTime::now_utc().unix_timestamp());
        let mail = message(&reporter, &addrs, domain, &id, &file, &gz, &date);
        for (_, dest) in &to {
            *per_dest.entry(dest.clone()).or_default() += 1;
        }
        c.written += 1;
        if let Some(dir) = &args.dry_run {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::write(dir.join(&file), &gz).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::write(dir.join(format!("{file}.eml")), &mail)
                .map_err(|e| format!("{}: {e}", dir.display()))?;
            println!(
                "wrote {domain}: {} rows, {} bytes, for {}",
                rows.rows.len(),
                gz.len(),
                addrs.join(", ")
            );
            continue;
        }
        match sendmail(&args.sendmail, &args.email, &addrs, &mail) {
            Ok(()) => {
                c.sent += 1;
                record(&args.state, domain, &day, &id)?;
                println!(
                    "sent {domain}: {} rows, {} bytes, to {}",
                    rows.rows.len(),
                    gz.len(),
                    addrs.join(", ")
                );
            }
            Err(e) => {
                *c.failed.entry("sendmail").or_default() += 1;
                println!("not sent {domain}: {e}");
            }
        }
    }
    Ok(c)
}

fn record(state: &Path, domain: &str, day: &str, id: &str) -> Result<(), String> {
    if let Some(dir) = state.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(state)
        .map_err(|e| format!("{}: {e}", state.display()))?;
    writeln!(f, "{domain} {day} {id}").map_err(|e| format!("{}: {e}", state.display()))
}

/// Hands the report to the local MTA: `sendmail -oi -f FROM -- TO…`.
fn sendmail(program: &Path, from: &str, to: &[String], mail: &[u8]) -> Result<(), String> {
    let mut child = std::process::Command::new(program)
        .args(["-oi", "-f", from, "--"])
        .args(to)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(mail)
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let status = child.wait().map_err(|e| e.to_string())?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("{} exited with {status}", program.display()))
}
