//! Index of protected domains, and the judgement of whether a host imitates one.
//!
//! Built once per policy load. Every question a message asks is answered by
//! hash lookups keyed on the candidate (its skeleton, its name, its deletion
//! neighbourhood) or one Aho-Corasick pass over its labels, so the cost per
//! host stays nearly flat as the number of protected domains grows.

use super::typo;
use super::words::{combo_words, COMBO_WORDS, EVERYDAY_NAMES, FLAT_SUFFIXES, GENERIC_NAMES};
use crate::vocab::domain;
use crate::vocab::findings::FindingKind;
use crate::vocab::normalize::domain_skeleton;
use aho_corasick::AhoCorasick;
use std::collections::{HashMap, HashSet};

/// One protected registrable domain.
#[derive(Debug, Clone)]
struct Protected {
    registrable: String,
    /// The registrable domain without its public suffix: `smbc` for `smbc.co.jp`.
    name: String,
    suffix: String,
    brand: u32,
}

/// A verdict on a host: kind, index of the protected entry, how.
pub(super) type Imitation = (FindingKind, usize, String);

#[derive(Debug, Default)]
pub struct DomainIndex {
    pub(super) brand_ids: Vec<String>,
    /// Official domains exactly as the policy lists them.
    official: HashMap<String, u32>,
    /// Registrable domains of official domains: the same owner, never a lookalike.
    official_registrable: HashSet<String>,
    /// Third parties authorised for a brand: never a lookalike either.
    authorized: HashMap<String, u32>,
    protected: Vec<Protected>,
    /// Registrable domain → its entry in `protected`, so a subdomain attack
    /// finds the domain it copies without scanning every brand.
    by_registrable: HashMap<String, u32>,
    by_name: HashMap<String, Vec<u32>>,
    by_flat_name: HashMap<String, Vec<u32>>,
    by_skeleton: HashMap<String, Vec<u32>>,
    deletions: typo::NeighbourIndex,
    combo: Option<AhoCorasick>,
    /// Aho-Corasick pattern id → protected entry.
    combo_target: Vec<u32>,
}

fn generic(name: &str) -> bool {
    name.len() < 3 || GENERIC_NAMES.contains(&name)
}

fn split_name(registrable: &str) -> Option<(String, String)> {
    let suffix = domain::suffix(registrable)?;
    let name = registrable
        .strip_suffix(suffix.as_str())?
        .strip_suffix('.')?
        .to_string();
    (!name.is_empty()).then_some((name, suffix))
}

impl DomainIndex {
    /// `brands` gives, per brand id, its official and authorised domains.
    pub fn new(brands: &[(String, Vec<String>, Vec<String>)]) -> Self {
        let mut ix = DomainIndex::default();
        let mut seen = HashSet::new();
        for (b, (id, domains, authorized)) in brands.iter().enumerate() {
            let b = b as u32;
            ix.brand_ids.push(id.clone());
            for d in authorized {
                ix.authorized.entry(d.clone()).or_insert(b);
            }
            for d in domains {
                ix.official.entry(d.clone()).or_insert(b);
                let Some(reg) = domain::registrable(d) else {
                    continue;
                };
                ix.official_registrable.insert(reg.clone());
                if !seen.insert(reg.clone()) {
                    continue;
                }
                let Some((name, suffix)) = split_name(&reg) else {
                    continue;
                };
                ix.protected.push(Protected {
                    registrable: reg,
                    name,
                    suffix,
                    brand: b,
                });
            }
        }
        let mut patterns: Vec<String> = Vec::new();
        let mut neighbours: Vec<(u64, u32)> = Vec::new();
        let mut hashes = Vec::new();
        for (i, p) in ix.protected.iter().enumerate() {
            let i = i as u32;
            ix.by_registrable.insert(p.registrable.clone(), i);
            ix.by_name.entry(p.name.clone()).or_default().push(i);
            let flat = p.name.replace('-', "");
            ix.by_flat_name.entry(flat.clone()).or_default().push(i);
            let sk = domain_skeleton(&domain::to_unicode(&p.name));
            ix.by_skeleton.entry(sk).or_default().push(i);
            if generic(&p.name) || p.name.starts_with("xn--") {
                continue;
            }
            let k = typo::max_edits(p.name.len());
            if p.name.is_ascii() {
                // Millions of neighbours at 10,000 brands: hash them in place
                // rather than allocating each as a string first.
                typo::deletion_hashes(p.name.as_bytes(), k, &mut hashes);
                neighbours.extend(hashes.iter().map(|&h| (h, i)));
            } else {
                for v in typo::deletions(&p.name, k) {
                    neighbours.push((typo::hash(&v), i));
                }
            }
            patterns.push(p.name.clone());
            ix.combo_target.push(i);
            if flat != p.name && !generic(&flat) {
                patterns.push(flat);
                ix.combo_target.push(i);
            }
        }
        ix.deletions = typo::NeighbourIndex::new(neighbours);
        ix.combo = crate::vocab::automaton::overlapping(&patterns);
        ix
    }

    fn walk(map: &HashMap<String, u32>, host: &str) -> Option<u32> {
        let mut h = host;
        loop {
            if let Some(&b) = map.get(h) {
                return Some(b);
            }
            h = h.split_once('.')?.1;
        }
    }

    /// Brand index owning `host` (an official domain or a subdomain of one).
    pub fn official(&self, host: &str) -> Option<u32> {
        Self::walk(&self.official, host)
    }

    /// Brand index that authorised `host` (or a parent of it) to send for it.
    pub fn authorized(&self, host: &str) -> Option<u32> {
        Self::walk(&self.authorized, host)
    }

    pub fn brand_of(&self, hit: &Imitation) -> &str {
        &self.brand_ids[self.protected[hit.1].brand as usize]
    }

    pub fn imitated(&self, hit: &Imitation) -> &str {
        &self.protected[hit.1].registrable
    }

    /// Whether `host` (lower-case ASCII) imitates a protected domain.
    pub fn imitation(&self, host: &str) -> Option<Imitation> {
        let host = host.trim_end_matches('.');
        if self.protected.is_empty()
            || self.official(host).is_some()
            || self.authorized(host).is_some()
        {
            return None;
        }
        let reg = domain::registrable(host)?;
        if self.official_registrable.contains(&reg) || self.authorized.contains_key(&reg) {
            return None;
        }
        let (name, suffix) = split_name(&reg)?;
        if let Some(hit) = self.imitation_of_name(&name, &suffix, &reg, true) {
            return Some(hit);
        }
        self.imitation_by_subdomain(host, &reg)
    }

    /// Checks one registrable name against the protected names.
    fn imitation_of_name(
        &self,
        name: &str,
        suffix: &str,
        reg: &str,
        combos: bool,
    ) -> Option<Imitation> {
        let unicode = domain::to_unicode(name);
        let sk = domain_skeleton(&unicode);
        let other_suffix = |p: &Protected| {
            if p.suffix == suffix {
                String::new()
            } else {
                format!(", under .{suffix} instead of .{}", p.suffix)
            }
        };
        if let Some(ids) = self.by_skeleton.get(&sk) {
            for &i in ids {
                let p = &self.protected[i as usize];
                if p.name == name {
                    continue;
                }
                let scripts = if unicode_security::MixedScript::is_single_script(unicode.as_str()) {
                    ""
                } else {
                    "; mixes scripts"
                };
                let shown = if unicode != name {
                    format!("'{unicode}' ({name})")
                } else {
                    format!("'{name}'")
                };
                return Some((
                    FindingKind::Homograph,
                    i as usize,
                    format!(
                        "{shown} reads as '{}' (confusable characters{scripts}){}",
                        p.name,
                        other_suffix(p)
                    ),
                ));
            }
        }
        if let Some(ids) = self.by_name.get(name) {
            if let Some(&i) = ids
                .iter()
                .find(|&&i| self.protected[i as usize].registrable != reg)
            {
                let p = &self.protected[i as usize];
                return Some((
                    FindingKind::TldSwap,
                    i as usize,
                    format!(
                        "same name '{name}' under .{suffix} instead of .{}",
                        p.suffix
                    ),
                ));
            }
        }
        let flat = name.replace('-', "");
        for sfx in FLAT_SUFFIXES {
            let Some(base) = flat.strip_suffix(sfx) else {
                continue;
            };
            if let Some(&i) = self.by_flat_name.get(base).and_then(|v| v.first()) {
                let p = &self.protected[i as usize];
                if generic(&p.name) {
                    continue;
                }
                return Some((
                    FindingKind::TldSwap,
                    i as usize,
                    format!(
                        "'{name}.{suffix}' spells {} with its dots flattened into the name",
                        p.registrable
                    ),
                ));
            }
        }
        if let Some(&i) = self.by_flat_name.get(&flat).and_then(|v| v.first()) {
            let p = &self.protected[i as usize];
            if p.name != name && !generic(&p.name) {
                return Some((
                    FindingKind::Typo,
                    i as usize,
                    format!(
                        "'{name}' is '{}' with hyphens changed{}",
                        p.name,
                        other_suffix(p)
                    ),
                ));
            }
        }
        if let Some(hit) = self.typo(name, &other_suffix) {
            return Some(hit);
        }
        if combos {
            return self
                .combo(name)
                .map(|(i, how)| (FindingKind::Combo, i, how));
        }
        None
    }

    fn typo(&self, name: &str, other_suffix: &dyn Fn(&Protected) -> String) -> Option<Imitation> {
        if name.len() < 4 || !name.is_ascii() || name.starts_with("xn--") {
            return None;
        }
        let k = if name.len() >= 7 { 2 } else { 1 };
        let mut best: Option<(usize, u32)> = None;
        let mut tried: HashSet<u32> = HashSet::new();
        let mut hashes = Vec::new();
        typo::deletion_hashes(name.as_bytes(), k, &mut hashes);
        for h in hashes {
            for &i in self.deletions.get(h) {
                if !tried.insert(i) {
                    continue;
                }
                let p = &self.protected[i as usize];
                let bound = typo::max_edits(p.name.len());
                let Some(d) = typo::distance(name.as_bytes(), p.name.as_bytes(), bound) else {
                    continue;
                };
                if d == 0 {
                    continue;
                }
                let how = typo::describe(name, &p.name, d);
                if p.name.len() == 4
                    && !how.starts_with("transposition")
                    && !how.starts_with("repetition")
                {
                    continue;
                }
                // One edit of a short name under another suffix is mostly
                // another company's name (`tesco.ie`, `tepco.co.jp`).
                if p.name.len() <= 5 && !other_suffix(p).is_empty() {
                    continue;
                }
                // Ties go to the earliest protected entry, so the verdict
                // does not depend on the order hashes are probed in.
                if best.is_none_or(|b| (d, i) < b) {
                    best = Some((d, i));
                }
            }
        }
        let (d, i) = best?;
        let p = &self.protected[i as usize];
        Some((
            FindingKind::Typo,
            i as usize,
            format!(
                "'{name}' is '{}' misspelt: {}{}",
                p.name,
                typo::describe(name, &p.name, d),
                other_suffix(p)
            ),
        ))
    }

    /// A protected name inside a longer label, held apart from ordinary words
    /// by length rules: long names anywhere, short ones only next to a hyphen,
    /// a digit, the label's edge or one of the words phishers glue on.
    fn combo(&self, label: &str) -> Option<(usize, String)> {
        let ac = self.combo.as_ref()?;
        let mut best: Option<(usize, usize, usize)> = None;
        for m in ac.find_overlapping_iter(label) {
            let (s, e) = (m.start(), m.end());
            if s == 0 && e == label.len() {
                continue;
            }
            let len = e - s;
            let bytes = label.as_bytes();
            let seg_start = label[..s].rfind(['-', '.']).map_or(0, |p| p + 1);
            let seg_end = label[e..].find(['-', '.']).map_or(label.len(), |p| e + p);
            let left = &label[seg_start..s];
            let right = &label[e..seg_end];
            let digits = |x: &str| x.bytes().all(|c| c.is_ascii_digit());
            let l_free = left.is_empty()
                || digits(left)
                || bytes.get(s.wrapping_sub(1)).is_some_and(u8::is_ascii_digit);
            let r_free =
                right.is_empty() || digits(right) || bytes.get(e).is_some_and(u8::is_ascii_digit);
            let ok = match len {
                7.. => true,
                // An everyday-word name glued to letters is a brand only
                // when those letters are words phishers add (`linelogin`):
                // `line` in `online` is a word of its own. Other names also
                // take a couple of random letters (`smbczw`).
                4..=6 => {
                    let everyday = EVERYDAY_NAMES.contains(&&label[s..e]);
                    let side =
                        |free: bool, x: &str| free || combo_words(x) || (!everyday && x.len() <= 2);
                    side(l_free, left) && side(r_free, right)
                }
                // Three letters (jcb, boy) only with the words phishers add,
                // so boy-scouts is not the Bank of Yokohama.
                _ => {
                    let rest = format!("{}-{}", &label[..s], &label[e..]);
                    let mut parts = rest.split(['-', '.']).filter(|t| !t.is_empty()).peekable();
                    parts.peek().is_some() && parts.all(|t| digits(t) || COMBO_WORDS.contains(&t))
                }
            };
            if ok && best.is_none_or(|(bs, be, _)| len > be - bs) {
                best = Some((s, e, m.pattern().as_usize()));
            }
        }
        let (s, e, pat) = best?;
        let i = self.combo_target[pat] as usize;
        let p = &self.protected[i];
        let rest = format!("{}{}", &label[..s], &label[e..]);
        let rest = rest.trim_matches(['-', '.']);
        Some((
            i,
            format!(
                "brand name '{}' of {} joined with '{rest}'",
                &label[s..e],
                p.registrable
            ),
        ))
    }

    /// The first protected entry of brand `b` that `host` is or lies within.
    fn protected_within(&self, host: &str, b: u32) -> Option<usize> {
        let mut best: Option<u32> = None;
        let mut h = host;
        loop {
            if let Some(&i) = self.by_registrable.get(h) {
                if self.protected[i as usize].brand == b && best.is_none_or(|x| i < x) {
                    best = Some(i);
                }
            }
            match h.split_once('.') {
                Some((_, rest)) => h = rest,
                None => return best.map(|i| i as usize),
            }
        }
    }

    /// A protected domain or name placed in the labels left of someone else's
    /// registrable domain: `smbc-card.com.pllpx.com`, `cr.mufg.example.com`.
    fn imitation_by_subdomain(&self, host: &str, reg: &str) -> Option<Imitation> {
        if host.len() <= reg.len() {
            return None;
        }
        let sub = &host[..host.len() - reg.len() - 1];
        let labels: Vec<&str> = sub.split('.').filter(|l| !l.is_empty()).collect();
        let n = labels.len();
        for i in 0..n {
            for j in (i + 2)..=(i + 4).min(n) {
                let seq = labels[i..j].join(".");
                if let Some(b) = self.official(&seq) {
                    let imitated = self.protected_within(&seq, b);
                    if let Some(pi) = imitated {
                        return Some((
                            FindingKind::Subdomain,
                            pi,
                            format!("official domain {seq} placed left of {reg}"),
                        ));
                    }
                }
                let Some(seq_reg) = domain::registrable(&seq) else {
                    continue;
                };
                let known = psl::suffix(seq.as_bytes()).is_some_and(|s| s.is_known());
                if !known || seq_reg != seq {
                    continue;
                }
                if let Some((name, suffix)) = split_name(&seq) {
                    if let Some((_, pi, how)) = self.imitation_of_name(&name, &suffix, &seq, false)
                    {
                        return Some((
                            FindingKind::Subdomain,
                            pi,
                            format!("{seq} placed left of {reg}; {how}"),
                        ));
                    }
                }
            }
        }
        for label in &labels {
            let flat = label.replace('-', "");
            if let Some(&i) = self.by_flat_name.get(&flat).and_then(|v| v.first()) {
                let p = &self.protected[i as usize];
                if !generic(&p.name) && p.name.len() >= 4 {
                    return Some((
                        FindingKind::Subdomain,
                        i as usize,
                        format!(
                            "label '{label}' spells brand name '{}' of {} left of {reg}",
                            p.name, p.registrable
                        ),
                    ));
                }
            }
            for token in label.split('-') {
                // Three-letter labels (boy, jcb) are too common as words.
                if token.len() < 4 || generic(token) {
                    continue;
                }
                if let Some(&i) = self.by_name.get(token).and_then(|v| v.first()) {
                    let p = &self.protected[i as usize];
                    return Some((
                        FindingKind::Subdomain,
                        i as usize,
                        format!("brand label '{token}' of {} left of {reg}", p.registrable),
                    ));
                }
            }
            if let Some((i, how)) = self.combo(label) {
                return Some((FindingKind::Subdomain, i, format!("{how}, left of {reg}")));
            }
        }
        None
    }
}
