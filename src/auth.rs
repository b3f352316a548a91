//! Email authentication: SPF (HELO and MAIL FROM), DKIM, DMARC and ARC with
//! mail-auth, summarised into plain values the rest of the analysis can use,
//! and rendered as an RFC 8601 `Authentication-Results` header.

use crate::analysis::Envelope;
use crate::dns::Caches;
use crate::findings::{Finding, FindingKind};
use mail_auth::dmarc::Policy as DmarcPolicy;
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DkimResult, DmarcResult, MessageAuthenticator,
    SpfOutput, SpfResult,
};
use serde::Serialize;
use std::net::IpAddr;

/// One authentication result, in RFC 8601 result words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Res {
    #[default]
    None,
    Pass,
    Fail,
    Softfail,
    Neutral,
    Temperror,
    Permerror,
    /// Not evaluated: trusted client, authenticated submission or `--no-dns`.
    Skipped,
}

impl Res {
    pub const ALL: &'static [Res] = &[
        Res::None,
        Res::Pass,
        Res::Fail,
        Res::Softfail,
        Res::Neutral,
        Res::Temperror,
        Res::Permerror,
        Res::Skipped,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Res::None => "none",
            Res::Pass => "pass",
            Res::Fail => "fail",
            Res::Softfail => "softfail",
            Res::Neutral => "neutral",
            Res::Temperror => "temperror",
            Res::Permerror => "permerror",
            Res::Skipped => "skipped",
        }
    }

    pub fn parse(word: &str) -> Res {
        match word.to_ascii_lowercase().as_str() {
            "pass" => Res::Pass,
            "fail" | "hardfail" => Res::Fail,
            "softfail" => Res::Softfail,
            "neutral" | "policy" => Res::Neutral,
            "temperror" => Res::Temperror,
            "permerror" => Res::Permerror,
            _ => Res::None,
        }
    }
}

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

impl From<&DmarcResult> for Res {
    fn from(r: &DmarcResult) -> Res {
        match r {
            DmarcResult::Pass => Res::Pass,
            DmarcResult::Fail(_) => Res::Fail,
            DmarcResult::TempError(_) => Res::Temperror,
            DmarcResult::PermError(_) => Res::Permerror,
            DmarcResult::None => Res::None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DkimSig {
    pub domain: String,
    pub selector: String,
    pub result: Res,
}

/// What the domain owner asks receivers to do with failing mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OwnerPolicy {
    #[default]
    None,
    Quarantine,
    Reject,
}

/// Authentication results as plain values.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuthSummary {
    /// The best of SPF for MAIL FROM (what DMARC uses); kept as `spf` for readers.
    pub spf: Res,
    pub spf_helo: Res,
    pub dkim: Res,
    pub dkim_signatures: Vec<DkimSig>,
    pub dmarc: Res,
    pub dmarc_policy: OwnerPolicy,
    /// The owner's `pct` spared this message: apply the next lower policy.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dmarc_sampled_out: bool,
    pub arc: Res,
    /// Why authentication was not run, when it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// RFC 8601 header value (without the name), LF-TAB folded.
    #[serde(skip)]
    pub header: Option<String>,
}

impl AuthSummary {
    pub fn skipped(reason: impl Into<String>) -> Self {
        AuthSummary {
            spf: Res::Skipped,
            spf_helo: Res::Skipped,
            dkim: Res::Skipped,
            dmarc: Res::Skipped,
            arc: Res::Skipped,
            skipped: Some(reason.into()),
            ..Default::default()
        }
    }

    pub fn dmarc_pass(&self) -> bool {
        self.dmarc == Res::Pass
    }

    /// Domains with a passing DKIM signature.
    pub fn dkim_pass_domains(&self) -> impl Iterator<Item = &str> {
        self.dkim_signatures
            .iter()
            .filter(|s| s.result == Res::Pass)
            .map(|s| s.domain.as_str())
    }

    /// A DNS failure left a result undecided that the verdict depends on.
    pub fn dns_trouble(&self) -> bool {
        self.spf == Res::Temperror || self.dkim == Res::Temperror || self.dmarc == Res::Temperror
    }
}

/// Findings from authentication alone.
pub fn findings(auth: &AuthSummary) -> Vec<Finding> {
    let mut out = Vec::new();
    if auth.dmarc == Res::Fail {
        let effective = effective_policy(auth);
        let (kind, what) = match effective {
            OwnerPolicy::Reject => (FindingKind::DmarcReject, "p=reject"),
            OwnerPolicy::Quarantine => (FindingKind::DmarcQuarantine, "p=quarantine"),
            OwnerPolicy::None => (FindingKind::DmarcFail, "no enforcement"),
        };
        let note = if auth.dmarc_sampled_out {
            " (spared by pct: one level lower)"
        } else {
            ""
        };
        out.push(Finding::new(
            kind,
            format!("DMARC fail, domain owner asks {what}{note}"),
        ));
    }
    match auth.spf {
        Res::Fail => out.push(Finding::new(FindingKind::SpfFail, "SPF fail for MAIL FROM")),
        Res::Softfail => out.push(Finding::new(
            FindingKind::SpfSoftfail,
            "SPF softfail for MAIL FROM",
        )),
        _ => {}
    }
    if auth.dkim == Res::Fail {
        let failed: Vec<&str> = auth
            .dkim_signatures
            .iter()
            .filter(|s| s.result == Res::Fail)
            .map(|s| s.domain.as_str())
            .collect();
        out.push(Finding::new(
            FindingKind::DkimFail,
            format!("DKIM signature fails for d={}", failed.join(",")),
        ));
    }
    out
}

/// The owner's policy after `pct` sampling (RFC 7489 §6.6.4: a message not
/// sampled gets the next lower policy).
pub fn effective_policy(auth: &AuthSummary) -> OwnerPolicy {
    match (auth.dmarc_policy, auth.dmarc_sampled_out) {
        (OwnerPolicy::Reject, true) => OwnerPolicy::Quarantine,
        (OwnerPolicy::Quarantine, true) => OwnerPolicy::None,
        (p, _) => p,
    }
}

/// Runs the checks against DNS through the shared, TTL-honouring caches.
pub struct Authenticator {
    resolver: MessageAuthenticator,
    caches: Caches,
}

impl Authenticator {
    pub fn new(resolver: MessageAuthenticator, caches: Caches) -> Self {
        Authenticator { resolver, caches }
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
        honor_pct: bool,
        body_truncated: bool,
    ) -> AuthSummary {
        // mail-auth parses with mail-parser, which can panic on hostile
        // MIME (see analysis::parse); that must cost this message its
        // authentication, not the connection.
        let parsed = std::panic::catch_unwind(|| AuthenticatedMessage::parse(raw))
            .ok()
            .flatten();
        let Some(msg) = parsed else {
            return AuthSummary::skipped("message headers could not be parsed");
        };
        let helo = if env.helo.is_empty() {
            "unknown"
        } else {
            env.helo.as_str()
        };
        let c = &self.caches;
        let params = |p| c.params(p);
        let mail_from_domain = env
            .mail_from
            .rsplit_once('@')
            .map(|(_, d)| d)
            .unwrap_or(helo);

        // Without a client address (local submission, or `check` without
        // --client-ip) SPF cannot be evaluated; DKIM and DMARC still can.
        let (spf_helo, spf) = match env.client_ip {
            Some(ip) => {
                let spf_helo = self
                    .resolver
                    .verify_spf(params(mail_auth::spf::verify::SpfParameters::verify_ehlo(
                        ip,
                        helo,
                        authserv_id,
                    )))
                    .await;
                let spf = if env.mail_from.is_empty() {
                    spf_helo.clone()
                } else {
                    self.resolver
                        .verify_spf(params(
                            mail_auth::spf::verify::SpfParameters::verify_mail_from(
                                ip,
                                helo,
                                authserv_id,
                                &env.mail_from,
                            ),
                        ))
                        .await
                };
                (spf_helo, spf)
            }
            None => {
                let none =
                    SpfOutput::new(mail_from_domain.to_string()).with_result(SpfResult::None);
                (none.clone(), none)
            }
        };
        let dkim = self.resolver.verify_dkim(c.params(&msg)).await;
        let arc = self.resolver.verify_arc(c.params(&msg)).await;
        let dmarc = self
            .resolver
            .verify_dmarc(c.params(mail_auth::dmarc::verify::DmarcParameters::new(
                &msg,
                &dkim,
                mail_from_domain,
                &spf,
            )))
            .await;

        let header_from = msg.from();
        let mut ar = AuthenticationResults::new(authserv_id);
        if let Some(ip) = env.client_ip {
            ar = ar.with_spf_ehlo_result(&spf_helo, ip, helo);
        }
        ar = ar.with_dkim_results(&dkim, header_from);
        if let (Some(ip), false) = (env.client_ip, env.mail_from.is_empty()) {
            ar = ar.with_spf_mailfrom_result(&spf, ip, &env.mail_from, helo);
        }
        ar = ar.with_dmarc_result(&dmarc);
        if let (Some(ip), false) = (env.client_ip, msg.as_headers.is_empty()) {
            ar = ar.with_arc_result(&arc, ip);
        }

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
        let mut dmarc_res: Res = (&dmarc.result()).into();
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
        let dmarc_policy = match dmarc.policy() {
            DmarcPolicy::Reject => OwnerPolicy::Reject,
            DmarcPolicy::Quarantine => OwnerPolicy::Quarantine,
            _ => OwnerPolicy::None,
        };
        let dmarc_sampled_out = honor_pct
            && dmarc_res == Res::Fail
            && dmarc_policy != OwnerPolicy::None
            && self.sampled_out(dmarc.domain(), raw).await;

        AuthSummary {
            spf: spf.result().into(),
            spf_helo: spf_helo.result().into(),
            dkim: best_dkim(&dkim_signatures, dkim.iter().map(|o| o.result().into())),
            dkim_signatures,
            dmarc: dmarc_res,
            dmarc_policy,
            dmarc_sampled_out,
            arc: if msg.as_headers.is_empty() {
                Res::None
            } else {
                arc.result().into()
            },
            skipped,
            header: Some(fold_for_milter(&ar.to_string())),
        }
    }

    /// mail-auth follows DMARCbis, which drops `pct`; many published records
    /// still carry it, so read it from the record text ourselves. The choice
    /// hashes the message so a retry of the same message gets the same answer.
    async fn sampled_out(&self, from_domain: &str, raw: &[u8]) -> bool {
        let org = crate::domain::registrable(from_domain).unwrap_or_default();
        for domain in [from_domain, org.as_str()] {
            if domain.is_empty() {
                continue;
            }
            let name = format!("_dmarc.{domain}.");
            if let Ok(txt) = self.resolver.txt_raw_lookup(name.as_str()).await {
                let text = String::from_utf8_lossy(&txt);
                if let Some(pct) = parse_pct(&text) {
                    return sample(raw) >= pct;
                }
                return false;
            }
        }
        false
    }
}

fn parse_pct(record: &str) -> Option<u32> {
    record
        .split(';')
        .filter_map(|t| t.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("pct"))
        .and_then(|(_, v)| v.trim().parse::<u32>().ok())
        .map(|p| p.min(100))
}

/// A number 0..100 derived from the message bytes (FNV-1a): stable per message.
fn sample(raw: &[u8]) -> u32 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &b in raw.iter().take(64 * 1024) {
        h ^= b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    (h % 100) as u32
}

/// Overall DKIM result: pass if any signature passes, otherwise the most
/// telling failure.
fn best_dkim(sigs: &[DkimSig], all: impl Iterator<Item = Res>) -> Res {
    if sigs.iter().any(|s| s.result == Res::Pass) {
        return Res::Pass;
    }
    let all: Vec<Res> = all.collect();
    for r in [
        Res::Fail,
        Res::Temperror,
        Res::Permerror,
        Res::Neutral,
        Res::Pass,
    ] {
        if all.contains(&r) {
            return r;
        }
    }
    Res::None
}

/// mail-auth folds with CRLF-TAB; inside a milter header value the MTA wants
/// bare LF, and every value must be free of other controls.
pub fn fold_for_milter(value: &str) -> String {
    value
        .replace("\r\n", "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect()
}

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

/// The client address as a result-relevant IP, for callers that only have text.
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
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
    fn dmarc_failure_findings_follow_owner_policy_and_pct() {
        let mut s = AuthSummary {
            dmarc: Res::Fail,
            dmarc_policy: OwnerPolicy::Reject,
            ..Default::default()
        };
        assert_eq!(findings(&s)[0].kind, FindingKind::DmarcReject);
        s.dmarc_sampled_out = true;
        assert_eq!(findings(&s)[0].kind, FindingKind::DmarcQuarantine);
        s.dmarc_policy = OwnerPolicy::Quarantine;
        assert_eq!(findings(&s)[0].kind, FindingKind::DmarcFail);
        s.dmarc = Res::Pass;
        assert!(findings(&s).is_empty());
    }

    #[test]
    fn pct_parsing() {
        assert_eq!(parse_pct("v=DMARC1; p=reject; pct=25"), Some(25));
        assert_eq!(parse_pct("v=DMARC1; p=reject"), None);
        assert_eq!(parse_pct("v=DMARC1; PCT = 200"), Some(100));
    }

    #[test]
    fn folding_uses_bare_lf_and_drops_controls() {
        assert_eq!(
            fold_for_milter("mx; spf=pass\r\n\tdkim=none\u{7}"),
            "mx; spf=pass\n\tdkim=none"
        );
    }

    #[test]
    fn authserv_ids() {
        assert_eq!(authserv_id_of(" mx.example; spf=pass"), Some("mx.example"));
        assert_eq!(authserv_id_of("mx.example 1; none"), Some("mx.example"));
        assert_eq!(authserv_id_of(""), None);
    }
}
