//! The vocabulary floor every layer speaks and nothing here imports from
//! above: the message and its envelope, plain authentication results, the
//! closed list of finding kinds, domain and text helpers, TOML errors.

pub mod auth;
pub mod authserv;
pub mod automaton;
pub(crate) mod domain;
pub mod findings;
pub mod header_text;
pub mod message;
pub mod normalize;
pub mod report_row;
pub mod sanitize;
pub mod tomlfile;
