//! Email authentication in two halves: `results`, the plain values every
//! layer may read, and `verify`, which asks DNS. `recorded` reads the
//! results a trusted upstream already wrote into the message.

pub(crate) mod recorded;
pub(crate) mod results;
pub(crate) mod spf;
pub(crate) mod strict;
pub(crate) mod verify;

pub use recorded::{authserv_id_of, from_recorded, trusted_upstream};
pub use results::{AuthSummary, LocalPolicy, Res};
pub use verify::{AuthBounds, Authenticator};
