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

/// The verifier a configuration describes: its resolver (`[dns]`), caches
/// and bounds. The daemon, `check` and `eval --online` build it alike.
pub fn from_config(
    cfg: &crate::settings::config::Config,
    metrics: Option<std::sync::Arc<crate::telemetry::metrics::Metrics>>,
) -> Result<Authenticator, String> {
    let upstream = cfg.upstream()?;
    let resolver = dns::resolver(&upstream, cfg.dns_timeout(), cfg.dns.attempts)
        .map_err(|e| format!("DNS resolver: {e}"))?;
    Ok(
        Authenticator::new(resolver, dns::Caches::new(cfg.dns.cache_entries, metrics))
            .with_bounds(cfg.limits.auth_bounds()),
    )
}
