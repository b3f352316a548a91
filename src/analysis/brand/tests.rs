use super::*;
use crate::analysis::analyze;
use crate::analysis::policy::Policy;
use crate::settings::limits::Limits;
use crate::vocab::auth::{AuthSummary, DkimSig, Res};
use crate::vocab::findings::Finding;
use crate::vocab::message::Envelope;
use std::path::PathBuf;
use std::sync::OnceLock;

fn policy_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("policy")
        .join(name)
}

fn jp() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        Policy::load_files(&[policy_path("jp-financial.toml")]).expect("jp-financial.toml loads")
    })
}

#[test]
fn jp_financial_loads_alone_and_after_the_example() {
    let alone = jp();
    assert!(alone.brands.len() > 250, "{}", alone.brands.len());
    assert!(alone.freemail.contains("gmail.com"));
    let both = Policy::load_files(&[
        policy_path("example-shinkin.toml"),
        policy_path("jp-financial.toml"),
    ])
    .expect("loads after example-shinkin.toml");
    assert!(both.brand("kinko-shinkin").is_some());
    assert!(both.brand("smbc").is_some());
    assert_eq!(
        both.brand_index.official_brand("www.kinko-shinkin.co.jp"),
        Some("kinko-shinkin")
    );
    // Shinkin entries come from the zengin list, names only.
    let hokkaido = both.brand("shinkin-1001").unwrap();
    assert!(hokkaido.names.iter().any(|n| n == "北海道信用金庫"));
}

#[test]
fn official_domains_and_subdomains() {
    let ix = &jp().brand_index;
    assert_eq!(ix.official_brand("smbc.co.jp"), Some("smbc"));
    assert_eq!(ix.official_brand("direct.bk.mufg.jp"), Some("mufg-bank"));
    assert_eq!(ix.official_brand("www2.cr.mufg.jp"), Some("mufg-nicos"));
    assert_eq!(
        ix.official_brand("jp-bank.japanpost.jp"),
        Some("japan-post-bank")
    );
    assert_eq!(ix.official_brand("evilsmbc.co.jp"), None);
}

/// Hosts from the JPCERT/CC phishing-URL list (dev split) and a few
/// constructed attacks, with what they imitate.
#[test]
fn real_lookalikes_are_found() {
    use FindingKind::*;
    let ix = &jp().brand_index;
    let cases: &[(&str, FindingKind, &str)] = &[
        // JPCERT/CC phishurl-list.
        ("smbc-card.com.pllpx.com", Subdomain, "smbc-card"),
        (
            "rakuten-bank.co.jp.daniuchuanbo.com.cn",
            Subdomain,
            "rakuten-bank",
        ),
        ("cr.mufg.lezssj.com", Subdomain, "mufg-bank"),
        ("aeno.co.jp.handyes.cn", Subdomain, "aeon-card"),
        ("www.saisonncard.co.jp.questcor.cn", Subdomain, "saison"),
        ("my.jcb.co.jp-acc.info", Subdomain, "jcb"),
        ("epos-card.liduv.cn", Subdomain, "epos"),
        ("rakuten-cards-infrom.com", Combo, "rakuten-card"),
        ("paypay-bans.com", Typo, "paypay-bank"),
        ("smbczw.com", Combo, "smbc"),
        ("mufgcard.icu", Combo, "mufg-bank"),
        ("aeon-card.top", Combo, "aeon-card"),
        ("rakutens.online", Typo, "rakuten"),
        ("9-smbc.xyz", Combo, "smbc"),
        ("bkmufg-jp.buzz", Combo, "mufg-bank"),
        (
            "www.goin-eposcards.co.jp-vintinfor.zuzkyym.cn",
            Subdomain,
            "epos",
        ),
        // Constructed.
        ("mizuh0bank.co.jp", Homograph, "mizuho-bank"),
        ("\u{0455}mbc.co.jp", Homograph, "smbc"), // Cyrillic ѕ
        ("smbc-co-jp.com", TldSwap, "smbc"),
        ("mufg-jp.xyz", TldSwap, "mufg-bank"),
        ("smbc.jp", TldSwap, "smbc"),
        ("rakuten-bnak.co.jp", Typo, "rakuten-bank"),
        ("mizuhobnak.co.jp", Typo, "mizuho-bank"),
        ("saisomcard.co.jp", Typo, "saison"),
        ("eposcrad.co.jp", Typo, "epos"),
        ("sonybank-login.com", Combo, "sony-bank"),
        ("smbc-secure-jp.net", Combo, "smbc"),
        ("myjcb.net", Combo, "jcb"),
    ];
    let mut wrong = Vec::new();
    for (host, kind, brand) in cases {
        let got = ix.lookalike(host);
        let ok = got
            .as_ref()
            .is_some_and(|l| (l.kind, l.brand.as_str()) == (*kind, *brand) && !l.how.is_empty());
        if !ok {
            wrong.push(format!("{host}: want {kind} {brand}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn legitimate_names_do_not_fire() {
    let ix = &jp().brand_index;
    for host in [
        "smbc.co.jp",
        "www.smbc.co.jp",
        "direct.bk.mufg.jp",
        "jp-bank.japanpost.jp",
        "japanpost.jp",
        "vpass.ne.jp",
        "lists.sourceforge.net",
        "gmail.com",
        "vger.kernel.org",
        "deposit.com",
        "resonance.io",
        "aeonmall.com",
        "boy-scouts.org",
        "sony.com",
        "smtp.example.co.jp",
        "jcbx.com",
        "libsisimai.org",
        "mail.zoho.com",
        "amazon.co.jp",
        "docomo.ne.jp",
        "shinkin.co.jp",
    ] {
        assert_eq!(ix.lookalike(host), None, "{host}");
    }
}

#[test]
fn authorised_third_parties_never_look_alike() {
    let brands = vec![Brand {
        id: "b".into(),
        names: vec!["ビー銀行".into()],
        domains: vec!["bbank.co.jp".into()],
        authorized: vec!["bbank-mail.com".into()],
        action: None,
        spoof_action: None,
        banner: None,
    }];
    let ix = BrandIndex::new(&brands);
    assert_eq!(ix.lookalike("news.bbank-mail.com"), None);
    assert_eq!(
        ix.lookalike("bbank-login.com").map(|l| l.kind),
        Some(FindingKind::Combo)
    );
}

fn auth_none() -> AuthSummary {
    AuthSummary::skipped("test")
}

fn run(policy: &Policy, raw: &str, env: &Envelope, auth: &AuthSummary) -> Vec<Finding> {
    analyze(raw.as_bytes(), None, env, auth, policy, &Limits::default()).findings
}

fn kinds(findings: &[Finding]) -> Vec<(FindingKind, Option<&str>)> {
    findings
        .iter()
        .map(|f| (f.kind, f.brand.as_deref()))
        .collect()
}

fn mail(from: &str, subject: &str) -> String {
    format!("From: {from}\r\nTo: a@example.org\r\nSubject: {subject}\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n")
}

#[test]
fn display_names_claiming_a_brand() {
    use FindingKind::*;
    let p = jp();
    let env = Envelope::default();
    type Want = &'static [(FindingKind, Option<&'static str>)];
    let cases: &[(&str, Want)] = &[
        (
            "\"三井住友カード\" <info@evil.example>",
            &[(DisplayName, Some("smbc-card"))],
        ),
        // RFC 2047, ISO-2022-JP: 三井住友カード.
        (
            "=?ISO-2022-JP?B?GyRCOzAwZj07TSclKyE8JUkbKEI=?= <x@evil.example>",
            &[(DisplayName, Some("smbc-card"))],
        ),
        // Shift_JIS: 楽天銀行.
        (
            "=?Shift_JIS?B?inmTVovijXM=?= <x@evil.example>",
            &[(DisplayName, Some("rakuten-bank"))],
        ),
        ("ＳＭＢＣ <x@evil.example>", &[(DisplayName, Some("smbc"))]),
        (
            "Rakuten Card <x@evil.example>",
            &[(DisplayName, Some("rakuten-card"))],
        ),
        (
            "ﾗｸﾃﾝｶｰﾄﾞ <x@evil.example>",
            &[(DisplayName, Some("rakuten-card"))],
        ),
        (
            "三 菱 ＵＦＪ銀 行 <no-reply@cdmy168.com>",
            &[(DisplayName, Some("mufg-bank"))],
        ),
        (
            "MyJCB via Osst-users <osst-users@lists.sourceforge.net>",
            &[(DisplayName, Some("jcb"))],
        ),
        (
            "北海道信用金庫 <x@evil.example>",
            &[(DisplayName, Some("shinkin-1001"))],
        ),
        (
            "ホッカイドウシンキン <x@evil.example>",
            &[(DisplayName, Some("shinkin-1001"))],
        ),
        (
            "\"info.smbc-card.com\" <x@evil.example>",
            &[(DisplayName, Some("smbc-card"))],
        ),
        (
            "楽天銀行 <rakuten.bank@gmail.com>",
            &[(FreemailBrand, Some("rakuten-bank"))],
        ),
        // Not claims.
        ("銀行からのお知らせ <x@example.com>", &[]),
        ("Mail Delivery Subsystem <mailer-daemon@example.com>", &[]),
        ("Greg Kroah-Hartman <gregkh@linuxfoundation.org>", &[]),
        // The brand's own domain: DMARC decides whether it is really theirs.
        ("三井住友カード <thankyou@vpass.ne.jp>", &[]),
    ];
    for (from, want) in cases {
        let raw = mail(from, "hello");
        let got = run(p, &raw, &env, &auth_none());
        assert_eq!(kinds(&got), *want, "{from}: {got:?}");
    }
}

#[test]
fn iso_2022_jp_display_name_is_decoded_by_mail_parser() {
    let raw = mail(
        "=?ISO-2022-JP?B?GyRCOzAwZj07TSclKyE8JUkbKEI=?= <x@evil.example>",
        "x",
    );
    let msg = crate::analysis::parse(raw.as_bytes());
    let name = msg
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.name())
        .unwrap();
    assert_eq!(name, "三井住友カード");
}

#[test]
fn subject_brand_is_weak_and_separate() {
    let p = jp();
    // EUC-JP: 【楽天カード】ご利用確認.
    let raw = mail(
        "Support <x@example.com>",
        "=?EUC-JP?B?odqz2sW3pauhvKXJoduktM34zdGzzsen?=",
    );
    let got = run(p, &raw, &Envelope::default(), &auth_none());
    assert_eq!(
        kinds(&got),
        vec![(FindingKind::SubjectBrand, Some("rakuten-card"))]
    );
    let raw = mail(
        "楽天カード <info@mail.rakuten-card.co.jp>",
        "【楽天カード】ご利用確認",
    );
    assert!(run(p, &raw, &Envelope::default(), &auth_none()).is_empty());
}

#[test]
fn hidden_characters_are_reported() {
    let raw = mail("\"三井\u{200B}住友カード\u{202E}\" <x@evil.example>", "x");
    let got = run(jp(), &raw, &Envelope::default(), &auth_none());
    let k = kinds(&got);
    assert!(k.contains(&(FindingKind::HiddenChars, None)), "{got:?}");
    assert!(
        k.contains(&(FindingKind::DisplayName, Some("smbc-card"))),
        "{got:?}"
    );
    let hidden = got
        .iter()
        .find(|f| f.kind == FindingKind::HiddenChars)
        .unwrap();
    assert!(hidden.evidence.contains("U+200B") && hidden.evidence.contains("U+202E"));
}

#[test]
fn lookalikes_in_every_sender_header() {
    let p = jp();
    let raw = "From: Notice <a@smbc-co-jp.com>\r\nReply-To: b@paypay-bans.com\r\nSender: c@cr.mufg.lezssj.com\r\nSubject: x\r\n\r\nbody\r\n";
    let env = Envelope {
        mail_from: "bounce@smbc-co-jp.com".into(),
        ..Default::default()
    };
    let mut auth = auth_none();
    auth.dkim_signatures.push(DkimSig {
        domain: "mizuh0bank.co.jp".into(),
        selector: "s".into(),
        result: Res::Fail,
    });
    let got = run(p, raw, &env, &auth);
    let ev = |k: FindingKind| {
        got.iter()
            .find(|f| f.kind == k)
            .map(|f| f.evidence.clone())
            .unwrap_or_default()
    };
    assert!(
        ev(FindingKind::TldSwap)
            .starts_with("From, MAIL FROM domain smbc-co-jp.com imitates smbc.co.jp"),
        "{got:?}"
    );
    assert!(
        ev(FindingKind::Typo).contains("Reply-To domain paypay-bans.com"),
        "{got:?}"
    );
    assert!(
        ev(FindingKind::Subdomain).contains("Sender domain cr.mufg.lezssj.com"),
        "{got:?}"
    );
    assert!(
        ev(FindingKind::Homograph).contains("DKIM d= domain mizuh0bank.co.jp"),
        "{got:?}"
    );
    assert!(got.iter().all(|f| f.brand.is_some()));
}

#[test]
fn official_dmarc_pass_mail_is_never_impersonation() {
    let p = jp();
    let raw = mail(
        "三井住友銀行 <info@dn.smbc.co.jp>",
        "【三井住友銀行】お取引のお知らせ",
    );
    let mut auth = auth_none();
    auth.dmarc = Res::Pass;
    let cx_findings = run(p, &raw, &Envelope::default(), &auth);
    assert!(cx_findings.is_empty(), "{cx_findings:?}");
    let msg = crate::analysis::parse(raw.as_bytes());
    let env = Envelope::default();
    let mail = crate::analysis::mail(&msg, &env, &auth, p);
    assert_eq!(mail.official_sender, Some("smbc"));
}

fn custom_policy(toml: &str) -> Policy {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(&path, toml).unwrap();
    Policy::load_files(&[path]).unwrap()
}

#[test]
fn authorised_senders_and_allowlists_suppress_findings() {
    let p = custom_policy(
        "[[brand]]\nid = \"b\"\nnames = [\"ビー銀行\"]\ndomains = [\"bbank.co.jp\"]\nauthorized = [\"esp.example\"]\n\
         [[allow]]\nsender_domain = \"partner.example\"\nreason = \"test\"\n\
         [[allow]]\ndkim_domain = \"signer.example\"\nreason = \"test\"\n",
    );
    let env = Envelope::default();
    // Authorised by From domain.
    let raw = mail("ビー銀行 <news@mail.esp.example>", "ビー銀行から");
    assert!(run(&p, &raw, &env, &auth_none()).is_empty());
    // Authorised by a passing DKIM signature.
    let raw = mail("ビー銀行 <news@other.example>", "x");
    let mut auth = auth_none();
    auth.dkim_signatures.push(DkimSig {
        domain: "esp.example".into(),
        selector: "s".into(),
        result: Res::Pass,
    });
    assert!(run(&p, &raw, &env, &auth).is_empty());
    // ...but not by a failing one.
    auth.dkim_signatures[0].result = Res::Fail;
    assert_eq!(
        kinds(&run(&p, &raw, &env, &auth)),
        vec![(FindingKind::DisplayName, Some("b"))]
    );
    // Allowlisted sender and DKIM domains.
    let raw = mail("ビー銀行 <x@partner.example>", "x");
    assert!(run(&p, &raw, &env, &auth_none()).is_empty());
    let raw = mail("ビー銀行 <x@elsewhere.example>", "x");
    let mut auth = auth_none();
    auth.dkim_signatures.push(DkimSig {
        domain: "signer.example".into(),
        selector: "s".into(),
        result: Res::Pass,
    });
    assert!(run(&p, &raw, &env, &auth).is_empty());
}

#[test]
fn many_brands_index_stays_correct() {
    let brands: Vec<Brand> = (0..2000)
        .map(|i| Brand {
            id: format!("b{i}"),
            names: vec![],
            domains: vec![format!("brandname{i:05}.co.jp")],
            authorized: vec![],
            action: None,
            spoof_action: None,
            banner: None,
        })
        .collect();
    let ix = BrandIndex::new(&brands);
    assert_eq!(ix.official_brand("www.brandname01234.co.jp"), Some("b1234"));
    let l = ix
        .lookalike("brandnarne01234.com")
        .or_else(|| ix.lookalike("brandname01234.com"));
    assert!(l.is_some());
    assert_eq!(ix.lookalike("brandname01234.co.jp"), None);
}

fn jp_and_global() -> &'static Policy {
    static P: OnceLock<Policy> = OnceLock::new();
    P.get_or_init(|| {
        Policy::load_files(&[
            policy_path("jp-financial.toml"),
            policy_path("global-brands.toml"),
        ])
        .expect("jp-financial.toml + global-brands.toml load")
    })
}

#[test]
fn global_brands_claimed_by_strangers_are_found() {
    use FindingKind::*;
    let p = jp_and_global();
    let env = Envelope::default();
    let cases: &[(&str, FindingKind, &str)] = &[
        (
            "\"Amazon.co.jp\" <cterq@nntxqig.example>",
            DisplayName,
            "amazon",
        ),
        (
            "えきねっと（JR東日本） <x@bsvl.example>",
            DisplayName,
            "eki-net",
        ),
        (
            "Microsoft account team <x@gmail.com>",
            FreemailBrand,
            "microsoft",
        ),
        (
            "ＥＴＣ利用照会サービス <x@evil.example>",
            DisplayName,
            "etc-meisai",
        ),
    ];
    for (from, kind, brand) in cases {
        let f = run(p, &mail(from, "お知らせ"), &env, &auth_none());
        assert!(kinds(&f).contains(&(*kind, Some(*brand))), "{from}: {f:?}");
    }
}

#[test]
fn global_brands_own_and_service_domains_are_quiet() {
    let p = jp_and_global();
    let env = Envelope::default();
    for from in [
        // Employees posting to development lists.
        "\"Doe, Jane (Amazon)\" <jdoe@amazon.com>",
        "Jane Doe (Google) <jdoe@google.com>",
        "Microsoft Linux Team <x@microsoft.com>",
        // Delivery reports of the brands' own mail services.
        "Microsoft Outlook <postmaster@outlook.com>",
        "postmaster@example.onmicrosoft.com <postmaster@example.onmicrosoft.com>",
        "Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        "MAILER-DAEMON@yahoo.com",
    ] {
        let f = run(
            p,
            &mail(from, "Re: [PATCH] fix amazon google driver"),
            &env,
            &auth_none(),
        );
        let sender: Vec<_> = f
            .iter()
            .filter(|f| f.kind != FindingKind::SubjectBrand)
            .collect();
        assert!(sender.is_empty(), "{from}: {f:?}");
    }
}

#[test]
fn display_name_repeating_the_address_claims_nothing_more() {
    let p = jp_and_global();
    let env = Envelope::default();
    let f = run(
        p,
        &mail("\"x@smbc.evil.example\" <x@smbc.evil.example>", "t"),
        &env,
        &auth_none(),
    );
    assert!(
        f.iter().all(|f| f.kind != FindingKind::DisplayName),
        "{f:?}"
    );
    // Showing another address than the real one is still a claim.
    let f = run(
        p,
        &mail("\"info@smbc.co.jp\" <x@evil.example>", "t"),
        &env,
        &auth_none(),
    );
    assert!(
        f.iter().any(|f| f.kind == FindingKind::DisplayName),
        "{f:?}"
    );
}
