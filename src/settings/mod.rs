//! The configuration file (`kinko-milter.toml`), its `[limits]` and
//! `[quarantine]` tables.

pub mod config;
pub mod limits;
pub mod quarantine;
