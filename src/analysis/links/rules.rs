//! The link rules: each looks at one normalised link (or form, or data URI,
//! or HTML document) and the policy, and adds to the finding kind it
//! supports. [`apply`] runs them in a fixed order, which is the order the
//! findings come out in.

use super::collect::Collector;
use super::extract::{DataUri, Extracted, Form, HtmlDoc, Link};
use super::LinkRules;
use crate::analysis::brand::{BrandIndex, Lookalike};
use crate::vocab::domain;
use crate::vocab::findings::FindingKind;
use crate::vocab::message::Mail;
use std::collections::HashMap;

/// What the brand index says about one link host.
#[derive(Clone)]
struct HostFacts<'p> {
    /// The protected brand that owns the host.
    official: Option<&'p str>,
    /// The protected domain it imitates, when it is not official.
    lookalike: Option<Lookalike>,
}

/// Everything a link rule may consult besides the link itself.
struct Judge<'a> {
    mail: &'a Mail<'a>,
    rules: &'a LinkRules,
    index: &'a BrandIndex,
}

/// Runs every rule over every link, form, data URI and document of a message.
pub fn apply(
    mail: &Mail,
    x: &Extracted,
    rules: &LinkRules,
    index: &BrandIndex,
    out: &mut Collector,
) {
    let j = Judge { mail, rules, index };
    // Mail repeats a few hosts across many links (a newsletter's every link
    // goes to one tracker); the brand lookups depend on the host alone.
    let mut hosts: HashMap<&str, HostFacts> = HashMap::new();
    for l in &x.links {
        let facts = hosts
            .entry(l.host.as_str())
            .or_insert_with(|| host_facts(index, l))
            .clone();
        out.source(l.image.as_ref().map(|part| qr_note(l, part)));
        j.link(l, facts, out);
    }
    out.source(None);
    for f in &x.forms {
        j.form(f, out);
    }
    for d in &x.data_uris {
        data_uri(d, out);
    }
    for doc in &x.docs {
        secret_input(doc, out);
        active_attachment(doc, out);
    }
}

/// Where a QR code link was read, and the URL it opens: the reader never
/// sees it in the mail, so the evidence must show it. Query and user info
/// are left out, as they may name the recipient.
fn qr_note(l: &Link, part: &str) -> String {
    let url = crate::vocab::sanitize::shareable_url(&l.url).unwrap_or_else(|| l.host.clone());
    format!("QR code in {part}: {url}")
}

fn host_facts<'p>(index: &'p BrandIndex, l: &Link) -> HostFacts<'p> {
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
    HostFacts {
        official,
        lookalike,
    }
}

impl Judge<'_> {
    fn link(&self, l: &Link, host: HostFacts, out: &mut Collector) {
        ip_host(l, out);
        userinfo(l, out);
        if host.official.is_none() {
            punycode(l, out);
        }
        self.shortener(l, out);
        if host.official.is_none() {
            self.hosting(l, out);
        }
        credential_path(l, host.official, out);
        self.download(l, out);
        self.feed(l, out);
        if host.official.is_some() || l.ip {
            return;
        }
        if let Some(la) = host.lookalike {
            out.add(
                FindingKind::LinkLookalike,
                "link host imitates a protected domain",
                &format!("{} ~ {} ({})", l.host, la.imitates, la.how),
                Some(&la.brand),
            );
        }
        self.brand_named(l, out);
        self.text_mismatch(l, out);
    }

    /// A link to a file a reader would run. The sender's own authenticated
    /// domain may offer its own installers (a software vendor's release
    /// mail); anyone else's is what malware mail looks like.
    fn download(&self, l: &Link, out: &mut Collector) {
        let Some((name, what)) = super::download::download_of(l) else {
            return;
        };
        let own = l.registrable.is_some()
            && l.registrable == self.mail.sender_registrable
            && self.mail.auth.dmarc_pass();
        if !own {
            out.add(
                FindingKind::LinkDownload,
                "link downloads a file a reader would run",
                &format!("{} ({what}: {name})", l.host),
                None,
            );
        }
    }

    fn shortener(&self, l: &Link, out: &mut Collector) {
        if domain::under_any(&l.host, &self.rules.shorteners) {
            out.add(
                FindingKind::LinkShortener,
                "link through a URL shortener",
                &l.host,
                None,
            );
        }
    }

    fn hosting(&self, l: &Link, out: &mut Collector) {
        if domain::under_any(&l.host, &self.rules.hosting) {
            out.add(
                FindingKind::LinkHosting,
                "link to a free hosting or form service",
                &l.host,
                None,
            );
        }
    }

    fn feed(&self, l: &Link, out: &mut Collector) {
        let feed = &self.rules.feed;
        if feed.is_empty() {
            return;
        }
        let listed = url::Url::parse(&l.url).ok().and_then(|u| feed.matches(&u));
        if let Some(entry) = listed {
            out.add(
                FindingKind::LinkFeed,
                "link listed in a phishing feed",
                &entry,
                None,
            );
        }
    }

    fn brand_named(&self, l: &Link, out: &mut Collector) {
        if let Some(brand) = brand_in_link(self.rules, l) {
            out.add(
                FindingKind::LinkBrand,
                "protected brand named in a non-official link",
                &l.host,
                Some(brand),
            );
        }
    }

    fn text_mismatch(&self, l: &Link, out: &mut Collector) {
        let Some(shown) = mismatch(l) else { return };
        let brand = self.index.official_brand(&shown);
        // Click trackers: a known redirector or a bounced copy explain a
        // mismatch unless the text shows a protected brand whose own
        // authenticated mail this is not: phishers rent the same ESPs. A
        // host of the sender's own domain (a newsletter's link tracker)
        // explains it whatever the text shows: the link leads where the
        // From address says the mail comes from, and a digest naming a
        // brand in one link is talking about it, not speaking as it.
        let sender_reg = &self.mail.sender_registrable;
        let own_tracker = sender_reg.is_some() && l.registrable == *sender_reg;
        let tracker = domain::under_any(&l.host, &self.rules.redirectors) || l.returned;
        let explained = own_tracker
            || match brand {
                None => tracker,
                Some(b) => tracker && self.mail.official_sender == Some(b),
            };
        if explained {
            return;
        }
        out.add(
            FindingKind::LinkTextMismatch,
            "link text shows another domain",
            &format!("{shown} -> {}", l.host),
            brand,
        );
    }

    fn form(&self, f: &Form, out: &mut Collector) {
        // Only a form that sends what is typed can collect credentials.
        if !f.collects {
            return;
        }
        let Some(a) = &f.action else { return };
        let own = self.index.official_brand(&a.host).is_some()
            || (self
                .mail
                .sender_registrable
                .as_ref()
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
}

fn ip_host(l: &Link, out: &mut Collector) {
    if l.ip {
        out.add(
            FindingKind::LinkIpHost,
            "link to a bare IP address",
            &l.host,
            None,
        );
    }
}

fn userinfo(l: &Link, out: &mut Collector) {
    if let Some(u) = &l.userinfo {
        out.add(
            FindingKind::LinkUserinfo,
            "link hides its host behind userinfo",
            &format!("{u}@{}", l.host),
            None,
        );
    }
}

fn punycode(l: &Link, out: &mut Collector) {
    if l.host.split('.').any(|lab| lab.starts_with("xn--")) {
        out.add(
            FindingKind::LinkPunycode,
            "link host in punycode",
            &format!("{} ({})", l.host, domain::to_unicode(&l.host)),
            None,
        );
    }
}

fn credential_path(l: &Link, official: Option<&str>, out: &mut Collector) {
    if let Some(w) = credential_word(&l.path) {
        out.add(
            FindingKind::LinkCredentialPath,
            "link to a credential page",
            &format!("{} ({w})", l.host),
            official,
        );
    }
}

fn data_uri(d: &DataUri, out: &mut Collector) {
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

fn secret_input(doc: &HtmlDoc, out: &mut Collector) {
    if !(doc.password_input || doc.code_input) {
        return;
    }
    let place = doc.attachment.as_deref().unwrap_or("message body");
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

fn active_attachment(doc: &HtmlDoc, out: &mut Collector) {
    let Some(name) = &doc.attachment else { return };
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
        let Some(ascii) = domain::to_ascii(host) else {
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

/// The brand whose name or domain label appears in the host or path of a
/// link that is not the brand's own.
fn brand_in_link<'r>(rules: &'r LinkRules, l: &Link) -> Option<&'r str> {
    let foreign = |i: usize| Some(&rules.brand_terms[i]).filter(|t| !t.owns(&l.host));
    let words = &rules.brand_words;
    if let Some(t) = words.brands_in(&l.host, "").into_iter().find_map(foreign) {
        return Some(t.brand.as_str());
    }
    // A brand named only in the path is how brands link their profiles on
    // other platforms (`twitter.com/usps`). It is a lure when the path
    // leads to a credential page (`evil.example/amazon/signin`), sits on a
    // page anyone can publish (`storage.googleapis.com/fedex/...`), or
    // spells out the brand's own domain (`evil.example/smbc.co.jp/`).
    let lure_path =
        credential_word(&l.path).is_some() || domain::under_any(&l.host, &rules.hosting);
    words
        .brands_in("", &l.path)
        .into_iter()
        .filter_map(foreign)
        .find(|t| lure_path || t.own.iter().any(|d| l.path.contains(d.as_str())))
        .map(|t| t.brand.as_str())
}

/// The domain a link's text shows, when the link goes to another registrable
/// domain.
fn mismatch(l: &Link) -> Option<String> {
    let shown = text_domain(l.text.as_deref()?)?;
    let shown_reg = domain::registrable(&shown)?;
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
