//! kinko-milter: a Postfix milter that authenticates mail and stops mail
//! that impersonates protected banks or leads to credential pages.
//!
//! Data flows one way: milter callbacks ([`daemon`]) → per-connection
//! session → parsed message → [`analysis`] (authentication from [`auth`],
//! the analysers, the combination rules) → findings → [`verdict`] →
//! [`actions`] + metrics + log line. [`commands`] run the same analysis and
//! verdict on stored mail.
//!
//! The folders are the layers, and every import runs down them:
//! `ARCHITECTURE.md` declares the order and `layers.py` checks it.

pub mod actions;
pub mod analysis;
pub mod auth;
pub mod cli;
pub mod commands;
pub mod daemon;
pub mod policy;
pub mod settings;
pub mod telemetry;
pub mod verdict;
pub mod vocab;
