//! Judging extracted links: each rule looks at one normalised link (or form,
//! or document) and the policy, and says which finding kind it supports.

use super::extract::{Extracted, Link};
use super::LinkRules;
use crate::analysis::Context;
use crate::brand::Lookalike;
use crate::findings::{Finding, FindingKind};
use std::collections::{HashMap, HashSet};

/// A protected brand's words as they can appear in a URL, built at load time.
#[derive(Debug, Clone)]
pub struct BrandTerms {
    pub brand: String,
    /// Lower-case ASCII forms (domain labels, romaji names) for hosts and paths.
    pub ascii: Vec<String>,
    /// Names in Japanese script, matched in percent-decoded paths.
    pub native: Vec<String>,
    /// Official and authorised registrable domains: links there are the brand's own.
    pub own: Vec<String>,
}

/// ASCII brand words shorter than this match too many unrelated hosts.
const MIN_ASCII_TERM: usize = 4;

impl BrandTerms {
    /// `words`, when given, are the only ASCII words: for brands whose domain
    /// labels or names are everyday words (`line`, `apple`, `meta`).
    pub fn of(b: &crate::policy::Brand, words: Option<&[String]>) -> BrandTerms {
        let mut ascii = Vec::new();
        let mut add = |s: String| {
            if s.len() >= MIN_ASCII_TERM && !ascii.contains(&s) {
                ascii.push(s);
            }
        };
        if let Some(words) = words {
            words.iter().cloned().for_each(&mut add);
        }
        for d in b.domains.iter().filter(|_| words.is_none()) {
            let suffix_len = crate::domain::suffix(d).map_or(0, |s| s.len() + 1);
            let label = &d[..d.len().saturating_sub(suffix_len)];
            let label = label.rsplit('.').next().unwrap_or(label);
            add(label.to_string());
            add(label.replace('-', ""));
        }
        let mut native = Vec::new();
        for n in &b.names {
            if n.is_ascii() {
                if words.is_some() {
                    continue;
                }
                let lower = n.to_ascii_lowercase();
                let words: Vec<&str> = lower.split_whitespace().collect();
                add(words.concat());
                add(words.join("-"));
            } else {
                native.push(n.clone());
            }
        }
        let mut own = b.domains.clone();
        own.extend(b.authorized.iter().cloned());
        BrandTerms {
            brand: b.id.clone(),
            ascii,
            native,
            own,
        }
    }

    fn owns(&self, host: &str) -> bool {
        self.own.iter().any(|d| crate::domain::is_within(host, d))
    }
}

/// Every brand's URL words compiled together; pattern ids map back to the
/// brand's index in [`LinkRules::brand_terms`].
#[derive(Debug, Default)]
pub struct BrandWords {
    ascii: Option<aho_corasick::AhoCorasick>,
    ascii_brand: Vec<usize>,
    native: Option<aho_corasick::AhoCorasick>,
    native_brand: Vec<usize>,
}

impl BrandWords {
    pub fn new(terms: &[BrandTerms]) -> BrandWords {
        let build = |pick: fn(&BrandTerms) -> &Vec<String>| {
            let mut pats = Vec::new();
            let mut owner = Vec::new();
            for (i, t) in terms.iter().enumerate() {
                for w in pick(t) {
                    pats.push(w.clone());
                    owner.push(i);
                }
            }
            let ac = (!pats.is_empty())
                .then(|| aho_corasick::AhoCorasick::new(&pats).ok())
                .flatten();
            (ac, owner)
        };
        let (ascii, ascii_brand) = build(|t| &t.ascii);
        let (native, native_brand) = build(|t| &t.native);
        BrandWords {
            ascii,
            ascii_brand,
            native,
            native_brand,
        }
    }

    /// Indexes of the brands with a word in `host` (ASCII words) or `path`
    /// (both), in policy order.
    fn brands_in(&self, host: &str, path: &str) -> Vec<usize> {
        let mut hits = Vec::new();
        if let Some(ac) = &self.ascii {
            for text in [host, path] {
                hits.extend(
                    ac.find_overlapping_iter(text)
                        .map(|m| self.ascii_brand[m.pattern().as_usize()]),
                );
            }
        }
        if let Some(ac) = &self.native {
            hits.extend(
                ac.find_overlapping_iter(path)
                    .map(|m| self.native_brand[m.pattern().as_usize()]),
            );
        }
        hits.sort_unstable();
        hits.dedup();
        hits
    }
}

/// Collects up to a few hosts per kind, so one finding per kind names examples.
#[derive(Default)]
pub struct Collector {
    hits: Vec<Hit>,
}

struct Hit {
    kind: FindingKind,
    what: &'static str,
    examples: Vec<String>,
    more: usize,
    brand: Option<String>,
}

const EXAMPLES: usize = 3;

impl Collector {
    pub fn add(
        &mut self,
        kind: FindingKind,
        what: &'static str,
        example: &str,
        brand: Option<&str>,
    ) {
        let i = match self.hits.iter().position(|h| h.kind == kind) {
            Some(i) => i,
            None => {
                self.hits.push(Hit {
                    kind,
                    what,
                    examples: Vec::new(),
                    more: 0,
                    brand: None,
                });
                self.hits.len() - 1
            }
        };
        let h = &mut self.hits[i];
        if h.brand.is_none() {
            h.brand = brand.map(str::to_string);
        }
        if h.examples.iter().any(|e| e == example) {
            return;
        }
        if h.examples.len() < EXAMPLES {
            h.examples.push(example.to_string());
        } else {
            h.more += 1;
        }
    }

    pub fn has(&self, kind: FindingKind) -> bool {
        self.hits.iter().any(|h| h.kind == kind)
    }

    pub fn into_findings(self) -> Vec<Finding> {
        self.hits
            .into_iter()
            .map(|h| {
                let mut ev = format!("{}: {}", h.what, h.examples.join(", "));
                if h.more > 0 {
                    ev.push_str(&format!(" (+{} more)", h.more));
                }
                let f = Finding::new(h.kind, crate::sanitize::one_line(&ev, 300));
                match h.brand {
                    Some(b) => f.with_brand(b),
                    None => f,
                }
            })
            .collect()
    }
}

/// Whether `host` is an entry of `set` or under one, without allocating.
pub fn within_set(host: &str, set: &HashSet<String>) -> bool {
    if set.is_empty() {
        return false;
    }
    let mut h = host;
    loop {
        if set.contains(h) {
            return true;
        }
        match h.find('.') {
            Some(i) => h = &h[i + 1..],
            None => return false,
        }
    }
}

/// Path words of login, verification and account pages.
const CREDENTIAL_WORDS: &[&str] = &[
    "login",
    "logon",
    "log-in",
    "signin",
    "sign-in",
    "verify",
    "verification",
    "account",
    "password",
    "passwd",
    "secure",
    "update",
    "ログイン",
    "認証",
    "確認",
    "本人確認",
    "パスワード",
    "暗証番号",
];

/// Short words that only count as a whole token or its start (`auth`, `oauth2`
/// but not `author`).
const CREDENTIAL_TOKENS: &[&str] = &[
    "otp",
    "auth",
    "authenticate",
    "authentication",
    "authorize",
    "mfa",
    "2fa",
];

/// The credential word in a link's decoded path or query, if any.
pub fn credential_word(path: &str) -> Option<&'static str> {
    if let Some(w) = CREDENTIAL_WORDS.iter().find(|w| path.contains(*w)) {
        return Some(w);
    }
    path.split(|c: char| !c.is_ascii_alphanumeric())
        .find_map(|tok| {
            CREDENTIAL_TOKENS.iter().find(|w| {
                tok.strip_prefix(**w)
                    .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
            })
        })
        .copied()
}

/// A domain shown in a link's visible text (`https://bank.co.jp/…`,
/// `www.bank.co.jp`, `bank.co.jp`), in ASCII form.
pub fn text_domain(text: &str) -> Option<String> {
    for word in text.split(|c: char| {
        c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | '「' | '」' | '【' | '】')
    }) {
        let w = word.trim_matches(|c: char| matches!(c, '"' | '\'' | ',' | ';' | '.' | ':'));
        let w = w
            .strip_prefix("https://")
            .or_else(|| w.strip_prefix("http://"))
            .or_else(|| w.strip_prefix("HTTPS://"))
            .or_else(|| w.strip_prefix("HTTP://"))
            .unwrap_or(w);
        if w.contains('@') {
            continue;
        }
        let host = w.split(['/', '?', '#', ':']).next().unwrap_or("");
        if !host.contains('.') || host.split('.').any(str::is_empty) {
            continue;
        }
        if !host
            .chars()
            .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        {
            continue;
        }
        let Some(ascii) = crate::domain::to_ascii(host) else {
            continue;
        };
        // Only names under a real public suffix: "file.txt" or "v1.2" are not domains.
        let known = psl::suffix(ascii.as_bytes()).is_some_and(|s| s.is_known());
        if known
            && ascii.contains('.')
            && ascii
                .rsplit('.')
                .next()
                .is_some_and(|t| t.chars().all(|c| c.is_ascii_alphabetic() || c == '-'))
        {
            return Some(ascii);
        }
    }
    None
}

/// Judges every link, form and document of a message.
pub fn judge(cx: &Context, x: &Extracted, out: &mut Collector) {
    let rules: &LinkRules = &cx.policy.links;
    let index = &cx.policy.brand_index;
    let sender_reg = cx
        .from_domain
        .as_deref()
        .and_then(crate::domain::registrable);
    let official_sender = crate::brand::official_sender(cx);
    // Mail repeats a few hosts across many links (a newsletter's every link
    // goes to one tracker); the brand lookups depend on the host alone.
    let mut hosts: HashMap<&str, (Option<&str>, Option<Lookalike>)> = HashMap::new();
    for l in &x.links {
        let (official, lookalike) = hosts
            .entry(l.host.as_str())
            .or_insert_with(|| {
                let official = if l.ip {
                    None
                } else {
                    index.official_brand(&l.host)
                };
                let lookalike = if official.is_none() && !l.ip {
                    index.lookalike(&l.host)
                } else {
                    None
                };
                (official, lookalike)
            })
            .clone();
        if l.ip {
            out.add(
                FindingKind::LinkIpHost,
                "link to a bare IP address",
                &l.host,
                None,
            );
        }
        if let Some(u) = &l.userinfo {
            out.add(
                FindingKind::LinkUserinfo,
                "link hides its host behind userinfo",
                &format!("{u}@{}", l.host),
                None,
            );
        }
        if official.is_none() && l.host.split('.').any(|lab| lab.starts_with("xn--")) {
            out.add(
                FindingKind::LinkPunycode,
                "link host in punycode",
                &format!("{} ({})", l.host, crate::domain::to_unicode(&l.host)),
                None,
            );
        }
        if within_set(&l.host, &rules.shorteners) {
            out.add(
                FindingKind::LinkShortener,
                "link through a URL shortener",
                &l.host,
                None,
            );
        }
        if official.is_none() && within_set(&l.host, &rules.hosting) {
            out.add(
                FindingKind::LinkHosting,
                "link to a free hosting or form service",
                &l.host,
                None,
            );
        }
        if let Some(w) = credential_word(&l.path) {
            out.add(
                FindingKind::LinkCredentialPath,
                "link to a credential page",
                &format!("{} ({w})", l.host),
                official,
            );
        }
        if !rules.feed.is_empty() {
            let listed = url::Url::parse(&l.url)
                .ok()
                .and_then(|u| rules.feed.matches(&u));
            if let Some(entry) = listed {
                out.add(
                    FindingKind::LinkFeed,
                    "link listed in a phishing feed",
                    &entry,
                    None,
                );
            }
        }
        if official.is_some() || l.ip {
            continue;
        }
        if let Some(la) = lookalike {
            out.add(
                FindingKind::LinkLookalike,
                "link host imitates a protected domain",
                &format!("{} ~ {} ({})", l.host, la.imitates, la.how),
                Some(&la.brand),
            );
        }
        if let Some(brand) = brand_in_link(rules, l) {
            out.add(
                FindingKind::LinkBrand,
                "protected brand named in a non-official link",
                &l.host,
                Some(brand),
            );
        }
        if let Some(shown) = mismatch(l) {
            let brand = index.official_brand(&shown);
            // Click trackers: a known redirector, a bounced copy, or a host of
            // the sender's own domain (an ESP's branded link host). They explain
            // a mismatch unless the text shows a protected brand whose own
            // authenticated mail this is not: phishers rent the same ESPs.
            let own_tracker = sender_reg.is_some() && l.registrable == sender_reg;
            let tracker = within_set(&l.host, &rules.redirectors) || l.returned || own_tracker;
            let explained = match brand {
                None => tracker,
                Some(b) => tracker && official_sender == Some(b),
            };
            if explained {
                continue;
            }
            out.add(
                FindingKind::LinkTextMismatch,
                "link text shows another domain",
                &format!("{shown} -> {}", l.host),
                brand,
            );
        }
    }
    for f in &x.forms {
        let Some(a) = &f.action else { continue };
        let own = index.official_brand(&a.host).is_some()
            || (cx
                .from_domain
                .as_deref()
                .and_then(crate::domain::registrable)
                .is_some_and(|d| a.registrable.as_deref() == Some(d.as_str())));
        if !own {
            out.add(
                FindingKind::FormExternalAction,
                "form submits to an external host",
                &a.host,
                None,
            );
        }
    }
    for d in &x.data_uris {
        let active = d.script
            || matches!(
                d.media_type.as_str(),
                "text/html" | "application/xhtml+xml" | "image/svg+xml"
            )
            || d.media_type.contains("javascript");
        if active {
            out.add(
                FindingKind::DataUri,
                "data: URI with active content",
                &d.media_type,
                None,
            );
        }
    }
    for doc in &x.docs {
        let place = doc.attachment.as_deref().unwrap_or("message body");
        if doc.password_input || doc.code_input {
            let what = if doc.password_input {
                "password"
            } else {
                "one-time code/PIN"
            };
            out.add(
                FindingKind::FormPassword,
                "HTML asks for a secret",
                &format!("{what} field in {place}"),
                None,
            );
        }
        if let Some(name) = &doc.attachment {
            if doc.forms > 0 || doc.scripts > 0 || doc.refresh {
                let what = match (doc.forms > 0, doc.scripts > 0) {
                    (true, _) => "form",
                    (false, true) => "script",
                    _ => "refresh redirect",
                };
                out.add(
                    FindingKind::HtmlAttachment,
                    "HTML attachment with active content",
                    &format!("{name} ({what})"),
                    None,
                );
            }
        }
    }
}

/// The brand whose name or domain label appears in the host or path of a
/// link that is not the brand's own.
fn brand_in_link<'r>(rules: &'r LinkRules, l: &Link) -> Option<&'r str> {
    rules
        .brand_words
        .brands_in(&l.host, &l.path)
        .into_iter()
        .map(|i| &rules.brand_terms[i])
        .find(|t| !t.owns(&l.host))
        .map(|t| t.brand.as_str())
}

/// The domain a link's text shows, when the link goes to another registrable
/// domain.
fn mismatch(l: &Link) -> Option<String> {
    let shown = text_domain(l.text.as_deref()?)?;
    let shown_reg = crate::domain::registrable(&shown)?;
    if l.registrable.as_deref() == Some(shown_reg.as_str()) {
        return None;
    }
    // A tracking redirect that carries the shown destination in its query
    // goes where the text says.
    if l.path.contains(shown.as_str()) || l.path.contains(shown_reg.as_str()) {
        return None;
    }
    Some(shown)
}
