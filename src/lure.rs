//! Credential-lure language: the wording that pushes a reader to a login page.
//!
//! Phishing pairs a request (log in, verify, update the payment method, enter
//! the PIN) with pressure (the account is suspended, restricted, will be
//! closed, unusual activity). Either alone is everyday mail — kernel patches
//! talk about suspend and locks, shops ask customers to log in — so the
//! finding needs both, in the Subject or the readable body, and a link that
//! leads somewhere other than a protected brand's own site.
//!
//! The phrases are folded with the brand-name folding (width, case, kana,
//! spaces, invisible characters) and compiled into one automaton at policy
//! load; a message costs one fold and one scan of its first text.

use crate::findings::{Finding, FindingKind};
use crate::message::Mail;
use crate::normalize;
use aho_corasick::{AhoCorasick, MatchKind};

/// Requests to act on credentials, the account or the payment method.
const ASKS: &[&str] = &[
    // English.
    "verify your account",
    "verify your identity",
    "verify your email",
    "verify your information",
    "confirm your identity",
    "confirm your account",
    "confirm your details",
    "confirm your information",
    "confirm your email",
    "confirm your password",
    "update your payment",
    "update your billing",
    "update your account",
    "update your information",
    "update your details",
    "payment information",
    "billing information",
    "payment details",
    "credit card details",
    "sign in to your account",
    "log in to your account",
    "login to your account",
    "log into your account",
    "click here to verify",
    "validate your account",
    "reactivate your account",
    "restore your account",
    "unlock your account",
    "restore access",
    "enter your password",
    "keep your password",
    "update your password",
    "verify your mailbox",
    "confirm your mailbox",
    "upgrade your mailbox",
    "revalidate your",
    "re-validate your",
    "confirm your payment",
    "pay the delivery",
    "delivery fee",
    "shipping fee",
    "customs fee",
    "reschedule your delivery",
    "claim your reward",
    "claim your prize",
    "claim your refund",
    "claim your gift",
    // German.
    "bestätigen sie",
    "überprüfen sie",
    "aktualisieren sie",
    "verifizieren sie",
    "melden sie sich an",
    "ihre daten",
    "jetzt sichern",
    "jetzt bestätigen",
    "jetzt einlösen",
    "jetzt abholen",
    "jetzt überprüfen",
    "jetzt registrieren",
    "sichern sie sich",
    "klicken sie",
    "zu bestätigen",
    "ihre angaben",
    // French.
    "vérifier votre compte",
    "vérifiez votre",
    "confirmez votre",
    "confirmer votre",
    "mettre à jour vos",
    "mettez à jour vos",
    "connectez-vous",
    // Portuguese and Spanish.
    "verifique sua conta",
    "confirme seus dados",
    "atualize seus dados",
    "atualizar seus dados",
    "acesse sua conta",
    "confirme sua identidade",
    "verifique su cuenta",
    "confirme sus datos",
    "actualice sus datos",
    "actualizar sus datos",
    "inicie sesión",
    "confirme su identidad",
    "clique aqui",
    "clique no link",
    "regularize",
    "atualize",
    "haga clic",
    "pulse aquí",
    "verifique su",
    "confirme su",
    // Japanese.
    "本人確認",
    "暗証番号",
    "ワンタイムパスワード",
    "パスワード",
    "ログイン",
    "ご登録情報",
    "登録情報",
    "お客様情報",
    "カード情報",
    "セキュリティコード",
    "お支払い方法",
    "支払い方法",
    "お支払い情報",
    "情報を更新",
    "情報の更新",
    "更新してください",
    "ご確認ください",
    "確認してください",
    "再認証",
    "認証",
    "手続きをお願い",
    "下記のリンク",
    "以下のリンク",
    "下記URL",
    "以下のURL",
];

/// Threats and urgency: what the reader loses by not acting now.
const PRESSURES: &[&str] = &[
    // English.
    "suspended",
    "suspension",
    "has been locked",
    "been restricted",
    "restricted access",
    "limited access",
    "unusual activity",
    "unusual sign-in",
    "suspicious activity",
    "unauthorized",
    "within 24 hours",
    "within 48 hours",
    "will be closed",
    "deactivated",
    "will be terminated",
    "permanently deleted",
    "mailbox is full",
    "storage is full",
    "password will expire",
    "password expires",
    "payment was declined",
    "payment declined",
    "unable to process your payment",
    "security alert",
    "urgent",
    "immediately",
    "final notice",
    "action required",
    "has expired",
    "will expire",
    "expires today",
    "storage quota",
    "mailbox quota",
    "quota exceeded",
    "storage limit",
    "pending messages",
    "will be deleted",
    "could not be delivered",
    "was not delivered",
    "delivery failed",
    "on hold",
    "last chance",
    "last reminder",
    "you have won",
    "you've won",
    "you have been selected",
    // German.
    "gesperrt",
    "eingeschränkt",
    "läuft ab",
    "abgelaufen",
    "verfällt",
    "letzte chance",
    "letzte erinnerung",
    "innerhalb von 24 stunden",
    "innerhalb von 48 stunden",
    "dringend",
    "nicht zugestellt",
    "nicht abgeholt",
    "gewonnen",
    "gewinner",
    "ausgewählt",
    "auszahlung",
    "warten sie nicht",
    "nur noch heute",
    "freispiele",
    "free spins",
    // French.
    "suspendu",
    "bloqué",
    "expiré",
    "dernier rappel",
    "dans les 24 heures",
    "immédiatement",
    // Portuguese and Spanish.
    "suspensa",
    "bloqueada",
    "bloqueado",
    "suspendida",
    "urgente",
    "imediatamente",
    "inmediatamente",
    "será devolvida",
    "será devolvido",
    "retida",
    "retenido",
    "pendente",
    "pendiente",
    "expirado",
    "expira hoje",
    "vence hoje",
    "última chance",
    "último aviso",
    "cancelada",
    // Japanese.
    "停止",
    "利用制限",
    "制限されて",
    "ロック",
    "凍結",
    "不正利用",
    "不正アクセス",
    "不正使用",
    "不審な",
    "第三者",
    "至急",
    "緊急",
    "自動退会",
    "退会処理",
    "解約",
    "失効",
    "24時間以内",
    "48時間以内",
    "期限",
    "未払い",
    "お支払いに問題",
    "異常",
];

/// Bytes of body text scanned: lures sit at the top, and patches and
/// archives can be long.
const MAX_TEXT: usize = 16 * 1024;

#[derive(Debug)]
pub struct LureIndex {
    ac: Option<AhoCorasick>,
    /// Per pattern: the phrase as written, and whether it is a request.
    patterns: Vec<(&'static str, bool)>,
}

impl Default for LureIndex {
    fn default() -> Self {
        LureIndex::new()
    }
}

/// What lure wording a text holds: distinct requests and pressures.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Lure {
    pub asks: Vec<&'static str>,
    pub pressures: Vec<&'static str>,
}

impl Lure {
    pub fn is_lure(&self) -> bool {
        !self.asks.is_empty() && !self.pressures.is_empty()
    }
}

impl LureIndex {
    pub fn new() -> Self {
        let mut folded = Vec::new();
        let mut patterns = Vec::new();
        for (list, ask) in [(ASKS, true), (PRESSURES, false)] {
            for p in list {
                folded.push(normalize::name(p));
                patterns.push((*p, ask));
            }
        }
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(&folded)
            .ok();
        LureIndex { ac, patterns }
    }

    pub fn scan(&self, text: &str) -> Lure {
        let mut lure = Lure::default();
        let Some(ac) = &self.ac else { return lure };
        let f = normalize::text(text);
        for m in ac.find_overlapping_iter(&f.text) {
            let (phrase, ask) = self.patterns[m.pattern().as_usize()];
            let list = if ask {
                &mut lure.asks
            } else {
                &mut lure.pressures
            };
            if !list.contains(&phrase) {
                list.push(phrase);
            }
        }
        lure
    }
}

/// The start of `s`, at most `max` bytes, cut at a character boundary.
fn head(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
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
pub fn analyse(mail: &Mail, links: &[Destination], index: &LureIndex) -> Vec<Finding> {
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
    if let Some(body) = mail.msg.body_text(0) {
        text.push_str(head(&body, MAX_TEXT));
    }
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

    #[test]
    fn request_and_pressure_make_a_lure() {
        let ix = LureIndex::new();
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
        use crate::auth::{AuthSummary, Res};
        use crate::limits::Limits;
        use crate::message::Envelope;
        let policy = crate::policy::Policy::from_toml(
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
            false,
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
    fn head_cuts_at_a_character_boundary() {
        assert_eq!(head("本人確認", 4), "本");
        assert_eq!(head("abc", 10), "abc");
    }
}
