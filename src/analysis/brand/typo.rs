//! Edit distance between domain labels and a readable account of the edit,
//! so a security team sees *how* a name was misspelt, not just that it was.

/// Optimal-string-alignment distance (Damerau-Levenshtein where no substring
/// is edited twice): insertions, deletions, substitutions and adjacent
/// transpositions each cost one. Stops early once `max` is exceeded.
pub fn distance(a: &[u8], b: &[u8], max: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    let mut prev2 = vec![0usize; w];
    let mut prev: Vec<usize> = (0..w).collect();
    let mut cur = vec![0usize; w];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= max).then_some(d)
}

/// Edits a short name may carry before a match means nothing: four letters
/// are one typo away from thousands of unrelated names, so they only count
/// swapped letters; long names tolerate two edits.
pub fn max_edits(len: usize) -> usize {
    match len {
        0..=3 => 0,
        4..=8 => 1,
        _ => 2,
    }
}

const ROWS: [&[u8]; 4] = [b"1234567890", b"qwertyuiop", b"asdfghjkl", b"zxcvbnm"];

fn key_pos(c: u8) -> Option<(i32, i32)> {
    ROWS.iter().enumerate().find_map(|(r, row)| {
        row.iter()
            .position(|&k| k == c)
            .map(|col| (r as i32, col as i32))
    })
}

/// Neighbours on a QWERTY keyboard (same row or the rows above and below,
/// which are offset by about half a key).
pub fn keyboard_adjacent(a: u8, b: u8) -> bool {
    match (key_pos(a), key_pos(b)) {
        (Some((ra, ca)), Some((rb, cb))) => {
            let dr = ra - rb;
            match dr {
                0 => (ca - cb).abs() == 1,
                1 => cb == ca || cb == ca + 1,
                -1 => ca == cb || ca == cb + 1,
                _ => false,
            }
        }
        _ => false,
    }
}

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// How `cand` differs from `prot`, in words, for a distance already known.
pub fn describe(cand: &str, prot: &str, dist: usize) -> String {
    let (c, p) = (cand.as_bytes(), prot.as_bytes());
    if dist == 1 {
        if c.len() == p.len() {
            let diffs: Vec<usize> = (0..c.len()).filter(|&i| c[i] != p[i]).collect();
            if diffs.len() == 2 && diffs[1] == diffs[0] + 1 {
                let i = diffs[0];
                return format!(
                    "transposition of '{}' and '{}'",
                    p[i] as char,
                    p[i + 1] as char
                );
            }
            if let [i] = diffs[..] {
                let (x, y) = (p[i], c[i]);
                let why = if keyboard_adjacent(x, y) {
                    "keyboard-adjacent replacement"
                } else if is_vowel(x) && is_vowel(y) {
                    "vowel swap"
                } else if (x ^ y).count_ones() == 1 {
                    "bit flip"
                } else {
                    "replacement"
                };
                return format!("{why} '{}' -> '{}'", x as char, y as char);
            }
        } else if c.len() + 1 == p.len() {
            let i = (0..c.len()).find(|&i| c[i] != p[i]).unwrap_or(c.len());
            return format!("omission of '{}'", p[i] as char);
        } else if c.len() == p.len() + 1 {
            let i = (0..p.len()).find(|&i| c[i] != p[i]).unwrap_or(p.len());
            let ins = c[i];
            let repeated = (i > 0 && c[i - 1] == ins) || c.get(i + 1) == Some(&ins);
            let why = if repeated { "repetition" } else { "insertion" };
            return format!("{why} of '{}'", ins as char);
        }
    }
    format!("edit distance {dist}")
}

/// Every string obtained by deleting up to `k` bytes (the input included):
/// two names within `k` edits share at least one of these, which is what
/// lets the index find typo candidates without comparing against every name.
pub fn deletions(s: &str, k: usize) -> Vec<String> {
    let mut out = vec![s.to_string()];
    let mut frontier = vec![s.to_string()];
    for _ in 0..k {
        let mut next = Vec::new();
        for w in &frontier {
            for i in 0..w.len() {
                if !w.is_char_boundary(i) || !w.is_char_boundary(i + 1) {
                    continue;
                }
                let mut v = String::with_capacity(w.len() - 1);
                v.push_str(&w[..i]);
                v.push_str(&w[i + 1..]);
                next.push(v);
            }
        }
        next.sort_unstable();
        next.dedup();
        out.extend(next.iter().cloned());
        frontier = next;
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// FNV-1a over bytes, so the index and a query can hash a name with letters
/// skipped without building the shortened string.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    h
}

/// FNV's low bits are weak; the Bloom filter and the table need all 64 mixed.
fn finish(h: u64) -> u64 {
    let mut h = h ^ (h >> 33);
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Hash of a whole string, as [`deletion_hashes`] hashes each neighbour.
pub fn hash(s: &str) -> u64 {
    finish(fnv(FNV_OFFSET, s.as_bytes()))
}

/// Hashes of [`deletions`]`(s, k)` for ASCII `s` and `k` ≤ 2, sorted and
/// deduplicated, without allocating a string per neighbour: a query hashes
/// some two hundred of these per host.
pub fn deletion_hashes(s: &[u8], k: usize, out: &mut Vec<u64>) {
    out.clear();
    let n = s.len();
    // prefix[i] is the FNV state after s[..i].
    let mut prefix = Vec::with_capacity(n + 1);
    let mut h = FNV_OFFSET;
    prefix.push(h);
    for &b in s {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        prefix.push(h);
    }
    out.push(finish(h));
    if k >= 1 {
        for i in 0..n {
            out.push(finish(fnv(prefix[i], &s[i + 1..])));
        }
    }
    if k >= 2 {
        for (i, &before) in prefix[..n].iter().enumerate() {
            let mut mid = before;
            for j in i + 1..n {
                out.push(finish(fnv(mid, &s[j + 1..])));
                mid = (mid ^ u64::from(s[j])).wrapping_mul(FNV_PRIME);
            }
        }
    }
    out.sort_unstable();
    out.dedup();
}

/// One cache line of Bloom filter bits.
#[derive(Debug, Clone, Copy, Default)]
#[repr(align(64))]
struct Block([u64; 8]);

/// Deletion neighbourhoods of the protected names, by 64-bit hash.
///
/// At 10,000 brands the neighbourhoods hold millions of strings, and a query
/// probes a couple of hundred keys of which almost none exist: as a
/// `HashMap<String, Vec<u32>>` every probe was a cache and TLB miss into a
/// quarter of a gigabyte, which made lookups three times slower than with
/// ten brands. A blocked Bloom filter (about 12 bits a key, so it stays in
/// the last-level cache) turns away nearly all of those probes after
/// touching one cache line; the few that pass search a sorted array.
/// Hash collisions only add candidates, which the caller verifies by edit
/// distance, so nothing is missed.
#[derive(Debug, Default)]
pub struct NeighbourIndex {
    bloom: Vec<Block>,
    /// Sorted distinct key hashes; `ids[starts[k]..starts[k + 1]]` hold key k's entries.
    keys: Vec<u64>,
    starts: Vec<u32>,
    ids: Vec<u32>,
}

const BLOOM_BITS_PER_KEY: usize = 12;
const BLOOM_PROBES: u32 = 6;

impl NeighbourIndex {
    /// `entries` pairs a key hash with the id it leads to, in any order.
    pub fn new(mut entries: Vec<(u64, u32)>) -> Self {
        entries.sort_unstable();
        entries.dedup();
        let mut ix = NeighbourIndex::default();
        for (n, &(h, id)) in entries.iter().enumerate() {
            if ix.keys.last() != Some(&h) {
                ix.keys.push(h);
                ix.starts.push(n as u32);
            }
            ix.ids.push(id);
        }
        ix.starts.push(entries.len() as u32);
        let blocks = (ix.keys.len() * BLOOM_BITS_PER_KEY).div_ceil(512).max(1);
        ix.bloom = vec![Block::default(); blocks];
        for &h in &ix.keys {
            let (b, bits) = ix.bloom_slot(h);
            let block = &mut ix.bloom[b].0;
            for bit in bits {
                block[bit / 64] |= 1 << (bit % 64);
            }
        }
        ix
    }

    /// The block a hash falls in (from its high bits) and its bit positions
    /// there (from 9-bit slices of its low bits).
    fn bloom_slot(&self, h: u64) -> (usize, impl Iterator<Item = usize>) {
        let b = ((u128::from(h) * self.bloom.len() as u128) >> 64) as usize;
        (
            b,
            (0..BLOOM_PROBES).map(move |p| ((h >> (9 * p)) & 511) as usize),
        )
    }

    /// Ids stored under hash `h` (empty if none).
    pub fn get(&self, h: u64) -> &[u32] {
        if self.keys.is_empty() {
            return &[];
        }
        let (b, mut bits) = self.bloom_slot(h);
        let block = &self.bloom[b].0;
        if !bits.all(|bit| block[bit / 64] & (1 << (bit % 64)) != 0) {
            return &[];
        }
        match self.keys.binary_search(&h) {
            Ok(k) => &self.ids[self.starts[k] as usize..self.starts[k + 1] as usize],
            Err(_) => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance(b"rakuten", b"rakuten", 2), Some(0));
        assert_eq!(distance(b"rakuetn", b"rakuten", 2), Some(1));
        assert_eq!(distance(b"rakten", b"rakuten", 2), Some(1));
        assert_eq!(distance(b"mizuhobnk", b"mizuhobank", 2), Some(1));
        assert_eq!(distance(b"abc", b"xyz", 1), None);
    }

    #[test]
    fn descriptions() {
        assert_eq!(describe("aeno", "aeon", 1), "transposition of 'o' and 'n'");
        assert_eq!(
            describe("rakutem", "rakuten", 1),
            "keyboard-adjacent replacement 'n' -> 'm'"
        );
        assert_eq!(describe("rakuten", "rakutan", 1), "vowel swap 'a' -> 'e'");
        assert_eq!(describe("rakten", "rakuten", 1), "omission of 'u'");
        assert_eq!(describe("rakkuten", "rakuten", 1), "repetition of 'k'");
        // 'c' (0x63) and 'a' (0x61) differ in one bit.
        assert_eq!(describe("smbc", "smba", 1), "bit flip 'a' -> 'c'");
    }

    #[test]
    fn deletion_neighbourhoods_meet() {
        let a = deletions("aeon", 1);
        let b = deletions("aeno", 1);
        assert!(a.iter().any(|x| b.contains(x)));
        assert_eq!(deletions("ab", 2).len(), 4); // ab, a, b, ""
    }

    #[test]
    fn deletion_hashes_hash_the_deletion_neighbourhood() {
        let mut got = Vec::new();
        for (s, k) in [
            ("aeon", 1),
            ("ab", 2),
            ("paypay-bank", 2),
            ("aaab", 2),
            ("x", 2),
        ] {
            deletion_hashes(s.as_bytes(), k, &mut got);
            let mut want: Vec<u64> = deletions(s, k).iter().map(|v| hash(v)).collect();
            want.sort_unstable();
            assert_eq!(got, want, "{s} k={k}");
        }
    }

    #[test]
    fn neighbour_index_returns_every_stored_id() {
        let entries: Vec<(u64, u32)> = (0..5000u32)
            .flat_map(|i| [(hash(&format!("n{i}")), i), (hash("shared"), i)])
            .collect();
        let ix = NeighbourIndex::new(entries);
        for i in 0..5000u32 {
            assert_eq!(ix.get(hash(&format!("n{i}"))), &[i]);
        }
        assert_eq!(ix.get(hash("shared")).len(), 5000);
        assert!(ix.get(hash("absent")).is_empty());
        assert!(NeighbourIndex::default().get(hash("x")).is_empty());
    }
}
