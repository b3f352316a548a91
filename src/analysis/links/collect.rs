//! One finding per kind for all the links of a message, naming a few
//! examples, so a newsletter with 200 tracked links gives one line, not 200.

use crate::vocab::findings::{Finding, FindingKind};
use crate::vocab::sanitize;

/// Collects up to a few hosts per kind, so one finding per kind names examples.
#[derive(Default)]
pub struct Collector {
    hits: Vec<KindExamples>,
    /// Where the link being judged came from, when the reader cannot see
    /// it in the mail (a QR code): added to every example it gives.
    source: Option<String>,
}

struct KindExamples {
    kind: FindingKind,
    what: &'static str,
    examples: Vec<String>,
    more: usize,
    brand: Option<String>,
}

const EXAMPLES: usize = 3;

impl Collector {
    /// Sets or clears the [`Collector::source`] note for the examples that follow.
    pub fn source(&mut self, note: Option<String>) {
        self.source = note;
    }

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
                self.hits.push(KindExamples {
                    kind,
                    what,
                    examples: Vec::new(),
                    more: 0,
                    brand: None,
                });
                self.hits.len() - 1
            }
        };
        let noted;
        let example = match &self.source {
            Some(note) => {
                noted = format!("{example} ({note})");
                noted.as_str()
            }
            None => example,
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

    pub fn into_findings(self) -> Vec<Finding> {
        self.hits
            .into_iter()
            .map(|h| {
                let mut ev = format!("{}: {}", h.what, h.examples.join(", "));
                if h.more > 0 {
                    ev.push_str(&format!(" (+{} more)", h.more));
                }
                let f = Finding::new(h.kind, sanitize::one_line(&ev, 300));
                match h.brand {
                    Some(b) => f.with_brand(b),
                    None => f,
                }
            })
            .collect()
    }
}
