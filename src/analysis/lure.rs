//! Credential-lure language: the wording that pushes a reader to a login page.
//!
//! Phishing pairs a request (log in, verify, update the payment method, enter
//! the PIN) with pressure (the account is suspended, restricted, will be
//! closed, unusual activity). Either alone is everyday mail — kernel patches
//! talk about suspend and locks, shops ask customers to log in — so the
//! finding needs both, in the Subject or the readable body, and a link that
//! leads somewhere other than a protected brand's own site.
//!
//! The phrases live in the policy's list files (`lists.lure_asks`,
//! `lists.lure_pressures`: policy/lure-asks.txt and lure-pressures.txt), so
//! a security team extends them without a release. They are folded with
//! the brand-name folding (width, case, kana, spaces, invisible characters)
//! and compiled into one automaton at policy load; a message costs one fold
//! and one scan of its first text.

use crate::vocab::findings::{Finding, FindingKind};
use crate::vocab::message::Mail;
use crate::vocab::normalize;
use aho_corasick::AhoCorasick;

/// Folded bytes a `*` in a phrase may stand for: a few words in Latin
/// script (`verify * account` holds "verify your Apple ID account"), about
/// ten characters in Japanese (`アカウント*確認` holds "アカウント情報の確認").
const GAP: usize = 30;

/// Matches of one phrase part kept per message: enough for every place a
/// lure can say it, bounded against text that repeats a word endlessly.
const MAX_HITS: usize = 64;

#[derive(Debug, Default)]
pub struct LureIndex {
    ac: Option<AhoCorasick>,
    /// Per phrase: as written, whether it is a request, and how many parts
    /// (`*`-separated) it has.
    phrases: Vec<(String, bool, usize)>,
    /// Per automaton pattern: the phrase and the part it is.
    parts: Vec<(usize, usize)>,
}

/// What lure wording a text holds: distinct requests and pressures.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lure<'i> {
    pub asks: Vec<&'i str>,
    pub pressures: Vec<&'i str>,
}

impl Lure<'_> {
    pub fn is_lure(&self) -> bool {
        !self.asks.is_empty() && !self.pressures.is_empty()
    }
}

impl LureIndex {
    /// Phrases are matched as folded substrings, so a stem matches every
    /// form (`verif` in verify, verified, verification); `*` between parts
    /// lets up to [`GAP`] folded bytes of other words stand between them.
    pub fn new(asks: &[String], pressures: &[String]) -> Self {
        let mut folded = Vec::new();
        let mut ix = LureIndex::default();
        for (list, ask) in [(asks, true), (pressures, false)] {
            for p in list {
                let parts: Vec<String> = p
                    .split('*')
                    .map(normalize::name)
                    .filter(|f| !f.is_empty())
                    .collect();
                if parts.is_empty() {
                    continue;
                }
                let phrase = ix.phrases.len();
                for (i, f) in parts.iter().enumerate() {
                    folded.push(f.clone());
                    ix.parts.push((phrase, i));
                }
                ix.phrases.push((p.clone(), ask, parts.len()));
            }
        }
        if folded.is_empty() {
            return LureIndex::default();
        }
        ix.ac = crate::vocab::automaton::overlapping(&folded);
        ix
    }

    pub fn scan(&self, text: &str) -> Lure<'_> {
        let mut lure = Lure::default();
        let Some(ac) = &self.ac else { return lure };
        let f = normalize::text(text);
        // Where each part of each phrase occurs, in text order.
        let mut hits: Vec<Vec<(usize, usize)>> = vec![Vec::new(); self.parts.len()];
        for m in ac.find_overlapping_iter(&f.text) {
            let h = &mut hits[m.pattern().as_usize()];
            if h.len() < MAX_HITS {
                h.push((m.start(), m.end()));
            }
        }
        let mut first = 0;
        for (phrase, (written, ask, n)) in self.phrases.iter().enumerate() {
            let parts = &hits[first..first + n];
            first += n;
            debug_assert!(self.parts[first - n] == (phrase, 0));
            if !in_order(parts) {
                continue;
            }
            let list = if *ask {
                &mut lure.asks
            } else {
                &mut lure.pressures
            };
            if !list.contains(&written.as_str()) {
                list.push(written.as_str());
            }
        }
        lure
    }
}

/// Whether each part occurs after the one before it, at most [`GAP`]
/// bytes on.
fn in_order(parts: &[Vec<(usize, usize)>]) -> bool {
    let Some((head, rest)) = parts.split_first() else {
        return false;
    };
    let mut ends: Vec<usize> = head.iter().map(|&(_, e)| e).collect();
    for part in rest {
        ends = part
            .iter()
            .filter(|&&(s, _)| ends.iter().any(|&e| s >= e && s <= e + GAP))
            .map(|&(_, e)| e)
            .collect();
        if ends.is_empty() {
            return false;
        }
    }
    !ends.is_empty()
}

/// Where one link of the message leads, as far as lure wording cares.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    pub host: &'a str,
    pub registrable: Option<&'a str>,
    /// The host is a protected brand's own (never true for an IP address).
    pub official: bool,
}

/// A `credential-lure` finding when the Subject or first body text asks for
/// credentials under pressure and a link leads off the protected brands' sites;
/// with it `lure-foreign-link` when no link stays on the sender's own domain.
pub fn analyze(mail: &Mail, links: &[Destination], index: &LureIndex) -> Vec<Finding> {
    let mut out = Vec::new();
    // The brand's own authenticated mail may ask its customers to log in.
    if mail.official_sender.is_some() {
        return out;
    }
    let Some(offsite) = links.iter().find(|l| !l.official) else {
        return out;
    };
    let mut text = String::new();
    if let Some(s) = mail.subject.as_deref() {
        text.push_str(s);
        text.push('\n');
    }
    text.push_str(mail.body_head());
    let lure = index.scan(&text);
    if !lure.is_lure() {
        return out;
    }
    out.push(Finding::new(
        FindingKind::CredentialLure,
        format!(
            "asks '{}' under pressure '{}', links to {}",
            lure.asks.join("', '"),
            lure.pressures.join("', '"),
            offsite.host
        ),
    ));
    // A service that really needs its users to act links to its own site
    // somewhere in the mail (at least its logo or footer); a lure whose every
    // link leaves the sender's domain sends the reader elsewhere.
    if let Some(reg) = &mail.sender_registrable {
        if !links.iter().any(|l| l.registrable == Some(reg.as_str())) {
            out.push(Finding::new(
                FindingKind::LureForeignLink,
                format!(
                    "no link goes to the sender's domain {reg}; links to {}",
                    offsite.host
                ),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index of the shipped phrase files, as a policy naming no lure
    /// lists of its own gets it.
    fn shipped() -> LureIndex {
        crate::analysis::policy::Policy::from_toml("t.toml", "")
            .unwrap()
            .lures
    }

    #[test]
    fn request_and_pressure_make_a_lure() {
        let ix = shipped();
        let cases: &[(&str, bool)] = &[
            (
                "Your account has been SUSPENDED. Please verify  your account.",
                true,
            ),
            (
                "【重要】アカウントの利用を一時停止しました。本人確認をお願いします",
                true,
            ),
            // Full-width and spaced-out forms fold to the same phrase.
            ("ご利用を制限されています。ﾛｸﾞｲﾝ して ご確認ください", true),
            ("Sua conta foi bloqueada. Confirme seus dados.", true),
            // A request alone, or pressure alone, is ordinary mail.
            (
                "Please log in to your account to see the new features.",
                false,
            ),
            (
                "[PATCH] PM: fix suspended devices being locked immediately",
                false,
            ),
            ("パスワードを忘れた場合はこちら", false),
            ("配送が遅れています。至急", false),
            // Mailbox, delivery-fee and German/French lures.
            (
                "Your mailbox quota exceeded. Verify your mailbox to keep receiving mail.",
                true,
            ),
            (
                "Ihr Paket wurde nicht zugestellt. Bitte bestätigen Sie die Lieferadresse.",
                true,
            ),
            ("Votre compte est suspendu. Confirmez votre identité.", true),
            (
                "Sua encomenda será devolvida. Clique aqui e regularize.",
                true,
            ),
            // Release notes and delivery reports carry one half only.
            ("The old API will be deleted in the next release.", false),
            ("Bitte bestätigen Sie den Termin für das Treffen.", false),
            (
                "Sie haben gewonnen! Klicken Sie hier, um die Auszahlung zu bestätigen.",
                true,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                ix.scan(text).is_lure(),
                *want,
                "{text}: {:?}",
                ix.scan(text)
            );
        }
    }

    fn analyze(from: &str, body: &str, dmarc_pass: bool) -> Vec<FindingKind> {
        use crate::analysis::analyze;
        use crate::settings::limits::Limits;
        use crate::vocab::auth::{AuthSummary, Res};
        use crate::vocab::message::Envelope;
        let policy = crate::analysis::policy::Policy::from_toml(
            "t.toml",
            "[[brand]]\nid = \"smbc\"\nnames = [\"三井住友銀行\"]\ndomains = [\"smbc.co.jp\"]\n",
        )
        .unwrap();
        let raw = format!(
            "From: {from}\r\nSubject: =?UTF-8?B?44CQ6YeN6KaB44CR?=\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        );
        let mut auth = AuthSummary::skipped("test");
        if dmarc_pass {
            auth.dmarc = Res::Pass;
        }
        let a = analyze(
            raw.as_bytes(),
            None,
            &Envelope::default(),
            &auth,
            &policy,
            &Limits::default(),
        );
        a.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn lure_needs_a_link_off_the_brands_sites() {
        let lure = "お客様のアカウントは利用停止となりました。本人確認をお願いします。";
        let k = analyze(
            "info@evil.example",
            &format!("{lure}\nhttps://smbc-direct.evil.example/"),
            false,
        );
        assert!(k.contains(&FindingKind::CredentialLure), "{k:?}");
        // Pointing at the brand's own site, or nowhere, is not a lure to a fake page.
        let k = analyze(
            "info@evil.example",
            &format!("{lure}\nhttps://www.smbc.co.jp/"),
            false,
        );
        assert!(!k.contains(&FindingKind::CredentialLure), "{k:?}");
        let k = analyze("info@evil.example", lure, false);
        assert!(!k.contains(&FindingKind::CredentialLure), "{k:?}");
    }

    #[test]
    fn lure_with_a_brand_claim_is_an_impersonation_but_not_for_the_brand_itself() {
        let body = "お客様のアカウントは利用停止となりました。本人確認をお願いします。\nhttps://smbc-direct.evil.example/";
        let k = analyze("三井住友銀行 <info@evil.example>", body, false);
        assert!(k.contains(&FindingKind::CredentialLure), "{k:?}");
        // The claim with a request is the impersonation, which carries the
        // lure's credential link too.
        assert!(k.contains(&FindingKind::BrandImpersonation), "{k:?}");
        let k = analyze("三井住友銀行 <info@dn.smbc.co.jp>", body, true);
        assert!(!k.contains(&FindingKind::CredentialLure), "{k:?}");
        assert!(!k.contains(&FindingKind::BrandImpersonation), "{k:?}");
        assert!(!k.contains(&FindingKind::BrandCredentialLink), "{k:?}");
    }

    #[test]
    fn lure_linking_only_away_from_the_sender_is_a_foreign_link() {
        let lure = "お客様のアカウントは利用停止となりました。本人確認をお願いします。";
        let k = analyze(
            "info@shop.example",
            &format!("{lure}\nhttps://verify.other.example/"),
            false,
        );
        assert!(k.contains(&FindingKind::LureForeignLink), "{k:?}");
    }

    #[test]
    fn lure_with_a_link_to_the_sender_is_not_a_foreign_link() {
        let lure = "お客様のアカウントは利用停止となりました。本人確認をお願いします。";
        let k = analyze(
            "info@mail.shop.example",
            &format!("{lure}\nhttps://www.shop.example/login\nhttps://help.other.example/"),
            false,
        );
        assert!(k.contains(&FindingKind::CredentialLure), "{k:?}");
        assert!(!k.contains(&FindingKind::LureForeignLink), "{k:?}");
    }

    #[test]
    fn phrases_come_from_the_policy() {
        let ix = LureIndex::new(&["パスワードを再設定".into()], &["本日中".into()]);
        assert!(ix.scan("本日中にパスワードを再設定してください").is_lure());
        assert!(!ix
            .scan("Your account has been suspended. Verify your account.")
            .is_lure());
        let p = crate::analysis::policy::Policy::from_toml(
            "t.toml",
            "[lists]\nlure_asks = [\"lure-asks.txt\"]\nlure_pressures = [\"lure-pressures.txt\"]\n",
        )
        .unwrap();
        assert!(p
            .lures
            .scan("Your account has been suspended. Verify your account.")
            .is_lure());
    }

    #[test]
    fn stems_and_gaps_hold_other_wording() {
        let ix = LureIndex::new(
            &["verif* account".into(), "アカウント*確認".into()],
            &["unusual* activity".into()],
        );
        let lure =
            ix.scan("We noticed UNUSUAL sign-in ACTIVITY. Verify your Apple ID account now.");
        assert_eq!(lure.asks, ["verif* account"]);
        assert_eq!(lure.pressures, ["unusual* activity"]);
        assert_eq!(
            ix.scan("アカウント情報の確認をお願いします").asks,
            ["アカウント*確認"]
        );
        // Too far apart, or in the wrong order, is not the phrase.
        let far = format!("verify {} account", "and so on ".repeat(10));
        assert!(ix.scan(&far).asks.is_empty());
        assert!(ix.scan("account to verify").asks.is_empty());
    }
}
