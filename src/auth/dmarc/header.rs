//! Our Authentication-Results `dmarc` result for one [`Evaluation`].

use super::{Evaluation, Tag};

/// Our header's `dmarc` result (RFC 8601, RFC 9989 §9.1): `policy.dmarc`
/// is the policy applied to failing mail after `t=y`, and
/// `policy.dmarc-domain` where its record was found; comments say why a
/// policy is not the record's `p` as published. `policy.dmarc` comes last
/// so that the ARC override mark (`verify::mark_override`) can follow it.
pub fn header_piece(e: &Evaluation) -> String {
    let mut notes: Vec<String> = e.reason.iter().cloned().collect();
    if e.tag == Tag::Np {
        notes.push(format!(
            "np: {} does not exist",
            e.author.as_deref().unwrap_or_default()
        ));
    }
    if e.psd {
        notes.push("psd=y: the public suffix's policy".to_string());
    }
    if e.testing {
        notes.push(format!(
            "t=y: owner testing, {} applied as {}",
            e.requested.as_str(),
            e.applied.as_str()
        ));
    }
    let mut p = format!(";\r\n\tdmarc={}", e.result.as_str());
    for n in &notes {
        p.push_str(&format!(" ({})", comment_text(n)));
    }
    let Some(author) = &e.author else {
        return p;
    };
    p.push_str(&format!(" header.from={author}"));
    if let Some(d) = &e.policy_domain {
        p.push_str(&format!(" policy.dmarc-domain={d}"));
    }
    p.push_str(&format!(" policy.dmarc={}", e.applied.as_str()));
    p
}

/// Text safe inside an RFC 5322 comment: DNS error texts may carry
/// parentheses or backslashes.
fn comment_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '(' | ')' | '\\' => ' ',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::auth::{OwnerPolicy, Res};

    #[test]
    fn the_piece_says_where_and_why() {
        let e = Evaluation {
            result: Res::Fail,
            author: Some("ghost.example.com".into()),
            requested: OwnerPolicy::Reject,
            applied: OwnerPolicy::Quarantine,
            testing: true,
            policy_domain: Some("example.com".into()),
            org_domain: None,
            tag: Tag::Np,
            psd: false,
            reason: None,
        };
        assert_eq!(
            header_piece(&e),
            ";\r\n\tdmarc=fail (np: ghost.example.com does not exist) \
             (t=y: owner testing, reject applied as quarantine) \
             header.from=ghost.example.com policy.dmarc-domain=example.com policy.dmarc=quarantine"
        );
        let none = Evaluation::no_author("From names (several) domains");
        assert_eq!(
            header_piece(&none),
            ";\r\n\tdmarc=none (From names  several  domains)"
        );
    }
}
