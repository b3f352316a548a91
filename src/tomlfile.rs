//! Reading TOML that people write by hand: the policy files and the
//! daemon configuration share one error form, `file:line: field: message`,
//! so an operator finds the place to fix the same way in either.

use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;

/// A policy error that points at the place to fix: `file:line: field: what`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: {}: {}",
            self.file, self.line, self.field, self.message
        )
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
            message: e.message().trim().to_string(),
        }
    })
}

/// The key an error at `offset` is about: the key itself when the offset is
/// on it, or the key of the `key = value` line when it is on the value.
fn field_at(src: &str, offset: usize) -> String {
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
