//! kinko-milter: a Postfix milter that authenticates mail and stops mail
//! that impersonates protected banks or leads to credential pages.
//!
//! Data flows one way: milter callbacks → per-connection [`session`] →
//! parsed message → [`analysis`] (auth, sender impersonation, links) →
//! [`findings`] → [`verdict`] (policy) → [`actions`] + [`metrics`] + log line.
//!
//! Modules import one way too, from the daemon down to a vocabulary floor
//! ([`message`], [`auth`]'s plain results, [`findings`], domain and text
//! helpers) that imports nothing above it; the README's Architecture
//! section draws the layers.

pub mod actions;
pub mod analysis;
pub mod attachments;
pub mod auth;
pub mod authserv;
pub mod banner;
pub mod brand;
pub mod check;
pub mod cli;
pub mod config;
pub mod contact;
pub mod dns;
pub(crate) mod domain;
pub mod eval;
pub mod eval_report;
pub mod findings;
pub mod guard;
pub mod header_text;
pub(crate) mod httpd;
pub mod indicators;
pub mod limits;
pub mod links;
pub mod listener;
pub mod logfmt;
pub mod lure;
pub mod message;
pub mod metrics;
pub mod milter;
pub mod normalize;
pub mod policy;
pub mod postfix;
pub mod qr;
pub mod quarantine;
pub mod quarantine_cli;
pub mod report;
pub mod report_cli;
pub mod runtime;
pub mod sanitize;
pub(crate) mod sender;
pub mod server;
pub mod session;
pub mod tomlfile;
pub mod verdict;
