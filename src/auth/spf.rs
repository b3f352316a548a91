//! SPF (RFC 7208) with viaspf, asking DNS through the daemon's one
//! resolver (the hickory resolver inside mail-auth's `MessageAuthenticator`)
//! and the shared TTL-honouring [`Caches`], as DKIM, DMARC and ARC do.
//!
//! mail-auth 0.13's SPF fails 56 scenarios of the RFC 7208 suite, several
//! of them turning a sender's broken record into temperror (and so into
//! tempfails of its mail); viaspf passes all but those the suite's own
//! drivers fail (README, "Conformance").

use crate::auth::dns::Caches;
use mail_auth::hickory_resolver::lookup::Lookup;
use mail_auth::hickory_resolver::net::{DnsError, NetError};
use mail_auth::hickory_resolver::proto::rr::{Name as DnsName, RData, RecordType};
use mail_auth::hickory_resolver::TokioResolver;
use mail_auth::{ResolverCache, SpfResult};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};
use viaspf::lookup::{Lookup as SpfLookup, LookupError, LookupResult, Name};
use viaspf::{Config, DomainName, Sender};

struct Dns<'r> {
    resolver: &'r TokioResolver,
    caches: &'r Caches,
}

fn lookup_error(e: NetError) -> LookupError {
    match e {
        // NXDOMAIN and NODATA alike: RFC 7208 §4.6.4 counts both as void.
        NetError::Dns(DnsError::NoRecordsFound(_)) => LookupError::NoRecords,
        NetError::Timeout => LookupError::Timeout,
        other => LookupError::Dns(Some(Box::new(other))),
    }
}

/// How long an answer without records is remembered by our cache (the
/// resolver's own cache keeps it for its SOA minimum anyway).
const NEGATIVE_TTL: Duration = Duration::from_secs(60);

impl Dns<'_> {
    /// The answers for `key` from the shared cache, or from DNS (then
    /// cached until the answer's TTL runs out).
    async fn cached(
        &self,
        key: String,
        ask: impl std::future::Future<Output = Result<Lookup, NetError>>,
    ) -> LookupResult<Vec<RData>> {
        let found = match self.caches.spf.get(key.as_str()) {
            Some(found) => found,
            None => {
                let (found, until): (Arc<[RData]>, Instant) = match ask.await {
                    Ok(l) => (
                        l.answers().iter().map(|r| r.data.clone()).collect(),
                        l.valid_until(),
                    ),
                    Err(NetError::Dns(DnsError::NoRecordsFound(_))) => {
                        (Arc::from([]), Instant::now() + NEGATIVE_TTL)
                    }
                    Err(e) => return Err(lookup_error(e)),
                };
                self.caches.spf.insert(key.into(), found.clone(), until);
                found
            }
        };
        if found.is_empty() {
            return Err(LookupError::NoRecords);
        }
        Ok(found.to_vec())
    }

    async fn records(&self, name: &Name, t: RecordType) -> LookupResult<Vec<RData>> {
        // Labels as the record spelled them: RFC 7208 lets a target name
        // carry bytes (`:`, `/`, spaces from macros) that hostnames cannot.
        let labels = name
            .as_str()
            .trim_end_matches('.')
            .split('.')
            .map(str::as_bytes);
        let mut dns = DnsName::from_labels(labels).map_err(|_| LookupError::NoRecords)?;
        dns.set_fqdn(true);
        let key = format!(
            "{t}:{}.",
            name.as_str().trim_end_matches('.').to_ascii_lowercase()
        );
        self.cached(key, self.resolver.lookup(dns, t)).await
    }
}

#[async_trait::async_trait]
impl SpfLookup for Dns<'_> {
    async fn lookup_a<'l, 'a>(&'l self, name: &'a Name) -> LookupResult<Vec<Ipv4Addr>> {
        let rs = self.records(name, RecordType::A).await?;
        Ok(rs
            .iter()
            .filter_map(|r| match r {
                RData::A(a) => Some(a.0),
                _ => None,
            })
            .collect())
    }

    async fn lookup_aaaa<'l, 'a>(&'l self, name: &'a Name) -> LookupResult<Vec<Ipv6Addr>> {
        let rs = self.records(name, RecordType::AAAA).await?;
        Ok(rs
            .iter()
            .filter_map(|r| match r {
                RData::AAAA(a) => Some(a.0),
                _ => None,
            })
            .collect())
    }

    async fn lookup_mx<'l, 'a>(&'l self, name: &'a Name) -> LookupResult<Vec<Name>> {
        let rs = self.records(name, RecordType::MX).await?;
        let mut mx: Vec<(u16, Name)> = rs
            .iter()
            .filter_map(|r| match r {
                RData::MX(mx) => Some((mx.preference, dns_name(&mx.exchange)?)),
                _ => None,
            })
            .collect();
        mx.sort_by_key(|(p, _)| *p);
        Ok(mx.into_iter().map(|(_, n)| n).collect())
    }

    async fn lookup_txt<'l, 'a>(&'l self, name: &'a Name) -> LookupResult<Vec<String>> {
        let rs = self.records(name, RecordType::TXT).await?;
        Ok(rs
            .iter()
            .filter_map(|r| match r {
                RData::TXT(t) => Some(
                    t.txt_data
                        .iter()
                        .map(|s| String::from_utf8_lossy(s))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect())
    }

    async fn lookup_ptr<'l>(&'l self, ip: IpAddr) -> LookupResult<Vec<Name>> {
        let found = self
            .cached(format!("PTR:{ip}"), self.resolver.reverse_lookup(ip))
            .await?;
        Ok(found
            .iter()
            .filter_map(|r| match r {
                RData::PTR(p) => dns_name(&p.0),
                _ => None,
            })
            .collect())
    }
}

/// A DNS name as SPF compares names: without the root's trailing dot.
fn dns_name(n: &DnsName) -> Option<Name> {
    // Unescaped labels, as `records` sends them.
    let labels: Vec<String> = n
        .iter()
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    Name::new(&labels.join(".")).ok()
}

/// The SPF result for `sender` (an address, or the HELO name when the
/// reverse path is null). A sender or HELO that is no domain name has
/// none (RFC 7208 §2.3, §4.3).
pub(crate) async fn check(
    resolver: &TokioResolver,
    caches: &Caches,
    ip: IpAddr,
    helo: &str,
    sender: &str,
) -> SpfResult {
    let sender = if sender.is_empty() {
        Sender::from_domain(helo)
    } else {
        // A local part SMTP would not take (empty, spaces) still leaves the
        // domain to check; RFC 7208 §4.3 puts "postmaster" in for none.
        Sender::new(sender).or_else(|e| match sender.rsplit_once('@') {
            Some((_, domain)) => Sender::new(&format!("postmaster@{domain}")),
            None => Err(e),
        })
    };
    let Ok(sender) = sender else {
        return SpfResult::None;
    };
    let helo = DomainName::new(helo).ok();
    let config = Config::default();
    let r = viaspf::evaluate_sender(
        &Dns { resolver, caches },
        &config,
        ip,
        &sender,
        helo.as_ref(),
    )
    .await;
    match r.spf_result {
        viaspf::SpfResult::None => SpfResult::None,
        viaspf::SpfResult::Neutral => SpfResult::Neutral,
        viaspf::SpfResult::Pass => SpfResult::Pass,
        viaspf::SpfResult::Fail(_) => SpfResult::Fail,
        viaspf::SpfResult::Softfail => SpfResult::SoftFail,
        viaspf::SpfResult::Temperror => SpfResult::TempError,
        viaspf::SpfResult::Permerror => SpfResult::PermError,
    }
}
