//! The operator's commands on stored mail and logs: `check`, `eval`,
//! `quarantine`, `label`, `report`, `dmarc-report`. They run the daemon's analysis and verdict.

pub mod check;
pub mod dmarc_report;
pub mod dmarc_report_cli;
pub mod eval;
pub mod eval_report;
pub mod labels;
pub mod postfix;
pub mod quarantine;
pub mod quarantine_cli;
pub mod quarantine_context;
pub mod quarantine_more;
pub mod quarantine_show;
pub mod report;
pub mod report_cli;
pub mod report_dmarc;
pub mod report_group;
