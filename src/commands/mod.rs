//! The operator's commands on stored mail and logs: `check`, `eval`,
//! `quarantine`, `report`. They run the daemon's analysis and verdict.

pub mod check;
pub mod eval;
pub mod eval_report;
pub mod postfix;
pub mod quarantine;
pub mod quarantine_cli;
pub mod report;
pub mod report_cli;
