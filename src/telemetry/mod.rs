//! What the operators watch: Prometheus metrics and the log lines' format.
//! Plain values in, so every layer above may report.

pub mod logfmt;
pub mod metrics;
