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
}
