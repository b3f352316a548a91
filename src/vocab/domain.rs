//! Domain names as the analysis compares them: IDNA forms and registrable
//! domains from the Public Suffix List (compiled into the `psl` crate, so no
//! list file has to be deployed or kept fresh at run time).

/// Lower-case ASCII (A-label) form, without a trailing dot.
/// `None` when the name is not a valid IDNA domain.
pub fn to_ascii(host: &str) -> Option<String> {
    let h = host.trim().trim_end_matches('.');
    // No DNS name is longer (253 characters, each at most 4 bytes as
    // UTF-8); a longer one costs IDNA work for nothing.
    if h.is_empty() || h.len() > 253 * 4 {
        return None;
    }
    idna::domain_to_ascii(h).ok().filter(|s| !s.is_empty())
}

/// Unicode (U-label) form, for display and confusable comparison.
pub fn to_unicode(host: &str) -> String {
    idna::domain_to_unicode(host).0
}

/// The registrable domain (public suffix plus one label) of an ASCII host,
/// e.g. `mail.example.co.jp` → `example.co.jp`. Falls back to the last two
/// labels for names under suffixes the list does not know (such as `.test`).
pub fn registrable(ascii_host: &str) -> Option<String> {
    let h = ascii_host.trim_end_matches('.');
    if h.is_empty() || h.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    if let Some(d) = psl::domain(h.as_bytes()) {
        if d.suffix().is_known() {
            return std::str::from_utf8(d.as_bytes()).ok().map(str::to_string);
        }
    }
    let labels: Vec<&str> = h.split('.').collect();
    if labels.len() < 2 {
        return None;
    }
    Some(labels[labels.len() - 2..].join("."))
}

/// The public suffix of an ASCII host (`co.jp` for `example.co.jp`).
pub fn suffix(ascii_host: &str) -> Option<String> {
    let h = ascii_host.trim_end_matches('.');
    psl::suffix(h.as_bytes())
        .filter(|s| s.is_known())
        .and_then(|s| std::str::from_utf8(s.as_bytes()).ok().map(str::to_string))
        .or_else(|| h.rsplit('.').next().map(str::to_string))
}

/// Domain part of an address (`user@Example.COM` → `example.com`), ASCII form.
pub fn of_address(addr: &str) -> Option<String> {
    let a = addr.trim().trim_start_matches('<').trim_end_matches('>');
    let (_, d) = a.rsplit_once('@')?;
    to_ascii(d)
}

/// Within DNS limits: at most 253 characters, labels of 1 to 63.
pub fn is_plausible_host(ascii_host: &str) -> bool {
    ascii_host.len() <= 253
        && ascii_host
            .split('.')
            .all(|l| !l.is_empty() && l.len() <= 63)
}

/// Whether `host` is `domain` or a subdomain of it (both ASCII, lower-case).
pub fn is_within(host: &str, domain: &str) -> bool {
    host == domain
        || (host.len() > domain.len()
            && host.ends_with(domain)
            && host.as_bytes()[host.len() - domain.len() - 1] == b'.')
}

/// Whether `host` is an entry of `set` or under one, without allocating:
/// for lists of platforms whose every subdomain is someone's site.
pub fn under_any(host: &str, set: &std::collections::HashSet<String>) -> bool {
    if set.is_empty() {
        return false;
    }
    let mut h = host;
    loop {
        if set.contains(h) {
            return true;
        }
        match h.find('.') {
            Some(i) => h = &h[i + 1..],
            None => return false,
        }
    }
}

/// Whether `host` itself or its registrable domain is listed: for lists of
/// organisations (webmail providers, allowlisted senders) named by domain.
pub fn listed(host: &str, contains: impl Fn(&str) -> bool) -> bool {
    contains(host) || registrable(host).is_some_and(|r| contains(&r))
}

/// Lower-case A-label form of a domain as written in a policy, or why it is not one.
pub fn normalize_domain(raw: &str) -> Result<String, String> {
    let d = raw.trim().trim_end_matches('.');
    if d.is_empty() {
        return Err("empty domain".into());
    }
    let ascii =
        idna::domain_to_ascii(d).map_err(|_| format!("`{raw}` is not a valid domain name"))?;
    if !ascii.contains('.') {
        return Err(format!(
            "`{raw}` has no dot: give a registrable domain such as example.co.jp"
        ));
    }
    Ok(ascii)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrable_domains() {
        assert_eq!(
            registrable("www.example.co.jp").as_deref(),
            Some("example.co.jp")
        );
        assert_eq!(
            registrable("a.b.example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(registrable("mail.bank.test").as_deref(), Some("bank.test"));
        assert_eq!(registrable("192.0.2.1"), None);
        assert_eq!(suffix("example.co.jp").as_deref(), Some("co.jp"));
    }

    #[test]
    fn idna_forms() {
        assert_eq!(
            to_ascii("Bücher.Example").as_deref(),
            Some("xn--bcher-kva.example")
        );
        assert_eq!(to_unicode("xn--bcher-kva.example"), "bücher.example");
        assert_eq!(
            of_address("<User@Example.COM>").as_deref(),
            Some("example.com")
        );
    }

    #[test]
    fn plausible_hosts() {
        assert!(is_plausible_host("mail.example.co.jp"));
        assert!(!is_plausible_host(&"a".repeat(64)));
        assert!(!is_plausible_host(&format!("{}.com", "ab.".repeat(100))));
        assert!(!is_plausible_host("a..b"));
    }

    #[test]
    fn within() {
        assert!(is_within("mail.bank.co.jp", "bank.co.jp"));
        assert!(is_within("bank.co.jp", "bank.co.jp"));
        assert!(!is_within("evilbank.co.jp", "bank.co.jp"));
    }
}
