//! What `report` makes of the verdict lines: per brand and day, per
//! campaign, and the takedown export. Every view sees the same filtered
//! lines ([`Filter`]), so `--brand` and `--since` mean one thing.

use crate::commands::report::{Csv, Sighting};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Flagged mail that names no brand is reported under this name.
pub const NO_BRAND: &str = "(none)";

/// Which lines every view reads.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Only mail naming this brand ([`NO_BRAND`] for mail naming none).
    pub brand: Option<String>,
    /// Only lines of this UTC day (`YYYY-MM-DD`) or later.
    pub since: Option<String>,
}

impl Filter {
    fn keeps(&self, s: &Sighting) -> bool {
        let day_ok = self.since.as_deref().is_none_or(|d| s.day() >= d);
        let brand_ok = self.brand.as_deref().is_none_or(|b| {
            s.brands.iter().any(|x| x == b) || (b == NO_BRAND && s.brands.is_empty())
        });
        day_ok && brand_ok
    }
}

/// What a campaign is told apart by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dimension {
    /// The UTC day of the verdict.
    Day,
    /// The brand the findings name.
    Brand,
    /// A host the mail links to.
    LinkHost,
    /// The header From domain.
    SenderDomain,
    /// The client's /24 (IPv4) or /48 (IPv6).
    Network,
}

/// The dimensions a campaign is grouped by unless told otherwise: one lure
/// sent from a botnet's many networks is one campaign, and the networks
/// are listed in its row.
pub const DEFAULT_DIMENSIONS: &[Dimension] = &[
    Dimension::Day,
    Dimension::Brand,
    Dimension::LinkHost,
    Dimension::SenderDomain,
];

/// One brand on one day.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub brand: String,
    pub day: String,
    pub messages: usize,
    pub actions: BTreeMap<String, usize>,
    /// Finding kinds, by the number of messages they fired in.
    pub kinds: BTreeMap<String, usize>,
    pub lookalike_domains: BTreeSet<String>,
    pub url_hosts: BTreeSet<String>,
    pub first_seen: String,
    pub last_seen: String,
}

/// One campaign: flagged mail alike in the chosen dimensions, and the
/// unflagged mail that linked to its host.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Campaign {
    /// The dimension values, `-` where a dimension is not grouped by.
    pub day: String,
    pub brand: String,
    pub link_host: String,
    pub sender_domain: String,
    pub network: String,
    /// Flagged messages, and how many of them were held (quarantined or
    /// rejected) or delivered (tagged, or accepted under dry run).
    pub messages: usize,
    pub held: usize,
    pub delivered: usize,
    /// Mail that was not flagged but linked to this campaign's host: what
    /// reached customers unmarked.
    pub delivered_unflagged: usize,
    /// Recipients of all of these: a count, never addresses.
    pub recipients: usize,
    pub delivered_recipients: usize,
    pub networks: BTreeMap<String, usize>,
    pub client_hosts: usize,
    pub kinds: BTreeMap<String, usize>,
    /// Queue ids of the campaign's messages, at most [`MAX_QUEUE_IDS`], to
    /// find them in the mail log and the hold queue.
    pub queue_ids: Vec<String>,
    pub first_seen: String,
    pub last_seen: String,
    #[serde(skip)]
    hosts: BTreeSet<String>,
}

/// Queue ids listed per campaign.
pub const MAX_QUEUE_IDS: usize = 50;
/// Distinct (link host, day) pairs of unflagged mail remembered: beyond it
/// the report still counts flagged mail, and says what it dropped.
pub const MAX_UNFLAGGED_HOSTS: usize = 200_000;

/// Unflagged mail linking to one host on one day.
#[derive(Debug, Clone, Default)]
struct Unflagged {
    messages: usize,
    recipients: usize,
    queue_ids: Vec<String>,
}

/// One indicator of the export.
#[derive(Debug, Clone, Default)]
struct Exported {
    first_seen: String,
    brands: BTreeSet<String>,
    kinds: BTreeSet<String>,
    on: BTreeSet<String>,
    confidence: String,
}

#[derive(Debug, Default)]
pub struct Report {
    pub filter: Filter,
    pub dimensions: Vec<Dimension>,
    rows: BTreeMap<(String, String), Row>,
    flagged: Vec<Sighting>,
    unflagged: BTreeMap<(String, String), Unflagged>,
    /// Unflagged hosts not remembered past [`MAX_UNFLAGGED_HOSTS`].
    pub unflagged_dropped: usize,
    exported: BTreeMap<String, Exported>,
    /// Flagged lines written before the line named its indicators: they
    /// export nothing.
    pub without_indicators: usize,
}

/// The client network of an address: `/24` or `/48`.
pub fn network(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => {
            let o = a.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        Ok(std::net::IpAddr::V6(a)) => {
            let s = a.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => "(unknown)".into(),
    }
}

/// How sure, as a rank: `high` 0, `medium` 1, anything else (a line
/// from a newer or damaged writer) 2, which no export takes.
fn rank(confidence: &str) -> u8 {
    match confidence {
        "high" => 0,
        "medium" => 1,
        _ => 2,
    }
}

/// The host of an indicator's value (`http://HOST/…` or a bare domain).
fn host_of(value: &str) -> &str {
    let rest = value.split_once("://").map_or(value, |(_, r)| r);
    rest.split(['/', ':', '?', '#']).next().unwrap_or(rest)
}

fn is_link(i: &crate::commands::report::Indicator) -> bool {
    i.on.iter()
        .any(|o| matches!(o.as_str(), "link" | "qr" | "form"))
}

/// The link host a flagged message is grouped under: the first a finding
/// pointed at, else the first it linked to.
fn link_host(s: &Sighting) -> String {
    let pointed = s
        .indicators
        .iter()
        .flatten()
        .find(|i| is_link(i))
        .map(|i| host_of(&i.value).to_string());
    pointed
        .or_else(|| s.url_hosts.first().cloned())
        .or_else(|| s.link_hosts.first().cloned())
        .unwrap_or_else(|| NO_BRAND.to_string())
}

impl Report {
    pub fn new(filter: Filter, dimensions: &[Dimension]) -> Report {
        Report {
            filter,
            dimensions: dimensions.to_vec(),
            ..Default::default()
        }
    }

    /// Takes one verdict line, flagged or not, if the filter keeps it.
    pub fn add(&mut self, s: &Sighting) {
        if !self.filter.keeps(s) {
            return;
        }
        if s.flagged() {
            self.add_flagged(s);
            return;
        }
        for host in &s.link_hosts {
            let key = (host.clone(), s.day().to_string());
            let room = self.unflagged.len() < MAX_UNFLAGGED_HOSTS;
            let u = match self.unflagged.get_mut(&key) {
                Some(u) => u,
                None if room => self.unflagged.entry(key).or_default(),
                None => {
                    self.unflagged_dropped += 1;
                    continue;
                }
            };
            u.messages += 1;
            u.recipients += s.rcpts;
            if u.queue_ids.len() < MAX_QUEUE_IDS && !s.queue_id.is_empty() {
                u.queue_ids.push(s.queue_id.clone());
            }
        }
    }

    fn brands_of(s: &Sighting) -> Vec<String> {
        if s.brands.is_empty() {
            vec![NO_BRAND.to_string()]
        } else {
            s.brands.clone()
        }
    }

    fn add_flagged(&mut self, s: &Sighting) {
        let day = s.day().to_string();
        let brands = Self::brands_of(s);
        for brand in &brands {
            let row = self
                .rows
                .entry((brand.clone(), day.clone()))
                .or_insert_with(|| Row {
                    brand: brand.clone(),
                    day: day.clone(),
                    first_seen: s.timestamp.clone(),
                    last_seen: s.timestamp.clone(),
                    ..Default::default()
                });
            row.messages += 1;
            *row.actions.entry(s.action.clone()).or_default() += 1;
            for k in &s.kinds {
                *row.kinds.entry(k.clone()).or_default() += 1;
            }
            row.lookalike_domains
                .extend(s.lookalike_domains.iter().cloned());
            row.url_hosts.extend(s.url_hosts.iter().cloned());
            row.first_seen = row.first_seen.clone().min(s.timestamp.clone());
            row.last_seen = row.last_seen.clone().max(s.timestamp.clone());
        }
        let Some(indicators) = &s.indicators else {
            self.without_indicators += 1;
            self.flagged.push(s.clone());
            return;
        };
        for i in indicators {
            // A sender domain is reported as JPCERT/CC lists sites: a URL.
            let value = if i.value.contains("://") {
                i.value.clone()
            } else {
                format!("http://{}", i.value)
            };
            let e = self.exported.entry(value).or_insert_with(|| Exported {
                first_seen: s.timestamp.clone(),
                confidence: i.confidence.clone(),
                ..Default::default()
            });
            e.first_seen = e.first_seen.clone().min(s.timestamp.clone());
            e.brands.extend(brands.iter().cloned());
            e.kinds.insert(i.kind.clone());
            e.on.extend(i.on.iter().cloned());
            // The surest finding that points at it wins.
            if rank(&i.confidence) < rank(&e.confidence) {
                e.confidence = i.confidence.clone();
            }
        }
        self.flagged.push(s.clone());
    }

    pub fn rows(&self) -> impl Iterator<Item = &Row> {
        self.rows.values()
    }

    fn grouped(&self, d: Dimension, value: impl FnOnce() -> String) -> String {
        if self.dimensions.contains(&d) {
            value()
        } else {
            "-".into()
        }
    }

    /// The campaigns, most messages first.
    pub fn campaigns(&self) -> Vec<Campaign> {
        let mut by_key: BTreeMap<[String; 5], Campaign> = BTreeMap::new();
        for s in &self.flagged {
            for brand in Self::brands_of(s) {
                let key = [
                    self.grouped(Dimension::Day, || s.day().to_string()),
                    self.grouped(Dimension::Brand, || brand.clone()),
                    self.grouped(Dimension::LinkHost, || link_host(s)),
                    self.grouped(Dimension::SenderDomain, || {
                        if s.from_domain.is_empty() {
                            NO_BRAND.to_string()
                        } else {
                            s.from_domain.clone()
                        }
                    }),
                    self.grouped(Dimension::Network, || network(&s.client_ip)),
                ];
                let c = by_key.entry(key.clone()).or_insert_with(|| {
                    let [day, brand, link_host, sender_domain, network] = key;
                    Campaign {
                        day,
                        brand,
                        link_host,
                        sender_domain,
                        network,
                        first_seen: s.timestamp.clone(),
                        last_seen: s.timestamp.clone(),
                        ..Default::default()
                    }
                });
                c.messages += 1;
                c.recipients += s.rcpts;
                if s.delivered() {
                    c.delivered += 1;
                    c.delivered_recipients += s.rcpts;
                } else {
                    c.held += 1;
                }
                *c.networks.entry(network(&s.client_ip)).or_default() += 1;
                c.hosts.insert(s.client_ip.clone());
                for k in &s.kinds {
                    *c.kinds.entry(k.clone()).or_default() += 1;
                }
                if c.queue_ids.len() < MAX_QUEUE_IDS && !s.queue_id.is_empty() {
                    c.queue_ids.push(s.queue_id.clone());
                }
                c.first_seen = c.first_seen.clone().min(s.timestamp.clone());
                c.last_seen = c.last_seen.clone().max(s.timestamp.clone());
            }
        }
        let mut out: Vec<Campaign> = by_key.into_values().collect();
        for c in &mut out {
            c.client_hosts = c.hosts.len();
            self.count_unflagged(c);
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.messages));
        out
    }

    /// Unflagged mail that linked to the campaign's host (on its day, when
    /// campaigns are per day).
    fn count_unflagged(&self, c: &mut Campaign) {
        if c.link_host == "-" || c.link_host == NO_BRAND {
            return;
        }
        let from = (c.link_host.clone(), String::new());
        for ((host, day), u) in self.unflagged.range(from..) {
            if *host != c.link_host {
                break;
            }
            if c.day != "-" && *day != c.day {
                continue;
            }
            c.delivered_unflagged += u.messages;
            c.delivered_recipients += u.recipients;
            c.recipients += u.recipients;
            for q in &u.queue_ids {
                if c.queue_ids.len() < MAX_QUEUE_IDS {
                    c.queue_ids.push(q.clone());
                }
            }
        }
    }

    /// JPCERT/CC's phishing URL list format: `date,URL,description`, the
    /// date as `YYYY/MM/DD HH:MM:SS` (UTC), newest first, at most `limit`
    /// rows, none less sure than `least` (`high` or `medium`). The
    /// description is the brands, then `kind=… confidence=… on=…`: JPCERT's
    /// own list puts the brand there, and a feed loader reads the URL only.
    pub fn export(&self, limit: usize, least: &str) -> Result<String, String> {
        let mut rows: Vec<(&String, &Exported)> = self
            .exported
            .iter()
            .filter(|(_, e)| rank(&e.confidence) <= rank(least).min(1))
            // Log lines are input: what a feed loader would refuse is no
            // indicator (one bad row makes the whole feed fail to load).
            .filter(|(url, _)| url::Url::parse(url).is_ok_and(|u| u.host_str().is_some()))
            .collect();
        rows.sort_by(|a, b| {
            b.1.first_seen
                .cmp(&a.1.first_seen)
                .then_with(|| a.0.cmp(b.0))
        });
        rows.truncate(limit);
        let mut w = Csv::default();
        w.row(["date", "URL", "description"])?;
        for (url, e) in rows {
            let join = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join("+");
            let description = format!(
                "{} kind={} confidence={} on={}",
                e.brands.iter().cloned().collect::<Vec<_>>().join(" "),
                join(&e.kinds),
                e.confidence,
                join(&e.on)
            );
            w.row([jpcert_date(&e.first_seen).as_str(), url, &description])?;
        }
        w.finish()
    }
}

/// `2026-11-30T23:50:00.123Z` → `2026/11/30 23:50:00`.
fn jpcert_date(ts: &str) -> String {
    match (ts.get(..10), ts.get(11..19)) {
        (Some(d), Some(t)) => format!("{} {t}", d.replace('-', "/")),
        _ => String::new(),
    }
}

#[cfg(test)]
#[path = "report_group_tests.rs"]
mod tests;
