//! The one analysis that the milter, `check` and `eval` all run.
//!
//! Pure and synchronous: authentication (the only part that needs DNS) has
//! already happened and arrives as an [`AuthSummary`]. Given the same bytes,
//! envelope, auth results and policy, it always gives the same findings.

use crate::auth::AuthSummary;
use crate::findings::{Finding, FindingKind};
use crate::policy::Policy;
use mail_parser::{Message, MessageParser};
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

/// Kinds that mean "this mail claims to be a protected brand".
const BRAND_CLAIMS: &[FindingKind] = &[
    FindingKind::Homograph,
    FindingKind::Typo,
    FindingKind::TldSwap,
    FindingKind::Combo,
    FindingKind::Subdomain,
    FindingKind::DisplayName,
    FindingKind::FreemailBrand,
    FindingKind::SubjectBrand,
    FindingKind::LinkLookalike,
    FindingKind::LinkBrand,
];

/// Kinds that mean "this mail asks for credentials". A lure counts: its
/// wording asks for them even when the link hides the login path.
const CREDENTIAL_ASKS: &[FindingKind] = &[
    FindingKind::LinkCredentialPath,
    FindingKind::LinkFeed,
    FindingKind::FormPassword,
    FindingKind::HtmlAttachment,
    FindingKind::CredentialLure,
];

pub fn parse(raw: &[u8]) -> Message<'_> {
    // mail-parser returns None only for input with no header at all; treat
    // that as an empty message rather than an error, so it is still judged.
    MessageParser::default()
        .parse(raw)
        .unwrap_or_else(|| Message {
            raw_message: raw.into(),
            ..Default::default()
        })
}

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
    if let Some(claim) = findings.iter().find(|f| BRAND_CLAIMS.contains(&f.kind)) {
        let mut f = Finding::new(
            FindingKind::BrandCredentialLink,
            format!("{} together with {}", claim.kind, ask_kind),
        );
        f.brand = claim.brand.clone();
        findings.push(f);
    }
}
