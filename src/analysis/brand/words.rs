//! The word lists the lookalike search judges by: what is too common to be a
//! brand, what phishers glue to one, and how they flatten public suffixes.

/// Names too common to mean a brand when they turn up inside another domain.
pub(super) const GENERIC_NAMES: &[&str] = &[
    "bank", "card", "cards", "mail", "info", "web", "net", "online", "login", "secure", "service",
    "support", "www", "pay", "shop", "news", "home", "group", "japan", "jp",
];

/// Brand names that are everyday words, and so sit inside other words
/// (`line` in `online`, `apple` in `applecore`, `meta` in `metal`): inside
/// a longer label they count only beside a separator, a digit or words
/// phishers add. Other short names (`smbc`, `mufg`) also count beside a
/// couple of random letters (`smbczw`, `bkmufg`), as phishing domains have.
pub(crate) const EVERYDAY_NAMES: &[&str] = &[
    "line",
    "apple",
    "meta",
    "live",
    "office",
    "outlook",
    "windows",
    "visa",
    "chase",
    "target",
    "orange",
    "discover",
    "post",
    "citi",
    "uber",
    "bing",
    "azure",
    "skype",
    "xbox",
    "ledger",
    "caixa",
    "ripple",
    "lido",
    "exodus",
    "proton",
    "norton",
    "phantom",
    "electrum",
    "santander",
];

/// Words phishers glue to a brand name (`smbc-login`, `mufgcard`, `myjcb`).
pub(super) const COMBO_WORDS: &[&str] = &[
    "login",
    "signin",
    "secure",
    "security",
    "verify",
    "verification",
    "account",
    "update",
    "confirm",
    "support",
    "service",
    "info",
    "online",
    "net",
    "web",
    "mail",
    "card",
    "bank",
    "auth",
    "id",
    "member",
    "my",
    "check",
    "center",
    "centre",
    "help",
    "direct",
    "app",
    "official",
    "jp",
    "japan",
    "co",
    "com",
    "www",
    "portal",
    "user",
    "pay",
    "point",
    "vip",
    "notice",
    "alert",
    "safe",
    "customer",
    "top",
    "mobile",
    "access",
    "entry",
    "system",
    "cs",
];

/// Public suffixes as they appear when a phisher flattens them into a label
/// (`smbc-co-jp.com`, `mufgjp.xyz`).
pub(super) const FLAT_SUFFIXES: &[&str] = &["cojp", "nejp", "orjp", "jp", "com", "net"];

/// Whether `s` is nothing but words phishers glue to a brand name, one
/// after another (`card`, `securelogin`, `my`).
pub(super) fn combo_words(s: &str) -> bool {
    if s.is_empty() {
        return false;
    }
    // Prefixes of `s` that are a run of combo words.
    let mut reach = vec![false; s.len() + 1];
    reach[0] = true;
    for i in 0..s.len() {
        if !reach[i] {
            continue;
        }
        for w in COMBO_WORDS {
            if s[i..].starts_with(w) {
                reach[i + w.len()] = true;
            }
        }
    }
    reach[s.len()]
}
