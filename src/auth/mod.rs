//! Email authentication: `verify` asks DNS (through `dns`'s caches) and
//! returns the plain results of [`crate::vocab::auth`]. `recorded` reads the
//! results a trusted upstream already wrote into the message.

mod bounds;
pub mod dmarc;
pub mod dns;
pub(crate) mod recorded;
pub(crate) mod spf;
pub(crate) mod strict;
pub(crate) mod verify;

pub use recorded::{authserv_id_of, from_recorded, trusted_upstream};
pub use verify::{AuthBounds, Authenticator};
