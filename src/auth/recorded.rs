//! Results a trusted upstream recorded: an `Authentication-Results` header
//! of a named authserv-id read back into an [`AuthSummary`], for a filter
//! that runs behind another authentication milter.

use crate::vocab::auth::{best_dkim, AuthSummary, DkimSig, OwnerPolicy, Res};

/// Reads the results of a trusted upstream authentication service from its
/// recorded `Authentication-Results` header, as a filter behind another
/// authentication milter would. Only headers whose authserv-id is exactly
/// `authserv_id` count; the topmost wins.
pub fn from_recorded(headers: &[(&str, &str)], authserv_id: &str) -> Option<AuthSummary> {
    let value = headers.iter().find_map(|(name, value)| {
        if !name.eq_ignore_ascii_case("Authentication-Results") {
            return None;
        }
        let id = authserv_id_of(value)?;
        id.eq_ignore_ascii_case(authserv_id).then_some(*value)
    })?;
    let body = strip_comments(value);
    let mut s = AuthSummary {
        spf: Res::None,
        spf_helo: Res::None,
        dkim: Res::None,
        dmarc: Res::None,
        arc: Res::None,
        ..Default::default()
    };
    for r in resinfos(&body) {
        let result = r.result;
        match r.method.as_str() {
            "spf" => {
                if r.prop("smtp.mailfrom").is_some() {
                    s.spf = result;
                } else if r.prop("smtp.helo").is_some() {
                    s.spf_helo = result;
                } else {
                    s.spf = result;
                }
            }
            "dkim" => {
                s.dkim_signatures.push(DkimSig {
                    domain: r.dkim_domain().unwrap_or_default(),
                    selector: r.prop("header.s").unwrap_or_default(),
                    result,
                });
            }
            "dmarc" => {
                s.dmarc = result;
                s.dmarc_policy = match r.prop("policy.dmarc").as_deref() {
                    Some("reject") => OwnerPolicy::Reject,
                    Some("quarantine") => OwnerPolicy::Quarantine,
                    _ => OwnerPolicy::None,
                };
            }
            "arc" => s.arc = result,
            _ => {}
        }
    }
    s.dkim = best_dkim(
        &s.dkim_signatures,
        s.dkim_signatures.iter().map(|d| d.result),
    );
    if s.spf == Res::None && s.spf_helo != Res::None {
        s.spf = s.spf_helo;
    }
    Some(s)
}

/// One result statement of an RFC 8601 header: `method=result props...`.
struct Resinfo<'v> {
    method: String,
    result: Res,
    props: Vec<(&'v str, &'v str)>,
}

impl Resinfo<'_> {
    /// A property's value, lower-case and unquoted.
    fn prop(&self, key: &str) -> Option<String> {
        self.props
            .iter()
            .find(|(p, _)| p.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.trim_matches('"').to_ascii_lowercase())
    }

    fn dkim_domain(&self) -> Option<String> {
        self.prop("header.d").or_else(|| {
            self.prop("header.i")
                .map(|i| i.rsplit('@').next().unwrap_or("").into())
        })
    }
}

/// The result statements of an `Authentication-Results` value (after its
/// authserv-id), comments removed.
fn resinfos(body: &str) -> Vec<Resinfo<'_>> {
    body.split(';')
        .skip(1)
        .filter_map(|stmt| {
            let mut words = stmt.split_whitespace();
            let (method, result) = words.next()?.split_once('=')?;
            Some(Resinfo {
                method: method.to_ascii_lowercase(),
                result: Res::parse(result),
                props: words.filter_map(|w| w.split_once('=')).collect(),
            })
        })
        .collect()
}

/// What an ARC-Authentication-Results value shows about the From domain
/// on the sealer's arrival: `dmarc=pass` for it, or else an SPF or DKIM
/// pass whose domain aligns with it (relaxed, RFC 7489 §3.1). `None` when
/// nothing there authenticates that domain.
pub(crate) fn aar_vouches(aar: &str, from_domain: &str) -> Option<String> {
    // `i=N;` comes first, then the sealer's authserv-id and its results.
    let body = strip_comments(aar);
    let (_, rest) = body.split_once(';')?;
    let from = from_domain.trim_end_matches('.').to_ascii_lowercase();
    let from_org = crate::vocab::domain::registrable(&from);
    let aligned = |d: &str| {
        let d = d.trim_end_matches('.');
        // Quoted in our own header: a domain name and nothing else.
        let name = d
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
        name && (d == from
            || (from_org.is_some() && crate::vocab::domain::registrable(d) == from_org))
    };
    let stmts = resinfos(rest);
    let passed = |m: &'static str| {
        stmts
            .iter()
            .filter(move |r| r.method == m && r.result == Res::Pass)
    };
    // A dmarc=pass about some other From domain says nothing about this one.
    if passed("dmarc").any(|r| r.prop("header.from").is_none_or(|d| d == from)) {
        return Some("dmarc=pass".into());
    }
    if let Some(d) = passed("dkim").find_map(|r| r.dkim_domain().filter(|d| aligned(d))) {
        return Some(format!("dkim=pass header.d={d}"));
    }
    passed("spf")
        .find_map(|r| {
            r.prop("smtp.mailfrom")
                .map(|m| m.rsplit('@').next().unwrap_or("").to_string())
                .filter(|d| aligned(d))
        })
        .map(|d| format!("spf=pass smtp.mailfrom={d}"))
}

/// Results of a trusted upstream, or a summary saying it left none.
pub fn trusted_upstream(headers: &[(&str, &str)], authserv_id: &str) -> AuthSummary {
    from_recorded(headers, authserv_id).unwrap_or_else(|| {
        AuthSummary::skipped(format!("no Authentication-Results from {authserv_id}"))
    })
}

/// The authserv-id of an `Authentication-Results` value (its first token).
pub fn authserv_id_of(value: &str) -> Option<&str> {
    let v = value.trim_start();
    let end = v
        .find(|c: char| c == ';' || c.is_whitespace() || c == '(')
        .unwrap_or(v.len());
    let id = &v[..end];
    (!id.is_empty()).then_some(id)
}

fn strip_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0u32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_results_of_a_trusted_authserv_id() {
        let headers = [
            ("Authentication-Results", "other.example; dmarc=pass header.from=x.example"),
            (
                "Authentication-Results",
                "mx.trusted.example;\n\tdkim=pass (2048-bit key) header.d=bank.example header.s=s1;\n\tspf=fail smtp.mailfrom=a@evil.example;\n\tdmarc=fail (p=REJECT) header.from=bank.example policy.dmarc=reject",
            ),
        ];
        let s = from_recorded(&headers, "mx.trusted.example").unwrap();
        assert_eq!(s.dkim, Res::Pass);
        assert_eq!(s.dkim_signatures[0].domain, "bank.example");
        assert_eq!(s.spf, Res::Fail);
        assert_eq!(s.dmarc, Res::Fail);
        assert_eq!(s.dmarc_policy, OwnerPolicy::Reject);
        assert!(from_recorded(&headers, "nobody.example").is_none());
    }

    #[test]
    fn what_an_arc_sealer_recorded_about_the_from_domain() {
        let v = |aar: &str| aar_vouches(aar, "bank.example");
        assert_eq!(
            v("i=1; lists.example.org; dkim=pass header.d=bank.example;\r\n\tdmarc=pass (p=reject) header.from=bank.example").as_deref(),
            Some("dmarc=pass")
        );
        // About another From, or not a pass: nothing.
        assert_eq!(
            v("i=1; lists.example.org; dmarc=pass header.from=other.example"),
            None
        );
        assert_eq!(
            v("i=1; lists.example.org; dmarc=fail header.from=bank.example"),
            None
        );
        assert_eq!(v("i=1; lists.example.org; none"), None);
        // Aligned DKIM or SPF pass (relaxed: same organisational domain).
        assert_eq!(
            v("i=2; lists.example.org; dkim=pass header.d=mail.bank.example header.s=s1")
                .as_deref(),
            Some("dkim=pass header.d=mail.bank.example")
        );
        assert_eq!(
            v("i=1; lists.example.org; spf=pass smtp.mailfrom=bounce@bank.example").as_deref(),
            Some("spf=pass smtp.mailfrom=bank.example")
        );
        // Unaligned passes, or a pass only in a comment, do not count.
        assert_eq!(
            v("i=1; lists.example.org; dkim=pass header.d=esp.example"),
            None
        );
        assert_eq!(
            v("i=1; lists.example.org; spf=fail (dmarc=pass) smtp.mailfrom=bank.example"),
            None
        );
    }

    #[test]
    fn authserv_ids() {
        assert_eq!(authserv_id_of(" mx.example; spf=pass"), Some("mx.example"));
        assert_eq!(authserv_id_of("mx.example 1; none"), Some("mx.example"));
        assert_eq!(authserv_id_of(""), None);
    }
}
