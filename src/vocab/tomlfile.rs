//! Reading TOML that people write by hand: the policy files and the
//! daemon configuration share one error form, `file:line: field: message`,
//! so an operator finds the place to fix the same way in either.

use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;

/// A policy error that points at the place to fix: `file:line: field: what`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
    /// Further errors found in the same run: the operator fixes them all
    /// at once instead of one per `config check`.
    pub also: Vec<SourceError>,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: the file as a whole (it cannot be read).
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)?;
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file, self.line, self.field, self.message
            )?;
        }
        for e in &self.also {
            write!(f, "\n{e}")?;
        }
        Ok(())
    }
}

impl SourceError {
    /// All of `errors` as one (the first, with the rest in `also`), or
    /// `Ok` when there are none.
    pub fn all(errors: Vec<SourceError>) -> Result<(), SourceError> {
        let mut flat = Vec::new();
        for mut e in errors {
            let also = std::mem::take(&mut e.also);
            flat.push(e);
            flat.extend(also);
        }
        let mut it = flat.into_iter();
        match it.next() {
            None => Ok(()),
            Some(mut first) => {
                first.also = it.collect();
                Err(first)
            }
        }
    }

    /// How many errors this one stands for.
    pub fn count(&self) -> usize {
        1 + self.also.len()
    }
}

impl SourceError {
    /// The error of a file that `config` refers to in its `field`, so the
    /// operator sees which configuration names the missing or broken file.
    pub fn referred_by(self, config: &str, field: &str) -> String {
        self.to_string()
            .lines()
            .map(|l| format!("{config}: {field}: {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl std::error::Error for SourceError {}

/// 1-based line of a byte offset.
pub fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Deserialises TOML with unknown keys rejected, and turns toml's multi-line
/// report into one `file:line: field: message` line.
pub fn parse_toml<T: serde::de::DeserializeOwned>(file: &str, src: &str) -> Result<T, SourceError> {
    toml::from_str(src).map_err(|e| {
        let (line, field) = match e.span() {
            Some(span) => (line_of(src, span.start), field_at(src, span.start)),
            None => (1, String::new()),
        };
        SourceError {
            file: file.to_string(),
            line,
            field: if field.is_empty() {
                "(document)".into()
            } else {
                field
            },
            message: plain_words(e.message().trim()),
            ..Default::default()
        }
    })
}

/// serde's messages name Rust types (`expected i32`); an operator editing
/// TOML needs TOML words.
fn plain_words(message: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("expected i8", "expected a whole number"),
        ("expected i16", "expected a whole number"),
        ("expected i32", "expected a whole number"),
        ("expected i64", "expected a whole number"),
        ("expected u8", "expected a whole number, 0 or more"),
        ("expected u16", "expected a whole number, 0 or more"),
        ("expected u32", "expected a whole number, 0 or more"),
        ("expected u64", "expected a whole number, 0 or more"),
        ("expected usize", "expected a whole number, 0 or more"),
        ("expected f32", "expected a number"),
        ("expected f64", "expected a number"),
        ("a sequence", "a list [ … ]"),
        ("expected a map", "expected a table"),
        ("struct ", "table "),
        ("invalid type: ", "wrong type: "),
    ];
    // The TOML parser's own syntax messages speak of its grammar
    // ("invalid float, expected 'inf'" for `typo = sixty`): say what the
    // writer most likely got wrong.
    const SYNTAX: &[(&str, &str)] = &[
        (
            "string values must be quoted",
            "text must be in double quotes, e.g. key = \"value\"",
        ),
        (
            "invalid float",
            "not a number: write numbers as 30 or 1.5, and text in double quotes",
        ),
        (
            "invalid integer",
            "not a whole number: write numbers as 30, and text in double quotes",
        ),
        (
            "invalid number",
            "not a number: write numbers as 30 or 1.5, and text in double quotes",
        ),
        (
            "expected newline",
            "one key = value per line: something follows the value",
        ),
        ("duplicate key", "this key is set twice in the same table"),
        ("unclosed array", "a list [ … ] is not closed"),
        ("invalid string", "text is not closed: a \" is missing"),
    ];
    for (grammar, plain) in SYNTAX {
        if message.starts_with(grammar) {
            return (*plain).to_string();
        }
    }
    let mut out = message.to_string();
    for (rust, toml) in WORDS {
        out = out.replace(rust, toml);
    }
    out
}

/// The key an error at `offset` is about: the key itself when the offset is
/// on it, or the key of the `key = value` line when it is on the value.
fn field_at(src: &str, offset: usize) -> String {
    let key = key_at(src, offset);
    match table_at(src, offset) {
        Some(table) if !key.is_empty() && key != table => format!("{table}.{key}"),
        _ => key,
    }
}

/// The `[table]` (or `[[table]]`) whose body holds `offset`.
fn table_at(src: &str, offset: usize) -> Option<String> {
    let offset = offset.min(src.len());
    src[..offset]
        .lines()
        .map(str::trim)
        .rfind(|l| l.starts_with('['))
        .map(|l| {
            let l = l.split('#').next().unwrap_or(l).trim();
            l.trim_matches(['[', ']']).trim().to_string()
        })
}

fn key_at(src: &str, offset: usize) -> String {
    let offset = offset.min(src.len());
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = src[offset..].find('\n').map_or(src.len(), |i| offset + i);
    let line = &src[line_start..line_end];
    let key = match line.split_once('=') {
        Some((k, _)) if line_start + k.len() < offset => k,
        _ => &src[offset..line_end],
    };
    key.split('=')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches(['[', ']', '"'])
        .to_string()
}

/// A CIDR network or a single address.
pub fn parse_net(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    s.parse::<IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{s}` is not an address or network (e.g. 192.0.2.0/24)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        top: Option<i32>,
        scores: Option<std::collections::BTreeMap<String, i32>>,
        limits: Option<Limits>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Limits {
        max_headers: usize,
    }

    #[test]
    fn errors_name_table_and_key_in_toml_words() {
        let src = "top = 1\n# a comment\n\n[scores]\ntypo = \"high\"\n";
        let e = parse_toml::<Doc>("p.toml", src).unwrap_err();
        assert_eq!(
            e.to_string(),
            "p.toml:5: scores.typo: wrong type: string \"high\", expected a whole number"
        );
        let src = "[limits]\nmax_headers = -1\n";
        let e = parse_toml::<Doc>("c.toml", src).unwrap_err().to_string();
        assert_eq!(e, "c.toml:2: limits.max_headers: invalid value: integer `-1`, expected a whole number, 0 or more");
        let missing = SourceError {
            file: "nope.toml".into(),
            line: 0,
            field: "(file)".into(),
            message: "No such file or directory".into(),
            ..Default::default()
        };
        assert_eq!(
            missing.referred_by("/etc/k.toml", "policy"),
            "/etc/k.toml: policy: nope.toml: No such file or directory"
        );
    }
}
