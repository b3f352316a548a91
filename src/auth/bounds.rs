//! What one message may ask of the verifier, bounded before mail-auth sees
//! it: DKIM signatures beyond the count, fields too large for linear work,
//! and our own header kept under its size.

use mail_auth::common::headers::Header;
use mail_auth::AuthenticatedMessage;

/// The DKIM signatures [`bound_signatures`] took out of the message before
/// mail-auth verifies it.
pub(super) struct Bounded<'x> {
    /// Within the count but too large to verify, each with the reason:
    /// they get permerror without a DNS lookup.
    pub(super) refused: Vec<(Header<'x, mail_auth::dkim::Signature>, String)>,
    /// Signatures, well formed or not, beyond the count: not verified.
    pub(super) unverified: usize,
}

/// Keeps the first `max` DKIM signatures of the message (topmost, as
/// mail-auth lists them; unparseable ones count too, as each costs a line
/// of our header) for mail-auth to verify, less those too large to verify
/// in time (`strict::oversized`), which are set apart. The header fields
/// themselves stay, so what the kept signatures sign is unchanged.
pub(super) fn bound_signatures<'x>(msg: &mut AuthenticatedMessage<'x>, max: usize) -> Bounded<'x> {
    let total = msg.dkim_headers.len();
    let mut kept = Vec::with_capacity(total.min(max));
    let mut refused = Vec::new();
    for (i, h) in std::mem::take(&mut msg.dkim_headers)
        .into_iter()
        .enumerate()
    {
        if i >= max {
            break;
        }
        match super::strict::oversized(h.value) {
            Some(why) => refused.push((h, why)),
            None => kept.push(h),
        }
    }
    msg.dkim_headers = kept;
    let mut room = max.saturating_sub(total);
    let mut unverified = total.saturating_sub(max);
    msg.errors.retain(|e| {
        if !matches!(e.header, mail_auth::Error::Dkim(_)) {
            return true;
        }
        if room == 0 {
            unverified += 1;
            return false;
        }
        room -= 1;
        true
    });
    Bounded {
        refused,
        unverified,
    }
}

/// Why the message's ARC chain is failed without asking DNS: a field too
/// large to verify in time, or one that is not well formed.
pub(super) fn arc_refusal(msg: &AuthenticatedMessage) -> Option<String> {
    if !has_arc_sets(msg) {
        return None;
    }
    // Named as RFC 8617 spells them: the sender's spelling may carry
    // characters a comment cannot.
    const ARC_FIELDS: [&str; 3] = [
        "ARC-Seal",
        "ARC-Message-Signature",
        "ARC-Authentication-Results",
    ];
    for (name, value) in &msg.headers {
        let name = String::from_utf8_lossy(name);
        let Some(known) = ARC_FIELDS
            .iter()
            .find(|k| name.trim().eq_ignore_ascii_case(k))
        else {
            continue;
        };
        if let Some(why) = super::strict::oversized(value) {
            return Some(format!("{known}: {why}"));
        }
    }
    (!super::strict::arc_fields_ok(msg.headers.iter().copied()))
        .then(|| "malformed ARC field".to_string())
}

/// `piece` with our reason as a comment after its `method=result`.
pub(super) fn with_reason(piece: &str, result: &str, why: &str) -> String {
    match piece.find(result) {
        Some(at) => {
            let end = at + result.len();
            format!("{} ({why}){}", &piece[..end], &piece[end..])
        }
        None => piece.to_string(),
    }
}

/// Appends the DKIM results that fit in `room` bytes, then the count of
/// those that did not (as a comment) and of those never verified (as a
/// permerror result, so a reader of the header sees DKIM was not judged
/// in full).
pub(super) fn push_bounded(
    header: &mut String,
    pieces: &[String],
    unverified: Option<&str>,
    room: usize,
) {
    const TAIL: usize = 160;
    let summary = unverified.map(|why| format!(";\r\n\tdkim=permerror ({why})"));
    let mut room = room.saturating_sub(TAIL + summary.as_ref().map_or(0, String::len));
    let mut listed = 0;
    for p in pieces {
        if p.len() > room {
            break;
        }
        room -= p.len();
        header.push_str(p);
        listed += 1;
    }
    let left = pieces.len() - listed;
    if left > 0 {
        // A comment after the last result listed (or the authserv-id):
        // the results left out may have passed, so no result word here.
        header.push_str(&format!(
            " ({left} more DKIM results not listed: Authentication-Results is kept short)"
        ));
    }
    if let Some(s) = summary {
        header.push_str(&s);
    }
}

/// Whether the message carries any ARC header field, parsed or not.
pub(super) fn has_arc_sets(msg: &AuthenticatedMessage) -> bool {
    msg.headers
        .iter()
        .any(|(name, _)| name.len() > 4 && name[..4].eq_ignore_ascii_case(b"arc-"))
}
