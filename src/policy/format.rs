//! The policy file format: the TOML schema, and the loader that checks each
//! file against it and merges files in order into [`PolicyData`]. Every
//! error names `file:line: field`.

use super::data::{
    Allow, AuthPolicy, Bands, Brand, Organisation, PolicyData, DEFAULT_AUTH, DEFAULT_BANDS,
};
use super::schema::*;
use crate::vocab::domain::normalize_domain;
use crate::vocab::findings::FindingKind;
use crate::vocab::tomlfile::{line_of, parse_net, parse_toml, SourceError};
use ipnet::IpNet;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The example policy, built in so that `kinko-milter run` works with no files.
pub const EMBEDDED_NAME: &str = "policy/example-shinkin.toml";
pub const EMBEDDED_POLICY: &str = include_str!("../../policy/example-shinkin.toml");

/// List files the embedded policy refers to, by the name it uses.
const EMBEDDED_LISTS: &[(&str, &str)] = &[
    ("freemail.txt", include_str!("../../policy/freemail.txt")),
    (
        "shorteners.txt",
        include_str!("../../policy/shorteners.txt"),
    ),
    (
        "redirectors.txt",
        include_str!("../../policy/redirectors.txt"),
    ),
    ("hosting.txt", include_str!("../../policy/hosting.txt")),
    ("lure-asks.txt", include_str!("../../policy/lure-asks.txt")),
    (
        "lure-pressures.txt",
        include_str!("../../policy/lure-pressures.txt"),
    ),
];

/// The file being read, for errors that point into it.
pub(super) struct At<'a> {
    file: &'a str,
    src: &'a str,
}

impl At<'_> {
    /// `file:line` of a byte offset, to point at another place in an error.
    pub(super) fn place(&self, offset: usize) -> String {
        format!("{}:{}", self.file, line_of(self.src, offset))
    }

    pub(super) fn err(
        &self,
        span: std::ops::Range<usize>,
        field: &str,
        message: String,
    ) -> SourceError {
        SourceError {
            file: self.file.to_string(),
            line: line_of(self.src, span.start),
            field: field.to_string(),
            message,
            ..Default::default()
        }
    }

    /// An error about a whole table or entry, at the first line that
    /// mentions `marker`.
    fn table(&self, marker: &str, field: &str, message: &str) -> SourceError {
        SourceError {
            file: self.file.into(),
            line: self
                .src
                .find(marker)
                .map(|o| line_of(self.src, o))
                .unwrap_or(1),
            field: field.into(),
            message: message.into(),
            ..Default::default()
        }
    }
}

#[derive(Default)]
pub(crate) struct Builder {
    name: Option<String>,
    version: Option<String>,
    sources: Vec<String>,
    scores: HashMap<FindingKind, i32>,
    bands: Option<Bands>,
    auth: Option<AuthPolicy>,
    freemail: HashSet<String>,
    shorteners: HashSet<String>,
    redirectors: HashSet<String>,
    hosting: HashSet<String>,
    feeds: Vec<PathBuf>,
    lure_asks: Vec<String>,
    lure_pressures: Vec<String>,
    pub(super) brands: Vec<Brand>,
    banner: Option<String>,
    pub(super) link_words: HashMap<String, Vec<String>>,
    allow_sender: HashMap<String, String>,
    allow_dkim: HashMap<String, String>,
    allow_net: Vec<(IpNet, String)>,
    pub(super) organisation: Organisation,
    /// Brand id → `file:line` of its definition, to point at both places
    /// of a duplicate.
    pub(super) brand_defined: HashMap<String, String>,
}

impl Builder {
    pub(crate) fn add(
        &mut self,
        file: &str,
        src: &str,
        dir: Option<&Path>,
    ) -> Result<(), SourceError> {
        let pf: PolicyFile = parse_toml(file, src)?;
        let at = At { file, src };
        self.sources.push(file.to_string());
        self.add_meta(pf.policy);
        // Each table is checked even when an earlier one is wrong, so one
        // `config check` lists every mistake in the file.
        let errors: Vec<SourceError> = [
            self.add_scores(&at, pf.scores),
            self.add_bands(&at, pf.bands),
            self.add_auth(&at, pf.auth),
            self.add_lists(&at, pf.lists, dir),
            self.add_allow(&at, pf.allow),
            self.add_brands(&at, pf.brand),
            self.add_organisation(&at, pf.organisation),
        ]
        .into_iter()
        .filter_map(Result::err)
        .collect();
        SourceError::all(errors)
    }

    /// Several files make one policy: its name lists them all, so logs
    /// and kinko_policy_info say exactly what is in force.
    fn add_meta(&mut self, meta: Option<Meta>) {
        if let Some(meta) = meta {
            if let Some(b) = meta.banner.filter(|b| !b.trim().is_empty()) {
                self.banner = Some(b.trim().to_string());
            }
            let join = |a: Option<String>, b: String| match a {
                Some(a) if a != b => format!("{a}+{b}"),
                _ => b,
            };
            self.name = Some(join(self.name.take(), meta.name));
            if let Some(v) = meta.version {
                self.version = Some(join(self.version.take(), v));
            }
        }
    }

    /// `[scores]`: points per finding kind, later files winning.
    fn add_scores(
        &mut self,
        at: &At,
        scores: BTreeMap<Spanned<String>, i32>,
    ) -> Result<(), SourceError> {
        for (key, value) in scores {
            let kind = FindingKind::from_name(key.get_ref()).ok_or_else(|| {
                at.err(
                    key.span(),
                    &format!("scores.{}", key.get_ref()),
                    format!(
                        "unknown finding kind; known kinds: {}",
                        FindingKind::ALL
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
            self.scores.insert(kind, value);
        }
        Ok(())
    }

    /// `[bands]`: merged key by key, and still rising after the merge.
    fn add_bands(&mut self, at: &At, bands: Option<BandsFile>) -> Result<(), SourceError> {
        if let Some(bands) = bands {
            let prev = self.bands.clone().unwrap_or(DEFAULT_BANDS);
            let merged = Bands {
                tag: bands.tag.or(prev.tag),
                quarantine: bands.quarantine.or(prev.quarantine),
                reject: bands.reject.or(prev.reject),
                lone_link_signal_tags: bands
                    .lone_link_signal_tags
                    .unwrap_or(prev.lone_link_signal_tags),
            };
            let ordered = [merged.tag, merged.quarantine, merged.reject]
                .iter()
                .flatten()
                .collect::<Vec<_>>()
                .windows(2)
                .all(|w| w[0] < w[1]);
            if !ordered {
                return Err(at.table(
                    "[bands]",
                    "bands",
                    "thresholds must rise: tag < quarantine < reject",
                ));
            }
            self.bands = Some(merged);
        }
        Ok(())
    }

    /// `[auth]`: what DMARC failures get, merged key by key; trusted ARC
    /// sealers add up across files, as allowlist entries do.
    fn add_auth(&mut self, at: &At, auth: Option<AuthFile>) -> Result<(), SourceError> {
        let Some(auth) = auth else {
            return Ok(());
        };
        let prev = self.auth.clone().unwrap_or(DEFAULT_AUTH);
        let mut local = prev.local;
        // `honor_pct` is read and ignored: RFC 9989 removed `pct`, and a
        // policy file written for RFC 7489 must still load.
        let _ = auth.honor_pct;
        for sealer in auth.trusted_arc_sealers.into_iter().flatten() {
            let field = "auth.trusted_arc_sealers";
            let d = normalize_domain(sealer.domain.get_ref())
                .map_err(|m| at.err(sealer.domain.span(), field, m))?;
            if sealer.reason.trim().is_empty() {
                let message = "say why this sealer is trusted".into();
                return Err(at.err(
                    sealer.domain.span(),
                    "auth.trusted_arc_sealers.reason",
                    message,
                ));
            }
            local
                .trusted_arc_sealers
                .insert(d, sealer.reason.trim().to_string());
        }
        self.auth = Some(AuthPolicy {
            dmarc_reject: auth.dmarc_reject.unwrap_or(prev.dmarc_reject),
            dmarc_quarantine: auth.dmarc_quarantine.unwrap_or(prev.dmarc_quarantine),
            local,
        });
        Ok(())
    }

    /// `[lists]`: domain lists read from their files, and feed paths.
    fn add_lists(
        &mut self,
        at: &At,
        lists: Option<ListsFile>,
        dir: Option<&Path>,
    ) -> Result<(), SourceError> {
        if let Some(lists) = lists {
            let read = |entry: &Spanned<String>,
                        field: &str|
             -> Result<(String, PathBuf), SourceError> {
                let name = entry.get_ref();
                if dir.is_none() {
                    if let Some((_, text)) = EMBEDDED_LISTS.iter().find(|(n, _)| n == name) {
                        return Ok((text.to_string(), PathBuf::from(name)));
                    }
                }
                let path = dir.unwrap_or(Path::new("policy")).join(name);
                std::fs::read_to_string(&path)
                    .map(|t| (t, path.clone()))
                    .map_err(|e| at.err(entry.span(), field, format!("{}: {e}", path.display())))
            };
            for (entries, set, field) in [
                (&lists.freemail, &mut self.freemail, "lists.freemail"),
                (&lists.shorteners, &mut self.shorteners, "lists.shorteners"),
                (
                    &lists.redirectors,
                    &mut self.redirectors,
                    "lists.redirectors",
                ),
                (&lists.hosting, &mut self.hosting, "lists.hosting"),
            ] {
                for entry in entries.iter().flatten() {
                    let (text, _) = read(entry, field)?;
                    for (i, line) in text.lines().enumerate() {
                        let item = line.split('#').next().unwrap_or("").trim();
                        if item.is_empty() {
                            continue;
                        }
                        let d = normalize_domain(item).map_err(|m| SourceError {
                            file: entry.get_ref().to_string(),
                            line: i + 1,
                            field: field.into(),
                            message: m,
                            ..Default::default()
                        })?;
                        set.insert(d);
                    }
                }
            }
            // Phrases, not domains: kept as written (folding happens when
            // the lure index is built), in order, each once.
            for (entries, list, field) in [
                (&lists.lure_asks, &mut self.lure_asks, "lists.lure_asks"),
                (
                    &lists.lure_pressures,
                    &mut self.lure_pressures,
                    "lists.lure_pressures",
                ),
            ] {
                for entry in entries.iter().flatten() {
                    let (text, _) = read(entry, field)?;
                    for line in text.lines() {
                        let phrase = line.split('#').next().unwrap_or("").trim();
                        if !phrase.is_empty() && !list.iter().any(|p| p == phrase) {
                            list.push(phrase.to_string());
                        }
                    }
                }
            }
            for entry in lists.feeds.iter().flatten() {
                let path = dir.unwrap_or(Path::new("policy")).join(entry.get_ref());
                if !path.exists() {
                    return Err(at.err(
                        entry.span(),
                        "lists.feeds",
                        format!("{}: no such file", path.display()),
                    ));
                }
                self.feeds.push(path);
            }
        }
        Ok(())
    }

    /// `[[allow]]`: each entry names one kind of trusted sender and why.
    fn add_allow(&mut self, at: &At, allow: Vec<AllowFile>) -> Result<(), SourceError> {
        for allow in allow {
            let given = [
                &allow.sender_domain,
                &allow.dkim_domain,
                &allow.client_network,
            ]
            .iter()
            .filter(|x| x.is_some())
            .count();
            if given != 1 {
                return Err(at.table("[[allow]]", "allow", "each [[allow]] names exactly one of sender_domain, dkim_domain, client_network"));
            }
            if allow.reason.trim().is_empty() {
                return Err(at.table("reason", "allow.reason", "say why this entry exists"));
            }
            if let Some(d) = &allow.sender_domain {
                let n = normalize_domain(d.get_ref())
                    .map_err(|m| at.err(d.span(), "allow.sender_domain", m))?;
                self.allow_sender.insert(n, allow.reason.clone());
            }
            if let Some(d) = &allow.dkim_domain {
                let n = normalize_domain(d.get_ref())
                    .map_err(|m| at.err(d.span(), "allow.dkim_domain", m))?;
                self.allow_dkim.insert(n, allow.reason.clone());
            }
            if let Some(n) = &allow.client_network {
                let net = parse_net(n.get_ref())
                    .map_err(|m| at.err(n.span(), "allow.client_network", m))?;
                self.allow_net.push((net, allow.reason.clone()));
            }
        }
        Ok(())
    }

    /// `[[brand]]`: protected brands, each defined once.
    pub(crate) fn finish(mut self) -> PolicyData {
        // Like scores, the lure wording has defaults: the shipped phrase
        // files, for a policy that names none of its own.
        if self.lure_asks.is_empty() && self.lure_pressures.is_empty() {
            let phrases = |name: &str| -> Vec<String> {
                EMBEDDED_LISTS
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, text)| text.lines())
                    .into_iter()
                    .flatten()
                    .map(|l| l.split('#').next().unwrap_or("").trim())
                    .filter(|l| !l.is_empty())
                    .map(str::to_string)
                    .collect()
            };
            self.lure_asks = phrases("lure-asks.txt");
            self.lure_pressures = phrases("lure-pressures.txt");
        }
        PolicyData {
            name: self.name.unwrap_or_else(|| "unnamed".into()),
            version: self.version.unwrap_or_default(),
            sources: self.sources,
            scores: self.scores,
            bands: self.bands.unwrap_or(DEFAULT_BANDS),
            auth: self.auth.unwrap_or(DEFAULT_AUTH),
            brands: self.brands,
            link_words: self.link_words,
            freemail: self.freemail,
            shorteners: self.shorteners,
            redirectors: self.redirectors,
            hosting: self.hosting,
            feeds: self.feeds,
            lure_asks: self.lure_asks,
            lure_pressures: self.lure_pressures,
            allow: Allow {
                sender_domains: self.allow_sender,
                dkim_domains: self.allow_dkim,
                client_networks: self.allow_net,
            },
            banner: self.banner,
            organisation: self.organisation,
        }
    }
}
