//! Brand lures in wording that appears nowhere in the policy: the seed's
//! rule (the mail speaks as the brand, is not from the brand, and asks the
//! reader to act) must catch them whatever they say. Each brand is used
//! with several subjects and bodies written for this test, from unrelated
//! senders, with and without the brand in the display name; the one link
//! leads to a throwaway host. The shipped policies judge them offline.

use kinko_milter::analysis::policy::Policy;
use kinko_milter::commands::check;
use kinko_milter::settings::config::Config;
use kinko_milter::vocab::findings::Action;
use std::path::PathBuf;

/// (brand name as the reader sees it, Japanese?)
const BRANDS: &[(&str, bool)] = &[
    ("三井住友カード", true),
    ("三菱UFJ銀行", true),
    ("みずほ銀行", true),
    ("楽天カード", true),
    ("イオンカード", true),
    ("JCB", true),
    ("りそな銀行", true),
    ("ゆうちょ銀行", true),
    ("PayPay", true),
    ("えきねっと", true),
    ("ETC利用照会サービス", true),
    ("メルカリ", true),
    ("国税庁", true),
    ("セゾンカード", true),
    ("エポスカード", true),
    ("ヤマト運輸", true),
    ("佐川急便", true),
    ("日本郵便", true),
    ("Amazon", false),
    ("Apple", false),
    ("Microsoft", false),
    ("PayPal", false),
    ("Netflix", false),
    ("DocuSign", false),
    ("MetaMask", false),
];

/// Subjects and bodies; `{b}` is the brand, `{u}` the link.
const JA: &[(&str, &str)] = &[
    (
        "【{b}】お取引の一時保留について",
        "いつも{b}をご愛顧いただき誠にありがとうございます。\n最近のお取引に不審な点が見られたため、一部のサービスを保留しております。\n下記より手続きを進めてください。\n{u}\n{b}",
    ),
    (
        "{b}より：登録内容の見直しのお願い",
        "お客様各位\n登録内容に古い情報が含まれている可能性がございます。\n48時間以内に見直しが確認できない場合、ご利用いただけなくなります。\n{u}",
    ),
    (
        "ご請求の手続きが完了していません（{b}）",
        "{b}カスタマーセンターです。\n先月分のお手続きが完了しておりません。\nお手数ですが、こちらから内容をご入力ください。\n{u}",
    ),
    (
        "【重要】{b}からのお知らせ",
        "{b}をご利用のお客様へ\nシステム移行に伴い、全ての会員様に再設定をお願いしております。\n{u}\n本メールは送信専用です。",
    ),
];

const EN: &[(&str, &str)] = &[
    (
        "[{b}] Action needed on your profile",
        "Hello,\nWe noticed something unusual and paused some features of your {b} profile.\nPlease review it here: {u}\nThe {b} Team",
    ),
    (
        "{b}: your billing details need attention",
        "Dear customer,\nYour most recent charge could not be completed. To keep using {b}, confirm your details within 24 hours.\n{u}",
    ),
    (
        "Your {b} membership is on hold",
        "Hi,\nWe were unable to process your membership renewal. Review the information on file to avoid interruption.\n{u}\nThanks,\n{b} Support",
    ),
    (
        "Important notice from {b}",
        "{b} account notice\nA new sign-in requires you to reconfirm ownership. Follow the link below to continue.\n{u}",
    ),
];

fn policies() -> Policy {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policy");
    Policy::load_files(&[
        root.join("example-shinkin.toml"),
        root.join("jp-financial.toml"),
        root.join("global-brands.toml"),
        root.join("jp-services.toml"),
    ])
    .expect("shipped policies load")
}

fn message(display: &str, from: &str, subject: &str, body: &str) -> Vec<u8> {
    let enc = |s: &str| kinko_milter::vocab::header_text::encode_word(s);
    let from = if display.is_empty() {
        format!("<{from}>")
    } else {
        format!("{} <{from}>", enc(display))
    };
    format!(
        "From: {from}\r\nTo: user@example.jp\r\nSubject: {}\r\nMessage-ID: <{}@x.example>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{}\r\n",
        enc(subject),
        subject.len(),
        body.replace('\n', "\r\n")
    )
    .into_bytes()
}

#[test]
fn brand_lures_in_new_wording_are_flagged() {
    let (flagged, total) = flagged_lures(&policies());
    assert!(total >= 100 && BRANDS.len() >= 20);
    assert!(
        flagged as f64 / total as f64 >= 0.95,
        "{flagged}/{total} flagged"
    );
}

/// Every brand with every template, from unrelated senders, with and
/// without the brand as display name: (flagged, total).
fn flagged_lures(policy: &Policy) -> (usize, usize) {
    let cfg = Config::default();
    let mut total = 0;
    let mut missed = Vec::new();
    for (i, (brand, ja)) in BRANDS.iter().enumerate() {
        let templates = if *ja { JA } else { EN };
        for (j, (subject, body)) in templates.iter().enumerate() {
            // Unrelated senders and throwaway link hosts, different for
            // every message.
            let sender = format!("notice{j}@mail{i}{j}.k{}x{}.top", i * 7 % 10, j * 3 % 10);
            let url = format!("https://r{i}{j}.q{}z{}.icu/p/{}", i % 9, j % 7, i * 31 + j);
            for display in [
                brand.to_string(),
                if *ja {
                    "お客様窓口".into()
                } else {
                    "Service Desk".into()
                },
            ] {
                let s = subject.replace("{b}", brand);
                let b = body.replace("{b}", brand).replace("{u}", &url);
                let raw = message(&display, &sender, &s, &b);
                let report = check::offline(&raw, policy, &cfg, None);
                total += 1;
                if report.action < Action::Tag {
                    missed.push(format!("{brand} / {display} / {s}"));
                }
            }
        }
    }
    let flagged = total - missed.len();
    eprintln!(
        "brand lures: {flagged}/{total} flagged ({:.1}%)",
        flagged as f64 * 100.0 / total as f64
    );
    for m in &missed {
        eprintln!("  missed: {m}");
    }
    (flagged, total)
}

/// The same wording from the brand's own domain with the link on it is the
/// brand's own notice: offline (no authentication to fail) it is not an
/// impersonation.
#[test]
fn the_same_wording_from_the_brand_itself_is_not_flagged() {
    let policy = policies();
    let cfg = Config::default();
    let (subject, body) = JA[0];
    let raw = message(
        "三井住友カード",
        "info@vpass.ne.jp",
        &subject.replace("{b}", "三井住友カード"),
        &body
            .replace("{b}", "三井住友カード")
            .replace("{u}", "https://www.smbc-card.com/mem/index.jsp"),
    );
    let report = check::offline(&raw, &policy, &cfg, None);
    assert!(report.action < Action::Quarantine, "{:?}", report.findings);
}

/// Legitimate Japanese notices, written after the formats the brands
/// publish for their own mail (usage notices, order and delivery notices,
/// reservation confirmations) and after shops' newsletters that mention
/// the brands they accept. None may be flagged: a reader gets these every
/// week. Offline there is no authentication to see, so this also shows the
/// brand's own notice is judged by what it says and where it links.
#[test]
fn legitimate_japanese_notices_are_not_flagged() {
    let policy = policies();
    let cfg = Config::default();
    let notices: &[(&str, &str, &str, &str)] = &[
        (
            "三井住友カード",
            "statement@vpass.ne.jp",
            "ご利用のお知らせ【三井住友カード】",
            "いつも三井住友カードをご利用いただきありがとうございます。\nお客様のカードご利用内容をお知らせします。\nご利用日時：2026/11/30 12:34\nご利用金額：3,280円\nご利用内容の詳細はVpassでご確認いただけます。\nhttps://www.smbc-card.com/mem/index.jsp\n※本メールは送信専用です。",
        ),
        (
            "楽天カード株式会社",
            "info@mail.rakuten-card.co.jp",
            "カード利用のお知らせ(本人ご利用分)",
            "楽天カードをご利用いただきありがとうございます。\nカードのご利用がありましたのでお知らせいたします。\n■利用日: 2026/11/29\n■利用金額: 1,200 円\nご利用明細は楽天e-NAVIでご確認ください。\nhttps://www.rakuten-card.co.jp/e-navi/",
        ),
        (
            "Amazon.co.jp",
            "auto-confirm@amazon.co.jp",
            "Amazon.co.jpでのご注文",
            "Amazon.co.jpをご利用いただき、ありがとうございます。\nご注文の商品の発送準備が整いましたらお知らせします。\n注文番号: 250-1234567-1234567\n注文内容の確認: https://www.amazon.co.jp/gp/css/order-history",
        ),
        (
            "ヤマト運輸",
            "mail@kuronekoyamato.co.jp",
            "【ヤマト運輸】お荷物お届けのお知らせ",
            "お荷物のお届け予定をお知らせします。\nお届け予定日時：12月2日 午前中\n伝票番号：1234-5678-9012\nお届け日時の変更はこちら\nhttps://www.kuronekoyamato.co.jp/ytc/customer/",
        ),
        (
            "えきねっと",
            "info@eki-net.com",
            "【えきねっと】予約内容のお知らせ",
            "えきねっとをご利用いただきありがとうございます。\n以下の内容で予約を承りました。\n乗車日：2026年12月24日\n列車名：はやぶさ 17号\n予約の確認・変更はえきねっとからお手続きください。\nhttps://www.eki-net.com/",
        ),
        (
            "ドコモ",
            "info@docomo.ne.jp",
            "【ドコモ】ご利用料金確定のお知らせ",
            "いつもドコモをご利用いただきありがとうございます。\n11月分のご利用料金が確定しました。\n料金の詳細はMy docomoでご確認ください。\nhttps://www.docomo.ne.jp/mydocomo/",
        ),
        // A shop's newsletter that names the brands it accepts.
        (
            "雑貨店こもれび",
            "news@komorebi-zakka.example",
            "冬のセールのお知らせ",
            "いつもご愛顧ありがとうございます。\n12月1日より冬のセールを開催します。\nPayPay、楽天ペイ、各種クレジットカード（JCB・VISA・三井住友カード）がご利用いただけます。\nhttps://komorebi-zakka.example/sale\n配信停止はこちら https://komorebi-zakka.example/unsubscribe",
        ),
        // A point site's newsletter about a brand's campaign.
        (
            "ポイントニュース編集部",
            "mag@points-news.example",
            "今週のキャンペーンまとめ",
            "今週のおすすめキャンペーン\n・イオンカード入会で最大5,000ポイント\n・楽天カードの新規入会特典\n詳しくはサイトをご覧ください。\nhttps://points-news.example/weekly",
        ),
    ];
    for (display, from, subject, body) in notices {
        let raw = message(display, from, subject, body);
        let report = check::offline(&raw, &policy, &cfg, None);
        assert_eq!(
            report.action,
            Action::Accept,
            "{subject}: {:?}",
            report.findings
        );
    }
}

/// What catches these is the claim and the request, not the words: with
/// no lure phrases at all (the policy's lists emptied) they are flagged
/// as often.
#[test]
fn brand_lures_are_flagged_without_any_lure_phrase() {
    let mut policy = policies();
    policy.lures = kinko_milter::analysis::lure::LureIndex::default();
    let (flagged, total) = flagged_lures(&policy);
    assert!(
        flagged as f64 / total as f64 >= 0.95,
        "{flagged}/{total} flagged without lure phrases"
    );
}

/// Requests without a link: a callback scam's number to call, and replies
/// diverted to another domain, make a brand claim an impersonation; the
/// same claim asking nothing is not one.
#[test]
fn numbers_to_call_and_diverted_replies_are_requests() {
    let policy = policies();
    let cfg = Config::default();
    let body = "Thank you for your purchase of Norton 360 Deluxe. USD 399.99 will be charged today.\nTo cancel, call our billing desk at +1 (888) 555-0199.";
    let call = message(
        "Billing",
        "orders@renewals-desk.example",
        "Your Norton order confirmation",
        body,
    );
    let report = check::offline(&call, &policy, &cfg, None);
    assert!(report.action >= Action::Tag, "{:?}", report.findings);
    let quiet = message(
        "Billing",
        "orders@renewals-desk.example",
        "Your Norton order confirmation",
        "Thank you for your purchase of Norton 360 Deluxe.",
    );
    let report = check::offline(&quiet, &policy, &cfg, None);
    assert_eq!(report.action, Action::Accept, "{:?}", report.findings);
    let mut reply = message(
        "PayPal",
        "service@notice-center.example",
        "Your account",
        "Please reply with your account number and date of birth.",
    );
    let at = reply.windows(4).position(|w| w == b"To: ").unwrap();
    reply.splice(
        at..at,
        b"Reply-To: recovery@mailbox.example\r\n".iter().copied(),
    );
    let report = check::offline(&reply, &policy, &cfg, None);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.evidence.contains("replies go to mailbox.example")),
        "{:?}",
        report.findings
    );
}
