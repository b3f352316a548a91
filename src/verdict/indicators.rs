//! Indicators of flagged mail for the security team's report and the
//! takedown export: the lookalike sender domain and the hosts and URLs the
//! mail links to off the brands' own sites.
//!
//! They go into the `verdict` log line, so nothing here may carry a
//! recipient: URLs lose user info, query and fragment (phishing links often
//! carry the victim's address there), and a path naming an address is cut
//! to `/`.

use crate::analysis::Analysis;
use crate::vocab::findings::FindingKind;
pub use crate::vocab::sanitize::shareable_url;
use serde::Serialize;

/// At most this many URLs and hosts per message: a log line stays bounded.
pub const MAX_PER_MESSAGE: usize = 8;
pub use crate::vocab::sanitize::MAX_URL_CHARS;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Indicators {
    pub lookalike_domains: Vec<String>,
    pub url_hosts: Vec<String>,
    pub urls: Vec<String>,
}

/// Sender findings that make a sender-side domain itself a lookalike.
fn lookalike_sender(kind: FindingKind) -> bool {
    use FindingKind::*;
    matches!(kind, Homograph | Typo | TldSwap | Combo | Subdomain)
}

/// Link findings that judge the link itself (its host imitates a brand, it
/// opens a credential page, it is a bare IP, a feed lists it): only links
/// these name are indicators. A link that merely sits in flagged mail (the
/// list footer, the brand's real site, a newsletter's click tracker) is
/// not, or a takedown request would name innocent sites.
fn pointing_link(kind: FindingKind) -> bool {
    use FindingKind::*;
    matches!(
        kind,
        LinkLookalike | LinkCredentialPath | LinkIpHost | LinkFeed
    )
}

/// Mailing-list furniture that a list adds to every message it relays,
/// phishing or not.
fn list_footer(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    ["/listinfo/", "/mailman/", "unsubscribe", "/options/"]
        .iter()
        .any(|p| lower.contains(p))
}

/// Whether `evidence` (`what: EXAMPLE, EXAMPLE (+n more)`, each example
/// starting with the host) names `host`.
fn names_host(evidence: &str, host: &str) -> bool {
    let examples = evidence.split_once(": ").map_or(evidence, |(_, e)| e);
    examples.split(", ").any(|e| {
        let first = e
            .trim_start_matches(|c: char| c.is_whitespace())
            .split([' ', '/', '~'])
            .next()
            .unwrap_or("");
        let in_url = e.match_indices("://").any(|(at, _)| {
            let rest = &e[at + 3..];
            rest.get(..host.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(host))
                && rest[host.len()..]
                    .chars()
                    .next()
                    .is_none_or(|c| matches!(c, '/' | ':' | ' ' | '?' | '#'))
        });
        first.eq_ignore_ascii_case(host) || in_url
    })
}

/// The indicators of one message; the caller decides that it is flagged.
pub fn of(analysis: &Analysis) -> Indicators {
    let mut out = Indicators::default();
    for f in &analysis.findings {
        if !lookalike_sender(f.kind) {
            continue;
        }
        // The domain the finding was raised on (MAIL FROM or Reply-To may
        // be the lookalike while the header From is the brand's own).
        let Some(d) = f.domain.as_ref().or(analysis.from_domain.as_ref()) else {
            continue;
        };
        let d = crate::vocab::sanitize::one_line(d, 253);
        if out.lookalike_domains.len() < MAX_PER_MESSAGE && !out.lookalike_domains.contains(&d) {
            out.lookalike_domains.push(d);
        }
    }
    // Mail that names no brand has no impersonation to report, except what
    // a feed already lists.
    let names_brand = analysis.findings.iter().any(|f| f.brand.is_some());
    let pointing: Vec<&crate::vocab::findings::Finding> = analysis
        .findings
        .iter()
        .filter(|f| pointing_link(f.kind) && (names_brand || f.kind == FindingKind::LinkFeed))
        .collect();
    for link in &analysis.offsite {
        if !pointing
            .iter()
            .any(|f| names_host(&f.evidence, &link.host) || f.evidence.contains(&link.url))
        {
            continue;
        }
        let Some(url) = shareable_url(&link.url) else {
            continue;
        };
        if list_footer(&url) {
            continue;
        }
        if out.urls.len() < MAX_PER_MESSAGE && !out.urls.contains(&url) {
            out.urls.push(url);
        }
        let host = crate::vocab::sanitize::one_line(&link.host, 253);
        if out.url_hosts.len() < MAX_PER_MESSAGE && !out.url_hosts.contains(&host) {
            out.url_hosts.push(host);
        }
    }
    out
}

/// Free text (a finding's evidence) with every URL in it reduced as
/// [`shareable_url`] does, for log lines: evidence may quote a link whose
/// query or path names the recipient. A URL that does not parse becomes
/// `(url)`.
pub fn reduce_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = url_start(rest) {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let len = tail
            .find(|c: char| c.is_whitespace() || "\"'<>".contains(c))
            .unwrap_or(tail.len());
        // Punctuation that closes the sentence around the URL stays text.
        let url = tail[..len].trim_end_matches([',', ';', ')', '.']);
        out.push_str(shareable_url(url).as_deref().unwrap_or("(url)"));
        rest = &tail[url.len()..];
    }
    out.push_str(rest);
    out
}

/// Byte offset of the next `http://` or `https://`, in any case.
fn url_start(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    ["http://", "https://"]
        .iter()
        .filter_map(|scheme| lower.find(scheme))
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Offsite;
    use crate::vocab::findings::Finding;

    fn offsite(host: &str, url: &str) -> Offsite {
        Offsite {
            host: host.into(),
            url: url.into(),
        }
    }

    /// Issue #22 items 1 and 2: the lookalike is the domain the finding was
    /// raised on, and only links a finding judged are exported.
    #[test]
    fn indicators_are_what_findings_point_at() {
        let analysis = Analysis {
            findings: vec![
                Finding::new(
                    FindingKind::TldSwap,
                    "MAIL FROM domain smbc.co.com imitates smbc.co.jp (brand smbc): tld",
                )
                .with_brand("smbc")
                .with_domain("smbc.co.com"),
                Finding::new(
                    FindingKind::LinkCredentialPath,
                    "link to a credential page: smbc-login.example (login)",
                ),
                Finding::new(
                    FindingKind::LinkHosting,
                    "link to a free hosting or form service: tracker.example",
                ),
            ],
            from_domain: Some("smbc.co.jp".into()),
            offsite: vec![
                offsite(
                    "smbc-login.example",
                    "https://smbc-login.example/login?u=a@b.jp",
                ),
                offsite("lists.example", "https://lists.example/lists/listinfo/x"),
                offsite("tracker.example", "https://tracker.example/c/1"),
                offsite("www.smbc-group.example", "https://www.smbc-group.example/"),
            ],
            ..Default::default()
        };
        let ind = of(&analysis);
        assert_eq!(ind.lookalike_domains, ["smbc.co.com"]);
        assert_eq!(ind.urls, ["https://smbc-login.example/login"]);
        assert_eq!(ind.url_hosts, ["smbc-login.example"]);
    }

    #[test]
    fn mail_naming_no_brand_exports_only_feed_hits_and_never_list_footers() {
        let analysis = Analysis {
            findings: vec![
                Finding::new(
                    FindingKind::LinkCredentialPath,
                    "link to a credential page: shop.example (login), lists.example (login)",
                ),
                Finding::new(
                    FindingKind::LinkFeed,
                    "link listed in a phishing feed: https://known-bad.example/x",
                ),
            ],
            offsite: vec![
                offsite("shop.example", "https://shop.example/login"),
                offsite("known-bad.example", "https://known-bad.example/x"),
            ],
            ..Default::default()
        };
        assert_eq!(of(&analysis).urls, ["https://known-bad.example/x"]);
        assert!(list_footer("https://lists.example/mailman/options/x"));
        assert!(names_host(
            "a: x.example (login), y.example ~ z (tld)",
            "y.example"
        ));
        assert!(!names_host("a: x.example.evil (login)", "x.example"));
        assert!(!names_host("feed: https://x.example.evil/", "x.example"));
    }

    #[test]
    fn evidence_keeps_its_words_and_loses_what_urls_say_of_the_recipient() {
        assert_eq!(
            reduce_urls("link listed in a phishing feed: HTTPS://evil.example/l?u=alice@bank.jp, http://x.example/a#b (+1 more)"),
            "link listed in a phishing feed: https://evil.example/l, http://x.example/a (+1 more)"
        );
        assert_eq!(
            reduce_urls("shown \"https://alice@bank.jp@evil.example/\" -> evil.example"),
            "shown \"https://evil.example/\" -> evil.example"
        );
        assert_eq!(reduce_urls("no link here"), "no link here");
        assert_eq!(reduce_urls("broken https:// here"), "broken (url) here");
    }
}
