//! RFC 9989's DNS Tree Walk (§4.10) and the Organizational Domain it
//! selects (§4.10.2): where a domain's policy is published and where its
//! organization ends, found in the DNS rather than in a copy of the Public
//! Suffix List.

use super::record::{Psd, Record};
use crate::auth::dns::{self, Answer, Caches, DnsTrouble};
use mail_auth::hickory_resolver::proto::rr::RecordType;
use mail_auth::hickory_resolver::TokioResolver;

/// §4.10: however many labels a name has, a walk costs at most this many
/// queries (the name itself, then seven labels and fewer).
pub const MAX_QUERIES: usize = 8;

/// The resolver and the cache every walk of a message goes through.
#[derive(Clone, Copy)]
pub struct Dns<'a> {
    pub resolver: &'a TokioResolver,
    pub caches: &'a Caches,
}

/// A DMARC Policy Record and the domain it was published for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub domain: String,
    pub record: Record,
}

/// The names a walk from `start` asks about, in order: `start` itself,
/// then (§4.10 step 4) its parent, or its last seven labels when it has
/// eight or more, then one label fewer each time down to the top label.
pub fn targets(start: &str) -> Vec<String> {
    let labels: Vec<&str> = start.split('.').filter(|l| !l.is_empty()).collect();
    let mut out = vec![labels.join(".")];
    let below = labels.len().saturating_sub(1).min(MAX_QUERIES - 1);
    for n in (1..=below).rev() {
        out.push(labels[labels.len() - n..].join("."));
    }
    out
}

impl Dns<'_> {
    /// The one DMARC Policy Record at `domain`, if there is exactly one
    /// (§4.10 step 2: several at one name count as none).
    pub async fn record_at(&self, domain: &str) -> Result<Option<Record>, DnsTrouble> {
        let name = format!("_dmarc.{domain}");
        let answer = dns::lookup(self.resolver, &self.caches.dmarc, &name, RecordType::TXT).await?;
        let Answer::Records(texts) = answer else {
            return Ok(None);
        };
        let mut records = texts.iter().filter_map(|t| Record::parse(t));
        let first = records.next();
        Ok(match records.next() {
            Some(_) => None,
            None => first,
        })
    }

    /// The records a walk from `start` finds, longest name first; it stops
    /// at a record carrying `psd=y` or `psd=n` (§4.10 steps 2 and 6).
    pub async fn walk(&self, start: &str) -> Result<Vec<Found>, DnsTrouble> {
        self.walk_from(start, Vec::new(), false).await
    }

    /// [`Dns::walk`] when the record at `start` itself was already asked
    /// for (policy discovery asks for it first, alone).
    pub async fn walk_on(
        &self,
        start: &str,
        at_start: Option<Record>,
    ) -> Result<Vec<Found>, DnsTrouble> {
        let found = at_start
            .map(|record| Found {
                domain: start.to_string(),
                record,
            })
            .into_iter()
            .collect();
        self.walk_from(start, found, true).await
    }

    async fn walk_from(
        &self,
        start: &str,
        mut found: Vec<Found>,
        start_asked: bool,
    ) -> Result<Vec<Found>, DnsTrouble> {
        for (i, domain) in targets(start).into_iter().enumerate() {
            if found.last().is_some_and(|f| f.record.psd != Psd::Unknown) {
                break;
            }
            if i == 0 && start_asked {
                continue;
            }
            if let Some(record) = self.record_at(&domain).await? {
                found.push(Found { domain, record });
            }
        }
        Ok(found)
    }

    /// Whether DNS says `domain` does not exist (RFC 9989 §3.2.13: NXDOMAIN,
    /// which per RFC 8020 holds for every type, so one query answers it).
    pub async fn does_not_exist(&self, domain: &str) -> Result<bool, DnsTrouble> {
        let answer = dns::lookup(self.resolver, &self.caches.dmarc, domain, RecordType::A).await?;
        Ok(answer == Answer::NoSuchName)
    }
}

/// §4.10.2, over what a walk from `start` found (longest first): the
/// domain of a `psd=n` record; else the domain one label below a `psd=y`
/// record other than `start`'s own; else the record with the fewest
/// labels; and `start` itself when the walk found nothing.
pub fn organizational(start: &str, found: &[Found]) -> String {
    for f in found {
        match f.record.psd {
            Psd::No => return f.domain.clone(),
            Psd::Yes if f.domain != start => return one_below(start, &f.domain),
            _ => {}
        }
    }
    found
        .last()
        .map_or_else(|| start.to_string(), |f| f.domain.clone())
}

/// The name under `upper` on the way to `start`: `b.example` for
/// `a.b.example` below `example`.
fn one_below(start: &str, upper: &str) -> String {
    let labels: Vec<&str> = start.split('.').collect();
    let keep = (upper.split('.').count() + 1).min(labels.len());
    labels[labels.len() - keep..].join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_asks_at_most_eight_names() {
        assert_eq!(
            targets("a.mail.example.com"),
            [
                "a.mail.example.com",
                "mail.example.com",
                "example.com",
                "com"
            ]
        );
        assert_eq!(targets("com"), ["com"]);
        // §4.10's own example: eight queries for fourteen labels.
        assert_eq!(
            targets("a.b.c.d.e.f.g.h.i.j.mail.example.com"),
            [
                "a.b.c.d.e.f.g.h.i.j.mail.example.com",
                "g.h.i.j.mail.example.com",
                "h.i.j.mail.example.com",
                "i.j.mail.example.com",
                "j.mail.example.com",
                "mail.example.com",
                "example.com",
                "com"
            ]
        );
        let eight = "a.b.c.d.e.f.g.h";
        assert_eq!(targets(eight).len(), 8);
        assert_eq!(targets(eight)[1], "b.c.d.e.f.g.h");
    }

    fn found(domain: &str, record: &str) -> Found {
        Found {
            domain: domain.into(),
            record: Record::parse(record).unwrap(),
        }
    }

    #[test]
    fn the_organizational_domain_follows_section_4_10_2() {
        let start = "a.mail.example.com";
        // The record highest up, not the first found.
        let walk = [
            found("mail.example.com", "v=DMARC1; p=reject"),
            found("example.com", "v=DMARC1; p=none"),
        ];
        assert_eq!(organizational(start, &walk), "example.com");
        let walk = [found("mail.example.com", "v=DMARC1; p=reject; psd=n")];
        assert_eq!(organizational(start, &walk), "mail.example.com");
        let walk = [found("com", "v=DMARC1; p=reject; psd=y")];
        assert_eq!(organizational(start, &walk), "example.com");
        // psd=y at the start of the walk: rule 2 skips it, rule 3 takes it.
        let walk = [found("bank.example", "v=DMARC1; p=reject; psd=y")];
        assert_eq!(organizational("bank.example", &walk), "bank.example");
        assert_eq!(organizational(start, &[]), start);
    }
}
