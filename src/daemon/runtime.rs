//! What the daemon runs on: the state a connection takes a snapshot of
//! (configuration, policy, authenticator), built from a configuration and
//! swapped whole on reload, and the process-wide metrics and guards.

use crate::analysis::policy::Policy;
use crate::auth::Authenticator;
use crate::daemon::guard::Guards;
use crate::settings::config::Config;
use crate::telemetry::metrics::Metrics;
use ipnet::IpNet;
use std::path::Path;
use std::sync::{Arc, RwLock};

/// Everything a connection needs, fixed for the connection's lifetime: a
/// reload swaps in a new `State` for new connections and leaves running ones
/// on the snapshot they started with.
pub struct State {
    pub config: Arc<Config>,
    pub policy: Arc<Policy>,
    pub authenticator: Arc<Authenticator>,
    pub trusted: Vec<IpNet>,
}

/// Process-wide: the current state, the metrics, the connection guards and
/// the analysis threads.
pub struct Runtime {
    state: RwLock<Arc<State>>,
    pub metrics: Arc<Metrics>,
    pub guards: Arc<Guards>,
    /// Analyses run on the blocking pool, never on the async workers (on
    /// 2 cores there is one), so a slow message holds one of these and
    /// connections, `/healthz` and other messages go on. Bounded, so that
    /// messages that outlive their deadline cannot take every core.
    pub analysis_slots: Arc<tokio::sync::Semaphore>,
}

impl Runtime {
    pub fn new(state: State, metrics: Arc<Metrics>) -> Runtime {
        let guards = Guards::new(state.config.limits.message_timeout(), metrics.clone());
        let slots = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2);
        Runtime {
            state: RwLock::new(Arc::new(state)),
            metrics,
            guards,
            analysis_slots: Arc::new(tokio::sync::Semaphore::new(slots)),
        }
    }

    pub fn snapshot(&self) -> Arc<State> {
        self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, state: State) {
        self.guards
            .set_message_timeout(state.config.limits.message_timeout());
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
    }
}

/// Builds the connection state from a configuration (read from
/// `config_path`, if any), reusing the previous authenticator (and its warm
/// DNS caches) when the DNS settings are unchanged.
pub fn build_state(
    cfg: Config,
    config_path: Option<&Path>,
    metrics: &Arc<Metrics>,
    previous: Option<&State>,
) -> Result<State, String> {
    // A missing or broken policy file is named together with the
    // configuration that refers to it, as `config check` does: the
    // operator's fix may be in either file.
    let policy = Policy::load_files(&cfg.policy).map_err(|e| match config_path {
        Some(path) => e.referred_by(&path.display().to_string(), "policy"),
        None => e.to_string(),
    })?;
    let trusted = cfg.trusted()?;
    let authenticator = match previous {
        Some(p)
            if p.config.dns == cfg.dns
                && p.config.limits.auth_bounds() == cfg.limits.auth_bounds() =>
        {
            p.authenticator.clone()
        }
        _ => Arc::new(authenticator(&cfg, Some(metrics.clone()))?),
    };
    metrics.set_policy(
        &policy.name,
        &policy.version,
        &policy
            .brands
            .iter()
            .map(|b| b.id.clone())
            .collect::<Vec<_>>(),
    );
    Ok(State {
        config: Arc::new(cfg),
        policy: Arc::new(policy),
        authenticator,
        trusted,
    })
}

pub fn authenticator(cfg: &Config, metrics: Option<Arc<Metrics>>) -> Result<Authenticator, String> {
    crate::auth::from_config(cfg, metrics)
}
