//! Links to credential pages: every link wherever it hides, and where it really goes.
//!
//! [`extract()`] finds and normalises links, forms and HTML documents;
//! `rules` turns them into findings, one collected finding per kind;
//! `terms` and `feed` hold the brand words and phishing URL feeds.
//! Everything the rules compare against is built once in [`LinkRules::new`],
//! so a message costs lookups, not rebuilding.

pub(crate) mod collect;
mod download;
pub mod extract;
pub(crate) mod feed;
pub(crate) mod rules;
pub(crate) mod terms;

use crate::analysis::brand::BrandIndex;
use crate::policy::data::Brand;
use crate::vocab::findings::{Finding, FindingKind};
use crate::vocab::message::Mail;
pub use extract::{extract, Extracted};
use feed::Feed;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use terms::{BrandTerms, BrandWords};

/// Lists and feeds for link judgement, built once per policy load.
#[derive(Debug, Default)]
pub struct LinkRules {
    pub shorteners: HashSet<String>,
    pub redirectors: HashSet<String>,
    /// Free hosting and form services, for `link-hosting` and `sender-hosting`.
    pub hosting: HashSet<String>,
    /// Known phishing hosts, host+paths and URLs.
    pub feed: Feed,
    /// Protected brands' words, for [`FindingKind::LinkBrand`].
    pub brand_terms: Vec<BrandTerms>,
    /// All brands' words in one automaton each (ASCII for hosts and paths,
    /// native script for paths): a link costs one scan, not one per brand.
    pub brand_words: BrandWords,
    feed_paths: Vec<PathBuf>,
}

impl LinkRules {
    /// `link_words` maps a brand id to the URL words that replace its
    /// derived ones. Errors carry the feed file, 1-based line (0 when the
    /// file cannot be read) and message.
    pub fn new(
        shorteners: HashSet<String>,
        redirectors: HashSet<String>,
        hosting: HashSet<String>,
        feeds: &[PathBuf],
        brands: &[Brand],
        link_words: &HashMap<String, Vec<String>>,
    ) -> Result<Self, (PathBuf, usize, String)> {
        let mut feed = Feed::default();
        for path in feeds {
            feed.load_file(path)?;
        }
        let brand_terms: Vec<BrandTerms> = brands
            .iter()
            .map(|b| BrandTerms::of(b, link_words.get(&b.id).map(Vec::as_slice)))
            .collect();
        let brand_words = BrandWords::new(&brand_terms);
        Ok(LinkRules {
            shorteners,
            redirectors,
            hosting,
            feed,
            brand_terms,
            brand_words,
            feed_paths: feeds.to_vec(),
        })
    }

    /// Feed files to watch for changes.
    pub fn feed_paths(&self) -> &[PathBuf] {
        &self.feed_paths
    }
}

/// Findings about the links, forms and HTML documents `x` extracted from `mail`.
pub fn analyze(mail: &Mail, x: &Extracted, rules: &LinkRules, index: &BrandIndex) -> Vec<Finding> {
    let mut out = collect::Collector::default();
    rules::apply(mail, x, rules, index, &mut out);
    out.into_findings()
}

/// The `truncated` finding when extraction stopped at a bound.
pub fn truncation(x: &Extracted) -> Option<Finding> {
    (!x.truncated.is_empty()).then(|| Finding::new(FindingKind::Truncated, x.truncated.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::extract::LinkKind;
    use super::*;
    use crate::analysis::policy::{Policy, Source};
    use crate::vocab::auth::AuthSummary;
    use crate::vocab::message::{Bounds, Envelope};
    use std::path::Path;

    const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus");

    /// A message of the development corpus; its absence fails the test.
    fn corpus(rel: &str) -> Option<Vec<u8>> {
        let p = Path::new(CORPUS).join(rel);
        Some(std::fs::read(&p).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: the development corpus must lie beside the project",
                p.display()
            )
        }))
    }

    fn extract_raw(raw: &[u8], limits: &Bounds) -> Extracted {
        let msg = crate::analysis::parse(raw);
        extract(&msg, limits)
    }

    /// A policy with three real banks and a one-line feed, as a bank would write it.
    fn bank_policy() -> (tempfile::TempDir, Policy) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("shorteners.txt"), "bit.ly\nqr.paps.jp\n").unwrap();
        std::fs::write(dir.path().join("redirectors.txt"), "list-manage.com\n").unwrap();
        std::fs::write(
            dir.path().join("feed.csv"),
            "date,URL,description\n2025/01/07 16:23:00,https://027cmm.com/,りそな銀行\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("p.toml"),
            r#"
[lists]
shorteners = ["shorteners.txt"]
redirectors = ["redirectors.txt"]
feeds = ["feed.csv"]
[[brand]]
id = "smbc"
names = ["三井住友銀行", "SMBC"]
domains = ["smbc.co.jp", "smbc-card.com"]
[[brand]]
id = "mizuho"
names = ["みずほ銀行", "Mizuho Bank"]
domains = ["mizuhobank.co.jp"]
[[brand]]
id = "mufg"
names = ["三菱UFJ銀行", "MUFG"]
domains = ["bk.mufg.jp", "mufg.jp"]
"#,
        )
        .unwrap();
        let p = Policy::load(&[Source::File(&dir.path().join("p.toml"))]).unwrap();
        (dir, p)
    }

    /// Every finding about the message but the authentication's, the
    /// sender's brand claims and the whole-message combinations.
    fn run(policy: &Policy, raw: &[u8], bounds: &Bounds) -> Vec<Finding> {
        let msg = crate::analysis::parse(raw);
        let env = Envelope::default();
        let auth = AuthSummary::skipped("test");
        let mail = crate::analysis::mail(&msg, &env, &auth, policy);
        let x = extract(&msg, bounds);
        let mut out = analyze(&mail, &x, &policy.links, &policy.brand_index);
        out.extend(crate::analysis::sender::hosting(
            &mail,
            &policy.links.hosting,
        ));
        let all = crate::analysis::findings(&mail, policy, bounds);
        out.extend(all.into_iter().filter(|f| {
            matches!(
                f.kind,
                FindingKind::CredentialLure | FindingKind::LureForeignLink | FindingKind::Truncated
            )
        }));
        out
    }

    fn kinds(f: &[Finding]) -> Vec<FindingKind> {
        let mut k: Vec<_> = f.iter().map(|f| f.kind).collect();
        k.sort();
        k
    }

    fn text_mail(body: &str) -> Vec<u8> {
        format!("From: a@sender.example\r\nSubject: t\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n").into_bytes()
    }

    fn html_mail(html: &str) -> Vec<u8> {
        format!("From: a@sender.example\r\nSubject: t\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n").into_bytes()
    }

    #[test]
    fn links_to_programs_and_app_packages_are_downloads() {
        let (_d, p) = bank_policy();
        let b = Bounds::default();
        for url in [
            "https://files.example/KinkoGuard_setup.exe",
            "https://files.example/dl/kinko-guard.apk",
            "https://files.example/get?filename=security.msi",
            "https://s3.example/o?response-content-disposition=attachment%3B%20filename%3D%22guard.ipa%22",
            "https://files.example/invoice.pdf.js",
            "https://files.example/%53etup.%45XE",
        ] {
            let f = run(&p, &text_mail(&format!("install: {url}")), &b);
            assert!(
                f.iter().any(|f| f.kind == FindingKind::LinkDownload),
                "{url}: {f:?}"
            );
        }
        for url in [
            "https://files.example/report.pdf",
            "https://redirect.example/to/www.shop.com",
            "https://files.example/photos.zip",
            "https://files.example/app.html?name=john.smith",
            "https://shop.example/cgi-bin/runisa.dll?page=1",
        ] {
            let f = run(&p, &text_mail(&format!("see {url}")), &b);
            assert!(
                !f.iter().any(|f| f.kind == FindingKind::LinkDownload),
                "{url}: {f:?}"
            );
        }
    }

    // Counts below were checked against an independent decode with Python's
    // email package and a regex over the decoded parts.

    #[test]
    fn multipart_alternative_base64_both_halves() {
        let Some(raw) = corpus("phish/phishing_pot__sample-3254.eml") else {
            return;
        };
        let x = extract_raw(&raw, &Bounds::default());
        assert_eq!(x.links.len(), 6);
        assert_eq!(
            x.links.iter().filter(|l| l.kind == LinkKind::Bare).count(),
            3
        );
        let a = x.links.iter().find(|l| l.kind == LinkKind::Anchor).unwrap();
        assert_eq!(a.host, "sec-ledger.pt");
        assert_eq!(a.text.as_deref(), Some("Activate 2FA"));
        assert_eq!(rules::credential_word(&a.path), Some("2fa"));
    }

    #[test]
    fn base64_html_anchors_and_text() {
        let Some(raw) = corpus("phish/phishing_pot__sample-3655.eml") else {
            return;
        };
        let x = extract_raw(&raw, &Bounds::default());
        assert_eq!(x.links.len(), 7);
        assert!(x.links.iter().all(|l| l.kind == LinkKind::Anchor));
        assert_eq!(x.links[3].text.as_deref(), Some("UMFRAGE STARTEN"));
        assert_eq!(x.docs.len(), 1);
    }

    #[test]
    fn quoted_printable_plain_text() {
        let Some(raw) = corpus("ham/ibm-acpi-devel__04b98d75d9ba.eml") else {
            return;
        };
        let x = extract_raw(&raw, &Bounds::default());
        let urls: Vec<&str> = x.links.iter().map(|l| l.url.as_str()).collect();
        assert_eq!(urls.len(), 4, "{urls:?}");
        assert_eq!(
            urls[0],
            "https://marc.info/?l=linux-kernel&m=151622365715313&q=raw"
        );
        assert!(x.docs.is_empty());
    }

    #[test]
    fn iso_2022_jp_html_shows_card_domain_but_goes_elsewhere() {
        let Some(raw) = corpus("jp/industrypack-devel__9c046e2598bb.eml") else {
            return;
        };
        let x = extract_raw(&raw, &Bounds::default());
        assert_eq!(x.links.len(), 3);
        assert_eq!(x.links[0].host, "index-accout.smfg.istio.club");
        assert_eq!(
            x.links[0].text.as_deref(),
            Some("https://www.smbc-card.com/index.jsp")
        );
        let (_d, p) = bank_policy();
        let f = run(&p, &raw, &Bounds::default());
        let m = f
            .iter()
            .find(|f| f.kind == FindingKind::LinkTextMismatch)
            .unwrap();
        assert_eq!(m.brand.as_deref(), Some("smbc"));
        assert!(
            m.evidence
                .contains("www.smbc-card.com -> index-accout.smfg.istio.club"),
            "{}",
            m.evidence
        );
    }

    #[test]
    fn jpcert_bank_phishing_urls_are_flagged() {
        let (_d, p) = bank_policy();
        let l = Bounds::default();
        let cases: &[(&str, FindingKind, Option<&str>)] = &[
            (
                "http://breakokc.com/smbc.co.jp/jp/SMBC",
                FindingKind::LinkBrand,
                Some("smbc"),
            ),
            (
                "https://smbcwrong.com/JP",
                FindingKind::LinkBrand,
                Some("smbc"),
            ),
            (
                "https://mizuhobank.jp.against.hfctrk.cn/net_shoukai/",
                FindingKind::LinkBrand,
                Some("mizuho"),
            ),
            (
                "https://cr.mufg.jp-login.5272895a563254100.temporary.link/MUFG",
                FindingKind::LinkBrand,
                Some("mufg"),
            ),
            ("https://103.99.210.4", FindingKind::LinkIpHost, None),
            ("https://027cmm.com/", FindingKind::LinkFeed, None),
        ];
        for (url, kind, brand) in cases {
            let f = run(&p, &text_mail(&format!("ご確認ください：{url}")), &l);
            let hit = f
                .iter()
                .find(|f| f.kind == *kind)
                .unwrap_or_else(|| panic!("{url}: {f:?}"));
            assert_eq!(hit.brand.as_deref(), *brand, "{url}");
        }
    }

    #[test]
    fn legitimate_urls_from_ham_are_quiet() {
        let (_d, p) = bank_policy();
        for url in [
            "https://marc.info/?l=linux-kernel&m=151622365715313&q=raw",
            "https://lists.sourceforge.net/lists/listinfo/ibm-acpi-devel",
            "http://atrey.karlin.mff.cuni.cz/~pavel/picture/horses/blog.html",
            "https://www.smbc.co.jp/kojin/",
            "https://www.mizuhobank.co.jp/index.html",
        ] {
            let f = run(&p, &text_mail(url), &Bounds::default());
            assert!(f.is_empty(), "{url}: {f:?}");
        }
    }

    #[test]
    fn url_tricks() {
        let (_d, p) = bank_policy();
        let l = Bounds::default();
        let f = run(
            &p,
            &text_mail("https://www.smbc.co.jp@evil.example/login"),
            &l,
        );
        assert_eq!(
            kinds(&f),
            vec![FindingKind::LinkUserinfo, FindingKind::LinkCredentialPath]
        );
        assert!(
            f[0].evidence.contains("www.smbc.co.jp@evil.example")
                || f[1].evidence.contains("@evil.example")
        );
        let f = run(
            &p,
            &text_mail("https://xn--r8jz45g.example/ https://bit.ly/x https://qr.paps.jp/a"),
            &l,
        );
        assert_eq!(
            kinds(&f),
            vec![FindingKind::LinkPunycode, FindingKind::LinkShortener]
        );
        let f = run(
            &p,
            &text_mail("https://evil.example/%E3%83%AD%E3%82%B0%E3%82%A4%E3%83%B3"),
            &l,
        );
        assert!(f[0].evidence.contains("ログイン"), "{f:?}");
    }

    /// A mail from `from` whose only link is `url` in a QR code PNG, attached
    /// as `name`, or inline with a content-id when `name` is `None`.
    fn qr_mail(from: &str, url: &str, name: Option<&str>) -> Vec<u8> {
        use crate::analysis::qr::qr_image::{encode, qr_picture};
        let picture = image::DynamicImage::ImageLuma8(qr_picture(url, 4));
        let png = encode(&picture, image::ImageFormat::Png);
        let b64: String = png
            .chunks(57)
            .map(|c| crate::vocab::header_text::base64(c) + "\r\n")
            .collect();
        let disposition = match name {
            Some(n) => format!("Content-Disposition: attachment; filename=\"{n}\""),
            None => "Content-Disposition: inline\r\nContent-ID: <code@shop.example>".into(),
        };
        format!(
            "From: {from}\r\nSubject: t\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/related; boundary=q\r\n\r\n\
             --q\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nスマートフォンで読み取ってください。\r\n\
             --q\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n{disposition}\r\n\r\n{b64}--q--\r\n"
        )
        .into_bytes()
    }

    /// QR code links go through the same rules as text links, and the
    /// evidence says which image they came from and where they lead.
    #[test]
    fn qr_code_links_are_judged_like_text_links() {
        let (_d, p) = bank_policy();
        let l = Bounds::default();
        let raw = qr_mail(
            "a@sender.example",
            "https://027cmm.com/login",
            Some("請求書.png"),
        );
        let x = extract_raw(&raw, &l);
        assert_eq!(x.images_decoded, 1);
        assert_eq!(x.links.len(), 1);
        assert_eq!(x.links[0].kind, LinkKind::QrCode);
        assert_eq!(x.links[0].image.as_deref(), Some("\"請求書.png\""));
        let f = run(&p, &raw, &l);
        assert_eq!(
            kinds(&f),
            vec![FindingKind::LinkCredentialPath, FindingKind::LinkFeed]
        );
        for finding in &f {
            assert!(
                finding
                    .evidence
                    .contains("(QR code in \"請求書.png\": https://027cmm.com/login)"),
                "{}",
                finding.evidence
            );
        }
        // Inline, named by content-id; a real JPCERT-listed lookalike of SMBC.
        let raw = qr_mail("a@sender.example", "http://www.smbc.co.at/phone.php", None);
        let f = run(&p, &raw, &l);
        let brand = f
            .iter()
            .find(|f| f.kind == FindingKind::LinkLookalike || f.kind == FindingKind::LinkBrand)
            .unwrap_or_else(|| panic!("{f:?}"));
        assert_eq!(brand.brand.as_deref(), Some("smbc"));
        assert!(
            brand.evidence.contains("QR code in cid:code@shop.example"),
            "{}",
            brand.evidence
        );
    }

    /// The brand rule: a claim to be the bank and a QR code that leads
    /// elsewhere is an impersonation, with no link in the text at all.
    #[test]
    fn a_qr_code_is_the_request_of_a_brand_claim() {
        let (_d, p) = bank_policy();
        let raw = qr_mail(
            "三井住友銀行 <info@sender.example>",
            "http://www.smbc.co.at/phone.php",
            Some("qr.png"),
        );
        let a = crate::analysis::analyze(
            &raw,
            None,
            &Envelope::default(),
            &AuthSummary::skipped("test"),
            &p,
            &crate::settings::limits::Limits::default(),
        );
        let imp = a
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::BrandImpersonation)
            .unwrap_or_else(|| panic!("{:?}", a.findings));
        assert_eq!(imp.brand.as_deref(), Some("smbc"));
        assert!(
            imp.evidence
                .contains("a QR code link to www.smbc.co.at in \"qr.png\""),
            "{}",
            imp.evidence
        );
        // Without the image the same mail asks nothing.
        let text_only = String::from_utf8(raw).unwrap();
        let text_only = text_only
            .split("--q\r\nContent-Type: image/png")
            .next()
            .unwrap();
        let a = crate::analysis::analyze(
            format!("{text_only}--q--\r\n").as_bytes(),
            None,
            &Envelope::default(),
            &AuthSummary::skipped("test"),
            &p,
            &crate::settings::limits::Limits::default(),
        );
        assert!(
            !a.findings
                .iter()
                .any(|f| f.kind == FindingKind::BrandImpersonation),
            "{:?}",
            a.findings
        );
    }

    /// Images beyond the per-message budget are not decoded, and the
    /// truncation says which bound stopped them; mail without images
    /// decodes none.
    #[test]
    fn the_image_budget_bounds_decoding() {
        let one = qr_mail("a@sender.example", "https://evil.example/", Some("a.png"));
        let one = String::from_utf8(one).unwrap();
        let (head, rest) = one.split_once("--q\r\nContent-Type: image/png").unwrap();
        let image_part = rest.trim_end_matches("--q--\r\n");
        let three = format!(
            "{head}--q\r\nContent-Type: image/png{image_part}--q\r\nContent-Type: image/png{image_part}--q\r\nContent-Type: image/png{image_part}--q--\r\n"
        );
        let x = extract_raw(three.as_bytes(), &Bounds::default());
        assert_eq!((x.images_decoded, x.links.len()), (3, 3));
        assert!(x.truncated.is_empty(), "{:?}", x.truncated);
        let two_images = Bounds {
            max_qr_images: 2,
            ..Bounds::default()
        };
        let x = extract_raw(three.as_bytes(), &two_images);
        assert_eq!((x.images_decoded, x.links.len()), (2, 2));
        assert_eq!(
            x.truncated,
            ["1 images beyond max_qr_images (2) not scanned for QR codes"]
        );
        let side = u64::from(
            crate::analysis::qr::qr_image::qr_picture("https://evil.example/", 4).width(),
        );
        let small = Bounds {
            max_qr_image_pixels: side * side - 1,
            ..Bounds::default()
        };
        let x = extract_raw(three.as_bytes(), &small);
        assert_eq!(x.images_decoded, 0);
        assert!(x.truncated[0].starts_with("3 images over max_qr_image_pixels"));
        let total = Bounds {
            max_qr_pixels_total: side * side * 3 / 2,
            ..Bounds::default()
        };
        let x = extract_raw(three.as_bytes(), &total);
        assert_eq!(x.images_decoded, 1);
        assert!(x.truncated[0].starts_with("2 images beyond max_qr_pixels_total"));
        // A part labelled image/png that is not one, and text, decode nothing.
        let fake = format!(
            "{head}--q\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename=x.png\r\n\r\n%PDF-1.7 https://evil.example/\r\n--q--\r\n"
        );
        let x = extract_raw(fake.as_bytes(), &Bounds::default());
        assert_eq!((x.images_decoded, x.links.len()), (0, 0));
    }

    #[test]
    fn japanese_brackets_end_bare_urls() {
        let x = extract_raw(
            &text_mail("こちら「https://a.example/x」から、【www.b.example/p】。https://c.example/q）とhttps://d.example/ログイン"),
            &Bounds::default(),
        );
        let urls: Vec<&str> = x.links.iter().map(|l| l.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://a.example/x",
                "http://www.b.example/p",
                "https://c.example/q",
                "https://d.example/"
            ]
        );
    }

    #[test]
    fn html_entities_base_and_forms() {
        let html = r#"<html><head><base href="https://base.example/dir/"></head><body>
            <A HREF="&#104;ttps&#x3a;//hidden.example/a?x=1&amp;y=2">www.smbc.co.jp</A>
            <a href="rel/page">relative</a>
            <area href="https://area.example/">
            <meta http-equiv="Refresh" content="0; URL='https://refresh.example/'">
            <a href="data:text/html;base64,PHNjcmlwdD4=">x</a>
            <form action="https://collect.example/post"><input type="password" name="pw"></form>
            </body></html>"#;
        let x = extract_raw(&html_mail(html), &Bounds::default());
        let urls: Vec<&str> = x.links.iter().map(|l| l.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://hidden.example/a?x=1&y=2",
                "https://base.example/dir/rel/page",
                "https://area.example/",
                "https://refresh.example/",
                "https://collect.example/post",
            ]
        );
        let (_d, p) = bank_policy();
        let k = kinds(&run(&p, &html_mail(html), &Bounds::default()));
        for want in [
            FindingKind::LinkTextMismatch,
            FindingKind::FormPassword,
            FindingKind::FormExternalAction,
            FindingKind::DataUri,
        ] {
            assert!(k.contains(&want), "{want}: {k:?}");
        }
    }

    #[test]
    fn redirectors_and_same_domain_trackers_are_not_mismatches() {
        let (_d, p) = bank_policy();
        let html = r#"<a href="https://us1.list-manage.com/track/click?u=1">www.example.org</a>
            <a href="https://click.news.example.org/x">https://www.example.org/</a>
            <a href="https://t.esp.example/r?u=https%3A%2F%2Fwww.example.org%2F">www.example.org</a>"#;
        let f = run(&p, &html_mail(html), &Bounds::default());
        assert!(f.is_empty(), "{f:?}");
    }

    fn bounce(returned_html: &str) -> Vec<u8> {
        format!(
            "From: MAILER-DAEMON@mx.example\r\nSubject: Undelivered\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=r\r\n\r\n\
             --r\r\nContent-Type: text/plain\r\n\r\nCould not deliver.\r\n\
             --r\r\nContent-Type: message/delivery-status\r\n\r\nStatus: 5.1.1\r\n\
             --r\r\nContent-Type: message/rfc822\r\n\r\n\
             From: news@shop.example\r\nSubject: sale\r\nContent-Type: text/html\r\n\r\n{returned_html}\r\n--r--\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn bounced_copies_and_own_trackers_are_not_mismatches() {
        let (_d, p) = bank_policy();
        let l = Bounds::default();
        let has_mismatch =
            |f: &[Finding]| f.iter().any(|f| f.kind == FindingKind::LinkTextMismatch);
        let f = run(
            &p,
            &bounce(r#"<a href="https://t.news-mailer.net/c">www.travel-deals.com</a>"#),
            &l,
        );
        assert!(!has_mismatch(&f), "{f:?}");
        let f = run(
            &p,
            &bounce(r#"<a href="https://t.evil.example/c">https://www.smbc.co.jp/</a>"#),
            &l,
        );
        assert!(has_mismatch(&f), "{f:?}");
        // The same link outside a report is still a mismatch.
        let f = run(
            &p,
            &html_mail(r#"<a href="https://t.news-mailer.net/c">www.travel-deals.com</a>"#),
            &l,
        );
        assert!(has_mismatch(&f), "{f:?}");
        // a@sender.example tracking its clicks on url123.sender.example.
        let f = run(
            &p,
            &html_mail(
                r#"<a href="http://url123.sender.example/ls/click?u=1">www.fund-example.com</a>"#,
            ),
            &l,
        );
        assert!(!has_mismatch(&f), "{f:?}");
        // Even when the text names a brand: the link leads to the From
        // domain (a digest's tracker), and the claims of the sender are
        // judged on the From header, not on one link of many.
        let f = run(
            &p,
            &html_mail(r#"<a href="http://url123.sender.example/x">www.mizuhobank.co.jp</a>"#),
            &l,
        );
        assert!(!has_mismatch(&f), "{f:?}");
        // A known redirector explains a mismatch, but not one that shows a
        // protected brand in mail that is not the brand's own.
        let f = run(
            &p,
            &html_mail(
                r#"<a href="https://us1.list-manage.com/track/click?u=1">www.example.org</a>"#,
            ),
            &l,
        );
        assert!(!has_mismatch(&f), "{f:?}");
        let f = run(
            &p,
            &html_mail(
                r#"<a href="https://us1.list-manage.com/track/click?u=1">www.smbc.co.jp</a>"#,
            ),
            &l,
        );
        assert!(has_mismatch(&f), "{f:?}");
    }

    #[test]
    fn link_words_replace_everyday_domain_labels() {
        let p = Policy::from_toml(
            "t.toml",
            "[[brand]]\nid = \"chat\"\nnames = [\"LINE株式会社\"]\ndomains = [\"line.me\"]\nlink_words = [\"line-me\"]\n",
        )
        .unwrap();
        let brand = |url: &str| {
            run(&p, &text_mail(url), &Bounds::default())
                .into_iter()
                .any(|f| f.kind == FindingKind::LinkBrand)
        };
        assert!(!brand("https://online.example.com/inline/pipeline"));
        assert!(brand("https://line-me.example.com/"));
        // Without link_words the domain label itself is the word.
        let p = Policy::from_toml(
            "t.toml",
            "[[brand]]\nid = \"chat\"\nnames = [\"LINE株式会社\"]\ndomains = [\"line.me\"]\n",
        )
        .unwrap();
        // An everyday word counts as a token of the host, not inside
        // another word.
        let named = |url: &str| {
            run(&p, &text_mail(url), &Bounds::default())
                .iter()
                .any(|f| f.kind == FindingKind::LinkBrand)
        };
        assert!(named("https://line.example.com/"));
        assert!(named("https://secure-line.example.com/"));
        assert!(!named("https://online.example.com/"));
    }

    #[test]
    fn html_attachment_with_form_and_otp_field() {
        let raw = "From: a@sender.example\r\nSubject: t\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
            --b\r\nContent-Type: application/octet-stream; name=\"invoice.html\"\r\n\
            Content-Disposition: attachment; filename=\"invoice.html\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
            PGZvcm0gYWN0aW9uPSJodHRwczovL3Bvc3QuZXhhbXBsZS8iPjxpbnB1dCBuYW1lPSJvdHAiPjwvZm9ybT4=\r\n--b--\r\n";
        let (_d, p) = bank_policy();
        let f = run(&p, raw.as_bytes(), &Bounds::default());
        let k = kinds(&f);
        assert!(k.contains(&FindingKind::HtmlAttachment), "{f:?}");
        assert!(k.contains(&FindingKind::FormPassword), "{f:?}");
        let h = f
            .iter()
            .find(|f| f.kind == FindingKind::HtmlAttachment)
            .unwrap();
        assert!(h.evidence.contains("invoice.html (form)"), "{}", h.evidence);
    }

    #[test]
    fn attached_message_is_searched_within_depth() {
        let inner = "From: x@y.example\r\nSubject: i\r\n\r\nhttps://inner.example/login\r\n";
        let raw = format!(
            "From: a@sender.example\r\nSubject: t\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nfwd\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--b--\r\n"
        );
        let x = extract_raw(raw.as_bytes(), &Bounds::default());
        assert_eq!(x.links.len(), 1);
        assert_eq!(x.links[0].host, "inner.example");
        let shallow = Bounds {
            max_mime_depth: 0,
            ..Bounds::default()
        };
        let x = extract_raw(raw.as_bytes(), &shallow);
        assert!(x.links.is_empty());
        assert!(
            x.truncated[0].contains("max_mime_depth"),
            "{:?}",
            x.truncated
        );
    }

    #[test]
    fn bounds_emit_truncated() {
        let body: String = (0..20)
            .map(|i| format!("https://h{i}.example/\n"))
            .collect();
        let limits = Bounds {
            max_links: 5,
            ..Bounds::default()
        };
        let x = extract_raw(&text_mail(&body), &limits);
        assert_eq!(x.links.len(), 5);
        let (_d, p) = bank_policy();
        let f = run(&p, &text_mail(&body), &limits);
        let t = f.iter().find(|f| f.kind == FindingKind::Truncated).unwrap();
        assert!(
            t.evidence.contains("15 links beyond max_links (5)"),
            "{}",
            t.evidence
        );

        let html = format!(
            "<a href=\"https://a.example/\">a</a>{}<a href=\"https://b.example/\">b</a>",
            " ".repeat(1000)
        );
        let small = Bounds {
            max_html_bytes: 100,
            ..Bounds::default()
        };
        let x = extract_raw(&html_mail(&html), &small);
        assert_eq!(x.links.len(), 1);
        assert!(
            x.truncated[0].contains("max_html_bytes (100)"),
            "{:?}",
            x.truncated
        );
    }

    #[test]
    fn lookalike_link_host_is_found_with_its_brand() {
        let (_d, p) = bank_policy();
        let f = run(&p, &text_mail("https://smbc-co.jp/"), &Bounds::default());
        let hit = f.iter().find(|f| f.kind == FindingKind::LinkLookalike);
        assert_eq!(
            hit.and_then(|f| f.brand.as_deref()),
            Some("smbc"),
            "smbc-co.jp imitates smbc.co.jp: {f:?}"
        );
        // The bank's own site is not a lookalike of itself.
        let f = run(
            &p,
            &text_mail("https://www.smbc.co.jp/"),
            &Bounds::default(),
        );
        assert!(
            f.iter().all(|f| f.kind != FindingKind::LinkLookalike),
            "{f:?}"
        );
    }

    #[test]
    fn evidence_is_sanitised() {
        let (_d, p) = bank_policy();
        let f = run(
            &p,
            &html_mail("<a href=\"https://evil.example/\">www.smbc.co.jp\u{202e}</a>"),
            &Bounds::default(),
        );
        assert!(f
            .iter()
            .all(|f| !crate::vocab::sanitize::has_hidden_or_control(&f.evidence)));
    }

    fn embedded_kinds(from: &str, body: &str) -> Vec<FindingKind> {
        let raw =
            format!("From: {from}\r\nSubject: hello\r\nContent-Type: text/plain\r\n\r\n{body}\r\n");
        let a = crate::analysis::analyze(
            raw.as_bytes(),
            None,
            &Envelope::default(),
            &AuthSummary::skipped("test"),
            &Policy::embedded().unwrap(),
            &crate::settings::limits::Limits::default(),
        );
        a.findings.iter().map(|f| f.kind).collect()
    }

    #[test]
    fn free_hosting_links_and_senders_are_reported() {
        let k = embedded_kinds(
            "Support <noreply@shop-9f3a.firebaseapp.com>",
            "See https://login-check.web.app/start",
        );
        assert!(k.contains(&FindingKind::SenderHosting), "{k:?}");
        assert!(k.contains(&FindingKind::LinkHosting), "{k:?}");
    }

    #[test]
    fn ordinary_hosts_are_not_free_hosting() {
        // A name merely ending in a listed name is not under it.
        let k = embedded_kinds(
            "News <news@example.com>",
            "See https://www.myweb.app.example.com/ and https://notweb.app/",
        );
        assert!(!k.contains(&FindingKind::SenderHosting), "{k:?}");
        assert!(!k.contains(&FindingKind::LinkHosting), "{k:?}");
    }

    #[test]
    fn lure_on_free_hosting_is_a_hosted_lure() {
        let lure = "Your mailbox quota exceeded. Verify your mailbox within 24 hours.";
        let k = embedded_kinds(
            "Mail Admin <admin@corp-mail.example>",
            &format!("{lure}\nhttps://mailbox-verify.web.app/"),
        );
        assert!(k.contains(&FindingKind::CredentialLure), "{k:?}");
        assert!(k.contains(&FindingKind::HostedLure), "{k:?}");
    }

    #[test]
    fn lure_on_an_ordinary_host_or_hosting_without_lure_is_not_a_hosted_lure() {
        let lure = "Your mailbox quota exceeded. Verify your mailbox within 24 hours.";
        let k = embedded_kinds(
            "Mail Admin <admin@corp-mail.example>",
            &format!("{lure}\nhttps://mail.corp-mail.example/"),
        );
        assert!(k.contains(&FindingKind::CredentialLure), "{k:?}");
        assert!(!k.contains(&FindingKind::HostedLure), "{k:?}");
        let k = embedded_kinds(
            "App <noreply@myapp-1.firebaseapp.com>",
            "Thanks for signing up.\nhttps://myapp-1.web.app/welcome",
        );
        assert!(!k.contains(&FindingKind::HostedLure), "{k:?}");
    }
}
