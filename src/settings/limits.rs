//! The `[limits]` table of the configuration: the analysis [`Bounds`] and
//! the daemon's own bounds, which one table keeps together for operators.

use crate::vocab::message::Bounds;
use serde::{Deserialize, Serialize};

/// Bounds on the work one message or connection may cause.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Bytes of a message kept for analysis; the rest passes through unread.
    pub max_message_bytes: usize,
    pub max_headers: usize,
    pub max_mime_parts: usize,
    pub max_mime_depth: usize,
    /// Bytes of HTML handed to the tokenizer, per message.
    pub max_html_bytes: usize,
    pub max_links: usize,
    /// Images decoded to look for QR codes, per message.
    pub max_qr_images: usize,
    /// Images with more pixels than this (by their header) are not decoded.
    pub max_qr_image_pixels: u64,
    /// Pixels decoded to look for QR codes, per message.
    pub max_qr_pixels_total: u64,
    /// Concurrent milter connections; more wait in the listen queue.
    pub max_connections: usize,
    /// Upper bound for the analysis of one message (parsing, links, HTML,
    /// attachments, QR codes): past it the stages still to run are skipped
    /// and the verdict judges what was seen, with a `truncated` finding.
    pub analysis_deadline_ms: u64,
    /// Forged verdict fields (our `X-Kinko-*`, or `Authentication-Results`
    /// with our authserv-id) a message may carry; each is deleted, and a
    /// message with more is refused (5.7.1) rather than asking the MTA for
    /// thousands of edits (Postfix's cleanup fails from about 14,000).
    pub max_forged_fields: usize,
    /// Upper bound for authentication (DNS) of one message.
    pub message_time_budget_ms: u64,
    /// DKIM signatures verified per message (each costs a DNS lookup);
    /// the rest are not verified and our Authentication-Results says so.
    pub max_dkim_signatures: usize,
    /// Bytes of the Authentication-Results field we write; DKIM results
    /// beyond it are counted, not listed.
    pub max_auth_results_bytes: usize,
    /// A silent MTA connection is dropped after this long.
    pub connection_timeout_s: u64,
    /// Longest stretch a peer may take from connect to MAIL, from MAIL to
    /// the end of that message, or between messages, however it spaces
    /// its packets; then the connection is closed.
    pub message_timeout_s: u64,
}

impl Default for Limits {
    fn default() -> Self {
        let b = Bounds::default();
        let a = AuthBounds::default();
        Limits {
            max_message_bytes: b.max_message_bytes,
            max_headers: 1000,
            max_mime_parts: b.max_mime_parts,
            max_mime_depth: b.max_mime_depth,
            max_html_bytes: b.max_html_bytes,
            max_links: b.max_links,
            max_qr_images: b.max_qr_images,
            max_qr_image_pixels: b.max_qr_image_pixels,
            max_qr_pixels_total: b.max_qr_pixels_total,
            max_connections: 100,
            analysis_deadline_ms: 2_000,
            max_forged_fields: 50,
            message_time_budget_ms: 10_000,
            max_dkim_signatures: a.max_dkim_signatures,
            max_auth_results_bytes: a.max_auth_results_bytes,
            connection_timeout_s: 300,
            message_timeout_s: 600,
        }
    }
}

impl Limits {
    pub fn message_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.message_timeout_s.max(1))
    }

    /// The part of the table that bounds authentication.
    pub fn auth_bounds(&self) -> AuthBounds {
        AuthBounds {
            max_dkim_signatures: self.max_dkim_signatures,
            max_auth_results_bytes: self.max_auth_results_bytes,
        }
    }

    /// The part of the table that bounds analysis, with the deadline
    /// starting now.
    pub fn bounds(&self) -> Bounds {
        Bounds {
            max_message_bytes: self.max_message_bytes,
            max_mime_parts: self.max_mime_parts,
            max_mime_depth: self.max_mime_depth,
            max_html_bytes: self.max_html_bytes,
            max_links: self.max_links,
            max_qr_images: self.max_qr_images,
            max_qr_image_pixels: self.max_qr_image_pixels,
            max_qr_pixels_total: self.max_qr_pixels_total,
            deadline: crate::vocab::message::Deadline::in_ms(self.analysis_deadline_ms),
        }
    }
}

/// What one message may ask of the verifier: each DKIM signature costs a
/// DNS lookup and a line in our header, and a sender may add as many as
/// it likes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthBounds {
    /// DKIM signatures verified per message, topmost first; the rest are
    /// not verified, and our header says how many.
    pub max_dkim_signatures: usize,
    /// Bytes of our own `Authentication-Results` value; DKIM results that
    /// do not fit are counted in a comment instead of listed.
    pub max_auth_results_bytes: usize,
}

impl Default for AuthBounds {
    fn default() -> Self {
        AuthBounds {
            max_dkim_signatures: 10,
            max_auth_results_bytes: 4096,
        }
    }
}
