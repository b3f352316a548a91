//! DNS for authentication: a resolver built from the configuration and
//! bounded caches that honour record TTLs.
//!
//! mail-auth asks its caches before the network and stores answers with
//! their expiry, so one shared [`Caches`] makes repeat senders cost no
//! queries until their records expire. The LRU bound keeps memory flat no
//! matter how many distinct domains mail comes from.

use crate::telemetry::metrics::Metrics;
use lru::LruCache;
use mail_auth::hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::net::{DnsError, NetError};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::hickory_resolver::proto::rr::{Name, RData, RecordType};
use mail_auth::hickory_resolver::TokioResolver;
use mail_auth::{MessageAuthenticator, Parameters, RecordSet, ResolverCache, Txt, MX};
use std::borrow::Borrow;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// An LRU map whose entries also expire at the time the DNS answer allowed.
pub struct TtlCache<K: Hash + Eq, V> {
    inner: Mutex<LruCache<K, (V, Instant)>>,
    kind: &'static str,
    metrics: Option<Arc<Metrics>>,
}

impl<K: Hash + Eq, V> TtlCache<K, V> {
    pub fn new(kind: &'static str, capacity: usize, metrics: Option<Arc<Metrics>>) -> Self {
        TtlCache {
            inner: Mutex::new(LruCache::new(
                NonZeroUsize::new(capacity.max(1)).expect("capacity is at least 1"),
            )),
            kind,
            metrics,
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<K, (V, Instant)>> {
        // A panic while holding the lock cannot leave the map inconsistent
        // (every operation is a single LruCache call), so keep using it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn count(&self, hit: bool) {
        if let Some(m) = &self.metrics {
            m.dns_cache(self.kind, hit);
        }
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for TtlCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut map = self.lock();
        let found = match map.get(name) {
            Some((v, until)) if *until > Instant::now() => Some(v.clone()),
            Some(_) => {
                map.pop(name);
                None
            }
            None => None,
        };
        drop(map);
        self.count(found.is_some());
        found
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().pop(name).map(|(v, _)| v)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        if valid_until > Instant::now() {
            self.lock().put(key, (value, valid_until));
        }
    }
}

/// One cache per record type, shared by every connection.
pub struct Caches {
    pub txt: TtlCache<Box<str>, Txt>,
    pub mx: TtlCache<Box<str>, RecordSet<MX>>,
    pub ipv4: TtlCache<Box<str>, RecordSet<Ipv4Addr>>,
    pub ipv6: TtlCache<Box<str>, RecordSet<Ipv6Addr>>,
    pub ptr: TtlCache<IpAddr, RecordSet<Box<str>>>,
    /// SPF's answers as DNS gave them, by `TYPE:name.` (`TXT:example.com.`,
    /// `PTR:192.0.2.1`); an empty set is a name with no such records.
    pub spf: TtlCache<Box<str>, Arc<[RData]>>,
    /// DMARC's answers by `TYPE:name.` (`TXT:_dmarc.example.com.`,
    /// `A:ghost.example.com.`), NXDOMAIN kept apart from an empty answer:
    /// RFC 9989's `np` applies only to names that do not exist.
    pub dmarc: TtlCache<Box<str>, Answer>,
}

/// What DNS said about one name and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// NXDOMAIN: neither the name nor anything below it exists (RFC 8020).
    NoSuchName,
    /// The name exists; the records of the type asked, as text (TXT
    /// strings joined per record, RFC 9989 §4.5), possibly none.
    Records(Arc<[String]>),
}

/// A lookup that got no answer (timeout, SERVFAIL, refused): the caller
/// cannot tell whether records exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsTrouble(pub String);

/// `name` of type `t` from `cache`, or from DNS (then cached until the
/// answer's TTL, or [`NEGATIVE_MIN_TTL`] for an answer without records).
pub async fn lookup(
    resolver: &TokioResolver,
    cache: &TtlCache<Box<str>, Answer>,
    name: &str,
    t: RecordType,
) -> Result<Answer, DnsTrouble> {
    let fqdn = format!("{}.", name.trim_end_matches('.').to_ascii_lowercase());
    let key: Box<str> = format!("{t}:{fqdn}").into();
    if let Some(found) = cache.get(&key) {
        return Ok(found);
    }
    // A name DNS cannot carry (an empty or over-long label) has no records.
    let Ok(dns_name) = Name::from_ascii(&fqdn) else {
        return Ok(Answer::NoSuchName);
    };
    let (found, until) = match resolver.lookup(dns_name, t).await {
        Ok(l) => (Answer::Records(texts(&l, t)), l.valid_until()),
        Err(NetError::Dns(DnsError::NoRecordsFound(none))) => {
            let found = match none.response_code {
                ResponseCode::NXDomain => Answer::NoSuchName,
                _ => Answer::Records(Arc::from([])),
            };
            (found, Instant::now() + NEGATIVE_MIN_TTL)
        }
        Err(e) => return Err(DnsTrouble(e.to_string())),
    };
    cache.insert(key, found.clone(), until);
    Ok(found)
}

/// The answers of type `t` only: a CNAME on the way is not a record.
fn texts(l: &mail_auth::hickory_resolver::lookup::Lookup, t: RecordType) -> Arc<[String]> {
    l.answers()
        .iter()
        .filter(|r| r.data.record_type() == t)
        .map(|r| match &r.data {
            RData::TXT(t) => t
                .txt_data
                .iter()
                .map(|s| String::from_utf8_lossy(s))
                .collect(),
            other => other.to_string(),
        })
        .collect()
}

pub type Params<'x, P> = Parameters<
    'x,
    P,
    TtlCache<Box<str>, Txt>,
    TtlCache<Box<str>, RecordSet<MX>>,
    TtlCache<Box<str>, RecordSet<Ipv4Addr>>,
    TtlCache<Box<str>, RecordSet<Ipv6Addr>>,
    TtlCache<IpAddr, RecordSet<Box<str>>>,
>;

impl Caches {
    pub fn new(entries: usize, metrics: Option<Arc<Metrics>>) -> Self {
        Caches {
            txt: TtlCache::new("txt", entries, metrics.clone()),
            mx: TtlCache::new("mx", entries / 4, metrics.clone()),
            ipv4: TtlCache::new("a", entries / 4, metrics.clone()),
            ipv6: TtlCache::new("aaaa", entries / 4, metrics.clone()),
            ptr: TtlCache::new("ptr", entries / 4, metrics.clone()),
            spf: TtlCache::new("spf", entries, metrics.clone()),
            dmarc: TtlCache::new("dmarc", entries, metrics),
        }
    }

    pub fn params<P>(&self, p: P) -> Params<'_, P> {
        Parameters::new(p)
            .with_txt_cache(&self.txt)
            .with_mx_cache(&self.mx)
            .with_ipv4_cache(&self.ipv4)
            .with_ipv6_cache(&self.ipv6)
            .with_ptr_cache(&self.ptr)
    }
}

pub use crate::settings::config::Upstream;

pub fn resolver(
    upstream: &Upstream,
    timeout: Duration,
    attempts: usize,
) -> std::io::Result<MessageAuthenticator> {
    match upstream {
        Upstream::System => {
            // Take the servers from the system, but our own timeouts: the
            // per-message time budget depends on them.
            let (cfg, mut opts) = mail_auth::hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            tune(&mut opts, timeout, attempts);
            MessageAuthenticator::new(cfg, opts).map_err(to_io)
        }
        Upstream::Servers(addrs) => {
            let servers = addrs
                .iter()
                .map(|a| {
                    let mut ns = NameServerConfig::udp_and_tcp(a.ip());
                    for c in &mut ns.connections {
                        c.port = a.port();
                    }
                    ns
                })
                .collect();
            let cfg = ResolverConfig::from_name_servers(servers);
            let mut opts = ResolverOpts::default();
            tune(&mut opts, timeout, attempts);
            MessageAuthenticator::new(cfg, opts).map_err(to_io)
        }
    }
}

/// Negative answers are kept at least this long by the resolver's own cache.
///
/// mail-auth caches only records it found, and its DMARC tree walk asks for
/// `_dmarc.<parent>` of every From domain (`_dmarc.co.jp`, `_dmarc.jp`), which
/// almost never exist. A negative answer carrying an SOA is cached for the
/// SOA's minimum anyway; one without (some forwarders and local zones send
/// none) would otherwise cost a query for every message.
const NEGATIVE_MIN_TTL: Duration = Duration::from_secs(60);

fn tune(opts: &mut ResolverOpts, timeout: Duration, attempts: usize) {
    opts.timeout = timeout;
    opts.attempts = attempts;
    opts.negative_min_ttl = Some(NEGATIVE_MIN_TTL);
}

fn to_io(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_with_their_ttl() {
        let c: TtlCache<Box<str>, u32> = TtlCache::new("txt", 10, None);
        c.insert(
            "a.example.".into(),
            1,
            Instant::now() + Duration::from_secs(60),
        );
        c.insert(
            "b.example.".into(),
            2,
            Instant::now() - Duration::from_secs(1),
        );
        assert_eq!(c.get("a.example."), Some(1));
        assert_eq!(c.get("b.example."), None);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn size_is_bounded() {
        let c: TtlCache<Box<str>, u32> = TtlCache::new("txt", 3, None);
        let later = Instant::now() + Duration::from_secs(60);
        for i in 0..10 {
            c.insert(format!("{i}.example.").into(), i, later);
        }
        assert_eq!(c.len(), 3);
        assert_eq!(c.get("9.example."), Some(9));
        assert_eq!(c.get("0.example."), None);
    }
}
