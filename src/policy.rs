//! The policy a security team tunes: protected brands, scores, action bands,
//! lists and allowlists.
//!
//! A policy is one or more TOML files read in order. Tables (`[scores]`,
//! `[bands]`, `[auth]`, `[lists]`) merge key by key, later files winning;
//! `[[brand]]` and `[[allow]]` entries accumulate. The result is compiled once
//! (indexes, lists, feeds) into an immutable [`Policy`] that every connection
//! shares through an `Arc` until the next reload.

use crate::brand::BrandIndex;
use crate::findings::{Action, FindingKind};
use crate::links::LinkRules;
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// The example policy, built in so that `kinko-milter run` works with no files.
pub const EMBEDDED_NAME: &str = "policy/example-shinkin.toml";
pub const EMBEDDED_POLICY: &str = include_str!("../policy/example-shinkin.toml");

/// List files the embedded policy refers to, by the name it uses.
const EMBEDDED_LISTS: &[(&str, &str)] = &[
    ("freemail.txt", include_str!("../policy/freemail.txt")),
    ("shorteners.txt", include_str!("../policy/shorteners.txt")),
    ("redirectors.txt", include_str!("../policy/redirectors.txt")),
    ("hosting.txt", include_str!("../policy/hosting.txt")),
];

/// A policy error that points at the place to fix: `file:line: field: what`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.message
        )
    }
}

impl std::error::Error for SourceError {}

/// 1-based line of a byte offset.
pub fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Deserialises TOML with unknown keys rejected, and turns toml's multi-line
/// report into one `file:line: field: message` line.
pub fn parse_toml<T: serde::de::DeserializeOwned>(file: &str, src: &str) -> Result<T, SourceError> {
    toml::from_str(src).map_err(|e| {
        let (line, field) = match e.span() {
            Some(span) => (line_of(src, span.start), field_at(src, span.start)),
            None => (1, String::new()),
        };
        SourceError {
            file: file.to_string(),
            line,
            field: if field.is_empty() {
                "(document)".into()
            } else {
                field
            },
            message: e.message().trim().to_string(),
        }
    })
}

/// The key an error at `offset` is about: the key itself when the offset is
/// on it, or the key of the `key = value` line when it is on the value.
fn field_at(src: &str, offset: usize) -> String {
    let offset = offset.min(src.len());
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[offset..].find('\n').map_or(src.len(), |i| offset + i);
    let line = &src[line_start..line_end];
    let key = match line.split_once('=') {
        Some((k, _)) if line_start + k.len() < offset => k,
        _ => &src[offset..line_end],
    };
    key.split('=')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches(['[', ']', '"'])
        .to_string()
}

// ---------------------------------------------------------------------------
// The file format.

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    policy: Option<Meta>,
    #[serde(default)]
    scores: BTreeMap<Spanned<String>, i32>,
    bands: Option<BandsFile>,
    auth: Option<AuthFile>,
    lists: Option<ListsFile>,
    #[serde(default)]
    allow: Vec<AllowFile>,
    #[serde(default)]
    brand: Vec<BrandFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    name: String,
    #[serde(default)]
    version: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BandsFile {
    tag: Option<i32>,
    quarantine: Option<i32>,
    reject: Option<i32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    dmarc_reject: Option<Action>,
    dmarc_quarantine: Option<Action>,
    honor_pct: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListsFile {
    freemail: Option<Vec<Spanned<String>>>,
    shorteners: Option<Vec<Spanned<String>>>,
    redirectors: Option<Vec<Spanned<String>>>,
    hosting: Option<Vec<Spanned<String>>>,
    feeds: Option<Vec<Spanned<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowFile {
    /// A registrable sender domain (From, MAIL FROM) whose mail is trusted.
    sender_domain: Option<Spanned<String>>,
    /// A DKIM signing domain whose passing signature makes mail trusted.
    dkim_domain: Option<Spanned<String>>,
    /// Client networks whose mail is trusted.
    client_network: Option<Spanned<String>>,
    reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BrandFile {
    id: Spanned<String>,
    #[serde(default)]
    names: Vec<Spanned<String>>,
    #[serde(default)]
    domains: Vec<Spanned<String>>,
    #[serde(default)]
    authorized: Vec<Spanned<String>>,
    action: Option<Action>,
    /// Words that name the brand inside someone else's URL; replaces the
    /// words derived from its domains and names when those are common words.
    link_words: Option<Vec<String>>,
}

// ---------------------------------------------------------------------------
// The compiled policy.

/// Minimum score for each action. `None` means the action is never reached by score.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bands {
    pub tag: Option<i32>,
    pub quarantine: Option<i32>,
    pub reject: Option<i32>,
}

impl Bands {
    pub fn action_for(&self, score: i32) -> Action {
        let reached = |b: Option<i32>| b.is_some_and(|t| score >= t);
        if reached(self.reject) {
            Action::Reject
        } else if reached(self.quarantine) {
            Action::Quarantine
        } else if reached(self.tag) {
            Action::Tag
        } else {
            Action::Accept
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthPolicy {
    /// Action when DMARC fails and the owner publishes `p=reject`.
    pub dmarc_reject: Action,
    /// Action when DMARC fails and the owner publishes `p=quarantine`.
    pub dmarc_quarantine: Action,
    /// Whether a `pct` below 100 spares part of the failing mail (RFC 7489 §6.6.4).
    pub honor_pct: bool,
}

/// A protected brand as the policy states it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    pub id: String,
    /// Names in every form customers see: kanji, kana, romaji, English, abbreviations.
    pub names: Vec<String>,
    /// Official registrable domains, lower-case, IDNA A-labels; subdomains included.
    pub domains: Vec<String>,
    /// Third parties allowed to send for the brand: registrable domains or DKIM `d=`.
    pub authorized: Vec<String>,
    /// Minimum action when this brand is impersonated.
    pub action: Option<Action>,
}

#[derive(Debug, Clone)]
pub struct Allow {
    pub sender_domains: HashMap<String, String>,
    pub dkim_domains: HashMap<String, String>,
    pub client_networks: Vec<(IpNet, String)>,
}

impl Allow {
    /// The reason a client address is allowlisted, if it is.
    pub fn client(&self, ip: IpAddr) -> Option<&str> {
        self.client_networks
            .iter()
            .find(|(n, _)| n.contains(&ip))
            .map(|(_, r)| r.as_str())
    }
}

pub struct Policy {
    pub name: String,
    pub version: String,
    /// Where it came from, for logs and `policy_info`.
    pub sources: Vec<String>,
    scores: HashMap<FindingKind, i32>,
    pub bands: Bands,
    pub auth: AuthPolicy,
    pub brands: Vec<Brand>,
    pub brand_index: BrandIndex,
    pub freemail: HashSet<String>,
    pub links: LinkRules,
    pub lures: crate::lure::LureIndex,
    pub allow: Allow,
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("sources", &self.sources)
            .field("brands", &self.brands.len())
            .finish_non_exhaustive()
    }
}

/// Points for a finding kind when the policy does not say.
pub fn default_score(kind: FindingKind) -> i32 {
    use FindingKind::*;
    match kind {
        // The owner's DMARC policy is applied as an action floor (see
        // [`AuthPolicy`]); the score only adds weight to other evidence.
        DmarcReject | DmarcQuarantine => 30,
        DmarcFail => 15,
        SpfFail => 10,
        SpfSoftfail => 5,
        DkimFail => 5,
        Homograph => 80,
        Typo => 60,
        TldSwap => 60,
        Combo => 50,
        Subdomain => 60,
        DisplayName => 60,
        FreemailBrand => 70,
        SubjectBrand => 15,
        HiddenChars => 20,
        LinkTextMismatch => 30,
        LinkLookalike => 70,
        LinkBrand => 30,
        LinkIpHost => 30,
        LinkUserinfo => 40,
        LinkPunycode => 20,
        LinkShortener => 10,
        // Legitimate projects use these platforms too (Firebase sends its
        // own password-reset mail from them): weight for other evidence only.
        LinkHosting => 10,
        SenderHosting => 20,
        LinkCredentialPath => 15,
        LinkFeed => 100,
        FormPassword => 50,
        FormExternalAction => 20,
        HtmlAttachment => 40,
        DataUri => 20,
        BrandCredentialLink => 60,
        OfficialCredentialLink => 0,
        CredentialLure => 25,
        // With the lure and hosting points this reaches quarantine: together
        // they describe a throwaway login page, which neither does alone.
        HostedLure => 35,
        // Just enough to lift a lure into the tag band: mail that pushes the
        // reader to log in elsewhere than the sender's own site.
        LureForeignLink => 10,
        Truncated => 0,
    }
}

/// Where policy text comes from: a file on disk or the built-in example.
pub enum Source<'a> {
    File(&'a Path),
    Embedded,
}

impl Policy {
    /// The built-in example policy.
    pub fn embedded() -> Result<Policy, SourceError> {
        Policy::load(&[Source::Embedded])
    }

    pub fn load_files(paths: &[PathBuf]) -> Result<Policy, SourceError> {
        if paths.is_empty() {
            return Policy::embedded();
        }
        let sources: Vec<Source> = paths.iter().map(|p| Source::File(p)).collect();
        Policy::load(&sources)
    }

    pub fn load(sources: &[Source]) -> Result<Policy, SourceError> {
        let mut b = Builder::default();
        for source in sources {
            let (name, text, dir) = match source {
                Source::Embedded => (EMBEDDED_NAME.to_string(), EMBEDDED_POLICY.to_string(), None),
                Source::File(path) => {
                    let name = path.display().to_string();
                    let text = std::fs::read_to_string(path).map_err(|e| SourceError {
                        file: name.clone(),
                        line: 0,
                        field: "(file)".into(),
                        message: e.to_string(),
                    })?;
                    (
                        name,
                        text,
                        Some(path.parent().unwrap_or(Path::new(".")).to_path_buf()),
                    )
                }
            };
            b.add(&name, &text, dir.as_deref())?;
        }
        b.finish()
    }

    /// A policy from one TOML text; list files resolve against the
    /// built-in lists. For tests, fuzzing and tools that hold the text.
    pub fn from_toml(name: &str, text: &str) -> Result<Policy, SourceError> {
        let mut b = Builder::default();
        b.add(name, text, None)?;
        b.finish()
    }

    pub fn score(&self, kind: FindingKind) -> i32 {
        self.scores
            .get(&kind)
            .copied()
            .unwrap_or_else(|| default_score(kind))
    }

    pub fn brand(&self, id: &str) -> Option<&Brand> {
        self.brands.iter().find(|b| b.id == id)
    }
}

/// Lines of a list file: one entry per line, `#` comments, blanks ignored.
pub fn parse_list(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
}

/// Lower-case A-label form of a domain as written in a policy, or why it is not one.
pub fn normalize_domain(raw: &str) -> Result<String, String> {
    let d = raw.trim().trim_end_matches('.');
    if d.is_empty() {
        return Err("empty domain".into());
    }
    let ascii =
        idna::domain_to_ascii(d).map_err(|_| format!("`{raw}` is not a valid domain name"))?;
    if !ascii.contains('.') {
        return Err(format!(
            "`{raw}` has no dot: give a registrable domain such as example.co.jp"
        ));
    }
    Ok(ascii)
}

#[derive(Default)]
struct Builder {
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
    brands: Vec<Brand>,
    link_words: HashMap<String, Vec<String>>,
    allow_sender: HashMap<String, String>,
    allow_dkim: HashMap<String, String>,
    allow_net: Vec<(IpNet, String)>,
}

impl Builder {
    fn add(&mut self, file: &str, src: &str, dir: Option<&Path>) -> Result<(), SourceError> {
        let pf: PolicyFile = parse_toml(file, src)?;
        let err = |span: std::ops::Range<usize>, field: &str, message: String| SourceError {
            file: file.to_string(),
            line: line_of(src, span.start),
            field: field.to_string(),
            message,
        };
        self.sources.push(file.to_string());
        // Several files make one policy: its name lists them all, so logs
        // and kinko_policy_info say exactly what is in force.
        if let Some(meta) = pf.policy {
            let join = |a: Option<String>, b: String| match a {
                Some(a) if a != b => format!("{a}+{b}"),
                _ => b,
            };
            self.name = Some(join(self.name.take(), meta.name));
            if let Some(v) = meta.version {
                self.version = Some(join(self.version.take(), v));
            }
        }
        for (key, value) in pf.scores {
            let kind = FindingKind::from_name(key.get_ref()).ok_or_else(|| {
                err(
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
        if let Some(bands) = pf.bands {
            let prev = self.bands.clone().unwrap_or(DEFAULT_BANDS);
            let merged = Bands {
                tag: bands.tag.or(prev.tag),
                quarantine: bands.quarantine.or(prev.quarantine),
                reject: bands.reject.or(prev.reject),
            };
            let ordered = [merged.tag, merged.quarantine, merged.reject]
                .iter()
                .flatten()
                .collect::<Vec<_>>()
                .windows(2)
                .all(|w| w[0] < w[1]);
            if !ordered {
                let line = src.find("[bands]").map(|o| line_of(src, o)).unwrap_or(1);
                return Err(SourceError {
                    file: file.into(),
                    line,
                    field: "bands".into(),
                    message: "thresholds must rise: tag < quarantine < reject".into(),
                });
            }
            self.bands = Some(merged);
        }
        if let Some(auth) = pf.auth {
            let prev = self.auth.clone().unwrap_or(DEFAULT_AUTH);
            self.auth = Some(AuthPolicy {
                dmarc_reject: auth.dmarc_reject.unwrap_or(prev.dmarc_reject),
                dmarc_quarantine: auth.dmarc_quarantine.unwrap_or(prev.dmarc_quarantine),
                honor_pct: auth.honor_pct.unwrap_or(prev.honor_pct),
            });
        }
        if let Some(lists) = pf.lists {
            let read =
                |entry: &Spanned<String>, field: &str| -> Result<(String, PathBuf), SourceError> {
                    let name = entry.get_ref();
                    if dir.is_none() {
                        if let Some((_, text)) = EMBEDDED_LISTS.iter().find(|(n, _)| n == name) {
                            return Ok((text.to_string(), PathBuf::from(name)));
                        }
                    }
                    let path = dir.unwrap_or(Path::new("policy")).join(name);
                    std::fs::read_to_string(&path)
                        .map(|t| (t, path.clone()))
                        .map_err(|e| err(entry.span(), field, format!("{}: {e}", path.display())))
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
                        })?;
                        set.insert(d);
                    }
                }
            }
            for entry in lists.feeds.iter().flatten() {
                let path = dir.unwrap_or(Path::new("policy")).join(entry.get_ref());
                if !path.exists() {
                    return Err(err(
                        entry.span(),
                        "lists.feeds",
                        format!("{}: no such file", path.display()),
                    ));
                }
                self.feeds.push(path);
            }
        }
        for allow in pf.allow {
            let given = [
                &allow.sender_domain,
                &allow.dkim_domain,
                &allow.client_network,
            ]
            .iter()
            .filter(|x| x.is_some())
            .count();
            if given != 1 {
                let line = src.find("[[allow]]").map(|o| line_of(src, o)).unwrap_or(1);
                return Err(SourceError {
                    file: file.into(),
                    line,
                    field: "allow".into(),
                    message: "each [[allow]] names exactly one of sender_domain, dkim_domain, client_network".into(),
                });
            }
            if allow.reason.trim().is_empty() {
                let line = src.find("reason").map(|o| line_of(src, o)).unwrap_or(1);
                return Err(SourceError {
                    file: file.into(),
                    line,
                    field: "allow.reason".into(),
                    message: "say why this entry exists".into(),
                });
            }
            if let Some(d) = &allow.sender_domain {
                let n = normalize_domain(d.get_ref())
                    .map_err(|m| err(d.span(), "allow.sender_domain", m))?;
                self.allow_sender.insert(n, allow.reason.clone());
            }
            if let Some(d) = &allow.dkim_domain {
                let n = normalize_domain(d.get_ref())
                    .map_err(|m| err(d.span(), "allow.dkim_domain", m))?;
                self.allow_dkim.insert(n, allow.reason.clone());
            }
            if let Some(n) = &allow.client_network {
                let net =
                    parse_net(n.get_ref()).map_err(|m| err(n.span(), "allow.client_network", m))?;
                self.allow_net.push((net, allow.reason.clone()));
            }
        }
        for bf in pf.brand {
            let id = bf.id.get_ref().trim().to_string();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(err(
                    bf.id.span(),
                    "brand.id",
                    "use ASCII letters, digits, '-' and '_' (it becomes a metric label)".into(),
                ));
            }
            if self.brands.iter().any(|b| b.id == id) {
                return Err(err(
                    bf.id.span(),
                    "brand.id",
                    format!("brand `{id}` is defined twice"),
                ));
            }
            let mut domains = Vec::new();
            for d in &bf.domains {
                domains.push(
                    normalize_domain(d.get_ref()).map_err(|m| err(d.span(), "brand.domains", m))?,
                );
            }
            let mut authorized = Vec::new();
            for d in &bf.authorized {
                authorized.push(
                    normalize_domain(d.get_ref())
                        .map_err(|m| err(d.span(), "brand.authorized", m))?,
                );
            }
            let mut names = Vec::new();
            for n in &bf.names {
                let name = n.get_ref().trim();
                if name.chars().count() < 2 {
                    return Err(err(
                        n.span(),
                        "brand.names",
                        format!("`{name}` is too short to match safely"),
                    ));
                }
                names.push(name.to_string());
            }
            if names.is_empty() && domains.is_empty() {
                return Err(err(
                    bf.id.span(),
                    "brand",
                    format!("brand `{id}` needs at least one name or domain"),
                ));
            }
            if let Some(words) = bf.link_words {
                let words = words
                    .iter()
                    .map(|w| w.trim().to_lowercase())
                    .filter(|w| !w.is_empty())
                    .collect();
                self.link_words.insert(id.clone(), words);
            }
            self.brands.push(Brand {
                id,
                names,
                domains,
                authorized,
                action: bf.action,
            });
        }
        Ok(())
    }

    fn finish(self) -> Result<Policy, SourceError> {
        let brand_index = BrandIndex::new(&self.brands);
        let mut links = LinkRules::new(self.shorteners, self.redirectors, &self.feeds)
            .map_err(|(path, line, m)| SourceError {
                file: path.display().to_string(),
                line,
                field: "lists.feeds".into(),
                message: m,
            })?
            .with_brands(&self.brands, &self.link_words);
        links.hosting = self.hosting;
        Ok(Policy {
            name: self.name.unwrap_or_else(|| "unnamed".into()),
            version: self.version.unwrap_or_default(),
            sources: self.sources,
            scores: self.scores,
            bands: self.bands.unwrap_or(DEFAULT_BANDS),
            auth: self.auth.unwrap_or(DEFAULT_AUTH),
            brands: self.brands,
            brand_index,
            freemail: self.freemail,
            links,
            lures: crate::lure::LureIndex::new(),
            allow: Allow {
                sender_domains: self.allow_sender,
                dkim_domains: self.allow_dkim,
                client_networks: self.allow_net,
            },
        })
    }
}

const DEFAULT_BANDS: Bands = Bands {
    tag: Some(30),
    quarantine: Some(70),
    reject: None,
};

const DEFAULT_AUTH: AuthPolicy = AuthPolicy {
    dmarc_reject: Action::Reject,
    dmarc_quarantine: Action::Quarantine,
    honor_pct: true,
};

/// A CIDR network or a single address.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not an address or network (e.g. 192.0.2.0/24)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(src: &str) -> Result<Policy, SourceError> {
        Policy::from_toml("test.toml", src)
    }

    #[test]
    fn embedded_policy_loads() {
        let p = Policy::embedded().expect("embedded policy must be valid");
        assert!(!p.brands.is_empty());
        assert!(p.freemail.contains("gmail.com"));
    }

    #[test]
    fn unknown_key_names_file_line_and_field() {
        let e = load_str("[bands]\ntag = 10\nquarantin = 20\n").unwrap_err();
        assert_eq!(e.file, "test.toml");
        assert_eq!(e.line, 3);
        assert_eq!(e.field, "quarantin");
        assert!(e.message.contains("unknown field"), "{e}");
    }

    #[test]
    fn unknown_score_kind_is_rejected_with_line() {
        let e = load_str("[scores]\nhomograph = 10\nhomograf = 5\n").unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (3, "scores.homograf"));
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let e = load_str("[bands]\ntag = \"high\"\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().starts_with("test.toml:2: "), "{e}");
    }

    #[test]
    fn bands_must_rise() {
        let e = load_str("[bands]\ntag = 50\nquarantine = 40\n").unwrap_err();
        assert_eq!(e.field, "bands");
    }

    #[test]
    fn bad_brand_domain_is_reported() {
        let e =
            load_str("[[brand]]\nid = \"x\"\nnames = [\"エックス銀行\"]\ndomains = [\"nodot\"]\n")
                .unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (4, "brand.domains"));
    }

    #[test]
    fn bands_pick_the_highest_reached_action() {
        let b = Bands {
            tag: Some(10),
            quarantine: Some(50),
            reject: Some(100),
        };
        assert_eq!(b.action_for(0), Action::Accept);
        assert_eq!(b.action_for(10), Action::Tag);
        assert_eq!(b.action_for(99), Action::Quarantine);
        assert_eq!(b.action_for(100), Action::Reject);
    }

    #[test]
    fn later_files_override_scores_and_add_brands() {
        let mut b = Builder::default();
        b.add(
            "a.toml",
            "[scores]\ntypo = 10\n[[brand]]\nid = \"a\"\nnames = [\"エー銀行\"]\n",
            None,
        )
        .unwrap();
        b.add(
            "b.toml",
            "[scores]\ntypo = 20\n[[brand]]\nid = \"b\"\nnames = [\"ビー銀行\"]\n",
            None,
        )
        .unwrap();
        let p = b.finish().unwrap();
        assert_eq!(p.score(FindingKind::Typo), 20);
        assert_eq!(p.brands.len(), 2);
        assert_eq!(
            p.score(FindingKind::Homograph),
            default_score(FindingKind::Homograph)
        );
    }

    #[test]
    fn allowlist_needs_a_reason() {
        let e =
            load_str("[[allow]]\nclient_network = \"10.0.0.0/8\"\nreason = \" \"\n").unwrap_err();
        assert_eq!(e.field, "allow.reason");
        let p =
            load_str("[[allow]]\nclient_network = \"10.0.0.0/8\"\nreason = \"internal relay\"\n")
                .unwrap();
        assert_eq!(
            p.allow.client("10.1.2.3".parse().unwrap()),
            Some("internal relay")
        );
    }
}
