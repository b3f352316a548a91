//! Links to credential pages: every link wherever it hides, and where it really goes.
//!
//! STUB: the interface the rest of the crate relies on; the engine is being built.

use crate::analysis::Context;
use crate::findings::Finding;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// Lists and feeds for link judgement, built once per policy load.
#[derive(Debug, Default)]
pub struct LinkRules {
    pub shorteners: HashSet<String>,
    pub redirectors: HashSet<String>,
}

impl LinkRules {
    /// Errors carry the feed file, 1-based line and message.
    pub fn new(
        shorteners: HashSet<String>,
        redirectors: HashSet<String>,
        _feeds: &[PathBuf],
    ) -> Result<Self, (PathBuf, usize, String)> {
        Ok(LinkRules {
            shorteners,
            redirectors,
        })
    }

    /// Feed files to watch for changes.
    pub fn feed_paths(&self) -> &[&Path] {
        &[]
    }
}

/// Findings about links, forms and HTML attachments.
pub fn check(_cx: &Context) -> Vec<Finding> {
    Vec::new()
}
