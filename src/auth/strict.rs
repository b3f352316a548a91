//! Syntax checks that mail-auth 0.13 skips, applied to the raw signature
//! header fields before its verdicts are believed (mail-auth cannot be
//! upgraded on our rustc; the checks are RFC 6376 §3.2 tag-lists, RFC 8301
//! algorithms and RFC 8617 §4.1.3 signed fields).

use std::collections::HashSet;

/// The largest DKIM-Signature or ARC field handed to mail-auth. Real
/// signatures are a few hundred bytes (a 4096-bit RSA `b=` is 700); the
/// bound keeps what mail-auth does per field (parsing, hashing each seal
/// over all earlier sets) small whatever a sender writes.
pub(crate) const MAX_SIGNATURE_FIELD_BYTES: usize = 16 * 1024;

/// The most entries an `h=` list may have. mail-auth 0.13 matches each
/// entry against every distinct name before it and searches the header
/// for it again (`signed_headers`): quadratic in the list, so the list is
/// bounded before mail-auth sees it. Signers list a dozen or two fields,
/// over-signing included.
pub(crate) const MAX_SIGNED_FIELDS: usize = 256;

/// A tag-list as RFC 6376 §3.2 allows it: `tag=value` specs split by `;`,
/// an optional trailing `;`, names `ALPHA *(ALPHA / DIGIT / "_")` compared
/// case-sensitively, each at most once. Returns the tags, or `None`.
/// Linear in the size of the value: a field of thousands of tags must not
/// cost the square of that.
pub(crate) fn tag_list(value: &str) -> Option<Vec<(&str, String)>> {
    let specs: Vec<&str> = value.split(';').collect();
    let mut tags: Vec<(&str, String)> = Vec::with_capacity(specs.len());
    let mut seen: HashSet<&str> = HashSet::with_capacity(specs.len());
    for (i, spec) in specs.iter().enumerate() {
        if spec.trim().is_empty() {
            // Only after the last `;` may nothing follow.
            if i + 1 == specs.len() && i > 0 {
                continue;
            }
            return None;
        }
        let (name, val) = spec.split_once('=')?;
        let name = name.trim();
        let mut chars = name.chars();
        let lead_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
        if !lead_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        if !seen.insert(name) {
            return None;
        }
        let val: String = val.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        tags.push((name, val));
    }
    Some(tags)
}

fn tag<'t>(tags: &'t [(&str, String)], name: &str) -> Option<&'t str> {
    tags.iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.as_str())
}

/// RFC 8301: rsa-sha1 must not be accepted; the algorithm is required.
fn algorithm_ok(tags: &[(&str, String)]) -> bool {
    matches!(
        tag(tags, "a").map(str::to_ascii_lowercase).as_deref(),
        Some("rsa-sha256" | "ed25519-sha256")
    )
}

fn signed_fields(tags: &[(&str, String)]) -> Vec<String> {
    tag(tags, "h")
        .unwrap_or("")
        .split(':')
        .map(|f| f.trim().to_ascii_lowercase())
        .collect()
}

/// Why a DKIM-Signature, ARC-Message-Signature or ARC-Seal value is too
/// large to be verified: more bytes than [`MAX_SIGNATURE_FIELD_BYTES`], or
/// an `h=` list longer than [`MAX_SIGNED_FIELDS`]. Reads only the `h=` tag,
/// in one pass, so it costs no more than the field's length.
pub(crate) fn oversized(value: &[u8]) -> Option<String> {
    if value.len() > MAX_SIGNATURE_FIELD_BYTES {
        return Some(format!(
            "field of {} bytes, more than {MAX_SIGNATURE_FIELD_BYTES}",
            value.len()
        ));
    }
    let entries = value
        .split(|&b| b == b';')
        .find_map(|spec| {
            let eq = spec.iter().position(|&b| b == b'=')?;
            (spec[..eq].trim_ascii() == b"h").then(|| &spec[eq + 1..])
        })
        .map_or(0, |list| list.iter().filter(|&&b| b == b':').count() + 1);
    (entries > MAX_SIGNED_FIELDS)
        .then(|| format!("h= lists {entries} fields, more than {MAX_SIGNED_FIELDS}"))
}

/// Whether every ARC-Seal and ARC-Message-Signature of the message is well
/// formed: a strict tag-list with the required tags, an accepted algorithm,
/// and (RFC 8617 §4.1.2)
/// no ARC-Seal among the fields an AMS signs. A chain with one that is not
/// fails validation whatever the signatures say.
pub(crate) fn arc_fields_ok<'h>(headers: impl Iterator<Item = (&'h [u8], &'h [u8])>) -> bool {
    headers.into_iter().all(|(name, value)| {
        let name = String::from_utf8_lossy(name);
        let seal = name.eq_ignore_ascii_case("arc-seal");
        let ams = name.eq_ignore_ascii_case("arc-message-signature");
        if !seal && !ams {
            return true;
        }
        let value = String::from_utf8_lossy(value);
        let Some(tags) = tag_list(&value) else {
            return false;
        };
        // RFC 8617 §4.1.2, §4.1.3: the tags each field must carry.
        let required: &[&str] = if seal {
            &["i", "a", "b", "d", "s", "cv"]
        } else {
            &["i", "a", "b", "bh", "d", "h", "s"]
        };
        required.iter().all(|t| tag(&tags, t).is_some())
            && algorithm_ok(&tags)
            && !(ams && signed_fields(&tags).iter().any(|f| f == "arc-seal"))
    })
}

/// Why a DKIM-Signature cannot pass, whatever its cryptography says:
/// RFC 8301 forbids rsa-sha1, and RFC 6376 §6.1.1 requires From among the
/// signed fields.
pub(crate) fn dkim_signature_unacceptable(value: &str) -> Option<&'static str> {
    let Some(tags) = tag_list(value) else {
        return Some("malformed tag-list");
    };
    if !algorithm_ok(&tags) {
        return Some("algorithm not accepted (RFC 8301)");
    }
    if !signed_fields(&tags).iter().any(|f| f == "from") {
        return Some("From not signed (RFC 6376 6.1.1)");
    }
    None
}

/// Whether a DKIM key record lets its key verify sha256 signatures (every
/// signature we accept is one): yes unless its `h=` lists hash algorithms
/// and sha256 is not among them (RFC 6376 §3.6.1).
pub(crate) fn key_allows_sha256(key: &mail_auth::common::verify::DomainKey) -> bool {
    use mail_auth::common::crypto::HashAlgorithm;
    let listed = key.has_flag(HashAlgorithm::Sha1) || key.has_flag(HashAlgorithm::Sha256);
    !listed || key.has_flag(HashAlgorithm::Sha256)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_restricted_to_sha1_does_not_verify_sha256() {
        use mail_auth::common::parse::TxtRecordParser;
        use mail_auth::common::verify::DomainKey;
        // An Ed25519 public key (RFC 8463 appendix A).
        let p = "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
        let key = |tags: &str| {
            DomainKey::parse(format!("v=DKIM1; k=ed25519; {tags}{p}").as_bytes()).unwrap()
        };
        assert!(key_allows_sha256(&key("")));
        assert!(key_allows_sha256(&key("h=sha256; ")));
        assert!(key_allows_sha256(&key("h=sha1:sha256; ")));
        assert!(!key_allows_sha256(&key("h=sha1; ")));
    }

    #[test]
    fn tag_lists_follow_rfc_6376() {
        assert!(tag_list("a=rsa-sha256; d=example.org; s=x;").is_some());
        assert!(tag_list(" a = rsa-sha256 ;\r\n\td=ex ample.org").is_some());
        assert!(tag_list("a=rsa-sha256;; d=example.org").is_none());
        assert!(tag_list("a=rsa-sha256; a=rsa-sha256").is_none());
        assert!(tag_list("a=rsa-sha256; _=x").is_none());
        assert!(tag_list("a=rsa-sha256; d").is_none());
        // Names are case-sensitive: `A=` is not `a=`.
        let t = tag_list("A=rsa-sha256; d=x").unwrap();
        assert!(!algorithm_ok(&t));
    }

    #[test]
    fn forty_arc_seals_of_100_kb_distinct_tags_are_read_in_linear_time() {
        // 100 KB of distinct tag names: the old duplicate check compared
        // each with every one before it (seconds per field).
        let tags: String = (0..12_000).map(|i| format!("x{i}=v; ")).collect();
        let seal = format!("i=1; a=rsa-sha256; d=x; s=s; cv=none; {tags}b=AA==");
        assert!(seal.len() > 100_000);
        let fields: Vec<(&[u8], &[u8])> = (0..40)
            .map(|_| (b"ARC-Seal".as_slice(), seal.as_bytes()))
            .collect();
        let started = std::time::Instant::now();
        assert!(arc_fields_ok(fields.iter().copied()));
        assert_eq!(tag_list(&seal).map(|t| t.len()), Some(12_006));
        let spent = started.elapsed();
        assert!(spent < std::time::Duration::from_secs(5), "{spent:?}");
        // And a repeated name far down the list is still found.
        let dup = format!("{seal}; x11999=w");
        assert!(tag_list(&dup).is_none());
    }

    #[test]
    fn fields_too_large_to_verify_are_named_with_the_reason() {
        let ok = "v=1; a=rsa-sha256; d=x.example; s=s; h=from:to:subject:date; bh=AA==; b=AA==";
        assert_eq!(oversized(ok.as_bytes()), None);
        let list: Vec<String> = (0..257).map(|i| format!("x{i}")).collect();
        let long_h = ok.replace("from:to:subject:date", &list.join(" : "));
        assert_eq!(
            oversized(long_h.as_bytes()).as_deref(),
            Some("h= lists 257 fields, more than 256")
        );
        let at_bound = ok.replace("from:to:subject:date", &list[..256].join(":"));
        assert_eq!(oversized(at_bound.as_bytes()), None);
        let big = ok.replace("b=AA==", &format!("b={}", "A".repeat(20_000)));
        assert_eq!(
            oversized(big.as_bytes()).as_deref(),
            Some(format!("field of {} bytes, more than 16384", big.len()).as_str())
        );
        // An `h` inside another tag's value is not the list.
        let decoy = ok.replace("s=s", &format!("s=h={}", "a:".repeat(300)));
        assert_eq!(oversized(decoy.as_bytes()), None);
    }

    #[test]
    fn dkim_signatures_rfc_8301_and_6376_refuse() {
        let ok = "v=1; a=rsa-sha256; d=x.example; s=s; h=from:subject; bh=AA==; b=AA==";
        assert_eq!(dkim_signature_unacceptable(ok), None);
        let sha1 = ok.replace("rsa-sha256", "rsa-sha1");
        assert!(dkim_signature_unacceptable(&sha1).is_some());
        let no_from = ok.replace("h=from:subject", "h=subject:to");
        assert!(dkim_signature_unacceptable(&no_from).is_some());
    }

    #[test]
    fn ams_may_not_sign_the_seal() {
        let ams = b"i=1; a=rsa-sha256; d=x; s=s; h=from:arc-seal; bh=AA==; b=AA==".as_slice();
        let seal_upper = b"I=1; a=rsa-sha256; d=x; s=s; cv=none; b=AA==".as_slice();
        assert!(!arc_fields_ok(
            [(b"ARC-Seal".as_slice(), seal_upper)].into_iter()
        ));
        assert!(!arc_fields_ok(
            [(b"ARC-Message-Signature".as_slice(), ams)].into_iter()
        ));
        let ams = b"i=1; a=rsa-sha256; d=x; s=s; h=from; bh=AA==; b=AA==".as_slice();
        assert!(arc_fields_ok(
            [(b"ARC-Message-Signature".as_slice(), ams)].into_iter()
        ));
    }
}
