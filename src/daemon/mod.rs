//! The daemon: the listeners and their guards, the milter callbacks, one
//! session per MTA connection, the state swapped on reload, `/metrics`.

pub(crate) mod coalesce;
pub(crate) mod guard;
pub(crate) mod httpd;
mod judge;
pub mod listener;
pub mod milter;
pub mod runtime;
pub mod server;
pub mod session;
