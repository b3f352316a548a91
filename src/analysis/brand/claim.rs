//! Whether a display name or a subject that names a brand presents the
//! mail as coming from that brand (a claim), or only talks about it.
//!
//! "三井住友カード株式会社", "Amazon Customer Service", "【重要】三井住友カード
//! ご利用確認", "Your Apple ID" speak as the brand; "Lockergnome Apple Core"
//! or "Microsoft reveals media XP details" are a newsletter's name and a
//! headline. Phishing needs the reader to believe who is writing, so the
//! claim is what it cannot do without, whatever else it says.

use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;

/// Words that may stand beside a brand in a sender's name without making it
/// someone else's name: company forms, departments, notices.
const SENDER_WORDS: &[&str] = &[
    "the",
    "from",
    "your",
    "official",
    "team",
    "customer",
    "customers",
    "service",
    "services",
    "support",
    "security",
    "account",
    "accounts",
    "billing",
    "notification",
    "notifications",
    "notice",
    "notices",
    "alert",
    "alerts",
    "center",
    "centre",
    "help",
    "desk",
    "noreply",
    "reply",
    "info",
    "information",
    "message",
    "messages",
    "online",
    "secure",
    "verification",
    "id",
    "japan",
    "jp",
    "inc",
    "co",
    "ltd",
    "corp",
    "corporation",
    "card",
    "bank",
    "pay",
    "mail",
    "system",
    "admin",
    "mobile",
    "members",
    "member",
    "株式会社",
    "株",
    "カスタマー",
    "サービス",
    "サポート",
    "センター",
    "事務局",
    "お知らせ",
    "運営",
    "公式",
    "会員",
    "窓口",
    "通知",
    "メール",
    "お客様",
    "カード",
    "銀行",
    "重要",
    "緊急",
    "セキュリティ",
    "ご案内",
    "係",
    "担当",
    "より",
    "から",
    "からの",
    "の",
    "システム",
    "管理",
    "管理者",
    "本人確認",
    "ご利用",
    "デスク",
    "インフォメーション",
    "オフィシャル",
    "グループ",
    "本部",
    "事業部",
    "部",
];

/// Words that may lead a subject before the brand it speaks as.
const SUBJECT_LEADS: &[&str] = &[
    "重要",
    "緊急",
    "至急",
    "再送",
    "お知らせ",
    "ご確認",
    "要確認",
    "ご連絡",
    "ご案内",
    "注意",
    "警告",
    "必読",
    "最終",
    "再度",
    "確認",
    "お客様の",
    "あなたの",
    "your",
    "important",
    "urgent",
    "action",
    "required",
    "notice",
    "alert",
    "security",
    "final",
    "reminder",
    "attention",
    "warning",
];

/// What, right after the brand, makes a subject speak as the brand.
const SUBJECT_FOLLOWERS: &[&str] = &[
    "より",
    "から",
    "からの",
    "カスタマー",
    "会員",
    "お客様",
    "ご利用",
    "アカウント",
    "セキュリティ",
    "サポート",
    "事務局",
    "公式",
    "account",
    "id",
    "security",
    "customer",
    "member",
    "support",
    "team",
    "alert",
    "notice",
    "login",
    "signin",
    "password",
    "billing",
    "payment",
    "order",
    "prime",
];

/// Brackets that set the sender off at the start of Japanese subjects.
const OPENERS: &[char] = &['【', '[', '「', '『', '〈', '《', '(', '<', '〔', '［'];
const CLOSERS: &[char] = &['】', ']', '」', '』', '〉', '》', ')', '>', '〕', '］'];

fn fold(s: &str) -> String {
    s.nfkc().collect::<String>().to_lowercase()
}

/// A word list folded as texts are, punctuation dropped, empty words
/// left out: what [`made_of`] compares with.
fn folded(words: &[&str]) -> Vec<String> {
    words
        .iter()
        .map(|w| fold(w).chars().filter(|c| c.is_alphanumeric()).collect())
        .filter(|w: &String| !w.is_empty())
        .collect()
}

/// The fixed lists, folded once rather than for every message.
fn sender_words() -> &'static [String] {
    static W: OnceLock<Vec<String>> = OnceLock::new();
    W.get_or_init(|| folded(SENDER_WORDS))
}

fn subject_leads() -> &'static [String] {
    static W: OnceLock<Vec<String>> = OnceLock::new();
    W.get_or_init(|| folded(SUBJECT_LEADS))
}

fn subject_followers() -> &'static [String] {
    static W: OnceLock<Vec<String>> = OnceLock::new();
    W.get_or_init(|| SUBJECT_FOLLOWERS.iter().map(|w| fold(w)).collect())
}

/// Whether `s` (folded) is nothing but words of `lists` (folded), one
/// after another, with spaces and punctuation between them ignored.
fn made_of(s: &str, lists: &[&[String]]) -> bool {
    let s: String = s.chars().filter(|c| c.is_alphanumeric()).collect();
    if s.is_empty() {
        return true;
    }
    let mut reach = vec![false; s.len() + 1];
    reach[0] = true;
    for i in 0..s.len() {
        if !reach[i] || !s.is_char_boundary(i) {
            continue;
        }
        if s[i..].starts_with(|c: char| c.is_ascii_digit()) {
            reach[i + 1] = true;
        }
        for w in lists.iter().flat_map(|l| l.iter()) {
            if s[i..].starts_with(w.as_str()) {
                reach[i + w.len()] = true;
            }
        }
    }
    reach[s.len()]
}

/// `name` found in `text`, both folded: the text before and after it.
fn around<'t>(text: &'t str, name: &str) -> Option<(&'t str, &'t str)> {
    let at = text.find(name)?;
    Some((&text[..at], &text[at + name.len()..]))
}

/// A mailing list that rewrites From for DMARC writes "NAME via LIST": the
/// name is the original sender's.
pub fn without_via(display: &str) -> &str {
    match display.rfind(" via ") {
        Some(at) if at > 0 => display[..at].trim_end(),
        _ => display,
    }
}

/// Text with every closed bracketed group (`【期限迫る】`, `[SPAM]`) taken
/// out: notices in brackets may say anything before the sender's name. The
/// words of a group still open (the brand inside it) stay, so that
/// "[Lockergnome Apple Core]" is not read as a lead into "Apple".
fn without_groups(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut open: Vec<String> = Vec::new();
    for c in s.chars() {
        if OPENERS.contains(&c) {
            open.push(String::new());
        } else if CLOSERS.contains(&c) && !open.is_empty() {
            open.pop();
        } else if let Some(group) = open.last_mut() {
            group.push(c);
        } else {
            out.push(c);
        }
    }
    for group in open {
        out.push(' ');
        out.push_str(&group);
    }
    out
}

/// Whether a display name that names `brand_name` speaks as the brand:
/// everything else in it is a department, a company form or a notice.
/// A name the text does not literally hold (a domain shown, a folded
/// variant) is taken as a claim, as before.
/// `own_names` are all the brand's names: "えきねっと（JR東日本）" names it
/// twice.
pub fn display_name_claims(display: &str, brand_name: &str, own_names: &[&str]) -> bool {
    let (text, name) = (fold(without_via(display)), fold(brand_name));
    let own = folded(own_names);
    let words: [&[String]; 2] = [sender_words(), &own];
    match around(&text, &name) {
        Some((before, after)) => {
            (made_of(before, &words) && made_of(after, &words))
                || (!super::is_everyday_name(&name) && short_latin_name(before, after))
        }
        None => true,
    }
}

/// Words that make a sender's name a title about the brand rather than
/// the brand's own: newsletters, fan sites, news.
const TALKS_ABOUT: &[&str] = &[
    "about",
    "on",
    "for",
    "with",
    "vs",
    "news",
    "watch",
    "insider",
    "newsletter",
    "magazine",
    "blog",
    "weekly",
    "daily",
    "digest",
    "report",
    "review",
    "reviews",
    "tips",
    "fan",
    "fans",
    "forum",
    "user",
    "users",
    "group",
    "club",
    "world",
    "today",
    "times",
    "journal",
    "unofficial",
    "via",
];

/// Whether the words around a distinctive brand name (not an everyday word)
/// make a short Latin-script sender name: "Correios SA", "Relacionamento
/// Bradesco", "MetaMask App". Departments, company forms and countries are
/// named in every language; what a newsletter about the brand adds is its
/// own title. Names in Japanese script keep to the listed words.
fn short_latin_name(before: &str, after: &str) -> bool {
    let separate = |edge: Option<char>| edge.is_none_or(|c| !c.is_alphanumeric());
    if !separate(before.chars().next_back()) || !separate(after.chars().next()) {
        return false;
    }
    let words: Vec<&str> = before
        .split(|c: char| !c.is_alphanumeric())
        .chain(after.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .collect();
    let latin = words.iter().all(|w| {
        w.chars()
            .all(|c| c.is_ascii() || ('\u{c0}'..='\u{24f}').contains(&c))
    });
    latin && words.len() <= 3 && !words.iter().any(|w| TALKS_ABOUT.contains(w))
}

/// Whether a subject that names `brand_name` speaks as the brand: the brand
/// set off in brackets, leading the subject (after notices such as 【重要】),
/// followed by a word of its own service (`より`, `会員`, `account`), or
/// after "your". A forwarded subject speaks for someone else.
/// `own_names` are the brand's names: the first the subject holds literally
/// is judged; one it holds only in a folded form (spaced out, look-alike
/// letters) is written to evade, and taken as a claim.
pub fn subject_claims(subject: &str, own_names: &[&str]) -> bool {
    let text = fold(subject);
    let trimmed = text.trim_start();
    if ["fwd:", "fw:", "転送:", "tr:", "wg:"]
        .iter()
        .any(|p| trimmed.starts_with(p))
    {
        return false;
    }
    let longest = own_names
        .iter()
        .map(|n| fold(n))
        .filter(|n| !n.is_empty() && text.contains(n.as_str()))
        .max_by_key(String::len);
    let Some((before, after)) = longest.and_then(|n| around(&text, &n)) else {
        return true;
    };
    let (b, a) = (before.trim_end(), after.trim_start());
    let bracketed = b.ends_with(OPENERS) && a.starts_with(CLOSERS);
    // A subject that is the brand and nothing after it ("Trust Wallet")
    // is a sender's name, not a headline.
    let followed = a.is_empty()
        || a.starts_with([':', '：', '|', '｜', '-', '－', '/'])
        || subject_followers()
            .iter()
            .any(|w| a.starts_with(w.as_str()));
    // Leading: nothing before the brand but notices, brackets and "your".
    let leading = made_of(&without_groups(b), &[subject_leads()]);
    // A headline starts with the brand too ("Microsoft reveals …"): in a
    // Latin-script subject a leading brand also needs a notice or "your"
    // before it, or a colon or one of its own words after it. Japanese
    // subjects lead with the sender's name, in whatever script it is.
    // "… from Amazon" names who is writing.
    let from = b.ends_with(" from") || b == "from";
    let latin = text.is_ascii();
    from || bracketed || (leading && (followed || !latin || !b.is_empty()))
}

/// Latin-script words that, right before the brand, open a greeting.
const GREETING_OPENERS: &[&str] = &["dear", "valued", "hello", "hi", "esteemed", "attention"];

/// What follows the brand in a greeting to its customers.
const GREETING_FOLLOWERS: &[&str] = &[
    "user",
    "users",
    "customer",
    "customers",
    "member",
    "members",
    "client",
    "clients",
    "cardholder",
    "account holder",
    "wallet user",
    "をご利用のお客様",
    "ご利用のお客様",
    "のお客様",
    "会員の皆様",
    "会員様",
    "カード会員",
];

/// Words for the customer that come before the brand ("Prezado cliente
/// Bradesco", "Estimado cliente Santander").
const CUSTOMER_BEFORE: &[&str] = &["cliente", "usuario", "usuário", "kunde", "client"];

/// Whether the opening of a body greets the reader as the brand's customer:
/// "Dear MetaMask user", "Prezado cliente Bradesco",
/// 「三井住友カードをご利用のお客様へ」, 「いつも楽天カードをご利用いただき」.
/// The brand's own notices open this way; a shop that accepts the brand
/// writes "you can pay with PayPay", not to PayPay's customers.
pub fn greeting_claims(head: &str, own_names: &[&str]) -> bool {
    let text = fold(head);
    own_names
        .iter()
        .map(|n| fold(n))
        .filter(|n| !n.is_empty())
        .any(|name| {
            text.match_indices(name.as_str()).any(|(at, _)| {
                let (b, a) = (text[..at].trim_end(), text[at + name.len()..].trim_start());
                let last = b
                    .rsplit(|c: char| !c.is_alphanumeric())
                    .find(|w| !w.is_empty())
                    .unwrap_or("");
                // A Latin greeting ends at the follower ("Dear MetaMask
                // user, …"), not in a name of its own ("… users group").
                let followed = GREETING_FOLLOWERS.iter().any(|w| {
                    a.strip_prefix(w).is_some_and(|rest| {
                        !w.is_ascii() || !rest.trim_start().starts_with(char::is_alphanumeric)
                    })
                });
                (GREETING_OPENERS.contains(&last) && followed)
                    || CUSTOMER_BEFORE.contains(&last)
                    || (b.ends_with("いつも") && a.starts_with("をご利用いただき"))
                    || (!a.is_ascii() && followed && a.starts_with(['を', 'ご', 'の', '会', 'カ']))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_names_that_speak_as_the_brand() {
        for (d, n) in [
            ("三井住友カード株式会社", "三井住友カード"),
            ("Amazon Customer Service", "Amazon"),
            ("amazon.co.jp", "Amazon.co.jp"),
            ("ＡＭＡＺＯＮ", "Amazon"),
            ("イオンカード お客様センター", "イオンカード"),
            ("Apple ID Support", "Apple"),
            ("楽天カード株式会社 via Industrypack-devel", "楽天カード"),
            ("Amazonからの お知らせ", "Amazon"),
            ("MyJCB", "MyJCB"),
        ] {
            assert!(display_name_claims(d, n, &[n]), "{d}");
        }
        for (d, n) in [
            ("Lockergnome Apple Core", "Apple"),
            ("TechNews about Microsoft", "Microsoft"),
        ] {
            assert!(!display_name_claims(d, n, &[n]), "{d}");
        }
    }

    #[test]
    fn greetings_to_the_brands_customers() {
        for (t, n) in [
            ("Dear MetaMask user, your wallet", "MetaMask"),
            ("Dear valued Trust Wallet customer,", "Trust Wallet"),
            ("Prezado cliente Bradesco, seus pontos", "Bradesco"),
            ("三井住友カードをご利用のお客様へ", "三井住友カード"),
            (
                "いつも楽天カードをご利用いただきありがとうございます",
                "楽天カード",
            ),
        ] {
            assert!(greeting_claims(t, &[n]), "{t}");
        }
        for (t, n) in [
            ("PayPayをご利用いただけます", "PayPay"),
            ("Dear customer, you can now pay with PayPal", "PayPal"),
            ("Dear Microsoft users group members", "Microsoft"),
            ("Hi Apple fans", "Apple"),
        ] {
            assert!(!greeting_claims(t, &[n]), "{t}");
        }
    }

    #[test]
    fn subjects_that_speak_as_the_brand() {
        for (s, n) in [
            ("【三井住友カード】決済完了のお知らせ", "三井住友カード"),
            ("【重要】三井住友カードご利用確認", "三井住友カード"),
            ("三井住友カードより重要なお知らせ", "三井住友カード"),
            ("えきねっと会員情報の確認", "えきねっと"),
            (
                "【期限迫る】ETCマイレージポイントをご確認ください",
                "ETCマイレージ",
            ),
            ("[SPAM] 「重要」Ekinetユーザーポリシー", "Ekinet"),
            ("Amazon.co.jpでのご注文の確認", "Amazon.co.jp"),
            ("[Amazon] Your order", "Amazon"),
            ("Amazon: action required", "Amazon"),
            ("Your Apple ID has been locked", "Apple"),
            ("Microsoft account security alert", "Microsoft"),
            ("Important notice from PayPal", "PayPal"),
            ("Trust Wallet", "Trust Wallet"),
        ] {
            assert!(subject_claims(s, &[n]), "{s}");
        }
        for (s, n) in [
            ("Microsoft reveals media XP details", "Microsoft"),
            (
                "CNET NEWS.COM: Microsoft reveals media XP details",
                "Microsoft",
            ),
            (
                "How Microsoft plans to take over your living room",
                "Microsoft",
            ),
            ("Fwd: Your Amazon.com order #123", "Amazon.com"),
            (
                "Bridging the gap between Liberty and Microsoft (Tech Update)",
                "Microsoft",
            ),
            ("MS/Apple: Can this marriage be saved?", "Apple"),
            ("[Lockergnome Apple Core]  Skip Content", "Apple"),
            ("An open letter to Microsoft", "Microsoft"),
            ("Re: Microsoft reveals media XP details", "Microsoft"),
        ] {
            assert!(!subject_claims(s, &[n]), "{s}");
        }
    }
}
