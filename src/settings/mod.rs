//! The configuration file (`kinko-milter.toml`) and its `[limits]`.

pub mod config;
pub mod limits;
