//! The policy a security team tunes, as files: the TOML schema and loader
//! ([`format`]: `file:line: field` errors, tables merged across files) and
//! the plain values it yields ([`data`]). The compiled form every analyser
//! judges by is [`crate::analysis::policy::Policy`].

mod brands;
pub mod data;
pub(crate) mod format;
mod organisation;
mod schema;
