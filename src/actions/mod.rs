//! What a verdict does to a message, planned as data before anything is sent
//! to the MTA, so the plan can be tested without a milter connection.

pub mod banner;

use crate::settings::config::ActionsConfig;
use crate::verdict::Verdict;
use crate::vocab::findings::Action;

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
    /// A new body (the warning banner in tagged mail), replacing the old.
    pub body: Option<Vec<u8>>,
    pub disposition: Disposition,
}

/// Header fields a sender must not be able to forge (our
/// `Authentication-Results` and our verdict fields), found while the MTA
/// sends the header. Every field the MTA sends is counted, however many
/// the analysis keeps, so each deletion names the right occurrence.
#[derive(Debug, Default)]
pub struct Forged {
    /// Occurrences so far of `Authentication-Results` and of each of
    /// [`OUR_HEADERS`], in that order.
    seen: [i32; 4],
    deletions: Vec<HeaderOp>,
    /// Forged fields found, kept or not: past the bound only counted, so
    /// memory stays proportional to the bound whatever the sender sends.
    forged: usize,
}

impl Forged {
    /// Notes one incoming field; at most `max` deletions are kept (a
    /// message with more is refused whole, see [`Forged::count`]).
    pub fn header(&mut self, name: &str, value: &str, authserv_id: &str, max: usize) {
        let slot = if name.eq_ignore_ascii_case(AUTH_RESULTS) {
            0
        } else if let Some(i) = OUR_HEADERS
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
        {
            i + 1
        } else {
            return;
        };
        self.seen[slot] = self.seen[slot].saturating_add(1);
        let forged = slot > 0 || crate::vocab::authserv::is_ours(value, authserv_id);
        if forged {
            self.forged += 1;
            if self.forged > max {
                return;
            }
            self.deletions.push(HeaderOp::Delete {
                name: name.to_string(),
                index: self.seen[slot],
            });
        }
    }

    /// Forged fields seen, including those past the bound.
    pub fn count(&self) -> usize {
        self.forged
    }

    /// The deletions, last first: deleting an earlier occurrence first
    /// would renumber the ones after it.
    pub fn deletions(&self) -> impl Iterator<Item = &HeaderOp> {
        self.deletions.iter().rev()
    }
}

const AUTH_RESULTS: &str = "Authentication-Results";

/// Builds the plan for a judged message.
///
/// `forged` holds the incoming fields to delete; `subject` is the first
/// incoming Subject's value as the MTA sent it (bytes, since undeclared
/// 8-bit subjects are common in Japanese mail); `ar_value` is our
/// `Authentication-Results` value, when authentication ran; `leading_space`
/// says whether values we send must carry their own leading space (the
/// LEADING_SPACE protocol option).
pub fn plan(
    forged: &Forged,
    subject: Option<&[u8]>,
    ar_value: Option<&str>,
    verdict: &Verdict,
    cfg: &ActionsConfig,
    leading_space: bool,
) -> Plan {
    let sp = if leading_space { " " } else { "" };
    let mut ops: Vec<HeaderOp> = forged.deletions().cloned().collect();
    if let Some(ar) = ar_value {
        ops.push(HeaderOp::InsertTop {
            name: AUTH_RESULTS.into(),
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
    let want_headers = cfg.add_headers
        && (shown > Action::Accept || cfg.headers_on_accept)
        && (!verdict.dry_run || cfg.dry_run_headers)
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
            let reasons = crate::vocab::sanitize::header_ascii(&verdict.reasons.join("; "), 900);
            ops.push(HeaderOp::Add {
                name: REASONS_HEADER.into(),
                value: format!(
                    "{sp}{}",
                    crate::vocab::header_text::fold_at_semicolons(&reasons)
                ),
            });
        }
    }

    if verdict.action == Action::Tag && !cfg.subject_prefix.is_empty() {
        let value = crate::vocab::header_text::prefixed_subject(&cfg.subject_prefix, subject);
        ops.push(match subject {
            Some(_) => HeaderOp::Change {
                name: "Subject".into(),
                index: 1,
                value: format!("{sp}{value}"),
            },
            None => HeaderOp::Add {
                name: "Subject".into(),
                value: format!("{sp}{value}"),
            },
        });
    }

    let disposition = match verdict.action {
        Action::Accept | Action::Tag => Disposition::Accept,
        Action::Quarantine => Disposition::Quarantine {
            reason: crate::vocab::sanitize::header_ascii(
                &format!(
                    "kinko-milter: score {}: {}",
                    verdict.score,
                    verdict.reasons.first().map(String::as_str).unwrap_or("")
                ),
                200,
            ),
        },
        Action::Reject => Disposition::Reject {
            text: cfg.reject_text.clone(),
        },
        Action::Tempfail => Disposition::Tempfail {
            text: cfg.tempfail_text.clone(),
        },
    };
    Plan {
        headers: ops,
        body: None,
        disposition,
    }
}

/// Adds the banner's rewrite to the plan: the new body and the top-level
/// fields that changed with it (`present` says whether the message has a
/// field of that name, to change rather than add).
pub fn add_banner(
    plan: &mut Plan,
    rw: crate::actions::banner::Rewrite,
    present: impl Fn(&str) -> bool,
    leading_space: bool,
) {
    let sp = if leading_space { " " } else { "" };
    for (name, value) in rw.header_fields {
        let value = format!("{sp}{value}");
        plan.headers.push(if present(&name) {
            HeaderOp::Change {
                name,
                index: 1,
                value,
            }
        } else {
            HeaderOp::Add { name, value }
        });
    }
    let mut message = rw.message;
    plan.body = Some(message.split_off(rw.body_start.min(message.len())));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::header_text::encode_word;

    fn forged(headers: &[(&str, &str)], ours: &str) -> Forged {
        let mut f = Forged::default();
        for (n, v) in headers {
            f.header(n, v, ours, 50);
        }
        f
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
        let f = forged(
            &[
                ("Authentication-Results", " mx.example; dkim=pass"),
                ("Received", " from a"),
                ("authentication-results", " other.example; spf=pass"),
                ("Authentication-Results", " (c) \"MX.EXAMPLE.\"; spf=pass"),
                ("X-Kinko-Verdict", " accept"),
            ],
            "mx.example",
        );
        let ops: Vec<HeaderOp> = f.deletions().cloned().collect();
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
    fn deletions_past_the_bound_are_counted_not_kept() {
        let mut f = Forged::default();
        for _ in 0..20_000 {
            f.header("X-Kinko-Verdict", " accept", "mx.example", 50);
        }
        assert_eq!(f.count(), 20_000);
        assert_eq!(f.deletions().count(), 50);
    }

    #[test]
    fn forged_fields_are_counted_beyond_any_bound() {
        // 2,000 foreign results, then a forged one: its index counts them all.
        let mut f = Forged::default();
        for _ in 0..2000 {
            f.header(
                "Authentication-Results",
                " other.example; spf=pass",
                "mx.example",
                50,
            );
        }
        f.header(
            "Authentication-Results",
            " mx.example; dkim=pass",
            "mx.example",
            50,
        );
        f.header("X-Kinko-Score", " 0", "mx.example", 50);
        let ops: Vec<HeaderOp> = f.deletions().cloned().collect();
        assert_eq!(
            ops,
            vec![
                HeaderOp::Delete {
                    name: "X-Kinko-Score".into(),
                    index: 1
                },
                HeaderOp::Delete {
                    name: "Authentication-Results".into(),
                    index: 2001
                },
            ]
        );
    }

    #[test]
    fn quarantine_plan_inserts_results_and_verdict() {
        let cfg = ActionsConfig::default();
        let p = plan(
            &Forged::default(),
            None,
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
        let cfg = ActionsConfig::default();
        let p = plan(
            &Forged::default(),
            None,
            None,
            &verdict(Action::Reject, true),
            &cfg,
            false,
        );
        assert_eq!(p.disposition, Disposition::Accept);
        assert!(p.headers.contains(&HeaderOp::Add {
            name: VERDICT_HEADER.into(),
            value: "reject (dry run)".into()
        }));
    }

    #[test]
    fn japanese_subject_prefix_is_encoded() {
        let cfg = ActionsConfig {
            subject_prefix: "[なりすまし注意]".into(),
            ..ActionsConfig::default()
        };
        let subject: &[u8] = b" =?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?=";
        let p = plan(
            &Forged::default(),
            Some(subject),
            None,
            &verdict(Action::Tag, false),
            &cfg,
            true,
        );
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
