//! One comparable form per link: lower-case ASCII host, registrable
//! domain, userinfo and a decoded, lower-cased path for keyword matching.

use super::{Link, LinkKind, Origin};
use url::{Host, Url};

/// The normalised form of an http(s) URL; other schemes are not followed.
pub fn normalize(u: &Url, kind: LinkKind, origin: Origin) -> Option<Link> {
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    let (host, ip) = match u.host()? {
        Host::Domain(d) => (d.trim_end_matches('.').to_ascii_lowercase(), false),
        Host::Ipv4(a) => (a.to_string(), true),
        Host::Ipv6(a) => (format!("[{a}]"), true),
    };
    // A host no DNS name can have (`amazon.co=`, left by an undecoded
    // quoted-printable line break) leads nowhere; judging it as a host
    // only makes lookalikes of text debris.
    // Nor does one longer than DNS allows (RFC 1035: 253 characters, 63 a
    // label); every suffix of such a host was looked up and hashed, which
    // made `https://a.a.a.…` quadratic.
    let dns_chars = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
    let dns_name = crate::vocab::domain::is_plausible_host(&host) && host.chars().all(dns_chars);
    if host.is_empty() || (!ip && !dns_name) {
        return None;
    }
    let userinfo = if u.username().is_empty() && u.password().is_none() {
        None
    } else {
        let mut s = pct_decode(u.username());
        if let Some(p) = u.password() {
            s.push(':');
            s.push_str(&pct_decode(p));
        }
        Some(s)
    };
    let mut path = pct_decode(u.path());
    if let Some(q) = u.query() {
        path.push('?');
        path.push_str(&pct_decode(q));
    }
    path.make_ascii_lowercase();
    let registrable = if ip {
        None
    } else {
        crate::vocab::domain::registrable(&host)
    };
    Some(Link {
        url: u.as_str().to_string(),
        host,
        ip,
        registrable,
        userinfo,
        path,
        text: None,
        kind,
        origin,
        returned: false,
        image: None,
    })
}

fn pct_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Option<Link> {
        normalize(&Url::parse(s).unwrap(), LinkKind::Bare, Origin::Text)
    }

    #[test]
    fn host_registrable_and_path() {
        let l = norm("https://Login.Bank.Example.co.jp./A%2Fb?Q=%E3%83%AD").unwrap();
        assert_eq!(l.host, "login.bank.example.co.jp");
        assert_eq!(l.registrable.as_deref(), Some("example.co.jp"));
        // Decoded for keyword matching: an encoded slash reads as one.
        assert_eq!(l.path, "/a/b?q=ロ");
        assert!(!l.ip && l.userinfo.is_none());
    }

    #[test]
    fn addresses_and_userinfo() {
        let l = norm("http://user%40bank.example:pw@192.0.2.1/x").unwrap();
        assert!(l.ip);
        assert_eq!(l.host, "192.0.2.1");
        assert_eq!(l.registrable, None);
        assert_eq!(l.userinfo.as_deref(), Some("user@bank.example:pw"));
        assert_eq!(norm("http://[2001:db8::1]/").unwrap().host, "[2001:db8::1]");
    }

    #[test]
    fn only_http_and_https_are_followed() {
        assert!(norm("mailto:a@b.example").is_none());
        assert!(norm("ftp://files.example/").is_none());
    }

    #[test]
    fn hosts_no_dns_name_can_have_are_no_links() {
        // Looking up each suffix of this made one message cost minutes.
        assert!(norm(&format!("https://{}example/", "a.".repeat(20_000))).is_none());
        assert!(norm(&format!("https://{}.example/", "a".repeat(64))).is_none());
        assert!(norm(&format!("https://{}.example/", "a".repeat(63))).is_some());
    }
}
