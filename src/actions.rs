//! What a verdict does to a message, planned as data before anything is sent
//! to the MTA, so the plan can be tested without a milter connection.

use crate::auth::authserv_id_of;
use crate::config::Config;
use crate::findings::Action;
use crate::verdict::Verdict;

pub const VERDICT_HEADER: &str = "X-Kinko-Verdict";
pub const SCORE_HEADER: &str = "X-Kinko-Score";
pub const REASONS_HEADER: &str = "X-Kinko-Reasons";
const OUR_HEADERS: &[&str] = &[VERDICT_HEADER, SCORE_HEADER, REASONS_HEADER];

/// One change to the header block, in milter terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderOp {
    /// Delete the `index`-th (1-based) occurrence of `name`.
    Delete {
        name: String,
        index: i32,
    },
    /// Insert at the top of the header block.
    InsertTop {
        name: String,
        value: String,
    },
    Add {
        name: String,
        value: String,
    },
    /// Replace the `index`-th occurrence of `name`.
    Change {
        name: String,
        index: i32,
        value: String,
    },
}

/// The final SMTP-level outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    Accept,
    Quarantine { reason: String },
    Reject { text: String },
    Tempfail { text: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub headers: Vec<HeaderOp>,
    pub disposition: Disposition,
}

/// Deletions for headers a sender must not be able to forge: our
/// `Authentication-Results` and our verdict headers. Indices are per name and
/// emitted last-first, because deleting the first occurrence would renumber
/// the ones after it.
pub fn forged_header_deletions(headers: &[(String, String)], authserv_id: &str) -> Vec<HeaderOp> {
    let mut ops = Vec::new();
    let mut seen: Vec<(String, i32)> = Vec::new();
    for (name, value) in headers {
        let lname = name.to_ascii_lowercase();
        let index = match seen.iter_mut().find(|(n, _)| *n == lname) {
            Some((_, i)) => {
                *i += 1;
                *i
            }
            None => {
                seen.push((lname.clone(), 1));
                1
            }
        };
        let forged = if lname == "authentication-results" {
            authserv_id_of(value).is_some_and(|id| id.eq_ignore_ascii_case(authserv_id))
        } else {
            OUR_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(&lname))
        };
        if forged {
            ops.push(HeaderOp::Delete {
                name: name.clone(),
                index,
            });
        }
    }
    ops.reverse();
    ops
}

/// Builds the plan for a judged message.
///
/// `headers` are the incoming header fields (name, value); `ar_value` is our
/// `Authentication-Results` value, when authentication ran; `leading_space`
/// says whether values we send must carry their own leading space (the
/// LEADING_SPACE protocol option).
pub fn plan(
    headers: &[(String, String)],
    ar_value: Option<&str>,
    verdict: &Verdict,
    cfg: &Config,
    leading_space: bool,
) -> Plan {
    let sp = if leading_space { " " } else { "" };
    let mut ops = forged_header_deletions(headers, &cfg.authserv_id);
    if let Some(ar) = ar_value {
        ops.push(HeaderOp::InsertTop {
            name: "Authentication-Results".into(),
            value: format!("{sp}{ar}"),
        });
    }

    // In dry run the action is forced to accept but the headers say what
    // the policy would have done, so a team can tune before enforcing.
    let shown = if verdict.dry_run {
        verdict.policy_action
    } else {
        verdict.action
    };
    let want_headers = cfg.actions.add_headers
        && (shown > Action::Accept || cfg.actions.headers_on_accept)
        && (!verdict.dry_run || cfg.actions.dry_run_headers)
        && shown != Action::Tempfail;
    if want_headers {
        let verdict_word = if verdict.dry_run {
            format!("{shown} (dry run)")
        } else {
            shown.to_string()
        };
        ops.push(HeaderOp::Add {
            name: VERDICT_HEADER.into(),
            value: format!("{sp}{verdict_word}"),
        });
        ops.push(HeaderOp::Add {
            name: SCORE_HEADER.into(),
            value: format!("{sp}{}", verdict.score),
        });
        if !verdict.reasons.is_empty() {
            let reasons = crate::sanitize::header_ascii(&verdict.reasons.join("; "), 900);
            ops.push(HeaderOp::Add {
                name: REASONS_HEADER.into(),
                value: format!("{sp}{}", fold(&reasons)),
            });
        }
    }

    if verdict.action == Action::Tag && !cfg.actions.subject_prefix.is_empty() {
        let prefix = encode_word(&cfg.actions.subject_prefix);
        match headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case("Subject"))
        {
            Some(i) => {
                let old = headers[i].1.trim_start();
                ops.push(HeaderOp::Change {
                    name: headers[i].0.clone(),
                    index: 1,
                    value: format!("{sp}{prefix} {old}"),
                });
            }
            None => ops.push(HeaderOp::Add {
                name: "Subject".into(),
                value: format!("{sp}{prefix}"),
            }),
        }
    }

    let disposition = match verdict.action {
        Action::Accept | Action::Tag => Disposition::Accept,
        Action::Quarantine => Disposition::Quarantine {
            reason: crate::sanitize::header_ascii(
                &format!(
                    "kinko-milter: score {}: {}",
                    verdict.score,
                    verdict.reasons.first().map(String::as_str).unwrap_or("")
                ),
                200,
            ),
        },
        Action::Reject => Disposition::Reject {
            text: cfg.actions.reject_text.clone(),
        },
        Action::Tempfail => Disposition::Tempfail {
            text: cfg.actions.tempfail_text.clone(),
        },
    };
    Plan {
        headers: ops,
        disposition,
    }
}

/// RFC 2047 encoded-words for non-ASCII text (UTF-8, base64), each at most
/// 75 characters; ASCII text is returned as is.
pub fn encode_word(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return text.to_string();
    }
    // 45 bytes of UTF-8 become 60 base64 characters, plus 12 for the
    // =?UTF-8?B??= frame: within the 75-character limit. Split on character
    // boundaries so no word carries half a character.
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > 45 {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\n\t")
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        out.push(T[(n >> 18) as usize & 63] as char);
        out.push(T[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Folds a long header value at "; " so lines stay readable (LF-TAB, the
/// milter convention).
fn fold(value: &str) -> String {
    value.replace("; ", ";\n\t")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: &str, v: &str) -> (String, String) {
        (n.into(), v.into())
    }

    fn verdict(action: Action, dry_run: bool) -> Verdict {
        Verdict {
            action: if dry_run { Action::Accept } else { action },
            policy_action: action,
            score: 80,
            reasons: vec!["display-name claims brand x".into()],
            dry_run,
        }
    }

    #[test]
    fn forged_results_are_deleted_in_reverse_order() {
        let headers = vec![
            h("Authentication-Results", " mx.example; dkim=pass"),
            h("Received", " from a"),
            h("authentication-results", " other.example; spf=pass"),
            h("Authentication-Results", " MX.EXAMPLE; spf=pass"),
            h("X-Kinko-Verdict", " accept"),
        ];
        let ops = forged_header_deletions(&headers, "mx.example");
        assert_eq!(
            ops,
            vec![
                HeaderOp::Delete {
                    name: "X-Kinko-Verdict".into(),
                    index: 1
                },
                HeaderOp::Delete {
                    name: "Authentication-Results".into(),
                    index: 3
                },
                HeaderOp::Delete {
                    name: "Authentication-Results".into(),
                    index: 1
                },
            ]
        );
    }

    #[test]
    fn quarantine_plan_inserts_results_and_verdict() {
        let cfg = Config {
            authserv_id: "mx.example".into(),
            ..Config::default()
        };
        let p = plan(
            &[],
            Some("mx.example; spf=pass"),
            &verdict(Action::Quarantine, false),
            &cfg,
            true,
        );
        assert_eq!(
            p.headers[0],
            HeaderOp::InsertTop {
                name: "Authentication-Results".into(),
                value: " mx.example; spf=pass".into()
            }
        );
        assert!(p.headers.contains(&HeaderOp::Add {
            name: VERDICT_HEADER.into(),
            value: " quarantine".into()
        }));
        assert!(matches!(p.disposition, Disposition::Quarantine { .. }));
    }

    #[test]
    fn dry_run_shows_the_policy_action_but_accepts() {
        let cfg = Config::default();
        let p = plan(&[], None, &verdict(Action::Reject, true), &cfg, false);
        assert_eq!(p.disposition, Disposition::Accept);
        assert!(p.headers.contains(&HeaderOp::Add {
            name: VERDICT_HEADER.into(),
            value: "reject (dry run)".into()
        }));
    }

    #[test]
    fn japanese_subject_prefix_is_encoded() {
        let mut cfg = Config::default();
        cfg.actions.subject_prefix = "[なりすまし注意]".into();
        let headers = vec![h("Subject", " =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=")];
        let p = plan(&headers, None, &verdict(Action::Tag, false), &cfg, true);
        let change = p
            .headers
            .iter()
            .find_map(|op| match op {
                HeaderOp::Change { value, .. } => Some(value.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            change,
            " =?UTF-8?B?W+OBquOCiuOBmeOBvuOBl+azqOaEj10=?= =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?="
        );
    }

    #[test]
    fn long_words_split_on_character_boundaries() {
        let enc = encode_word(&"信".repeat(40));
        for w in enc.split("\n\t") {
            assert!(w.len() <= 75, "{w}");
        }
        assert_eq!(encode_word("[SUSPECT]"), "[SUSPECT]");
    }
}
