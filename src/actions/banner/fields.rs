//! Header fields of a part, read and rewritten as bytes: the list of
//! fields with their ranges, one field's value, a field set anew, and the
//! `charset` parameter changed by a tokenizer that keeps quoted strings and
//! comments intact (RFC 2045).

/// Byte ranges of each field in a header block (continuation lines
/// included), with its name.
pub(super) fn fields(h: &[u8]) -> Vec<(std::ops::Range<usize>, &[u8])> {
    let mut out: Vec<(std::ops::Range<usize>, &[u8])> = Vec::new();
    let mut i = 0;
    while i < h.len() {
        let end = h[i..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(h.len(), |p| i + p + 1);
        let line = &h[i..end];
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(last) = out.last_mut() {
                last.0.end = end;
            }
        } else if let Some(colon) = line.iter().position(|&c| c == b':') {
            out.push((i..end, &line[..colon]));
        }
        i = end;
    }
    out
}

pub(super) fn field_value(h: &[u8], name: &str) -> Option<String> {
    let (range, n) = fields(h)
        .into_iter()
        .find(|(_, n)| n.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))?;
    let raw = &h[range.start + n.len() + 1..range.end];
    let text = String::from_utf8_lossy(raw);
    // Unfolded, as one line.
    Some(
        text.split(['\r', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// The header block with `name` replaced (its first occurrence), or added
/// just before the blank line that ends the block.
pub(super) fn set_field(h: &[u8], name: &str, value: &str, eol: &str) -> Vec<u8> {
    let line = format!("{name}: {value}{eol}");
    let mut out = Vec::with_capacity(h.len() + line.len());
    if let Some((range, _)) = fields(h)
        .into_iter()
        .find(|(_, n)| n.trim_ascii().eq_ignore_ascii_case(name.as_bytes()))
    {
        out.extend_from_slice(&h[..range.start]);
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(&h[range.end..]);
        return out;
    }
    let blank = if h.ends_with(b"\r\n\r\n") || h == b"\r\n" {
        2
    } else if h.ends_with(b"\n\n") || h == b"\n" {
        1
    } else {
        0
    };
    let at = h.len() - blank;
    out.extend_from_slice(&h[..at]);
    out.extend_from_slice(line.as_bytes());
    out.extend_from_slice(&h[at..]);
    out
}

/// A Content-Type value with its charset parameter set, every other byte
/// as it was; `None` when the value ends inside a quoted string or a
/// comment, where anything appended would be read as part of it.
pub(super) fn with_charset(value: &str, charset: &str) -> Option<String> {
    let params = params(value)?;
    let mut out = String::with_capacity(value.len() + 16);
    let mut at = 0;
    let mut set = false;
    for p in &params {
        let name = p.name.to_ascii_lowercase();
        if name == "charset" {
            out.push_str(&value[at..p.value.start]);
            out.push_str(charset);
            at = p.value.end;
            set = true;
        } else if name.starts_with("charset*") {
            // An RFC 2231 charset would be read instead of ours: dropped.
            out.push_str(&value[at..p.whole.start]);
            at = p.whole.end;
        }
    }
    out.push_str(&value[at..]);
    if !set {
        let kept = out.trim_end().trim_end_matches(';').trim_end().len();
        out.truncate(kept);
        out.push_str("; charset=");
        out.push_str(charset);
    }
    Some(out)
}

/// One `; name=value` parameter of a Content-Type value.
pub(super) struct Param {
    /// From its `;` to the next one (or the end).
    whole: std::ops::Range<usize>,
    name: String,
    /// The value, quotes included, without the whitespace around it.
    value: std::ops::Range<usize>,
}

/// The parameters of a Content-Type value, read as RFC 2045 does: a `;`
/// or `=` inside a quoted string or a comment is part of it.
pub(super) fn params(value: &str) -> Option<Vec<Param>> {
    let b = value.as_bytes();
    // Top-level `;` and `=` positions, in order.
    let mut seps = Vec::new();
    let (mut i, mut quoted, mut comment) = (0, false, 0usize);
    while i < b.len() {
        match b[i] {
            b'\\' if quoted || comment > 0 => i += 1,
            b'"' if comment == 0 => quoted = !quoted,
            b'(' if !quoted => comment += 1,
            b')' if !quoted && comment > 0 => comment -= 1,
            c @ (b';' | b'=') if !quoted && comment == 0 => seps.push((i, c)),
            _ => {}
        }
        i += 1;
    }
    if quoted || comment > 0 {
        return None;
    }
    let semis: Vec<usize> = seps.iter().filter(|s| s.1 == b';').map(|s| s.0).collect();
    let mut out = Vec::new();
    for (k, &start) in semis.iter().enumerate() {
        let end = semis.get(k + 1).copied().unwrap_or(b.len());
        let Some(&(eq, _)) = seps
            .iter()
            .find(|s| s.1 == b'=' && s.0 > start && s.0 < end)
        else {
            continue;
        };
        let raw = &value[eq + 1..end];
        let vstart = eq + 1 + (raw.len() - raw.trim_start().len());
        // A quoted string to its closing quote, a token to the whitespace
        // or comment after it.
        let mut vend = vstart;
        if b.get(vstart) == Some(&b'"') {
            vend += 1;
            while vend < end && b[vend] != b'"' {
                vend += if b[vend] == b'\\' { 2 } else { 1 };
            }
            vend = (vend + 1).min(end);
        } else {
            while vend < end && !matches!(b[vend], b' ' | b'\t' | b'\r' | b'\n' | b'(') {
                vend += 1;
            }
        }
        let v = vstart..vend;
        out.push(Param {
            whole: start..end,
            name: value[start + 1..eq].trim().to_string(),
            value: v,
        });
    }
    Some(out)
}
