//! Links to credential pages: every link wherever it hides, and where it really goes.
//!
//! [`extract`] finds and normalises links, forms and HTML documents;
//! [`judge`] turns them into findings against the policy; [`feed`] holds the
//! phishing URL feeds. Everything the judges compare against is built once in
//! [`LinkRules::new`], so a message costs lookups, not rebuilding.

pub mod extract;
pub mod feed;
pub mod judge;

use crate::analysis::Context;
use crate::findings::{Finding, FindingKind};
pub use extract::{extract, Extracted, Link};
pub use feed::Feed;
pub use judge::BrandTerms;
use std::collections::HashSet;
use std::path::PathBuf;

/// Lists and feeds for link judgement, built once per policy load.
#[derive(Debug, Default)]
pub struct LinkRules {
    pub shorteners: HashSet<String>,
    pub redirectors: HashSet<String>,
    /// Known phishing hosts, host+paths and URLs.
    pub feed: Feed,
    /// Protected brands' words, for [`FindingKind::LinkBrand`].
    pub brand_terms: Vec<BrandTerms>,
    feed_paths: Vec<PathBuf>,
}

impl LinkRules {
    /// Errors carry the feed file, 1-based line (0 when the file cannot be read) and message.
    pub fn new(
        shorteners: HashSet<String>,
        redirectors: HashSet<String>,
        feeds: &[PathBuf],
    ) -> Result<Self, (PathBuf, usize, String)> {
        let mut feed = Feed::default();
        for path in feeds {
            feed.load_file(path)?;
        }
        Ok(LinkRules {
            shorteners,
            redirectors,
            feed,
            brand_terms: Vec::new(),
            feed_paths: feeds.to_vec(),
        })
    }

    /// Adds the protected brands' words, so brand matching needs no per-message setup.
    pub fn with_brands(mut self, brands: &[crate::policy::Brand]) -> Self {
        self.brand_terms = brands.iter().map(BrandTerms::of).collect();
        self
    }

    /// Feed files to watch for changes.
    pub fn feed_paths(&self) -> &[PathBuf] {
        &self.feed_paths
    }
}

/// Findings about links, forms and HTML attachments.
pub fn check(cx: &Context) -> Vec<Finding> {
    let x = extract(cx.msg, cx.limits);
    let mut out = judge::Collector::default();
    judge::judge(cx, &x, &mut out);
    let mut findings = out.into_findings();
    if !x.truncated.is_empty() {
        findings.push(Finding::new(FindingKind::Truncated, x.truncated.join("; ")));
    }
    findings
}
