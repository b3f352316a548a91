//! The one analysis that the milter, `check` and `eval` all run.
//!
//! Pure and synchronous: authentication (the only part that needs DNS) has
//! already happened and arrives as an [`AuthSummary`]. Given the same bytes,
//! envelope, auth results and policy, it always gives the same findings.

use crate::auth::AuthSummary;
use crate::findings::{Finding, FindingKind};
use crate::policy::Policy;
use mail_parser::{Message, MessageParser, PartType};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// What the MTA told us about the SMTP transaction.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Envelope {
    pub client_ip: Option<IpAddr>,
    pub client_name: Option<String>,
    pub helo: String,
    /// MAIL FROM address without angle brackets; empty for the null sender.
    pub mail_from: String,
    pub rcpts: Vec<String>,
    pub queue_id: Option<String>,
}

/// Bounds on the work one message or connection may cause. Reaching an
/// analysis bound is reported as a `truncated` finding, never silently.
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
    /// Concurrent milter connections; more wait in the listen queue.
    pub max_connections: usize,
    /// Upper bound for authentication (DNS) of one message.
    pub message_time_budget_ms: u64,
    /// A silent MTA connection is dropped after this long.
    pub connection_timeout_s: u64,
    /// Longest stretch a peer may take from connect to MAIL, from MAIL to
    /// the end of that message, or between messages, however it spaces
    /// its packets; then the connection is closed.
    pub message_timeout_s: u64,
}

impl Limits {
    pub fn message_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.message_timeout_s.max(1))
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 4 * 1024 * 1024,
            max_headers: 1000,
            max_mime_parts: 200,
            max_mime_depth: 10,
            max_html_bytes: 2 * 1024 * 1024,
            max_links: 500,
            max_connections: 100,
            message_time_budget_ms: 10_000,
            connection_timeout_s: 300,
            message_timeout_s: 600,
        }
    }
}

/// Everything an analysis module may look at.
pub struct Context<'a> {
    pub msg: &'a Message<'a>,
    pub env: &'a Envelope,
    pub auth: &'a AuthSummary,
    pub policy: &'a Policy,
    pub limits: &'a Limits,
    /// RFC 5322 From domain (ASCII, lower-case), if there is exactly one.
    pub from_domain: Option<String>,
}

/// Findings, scored by the policy.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Analysis {
    pub findings: Vec<Finding>,
    pub score: i32,
    pub from_domain: Option<String>,
    /// Whether the kept bytes were cut at `max_message_bytes`.
    pub truncated: bool,
}

/// Kinds that mean "this mail asks for credentials". A lure counts: its
/// wording asks for them even when the link hides the login path.
const CREDENTIAL_ASKS: &[FindingKind] = &[
    FindingKind::LinkCredentialPath,
    FindingKind::LinkFeed,
    FindingKind::FormPassword,
    FindingKind::HtmlAttachment,
    FindingKind::CredentialLure,
];

pub fn parse(raw: &[u8]) -> Parsed<'_> {
    // mail-parser returns None for input with no header at all (empty, or
    // only blank lines). Judge such input as an empty message rather than
    // fail: a hand-built Message without parts would make mail-parser's
    // accessors index out of bounds.
    //
    // mail-parser 0.11 also has a `debug_assert!` that fires on some
    // malformed multipart nesting (found by fuzzing, which builds with debug
    // assertions; release builds go on parsing). Should anything in it
    // panic, the input is treated the same way instead of taking the
    // message down.
    let parsed = std::panic::catch_unwind(|| MessageParser::default().parse(raw))
        .ok()
        .flatten();
    Parsed(Some(parsed.unwrap_or_else(|| {
        MessageParser::default()
            .parse(EMPTY_MESSAGE)
            .expect("a header-only message parses")
    })))
}

/// A parsed message that is taken apart without recursion when dropped.
///
/// mail-parser parses iteratively, but it nests each `message/rfc822`
/// part's message inside its parent, and the compiler's drop of that tree
/// recurses once per level: 35,000 levels (1 MB of mail) overflow a worker
/// thread's stack and abort the process, which no `catch_unwind` can stop.
/// Every walk of ours is bounded by `max_mime_depth`; this makes the drop
/// flat as well, whatever the depth.
pub struct Parsed<'x>(Option<Message<'x>>);

impl<'x> std::ops::Deref for Parsed<'x> {
    type Target = Message<'x>;

    fn deref(&self) -> &Message<'x> {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for Parsed<'_> {
    fn drop(&mut self) {
        let mut pending: Vec<Message> = self.0.take().into_iter().collect();
        while let Some(mut msg) = pending.pop() {
            for part in &mut msg.parts {
                if matches!(part.body, PartType::Message(_)) {
                    if let PartType::Message(inner) =
                        std::mem::replace(&mut part.body, PartType::Multipart(Vec::new()))
                    {
                        pending.push(inner);
                    }
                }
            }
            // `msg` now holds no nested message: dropping it is flat.
        }
    }
}

const EMPTY_MESSAGE: &[u8] = b"X-Kinko-Empty: 1\r\n\r\n";

/// The RFC 5322 From domain, when the message has a single From address.
pub fn from_domain(msg: &Message) -> Option<String> {
    let from = msg.from()?;
    let first = from.first()?;
    if from.iter().count() != 1 {
        return None;
    }
    crate::domain::of_address(first.address()?)
}

pub fn analyze(
    raw: &[u8],
    truncated: bool,
    env: &Envelope,
    auth: &AuthSummary,
    policy: &Policy,
    limits: &Limits,
) -> Analysis {
    let msg = parse(raw);
    let cx = Context {
        from_domain: from_domain(&msg),
        msg: &msg,
        env,
        auth,
        policy,
        limits,
    };
    let mut findings = crate::auth::findings(auth);
    findings.extend(crate::brand::check_sender(&cx));
    findings.extend(crate::links::check(&cx));
    if truncated {
        findings.push(Finding::new(
            FindingKind::Truncated,
            format!(
                "message larger than max_message_bytes ({}); only the start was analysed",
                limits.max_message_bytes
            ),
        ));
    }
    combine(&cx, &mut findings);
    for f in &mut findings {
        f.score = policy.score(f.kind);
    }
    let score = findings.iter().map(|f| f.score).sum();
    Analysis {
        findings,
        score,
        from_domain: cx.from_domain.clone(),
        truncated,
    }
}

/// The combination that matters most: a brand claim together with a request
/// for credentials. Official mail of the brand that asks for credentials gets
/// a kind of its own, so the bank decides what to do with it.
fn combine(cx: &Context, findings: &mut Vec<Finding>) {
    hosted_lure(findings);
    let asks = findings.iter().find(|f| CREDENTIAL_ASKS.contains(&f.kind));
    let Some(asks) = asks else { return };
    let ask_kind = asks.kind;
    if let Some(brand) = crate::brand::official_sender(cx) {
        findings.push(
            Finding::new(
                FindingKind::OfficialCredentialLink,
                format!("authenticated mail of brand {brand} carries {ask_kind}"),
            )
            .with_brand(brand),
        );
        return;
    }
    if let Some(claim) = findings.iter().find(|f| f.kind.is_brand_claim()) {
        let mut f = Finding::new(
            FindingKind::BrandCredentialLink,
            format!("{} together with {}", claim.kind, ask_kind),
        );
        f.brand = claim.brand.clone();
        findings.push(f);
    }
}

/// Lure wording on a free hosting platform. A legitimate service that
/// writes "verify your account … suspended" sends from and links to its own
/// domain; a phisher's page often lives on someone else's free platform.
fn hosted_lure(findings: &mut Vec<Finding>) {
    if !findings
        .iter()
        .any(|f| f.kind == FindingKind::CredentialLure)
    {
        return;
    }
    let hosting = findings.iter().find(|f| {
        matches!(
            f.kind,
            FindingKind::SenderHosting | FindingKind::LinkHosting
        )
    });
    if let Some(h) = hosting {
        let evidence = format!("credential-lure together with {} ({})", h.kind, h.evidence);
        findings.push(Finding::new(FindingKind::HostedLure, evidence));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100,000 levels of each kind of nesting are judged on a thread with
    /// half the stack of a tokio worker: nothing recurses per level.
    #[test]
    fn deep_nesting_needs_no_deep_stack() {
        const LEVELS: usize = 100_000;
        let head = b"From: a@example.com\r\nMIME-Version: 1.0\r\n".to_vec();
        let mut rfc822 = head.clone();
        rfc822.extend(b"Content-Type: message/rfc822\r\n\r\n".repeat(LEVELS));
        let mut multipart = head.clone();
        for i in 0..LEVELS {
            multipart.extend(
                format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").bytes(),
            );
        }
        let mut html = head;
        html.extend(b"Content-Type: text/html\r\n\r\n");
        html.extend(b"<div>".repeat(LEVELS));
        html.extend(b"<a href=\"http://x.example/\">x</a>");
        let limits = Limits {
            max_message_bytes: usize::MAX,
            ..Limits::default()
        };
        let worker = std::thread::Builder::new()
            .stack_size(1024 * 1024)
            .spawn(move || {
                let policy = Policy::embedded().unwrap();
                for raw in [rfc822, multipart, html] {
                    let a = analyze(
                        &raw,
                        false,
                        &Envelope::default(),
                        &AuthSummary::default(),
                        &policy,
                        &limits,
                    );
                    assert!(a.findings.iter().all(|f| !f.evidence.contains('\n')));
                }
            })
            .unwrap();
        worker.join().expect("no overflow, no panic");
    }

    /// Inputs found by fuzzing: each once crashed analysis.
    #[test]
    fn hostile_inputs_are_judged_without_panic() {
        let policy = Policy::embedded().unwrap();
        let cases: &[&[u8]] = &[b"", b"\r\n", b"\n\n\n", b"\0", b":"];
        for raw in cases {
            let a = analyze(
                raw,
                false,
                &Envelope::default(),
                &AuthSummary::default(),
                &policy,
                &Limits::default(),
            );
            assert!(a.findings.iter().all(|f| !f.evidence.contains('\n')));
        }
        // Fuzz artifacts, rebuilt into messages the way their target does.
        let fuzz = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
        let mut seen = 0;
        for entry in std::fs::read_dir(&fuzz).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let data = std::fs::read(entry.path()).unwrap();
            let raw = if name.starts_with("html-") {
                let mut m = b"From: a@example.com\r\nContent-Type: text/html\r\n\r\n".to_vec();
                m.extend_from_slice(&data);
                m
            } else if name.starts_with("display_name-") {
                let mut m = b"From: ".to_vec();
                m.extend(data.iter().filter(|&&b| b != b'\r' && b != b'\n'));
                m.extend_from_slice(b"\r\nSubject: x\r\n\r\nbody\r\n");
                m
            } else {
                data
            };
            let a = analyze(
                &raw,
                false,
                &Envelope::default(),
                &AuthSummary::default(),
                &policy,
                &Limits::default(),
            );
            assert!(
                a.findings.iter().all(|f| !f.evidence.contains('\n')),
                "{name}"
            );
            seen += 1;
        }
        assert!(
            seen >= 5,
            "fuzz regression inputs missing from {}",
            fuzz.display()
        );
    }
}
