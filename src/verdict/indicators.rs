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

/// Sender findings that make the From domain itself a lookalike.
fn lookalike_sender(kind: FindingKind) -> bool {
    use FindingKind::*;
    matches!(kind, Homograph | Typo | TldSwap | Combo | Subdomain)
}

/// The indicators of one message; the caller decides that it is flagged.
pub fn of(analysis: &Analysis) -> Indicators {
    let mut out = Indicators::default();
    if let Some(d) = &analysis.from_domain {
        if analysis.findings.iter().any(|f| lookalike_sender(f.kind)) {
            out.lookalike_domains
                .push(crate::vocab::sanitize::one_line(d, 253));
        }
    }
    for link in &analysis.offsite {
        let Some(url) = shareable_url(&link.url) else {
            continue;
        };
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
