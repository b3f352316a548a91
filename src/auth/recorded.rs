//! Results a trusted upstream recorded: an `Authentication-Results` header
//! of a named authserv-id read back into an [`AuthSummary`], for a filter
//! that runs behind another authentication milter.

use super::results::{best_dkim, AuthSummary, DkimSig, OwnerPolicy, Res};

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
    let mut s = AuthSummary {
        spf: Res::None,
        spf_helo: Res::None,
        dkim: Res::None,
        dmarc: Res::None,
        arc: Res::None,
        ..Default::default()
    };
    let body = strip_comments(value);
    for stmt in body.split(';').skip(1) {
        let mut words = stmt.split_whitespace();
        let Some(first) = words.next() else { continue };
        let Some((method, result)) = first.split_once('=') else {
            continue;
        };
        let result = Res::parse(result);
        let props: Vec<(&str, &str)> = words.filter_map(|w| w.split_once('=')).collect();
        let prop = |k: &str| {
            props
                .iter()
                .find(|(p, _)| p.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.trim_matches('"').to_ascii_lowercase())
        };
        match method.to_ascii_lowercase().as_str() {
            "spf" => {
                if prop("smtp.mailfrom").is_some() {
                    s.spf = result;
                } else if prop("smtp.helo").is_some() {
                    s.spf_helo = result;
                } else {
                    s.spf = result;
                }
            }
            "dkim" => {
                let domain = prop("header.d")
                    .or_else(|| prop("header.i").map(|i| i.rsplit('@').next().unwrap_or("").into()))
                    .unwrap_or_default();
                s.dkim_signatures.push(DkimSig {
                    domain,
                    selector: prop("header.s").unwrap_or_default(),
                    result,
                });
            }
            "dmarc" => {
                s.dmarc = result;
                s.dmarc_policy = match prop("policy.dmarc").as_deref() {
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
    fn authserv_ids() {
        assert_eq!(authserv_id_of(" mx.example; spf=pass"), Some("mx.example"));
        assert_eq!(authserv_id_of("mx.example 1; none"), Some("mx.example"));
        assert_eq!(authserv_id_of(""), None);
    }
}
