//! The DMARC Policy Record as RFC 9989 §4.7 and §4.8 define it.
//!
//! A record is recognised by its first tag alone (`v=DMARC1`); every other
//! tag that does not parse takes its default, and tags the RFC does not
//! list are ignored, `pct`, `rf` and `ri` among them: RFC 9989 removed
//! them, and records published for RFC 7489 still carry them.

use crate::vocab::auth::OwnerPolicy;

/// `psd=`: whether the record is a Public Suffix Domain's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Psd {
    Yes,
    No,
    #[default]
    Unknown,
}

/// `adkim=` / `aspf=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alignment {
    #[default]
    Relaxed,
    Strict,
}

/// A policy tag as published: absent, one of the three words, or anything
/// else (which §4.10.1 treats differently from absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Request {
    #[default]
    Absent,
    Valid(OwnerPolicy),
    Invalid,
}

/// One DMARC Policy Record, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub p: Request,
    pub sp: Request,
    pub np: Request,
    pub psd: Psd,
    /// `t=y`: the owner is testing; apply one level below (§4.7).
    pub testing: bool,
    pub adkim: Alignment,
    pub aspf: Alignment,
    /// The syntactically valid URIs of `rua=`; reports are not sent, but
    /// §4.10.1 decides on them what a record without a valid `p` means.
    pub rua: Vec<String>,
    pub ruf: Vec<String>,
    pub fo: Option<String>,
}

/// The policies a record asks for, once §4.10.1's fallbacks are applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policies {
    pub p: OwnerPolicy,
    pub sp: OwnerPolicy,
    pub np: OwnerPolicy,
}

impl Record {
    /// The record, if `text` is one: `v=DMARC1` must be its first tag
    /// (the value case-sensitive); otherwise the text is some other TXT.
    pub fn parse(text: &str) -> Option<Record> {
        let mut tags = text.split(';').map(|t| t.trim_matches([' ', '\t']));
        let (name, value) = split_tag(tags.next()?)?;
        if !name.eq_ignore_ascii_case("v") || value != "DMARC1" {
            return None;
        }
        let mut r = Record::default();
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in tags.filter_map(split_tag) {
            let name = name.to_ascii_lowercase();
            // A tag given twice: the first one counts.
            if seen.contains(&name) {
                continue;
            }
            seen.push(name.clone());
            r.set(&name, value);
        }
        Some(r)
    }

    fn set(&mut self, name: &str, value: &str) {
        match name {
            "p" => self.p = request(value),
            "sp" => self.sp = request(value),
            "np" => self.np = request(value),
            "psd" => self.psd = psd(value),
            "t" => self.testing = value.eq_ignore_ascii_case("y"),
            "adkim" => self.adkim = alignment(value),
            "aspf" => self.aspf = alignment(value),
            "rua" => self.rua = uris(value),
            "ruf" => self.ruf = uris(value),
            "fo" => self.fo = Some(value.to_string()),
            // pct, rf, ri (removed by RFC 9989) and unknown tags.
            _ => {}
        }
    }

    /// What the record asks for (§4.10.1): a missing `sp` falls back to
    /// `p`, a missing `np` to `sp`. A record without a valid `p`, or with
    /// an invalid `sp` or `np`, counts as `p=none` when it names at least
    /// one valid `rua` URI, and as no record at all otherwise (`None`).
    pub fn policies(&self) -> Option<Policies> {
        let broken = !matches!(self.p, Request::Valid(_))
            || self.sp == Request::Invalid
            || self.np == Request::Invalid;
        if broken {
            return (!self.rua.is_empty()).then_some(Policies {
                p: OwnerPolicy::None,
                sp: OwnerPolicy::None,
                np: OwnerPolicy::None,
            });
        }
        let given = |r: Request| match r {
            Request::Valid(p) => Some(p),
            _ => None,
        };
        let p = given(self.p).unwrap_or_default();
        let sp = given(self.sp).unwrap_or(p);
        let np = given(self.np).unwrap_or(sp);
        Some(Policies { p, sp, np })
    }
}

/// `name=value` with optional spaces around `=`; a tag without a name of
/// letters or without a value is a syntax error and is dropped (§4.8).
fn split_tag(tag: &str) -> Option<(&str, &str)> {
    let (name, value) = tag.split_once('=')?;
    let name = name.trim_matches([' ', '\t']);
    let value = value.trim_matches([' ', '\t']);
    let letters = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphabetic());
    (letters && !value.is_empty()).then_some((name, value))
}

fn request(value: &str) -> Request {
    match value.to_ascii_lowercase().as_str() {
        "none" => Request::Valid(OwnerPolicy::None),
        "quarantine" => Request::Valid(OwnerPolicy::Quarantine),
        "reject" => Request::Valid(OwnerPolicy::Reject),
        _ => Request::Invalid,
    }
}

fn psd(value: &str) -> Psd {
    match value.to_ascii_lowercase().as_str() {
        "y" => Psd::Yes,
        "n" => Psd::No,
        _ => Psd::Unknown,
    }
}

fn alignment(value: &str) -> Alignment {
    if value.eq_ignore_ascii_case("s") {
        Alignment::Strict
    } else {
        Alignment::Relaxed
    }
}

/// The URIs of a `rua`/`ruf` list that parse, without the obsolete
/// `!size` suffix (§4.8 `obs-dmarc-uri`).
fn uris(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|u| u.trim_matches([' ', '\t']))
        .map(|u| u.split_once('!').map_or(u, |(uri, _)| uri))
        .filter(|u| url::Url::parse(u).is_ok())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_first_v_tag_of_dmarc1_makes_a_record() {
        assert!(Record::parse("v=DMARC1; p=reject").is_some());
        assert!(Record::parse("v = DMARC1 ;p=reject").is_some());
        assert!(Record::parse("v=DMARC1").is_some());
        assert!(Record::parse("p=reject; v=DMARC1").is_none());
        assert!(Record::parse("v=dmarc1; p=reject").is_none());
        assert!(Record::parse("v=DMARC2; p=reject").is_none());
        assert!(Record::parse("v=spf1 -all").is_none());
        assert!(Record::parse("").is_none());
    }

    #[test]
    fn removed_and_unknown_tags_are_ignored() {
        let r = Record::parse("v=DMARC1; p=reject; pct=0; rf=afrf; ri=3600; x=1").unwrap();
        assert_eq!(r.p, Request::Valid(OwnerPolicy::Reject));
        assert_eq!(
            r.policies().unwrap(),
            Policies {
                p: OwnerPolicy::Reject,
                sp: OwnerPolicy::Reject,
                np: OwnerPolicy::Reject
            }
        );
    }

    #[test]
    fn np_falls_back_to_sp_and_sp_to_p() {
        let r = Record::parse("v=DMARC1; p=reject; sp=quarantine").unwrap();
        let p = r.policies().unwrap();
        assert_eq!(
            (p.sp, p.np),
            (OwnerPolicy::Quarantine, OwnerPolicy::Quarantine)
        );
        let r = Record::parse("v=DMARC1; p=none; np=reject").unwrap();
        let p = r.policies().unwrap();
        assert_eq!(
            (p.p, p.sp, p.np),
            (OwnerPolicy::None, OwnerPolicy::None, OwnerPolicy::Reject)
        );
    }

    #[test]
    fn a_record_without_a_valid_p_needs_a_valid_rua() {
        let none = Policies {
            p: OwnerPolicy::None,
            sp: OwnerPolicy::None,
            np: OwnerPolicy::None,
        };
        let r = Record::parse("v=DMARC1; rua=mailto:d@example.com").unwrap();
        assert_eq!(r.policies(), Some(none));
        let r = Record::parse("v=DMARC1; p=bogus; sp=reject; rua=mailto:d@example.com").unwrap();
        assert_eq!(r.policies(), Some(none));
        let r =
            Record::parse("v=DMARC1; p=reject; sp=maybe; rua=mailto:d@example.com!10m").unwrap();
        assert_eq!(r.rua, vec!["mailto:d@example.com"]);
        assert_eq!(r.policies(), Some(none));
        assert_eq!(
            Record::parse("v=DMARC1; sp=reject; np=reject")
                .unwrap()
                .policies(),
            None
        );
        assert_eq!(
            Record::parse("v=DMARC1; rua=not a uri").unwrap().policies(),
            None
        );
    }

    #[test]
    fn flags_take_their_defaults_when_malformed() {
        let r = Record::parse("v=DMARC1; p=none; psd=maybe; t=yes; adkim=x; aspf=S").unwrap();
        assert_eq!(r.psd, Psd::Unknown);
        assert!(!r.testing);
        assert_eq!((r.adkim, r.aspf), (Alignment::Relaxed, Alignment::Strict));
        let r = Record::parse("v=DMARC1; p=none; psd=y; t=y").unwrap();
        assert_eq!((r.psd, r.testing), (Psd::Yes, true));
    }
}
