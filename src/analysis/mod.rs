//! The one analysis that the milter, `check` and `eval` all run.
//!
//! Pure and synchronous: authentication (the only part that needs DNS) has
//! already happened and arrives as an [`AuthSummary`]. Given the same bytes,
//! envelope, auth results and policy, it always gives the same findings.
//!
//! This is where the analysers meet: the facts about the sender are worked
//! out once into a [`Mail`], each analyser is handed that and its own part
//! of the policy, and the combinations no single analyser can see are added
//! last.

pub mod attachments;
pub mod brand;
pub mod contact;
pub mod links;
pub mod lure;
pub mod organisation;
pub mod policy;
pub mod qr;
pub(crate) mod sender;

use crate::analysis::brand::BrandIndex;
use crate::analysis::links::extract::Link;
use crate::analysis::policy::Policy;
use crate::settings::limits::Limits;
use crate::vocab::auth::{self as results, AuthSummary};
use crate::vocab::domain;
use crate::vocab::findings::{Finding, FindingKind};
use crate::vocab::message::{self, Bounds, Envelope, Mail, Truncation};
use lure::Destination;
use mail_parser::{Message, MessageParser, PartType};
use organisation::{Own, OWN};
use sender::SenderRules;
use serde::Serialize;

/// Findings, scored by the policy.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Analysis {
    pub findings: Vec<Finding>,
    pub score: i32,
    pub from_domain: Option<String>,
    /// Why only part of the message was kept, if it was.
    pub truncated: Option<Truncation>,
    /// Where the mail links off the protected brands' sites (text links and
    /// QR codes alike), in order, at most [`MAX_OFFSITE`]: the indicators
    /// of flagged mail are read from here rather than by parsing again.
    /// Not serialised: unreduced URLs may name the recipient.
    #[serde(skip)]
    pub offsite: Vec<Offsite>,
}

/// One link off the protected brands' sites, as extracted (not yet reduced
/// for sharing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offsite {
    pub host: String,
    pub url: String,
}

/// Off-site links an analysis keeps: more than the indicators report, so
/// duplicates of one URL do not crowd out the others.
pub const MAX_OFFSITE: usize = 32;

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
    parse_with(parser(), raw)
}

/// [`parse`] reading only the MIME fields (the others are skipped): the
/// part tree, each part's type, disposition and decoded content, for a
/// caller that checks structure (the banner's check of its own rewrite)
/// and would otherwise take every address and date apart a second time.
pub fn parse_structure(raw: &[u8]) -> Parsed<'_> {
    static PARSER: std::sync::OnceLock<MessageParser> = std::sync::OnceLock::new();
    let parser = PARSER.get_or_init(|| {
        MessageParser::new()
            .with_mime_headers()
            .default_header_ignore()
    });
    parse_with(parser, raw)
}

fn parse_with<'x>(parser: &MessageParser, raw: &'x [u8]) -> Parsed<'x> {
    let parsed = std::panic::catch_unwind(|| parser.parse(raw))
        .ok()
        .flatten();
    Parsed(Some(parsed.unwrap_or_else(|| {
        parser
            .parse(EMPTY_MESSAGE)
            .expect("a header-only message parses")
    })))
}

/// mail-parser with every field parsed as its default parser does, but
/// `Received` kept raw: nothing reads its parts, and taking each of a
/// message's `Received` fields apart was 6 % of the analysis in a profile.
/// (A parser given any field map parses the fields outside it raw, so the
/// map names every field the default parses.)
fn parser() -> &'static MessageParser {
    use mail_parser::HeaderName as H;
    static PARSER: std::sync::OnceLock<MessageParser> = std::sync::OnceLock::new();
    PARSER.get_or_init(|| {
        let mut p = MessageParser::new();
        for h in [
            H::Subject,
            H::Comments,
            H::ContentDescription,
            H::ContentLocation,
            H::ContentTransferEncoding,
        ] {
            p = p.header_text(h);
        }
        for h in [
            H::From,
            H::To,
            H::Cc,
            H::Bcc,
            H::ReplyTo,
            H::Sender,
            H::ResentTo,
            H::ResentFrom,
            H::ResentBcc,
            H::ResentCc,
            H::ResentSender,
            H::ListArchive,
            H::ListHelp,
            H::ListId,
            H::ListOwner,
            H::ListPost,
            H::ListSubscribe,
            H::ListUnsubscribe,
        ] {
            p = p.header_address(h);
        }
        for h in [
            H::MessageId,
            H::References,
            H::InReplyTo,
            H::ReturnPath,
            H::ContentId,
            H::ResentMessageId,
        ] {
            p = p.header_id(h);
        }
        p.header_date(H::Date)
            .header_date(H::ResentDate)
            .header_comma_separated(H::Keywords)
            .header_comma_separated(H::ContentLanguage)
            .header_content_type(H::ContentType)
            .header_content_type(H::ContentDisposition)
            .header_raw(H::MimeVersion)
            .header_raw(H::Received)
            .default_header_raw()
    })
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

/// The facts every analyser judges by, worked out once per message.
pub fn mail<'a>(
    msg: &'a Message<'a>,
    env: &'a Envelope,
    auth: &'a AuthSummary,
    policy: &'a Policy,
) -> Mail<'a> {
    let from_domain = message::from_domain(msg);
    let sender_registrable = from_domain.as_deref().and_then(domain::registrable);
    let official_sender = sender::official_sender(
        &policy.brand_index,
        from_domain.as_deref(),
        sender_registrable.as_ref(),
        auth,
        &env.mail_from,
    );
    Mail {
        msg,
        env,
        auth,
        from_domain,
        sender_registrable,
        official_sender,
        subject: message::subject(msg),
        from_name: message::from_name(msg),
        body_head: Default::default(),
    }
}

pub fn analyze(
    raw: &[u8],
    truncated: Option<Truncation>,
    env: &Envelope,
    auth: &AuthSummary,
    policy: &Policy,
    limits: &Limits,
) -> Analysis {
    analyze_parsed(&parse(raw), truncated, env, auth, policy, limits)
}

/// [`analyze`] of a message already parsed, for a caller that needs the
/// parse again (the daemon's banner): one parse per message.
pub fn analyze_parsed(
    msg: &Message<'_>,
    truncated: Option<Truncation>,
    env: &Envelope,
    auth: &AuthSummary,
    policy: &Policy,
    limits: &Limits,
) -> Analysis {
    let mail = mail(msg, env, auth, policy);
    let bounds = limits.bounds();
    let (mut findings, offsite) = findings_and_offsite(&mail, policy, &bounds);
    if let Some(cut) = truncated {
        let why = match cut {
            Truncation::Bytes => format!(
                "message larger than max_message_bytes ({}); only the start was analysed",
                bounds.max_message_bytes
            ),
            Truncation::Headers => format!(
                "more than max_headers ({}) header fields; the rest were not analysed",
                limits.max_headers
            ),
        };
        truncated_because(&mut findings, why);
    }
    combine(&mail, &mut findings);
    for f in &mut findings {
        f.score = policy.score(f.kind);
    }
    let score = findings.iter().map(|f| f.score).sum();
    Analysis {
        findings,
        score,
        from_domain: mail.from_domain,
        truncated,
        offsite,
    }
}

/// Every analyser's findings, in a fixed order: authentication, sender,
/// links, lure wording, then what extraction had to leave out.
#[cfg(test)]
pub(crate) fn findings(mail: &Mail, policy: &Policy, bounds: &Bounds) -> Vec<Finding> {
    findings_and_offsite(mail, policy, bounds).0
}

/// [`findings`], and the links off the protected brands' sites.
fn findings_and_offsite(
    mail: &Mail,
    policy: &Policy,
    bounds: &Bounds,
) -> (Vec<Finding>, Vec<Offsite>) {
    let mut findings = results::findings(mail.auth);
    let sender_rules = SenderRules {
        index: &policy.brand_index,
        brands: &policy.brands,
        allow: &policy.allow,
        freemail: &policy.freemail,
    };
    findings.extend(sender::analyze(mail, &sender_rules));
    let own = Own::of(
        &policy.organisation,
        &mail.env.rcpts,
        &policy.freemail,
        &policy.brand_index,
    );
    findings.extend(organisation::analyze(mail, &own, &policy.freemail));
    let owners = Owners {
        index: &policy.brand_index,
        own: &own,
    };
    let x = links::extract(mail.msg, bounds);
    findings.extend(links::analyze(mail, &x, &policy.links, &policy.brand_index));
    if let Some(why) = x
        .links
        .iter()
        .filter(|l| !l.ip && !l.returned)
        .find_map(|l| organisation::imitated_link(&own, &l.host))
    {
        findings.push(Finding::new(FindingKind::LinkLookalike, why).with_brand(OWN));
    }
    findings.extend(sender::hosting(mail, &policy.links.hosting));
    let destinations: Vec<Destination> = x
        .links
        .iter()
        .map(|l| Destination {
            host: &l.host,
            registrable: l.registrable.as_deref(),
            official: !l.ip && policy.brand_index.official_brand(&l.host).is_some(),
        })
        .collect();
    // Past the deadline the stages still to come are skipped: the verdict
    // judges what was seen, and the `truncated` finding says what was not.
    let mut skipped: Vec<&str> = Vec::new();
    if bounds.deadline.passed() {
        skipped.push("lure wording");
    } else {
        findings.extend(lure::analyze(mail, &destinations, &policy.lures));
    }
    let offsite = x
        .links
        .iter()
        .zip(&destinations)
        .filter(|(l, d)| !d.official && !l.returned)
        .map(|(l, _)| Offsite {
            host: l.host.clone(),
            url: l.url.clone(),
        })
        .take(MAX_OFFSITE)
        .collect();
    findings.extend(links::truncation(&x));
    // The brand itself and allowlisted senders are authorised to send
    // files, once authentication shows the mail is theirs.
    let trusted =
        mail.official_sender.is_some() || sender::allowlisted_and_authentic(mail, &policy.allow);
    if bounds.deadline.passed() {
        skipped.push("attachments");
    } else {
        findings.extend(attachments::analyze(mail.msg, bounds, trusted));
    }
    if !skipped.is_empty() {
        let why = format!(
            "analysis deadline ({} ms) reached; not analysed: {}",
            bounds.deadline.budget_ms(),
            skipped.join(", ")
        );
        truncated_because(&mut findings, why);
    }
    findings.extend(spoof(mail, &policy.brand_index));
    findings.extend(impersonation(mail, &findings, &x.links, &owners));
    findings.extend(unauthenticated_brand_lure(mail, &findings, &owners));
    (findings, offsite)
}

/// Who a host belongs to: a protected brand, or else the recipient's own
/// organisation ([`OWN`]). Brands come first: their rules know their
/// providers and floors.
struct Owners<'a> {
    index: &'a BrandIndex,
    own: &'a Own<'a>,
}

impl Owners<'_> {
    fn owner(&self, host: &str) -> Option<&str> {
        self.index
            .owner(host)
            .or_else(|| self.own.owner_of(host).map(|_| OWN))
    }
}

/// Adds `why` to the message's one `truncated` finding (one finding, so
/// its score counts once however many bounds were reached).
fn truncated_because(findings: &mut Vec<Finding>, why: String) {
    match findings
        .iter_mut()
        .find(|f| f.kind == FindingKind::Truncated)
    {
        Some(f) => {
            f.evidence.push_str("; ");
            f.evidence.push_str(&why);
        }
        None => findings.push(Finding::new(FindingKind::Truncated, why)),
    }
}

/// `brand-impersonation`: a claim to be brand B (the sender analyser only
/// reports claims from senders that are not B's domains or B's
/// authenticated mail), with a request: a link to a host that is not B's
/// (in the text or in a QR code image), a form or HTML attachment, replies
/// diverted elsewhere or a number to call. Lure wording is not needed; it
/// adds its own points when present.
fn impersonation(
    mail: &Mail,
    findings: &[Finding],
    links: &[Link],
    index: &Owners,
) -> Option<Finding> {
    let claim = findings
        .iter()
        .find(|f| f.kind.speaks_as() && f.brand.is_some())?;
    let brand = claim.brand.as_deref()?;
    let request = links
        .iter()
        .find(|l| index.owner(&l.host) != Some(brand))
        .map(|l| match &l.image {
            Some(part) => format!("a QR code link to {} in {part}, not the brand's", l.host),
            None => format!("a link to {}, not the brand's", l.host),
        })
        .or_else(|| {
            findings
                .iter()
                .find(|f| f.kind.is_request())
                .map(|f| f.kind.to_string())
        })
        .or_else(|| {
            contact::diverted_reply(mail)
                .filter(|d| index.owner(d) != Some(brand))
                .map(|d| format!("replies go to {d}, not the brand's"))
        })
        .or_else(|| {
            contact::phone_number(mail.body_head()).map(|n| format!("a number to call, {n}"))
        })?;
    Some(
        Finding::new(
            FindingKind::BrandImpersonation,
            format!(
                "speaks as {} ({}) from a sender that is not theirs, and asks to act: {request}",
                organisation::called(brand),
                claim.kind
            ),
        )
        .with_brand(brand),
    )
}

/// `brand-spoof`: From is a protected brand's own domain and the mail does
/// not authenticate as the brand ([`Mail::official_sender`] is none). Only
/// authentication can tell this from the brand's real mail, so it is
/// judged only where authentication ran and gave an answer: offline, or
/// when DNS failed (`on_dns_error` decides then), it is not raised.
fn spoof(mail: &Mail, index: &BrandIndex) -> Option<Finding> {
    let auth = mail.auth;
    if mail.official_sender.is_some() || auth.skipped.is_some() || auth.dns_trouble() {
        return None;
    }
    let from = mail.from_domain.as_deref()?;
    let brand = index.owner(from)?;
    Some(
        Finding::new(
            FindingKind::BrandSpoof,
            format!(
                "spoofed {from}: uses {brand}'s domain without authenticating as it (dmarc={}, spf={}, no aligned DKIM pass)",
                auth.dmarc.as_str(),
                auth.spf.as_str()
            ),
        )
        .with_brand(brand),
    )
}

/// `brand-impersonation` by the brand's own From domain: the mail uses a
/// protected brand's domain without authenticating as it (no DMARC pass, no
/// aligned DKIM pass) and asks for credentials under pressure with a link off
/// the brands' sites. The brand's real mail authenticates; offline, with no
/// authentication to see, the ask is what tells a spoof from a notice.
fn unauthenticated_brand_lure(
    mail: &Mail,
    findings: &[Finding],
    index: &Owners,
) -> Option<Finding> {
    if mail.official_sender.is_some()
        || findings
            .iter()
            .any(|f| f.kind == FindingKind::BrandImpersonation)
    {
        return None;
    }
    let from = mail.from_domain.as_deref()?;
    let brand = index.owner(from)?;
    if brand == OWN && organisation::authenticated(mail) {
        return None;
    }
    let lure = findings
        .iter()
        .find(|f| f.kind == FindingKind::CredentialLure)?;
    Some(
        Finding::new(
            FindingKind::BrandImpersonation,
            format!(
                "uses {}'s domain {from} without authenticating as it, and {}",
                organisation::called(brand),
                lure.evidence
            ),
        )
        .with_brand(brand),
    )
}

/// The combination that matters most: a brand claim together with a request
/// for credentials. Official mail of the brand that asks for credentials gets
/// a kind of its own, so the bank decides what to do with it.
fn combine(mail: &Mail, findings: &mut Vec<Finding>) {
    // The brand's own authenticated mail cannot impersonate that brand:
    // its asset hosts and country domains are the brand's family, not
    // lookalikes of it.
    if let Some(own) = mail.official_sender {
        findings.retain(|f| !(f.kind.is_impersonation() && f.brand.as_deref() == Some(own)));
    }
    hosted_lure(findings);
    // A login page on a brand's own domain (the finding names that brand)
    // is the brand's, not a request to hand credentials elsewhere.
    let asks = findings.iter().find(|f| {
        f.kind.asks_for_credentials()
            && !(f.kind == FindingKind::LinkCredentialPath && f.brand.is_some())
    });
    let Some(asks) = asks else { return };
    let ask_kind = asks.kind;
    if let Some(brand) = mail.official_sender {
        findings.push(
            Finding::new(
                FindingKind::OfficialCredentialLink,
                format!("authenticated mail of brand {brand} carries {ask_kind}"),
            )
            .with_brand(brand),
        );
        return;
    }
    if findings
        .iter()
        .any(|f| f.kind == FindingKind::BrandImpersonation)
    {
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
    use crate::vocab::findings::Action;

    /// Analyses `raw` as unauthenticated mail and checks that no evidence
    /// could break a header line.
    fn judged_cleanly(raw: &[u8], policy: &Policy, limits: &Limits) -> bool {
        let a = analyze(
            raw,
            None,
            &Envelope::default(),
            &AuthSummary::default(),
            policy,
            limits,
        );
        a.findings
            .iter()
            .all(|f| !f.evidence.contains('\n') && !f.evidence.contains('\r'))
    }

    /// The seed's fake "security software": a download link alone tags, and
    /// with the brand's name in From it is impersonation, held.
    #[test]
    fn download_links_are_flagged_and_held_with_a_brand_claim() {
        let policy = Policy::embedded().unwrap();
        let settings = crate::verdict::Settings {
            max_action: Action::Reject,
            on_dns_error: crate::settings::config::Fallback::Tempfail,
            dry_run: false,
        };
        let judge = |from: &str| {
            let raw = format!(
                "From: {from}\r\nSubject: install\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
                 Install our security app: https://guard.example/kinko-guard.apk\r\n"
            );
            let auth = AuthSummary::default();
            let a = analyze(
                raw.as_bytes(),
                None,
                &Envelope::default(),
                &auth,
                &policy,
                &Limits::default(),
            );
            let v = crate::verdict::decide(&a, &auth, &policy, &settings);
            (a, v)
        };
        let (a, v) = judge("support@guard.example");
        assert!(a
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::LinkDownload));
        assert_eq!(v.action, Action::Tag, "{:?}", a.findings);
        let (a, v) = judge("=?UTF-8?B?44GN44KT44GT5L+h55So6YeR5bqr?= <support@guard.example>");
        assert!(
            a.findings
                .iter()
                .any(|f| f.kind == FindingKind::BrandImpersonation),
            "{:?}",
            a.findings
        );
        assert!(v.action >= Action::Quarantine, "{v:?}");
    }

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
                    assert!(judged_cleanly(&raw, &policy, &limits));
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
            assert!(judged_cleanly(raw, &policy, &Limits::default()));
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
            assert!(judged_cleanly(&raw, &policy, &Limits::default()), "{name}");
            seen += 1;
        }
        assert!(
            seen >= 5,
            "fuzz regression inputs missing from {}",
            fuzz.display()
        );
    }
}
