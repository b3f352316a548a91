//! The DNS-backed verifier: SPF (HELO and MAIL FROM) with viaspf, DKIM and
//! ARC with mail-auth, DMARC (RFC 9989) with [`super::dmarc`], all through
//! the shared caches, summarised into
//! [`AuthSummary`] and rendered as an RFC 8601 `Authentication-Results`
//! header.

use super::bounds::*;
use super::dmarc::{self, Evaluation, Identifiers};
use crate::auth::dns::Caches;
pub use crate::settings::limits::AuthBounds;
use crate::vocab::auth::{
    best_dkim, ArcOverride, ArcSealer, AuthSummary, DkimSig, LocalPolicy, Res,
};
use crate::vocab::message::Envelope;
use mail_auth::common::verify::DomainKey;
use mail_auth::{
    ArcOutput, AuthenticatedMessage, AuthenticationResults, DkimOutput, DkimResult,
    MessageAuthenticator, SpfOutput, SpfResult,
};
use std::time::Duration;

impl From<SpfResult> for Res {
    fn from(r: SpfResult) -> Res {
        match r {
            SpfResult::Pass => Res::Pass,
            SpfResult::Fail => Res::Fail,
            SpfResult::SoftFail => Res::Softfail,
            SpfResult::Neutral => Res::Neutral,
            SpfResult::TempError => Res::Temperror,
            SpfResult::PermError => Res::Permerror,
            SpfResult::None => Res::None,
        }
    }
}

impl From<&DkimResult> for Res {
    fn from(r: &DkimResult) -> Res {
        match r {
            DkimResult::Pass => Res::Pass,
            DkimResult::Neutral(_) => Res::Neutral,
            DkimResult::Fail(_) => Res::Fail,
            DkimResult::PermError(_) => Res::Permerror,
            DkimResult::TempError(_) => Res::Temperror,
            DkimResult::None => Res::None,
        }
    }
}

/// Runs the checks against DNS through the shared, TTL-honouring caches.
pub struct Authenticator {
    resolver: MessageAuthenticator,
    caches: Caches,
    bounds: AuthBounds,
}

impl Authenticator {
    pub fn new(resolver: MessageAuthenticator, caches: Caches) -> Self {
        Authenticator {
            resolver,
            caches,
            bounds: AuthBounds::default(),
        }
    }

    pub fn with_bounds(mut self, bounds: AuthBounds) -> Self {
        self.bounds = bounds;
        self
    }

    pub fn bounds(&self) -> AuthBounds {
        self.bounds
    }

    pub fn caches(&self) -> &Caches {
        &self.caches
    }

    /// Authenticates one message. `raw` is the message as received (header
    /// fields as the MTA passed them, then the body).
    pub async fn authenticate(
        &self,
        raw: &[u8],
        env: &Envelope,
        authserv_id: &str,
        local: &LocalPolicy,
        body_truncated: bool,
    ) -> AuthSummary {
        // mail-auth parses with mail-parser, which can panic on hostile
        // MIME (see analysis::parse); that must cost this message its
        // authentication, not the connection.
        let Ok(parsed) = std::panic::catch_unwind(|| AuthenticatedMessage::parse(raw)) else {
            return AuthSummary::skipped("message headers could not be parsed");
        };
        // mail-auth returns nothing for a message without header fields;
        // SPF still applies to it, and DKIM, DMARC and ARC find nothing.
        let mut msg = parsed.unwrap_or_else(|| AuthenticatedMessage {
            raw_message: raw,
            ..Default::default()
        });
        let bounded = bound_signatures(&mut msg, self.bounds.max_dkim_signatures);
        let helo = if env.helo.is_empty() {
            "unknown"
        } else {
            env.helo.as_str()
        };
        let c = &self.caches;
        let mail_from_domain = env
            .mail_from
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or(helo);

        // Without a client address (local submission, or `check` without
        // --client-ip) SPF cannot be evaluated; DKIM and DMARC still can.
        let (spf_helo, spf) = match env.client_ip {
            Some(ip) => {
                let dns = self.resolver.resolver();
                let result = super::spf::check(dns, c, ip, helo, "").await;
                let spf_helo = SpfOutput::new(helo.to_ascii_lowercase()).with_result(result);
                let spf = if env.mail_from.is_empty() {
                    spf_helo.clone()
                } else {
                    let result = super::spf::check(dns, c, ip, helo, &env.mail_from).await;
                    SpfOutput::new(mail_from_domain.to_ascii_lowercase()).with_result(result)
                };
                (spf_helo, spf)
            }
            None => {
                let none =
                    SpfOutput::new(mail_from_domain.to_string()).with_result(SpfResult::None);
                (none.clone(), none)
            }
        };
        let mut dkim = self.resolver.verify_dkim(c.params(&msg)).await;
        dkim.extend(bounded.refused.iter().map(|(h, _)| {
            DkimOutput::perm_err(mail_auth::Error::MissingParameters).with_signature(&h.header)
        }));
        let dkim = dkim_musts(&msg, dkim);
        let dkim = self.key_hash_restrictions(&msg, dkim).await;
        // A chain with a field we refuse or cannot accept fails whatever
        // its signatures say: no DNS lookup is spent on it.
        let arc_refused = arc_refusal(&msg);
        let arc = match &arc_refused {
            Some(_) => ArcOutput::default().with_result(DkimResult::Fail(mail_auth::Error::Arc(
                mail_auth::arc::ArcError::BrokenChain,
            ))),
            None => chain_validation(&msg, self.resolver.verify_arc(c.params(&msg)).await),
        };
        let dmarc = self.dmarc(&msg, &dkim, &spf).await;

        let header_from = msg.from();
        // Our header is put together result by result, so that however
        // many signatures a message carries it stays within its bound.
        let piece = |f: &dyn Fn(AuthenticationResults) -> AuthenticationResults| {
            let text = f(AuthenticationResults::new(authserv_id)).to_string();
            text[authserv_id.len()..].to_string()
        };
        let spf_helo_piece = env
            .client_ip
            .map(|ip| piece(&|ar| ar.with_spf_ehlo_result(&spf_helo, ip, helo)))
            .unwrap_or_default();
        let mailfrom_piece = match (env.client_ip, env.mail_from.is_empty()) {
            (Some(ip), false) => {
                piece(&|ar| ar.with_spf_mailfrom_result(&spf, ip, &env.mail_from, helo))
            }
            _ => String::new(),
        };
        let dmarc_piece = dmarc.header_piece();
        let arc_piece = match (env.client_ip, has_arc_sets(&msg)) {
            (Some(ip), true) => {
                let p = piece(&|ar| ar.with_arc_result(&arc, ip));
                match &arc_refused {
                    Some(why) => with_reason(&p, "arc=fail", why),
                    None => p,
                }
            }
            _ => String::new(),
        };
        let dkim_pieces: Vec<String> = dkim
            .iter()
            .map(|o| {
                let p = piece(&|ar| ar.with_dkim_result(o, header_from));
                let why = o.signature().and_then(|s| {
                    bounded
                        .refused
                        .iter()
                        .find(|(h, _)| std::ptr::eq(&h.header, s))
                        .map(|(_, why)| why.as_str())
                });
                match why {
                    Some(why) => with_reason(&p, "dkim=permerror", why),
                    None => p,
                }
            })
            .collect();
        let unverified = (bounded.unverified > 0).then(|| {
            format!(
                "{} more DKIM signatures not verified: limits.max_dkim_signatures is {}",
                bounded.unverified, self.bounds.max_dkim_signatures
            )
        });
        let mut header = authserv_id.to_string();
        header.push_str(&spf_helo_piece);
        let fixed = header.len() + mailfrom_piece.len() + dmarc_piece.len() + arc_piece.len();
        push_bounded(
            &mut header,
            &dkim_pieces,
            unverified.as_deref(),
            self.bounds.max_auth_results_bytes.saturating_sub(fixed),
        );
        header.push_str(&mailfrom_piece);
        header.push_str(&dmarc_piece);
        header.push_str(&arc_piece);

        let dkim_signatures: Vec<DkimSig> = dkim
            .iter()
            .filter_map(|o| {
                o.signature().map(|s| DkimSig {
                    domain: s.d.to_ascii_lowercase(),
                    selector: s.s.clone(),
                    result: o.result().into(),
                })
            })
            .collect();
        let mut dmarc_res = dmarc.result;
        let mut skipped = None;
        // A body cut at max_message_bytes cannot match its DKIM body hash.
        // Rejecting large legitimate mail for that would lose it, so DMARC
        // is not judged when that is the only way it failed.
        let cut_signature = body_truncated && dkim.iter().any(|o| {
            matches!(
                o.result(),
                DkimResult::Neutral(e) | DkimResult::Fail(e)
                    if *e == mail_auth::Error::Dkim(mail_auth::dkim::DkimError::FailedBodyHashMatch)
            )
        });
        if dmarc_res == Res::Fail && cut_signature {
            dmarc_res = Res::None;
            skipped = Some("DMARC not judged: body beyond max_message_bytes".to_string());
        }
        let author = dmarc.author.as_deref().unwrap_or_default();
        let arc_res: Res = arc.result().into();
        let mut summary = AuthSummary {
            spf: spf.result().into(),
            spf_helo: spf_helo.result().into(),
            dkim: best_dkim(&dkim_signatures, dkim.iter().map(|o| o.result().into())),
            dkim_signatures,
            dmarc: dmarc_res,
            dmarc_policy: dmarc.requested,
            dmarc_sampled_out: false,
            dmarc_testing: dmarc.testing,
            dmarc_policy_domain: dmarc.policy_domain.clone(),
            dmarc_psd: dmarc.psd,
            arc: arc_res,
            arc_sealer: if arc_res == Res::Pass {
                newest_seal(&msg, author)
            } else {
                None
            },
            arc_override: None,
            skipped,
            limited: unverified,
            header: None,
        };
        summary.arc_override = local.arc_override(&summary);
        if let Some(o) = &summary.arc_override {
            mark_override(&mut header, o);
        }
        summary.header = Some(crate::vocab::header_text::lf_folded(&header));
        summary
    }

    /// [`Authenticator::authenticate`] bounded by the message time budget,
    /// for the daemon and `check` alike; `Err` carries what the message gets
    /// when the budget runs out.
    pub async fn authenticate_within(
        &self,
        budget: Duration,
        raw: &[u8],
        env: &Envelope,
        authserv_id: &str,
        local: &LocalPolicy,
        body_truncated: bool,
    ) -> Result<AuthSummary, AuthSummary> {
        let work = self.authenticate(raw, env, authserv_id, local, body_truncated);
        tokio::time::timeout(budget, work)
            .await
            .map_err(|_| AuthSummary::timed_out())
    }

    /// RFC 6376 §3.6.1: a key record whose `h=` leaves out sha256 must not
    /// verify a sha256 signature; mail-auth parses `h=` but never checks it.
    /// The key was just fetched for the signature, so this is a cache hit.
    async fn key_hash_restrictions<'x>(
        &self,
        msg: &'x AuthenticatedMessage<'x>,
        dkim: Vec<DkimOutput<'x>>,
    ) -> Vec<DkimOutput<'x>> {
        let mut out = Vec::with_capacity(dkim.len());
        for o in dkim {
            let passed = matches!(o.result(), DkimResult::Pass);
            let sig = o.signature().and_then(|s| {
                msg.dkim_headers
                    .iter()
                    .map(|h| &h.header)
                    .find(|h| std::ptr::eq(*h, s))
            });
            let restricted = match sig {
                Some(sig) if passed => {
                    let name = format!("{}._domainkey.{}.", sig.s, sig.d);
                    self.resolver
                        .txt_lookup::<DomainKey>(name, Some(&self.caches.txt))
                        .await
                        .is_ok_and(|key| !super::strict::key_allows_sha256(&key))
                }
                _ => false,
            };
            out.push(match sig {
                Some(sig) if restricted => DkimOutput::perm_err(mail_auth::Error::Dkim(
                    mail_auth::dkim::DkimError::UnsupportedAlgorithm,
                ))
                .with_signature(sig),
                _ => o,
            });
        }
        out
    }

    /// DMARC (RFC 9989) over the SPF and DKIM results just found, through
    /// the resolver and caches the other checks use.
    async fn dmarc(
        &self,
        msg: &AuthenticatedMessage<'_>,
        dkim: &[DkimOutput<'_>],
        spf: &SpfOutput,
    ) -> Evaluation {
        let author = match dmarc::author_domain(msg.from.iter().map(String::as_str)) {
            Ok(author) => author,
            Err(why) => return Evaluation::no_author(why),
        };
        let ids = Identifiers {
            spf: Some((spf.domain(), spf.result().into())),
            dkim: dkim
                .iter()
                .filter_map(|o| Some((o.signature()?.d.as_str(), o.result().into())))
                .collect(),
        };
        let dns = dmarc::Dns {
            resolver: self.resolver.resolver(),
            caches: &self.caches,
        };
        dmarc::evaluate(dns, &author, &ids).await
    }
}

/// mail-auth's DKIM verdicts corrected where it breaks an RFC "must":
/// rsa-sha1 and signatures leaving From unsigned do not pass (RFC 8301,
/// RFC 6376 §6.1.1), and a body that no longer matches or an expired
/// signature fail rather than stay neutral (RFC 6376 §6.1.3, §3.5 x=).
/// DMARC is computed from the corrected results.
fn dkim_musts<'x>(
    msg: &'x AuthenticatedMessage<'x>,
    dkim: Vec<DkimOutput<'x>>,
) -> Vec<DkimOutput<'x>> {
    use mail_auth::dkim::DkimError;
    dkim.into_iter()
        .map(|o| {
            let Some(h) = msg
                .dkim_headers
                .iter()
                .find(|h| o.signature().is_some_and(|s| std::ptr::eq(s, &h.header)))
            else {
                return o;
            };
            let sig = &h.header;
            let raw = String::from_utf8_lossy(h.value);
            match (super::strict::dkim_signature_unacceptable(&raw), o.result()) {
                (Some(why), _) if why.contains("8301") => {
                    DkimOutput::perm_err(mail_auth::Error::Dkim(DkimError::UnsupportedAlgorithm))
                        .with_signature(sig)
                }
                (Some(_), _) => {
                    DkimOutput::fail(mail_auth::Error::MissingParameters).with_signature(sig)
                }
                (None, DkimResult::Neutral(e))
                    if matches!(
                        e,
                        mail_auth::Error::Dkim(
                            DkimError::FailedBodyHashMatch | DkimError::SignatureExpired
                        )
                    ) =>
                {
                    DkimOutput::fail(e.clone()).with_signature(sig)
                }
                _ => o,
            }
        })
        .collect()
}

/// The newest ARC set (highest `i=`) and what its sealer recorded about
/// the From domain; only meaningful once the chain validated.
fn newest_seal(msg: &AuthenticatedMessage, from_domain: &str) -> Option<ArcSealer> {
    let seal = msg.as_headers.iter().max_by_key(|h| h.header.i)?;
    let instance = seal.header.i;
    let vouches = msg
        .aar_headers
        .iter()
        .find(|h| h.header.i == instance)
        .and_then(|h| super::recorded::aar_vouches(&String::from_utf8_lossy(h.value), from_domain));
    Some(ArcSealer {
        domain: seal.header.d.to_ascii_lowercase(),
        instance,
        vouches,
    })
}

/// Says in the `dmarc` result of our header that the owner's policy was
/// lifted, and by whom: a `policy.arc=override` property and a comment
/// naming the sealer (RFC 8601 §2.2 allows both).
fn mark_override(header: &mut String, o: &ArcOverride) {
    let Some(start) = header.find("\tdmarc=") else {
        return;
    };
    let end = header[start..]
        .find(';')
        .map_or(header.len(), |i| start + i);
    header.insert_str(
        end,
        &format!(
            " policy.arc=override (trusted ARC sealer {} recorded {})",
            o.sealer, o.vouches
        ),
    );
}

/// The verifier's ARC outcome in RFC 8617's terms, which know only none,
/// pass and fail (§4.4): a chain that exists but cannot be validated, for
/// whatever reason (malformed or missing fields, a bad body hash, no key),
/// fails; only a message with no ARC fields at all has none.
fn chain_validation<'x>(msg: &AuthenticatedMessage, arc: ArcOutput<'x>) -> ArcOutput<'x> {
    let broken = || mail_auth::Error::Arc(mail_auth::arc::ArcError::BrokenChain);
    let result = match arc.result() {
        _ if !has_arc_sets(msg) => DkimResult::None,
        _ if !super::strict::arc_fields_ok(msg.headers.iter().copied()) => {
            DkimResult::Fail(broken())
        }
        DkimResult::Pass => DkimResult::Pass,
        DkimResult::Fail(e)
        | DkimResult::Neutral(e)
        | DkimResult::PermError(e)
        | DkimResult::TempError(e) => DkimResult::Fail(e.clone()),
        DkimResult::None => DkimResult::Fail(broken()),
    };
    arc.with_result(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::auth::OwnerPolicy;

    #[test]
    fn the_header_names_the_override_in_the_dmarc_result() {
        let mut h = "mx.test;\r\n\tdkim=fail header.d=bank.example;\r\n\tdmarc=fail header.from=bank.example policy.dmarc=reject;\r\n\tarc=pass smtp.remote-ip=192.0.2.1".to_string();
        let o = ArcOverride {
            sealer: "lists.example.org".into(),
            reason: "r".into(),
            policy: OwnerPolicy::Reject,
            vouches: "dmarc=pass".into(),
        };
        mark_override(&mut h, &o);
        assert!(
            h.contains("\tdmarc=fail header.from=bank.example policy.dmarc=reject policy.arc=override (trusted ARC sealer lists.example.org recorded dmarc=pass);\r\n\tarc=pass"),
            "{h}"
        );
    }

    fn signature(selector: &str, h: &str) -> String {
        format!(
            "DKIM-Signature: v=1; a=rsa-sha256; d=attacker.example; s={selector}; h={h}; bh=AA==; b=AA==\r\n"
        )
    }

    fn message(fields: &str) -> String {
        format!("{fields}From: a@attacker.example\r\nSubject: x\r\n\r\nbody\r\n")
    }

    #[test]
    fn a_thousand_signatures_leave_ten_for_mail_auth_and_count_the_rest() {
        let fields: String = (0..1000)
            .map(|i| signature(&format!("s{i}"), "from"))
            .collect();
        let raw = message(&fields);
        let mut msg = AuthenticatedMessage::parse(raw.as_bytes()).unwrap();
        assert_eq!(msg.dkim_headers.len(), 1000);
        let b = bound_signatures(&mut msg, 10);
        let selectors: Vec<&str> = msg
            .dkim_headers
            .iter()
            .map(|h| h.header.s.as_str())
            .collect();
        assert_eq!(
            selectors,
            (0..10).map(|i| format!("s{i}")).collect::<Vec<_>>()
        );
        assert_eq!((b.refused.len(), b.unverified), (0, 990));
        // Every header field is still there for the kept ones to sign.
        assert_eq!(msg.headers.len(), 1002);
    }

    #[test]
    fn oversized_signatures_within_the_count_are_refused_with_the_reason() {
        let huge_h: Vec<String> = (0..20_000).map(|i| format!("x{i}")).collect();
        let huge_h = format!("from:{}", huge_h.join(":"));
        let fields = format!(
            "{}{}{}",
            signature("big", &huge_h),
            signature("ok", "from:subject"),
            signature("late", "from")
        );
        let raw = message(&fields);
        let mut msg = AuthenticatedMessage::parse(raw.as_bytes()).unwrap();
        let b = bound_signatures(&mut msg, 2);
        assert_eq!(msg.dkim_headers.len(), 1);
        assert_eq!(msg.dkim_headers[0].header.s, "ok");
        assert_eq!(b.refused.len(), 1);
        assert_eq!(b.refused[0].0.header.s, "big");
        assert!(
            b.refused[0].1.starts_with("field of "),
            "{}",
            b.refused[0].1
        );
        assert_eq!(b.unverified, 1);
    }

    #[test]
    fn unparseable_signatures_count_against_the_bound() {
        let bad =
            "DKIM-Signature: v=1; a=rsa-sha256; c=bogus; d=x; s=s; h=from; bh=AA==; b=AA==\r\n";
        let fields = format!("{}{}", signature("ok", "from"), bad.repeat(30));
        let raw = message(&fields);
        let mut msg = AuthenticatedMessage::parse(raw.as_bytes()).unwrap();
        let dkim_errors = |m: &AuthenticatedMessage| {
            m.errors
                .iter()
                .filter(|e| matches!(e.header, mail_auth::Error::Dkim(_)))
                .count()
        };
        assert_eq!(dkim_errors(&msg), 30);
        let b = bound_signatures(&mut msg, 10);
        assert_eq!((msg.dkim_headers.len(), dkim_errors(&msg)), (1, 9));
        assert_eq!(b.unverified, 21);
    }

    #[test]
    fn an_arc_chain_with_a_field_too_large_fails_before_any_lookup() {
        let big = format!(
            "ARC-Seal: i=1; a=rsa-sha256; d=x; s=s; cv=none; b={}\r\n",
            "A".repeat(100_000)
        );
        let raw = message(&big.repeat(40));
        let msg = AuthenticatedMessage::parse(raw.as_bytes()).unwrap();
        let why = arc_refusal(&msg).expect("refused");
        assert!(why.starts_with("ARC-Seal: field of "), "{why}");
        let ok = "ARC-Seal: i=1; a=rsa-sha256; d=x; s=s; cv=none; b=AA==\r\n";
        let msg_ok = message(ok);
        let msg = AuthenticatedMessage::parse(msg_ok.as_bytes()).unwrap();
        assert_eq!(arc_refusal(&msg), None);
        let sha1 = message(&ok.replace("rsa-sha256", "rsa-sha1"));
        let msg = AuthenticatedMessage::parse(sha1.as_bytes()).unwrap();
        assert_eq!(arc_refusal(&msg).as_deref(), Some("malformed ARC field"));
    }

    #[test]
    fn our_header_lists_what_fits_and_counts_the_rest() {
        let pieces: Vec<String> = (0..50)
            .map(|i| {
                format!(";\r\n\tdkim=pass header.d=d{i}.example header.s=s{i} header.b=AAAAAAAA")
            })
            .collect();
        let mut h = "mx.test".to_string();
        push_bounded(
            &mut h,
            &pieces,
            Some("3 more DKIM signatures not verified"),
            1024,
        );
        assert!(h.len() <= 1024, "{} bytes", h.len());
        let listed = h.matches("dkim=pass").count();
        assert!(listed > 0 && listed < 50, "{listed}");
        assert!(
            h.contains(&format!("({} more DKIM results not listed", 50 - listed)),
            "{h}"
        );
        assert!(
            h.ends_with("dkim=permerror (3 more DKIM signatures not verified)"),
            "{h}"
        );
        // Everything fits: listed in full, no comment.
        let mut h = "mx.test".to_string();
        push_bounded(&mut h, &pieces[..3], None, 4096);
        assert_eq!(h, format!("mx.test{}", pieces[..3].concat()));
    }

    #[test]
    fn reasons_go_after_the_result_word() {
        let p = ";\r\n\tdkim=permerror (missing parameters) header.d=x header.s=s";
        assert_eq!(
            with_reason(p, "dkim=permerror", "field of 20000 bytes, more than 16384"),
            ";\r\n\tdkim=permerror (field of 20000 bytes, more than 16384) (missing parameters) header.d=x header.s=s"
        );
    }
}
