//! The start-up kit for the embedded Archibald simulator (feature `sim`): start one, turn its
//! accounts into the service's agents and credentials, and build a [`ServiceConfig`] against
//! it. `blackant serve --sim`, the integration tests and the benchmarks all start the same way
//! through here, so none of them drifts from the others.
//!
//! Glue only: it must NOT be used by the service itself (which knows the ERP only through its
//! configuration).

use crate::erp::{Credentials, ErpConfig};
use crate::service::{OrderSettings, ServiceConfig, SourceConfig, Tuning};
use crate::store::DataDir;
use archibald_sim::{Account, Faults, Role, SimConfig, SimError, SimHandle, Simulator};
use blackant_actors::run::Scope;
use std::time::Duration;

/// Start a simulator on a free loopback port.
pub async fn start_simulator(seed: u64, scale: u32, faults: Faults) -> Result<SimHandle, SimError> {
    Simulator::start(SimConfig {
        seed,
        scale,
        faults,
        ..SimConfig::default()
    })
    .await
}

/// The agents and ERP credentials of `accounts`: the service account for the catalogue, each
/// agent with its session open. With `only` not empty, just those agents.
pub fn sessions(accounts: &[Account], only: &[String]) -> (Vec<String>, Vec<(Scope, Credentials)>) {
    let mut agents = Vec::new();
    let mut credentials = Vec::new();
    for a in accounts {
        let scope = match a.role {
            Role::Service => Scope::Catalogue,
            Role::Agent if only.is_empty() || only.contains(&a.username) => {
                agents.push(a.username.clone());
                Scope::Agent(a.username.clone())
            }
            Role::Agent => continue,
        };
        credentials.push((scope, Credentials::new(&a.username, &a.password)));
    }
    (agents, credentials)
}

/// A service against the ERP at `base_url` with `accounts` (see [`sessions`]), its data in
/// `data`, `browsers` Chromium processes, no Scheduler, every other setting at its default.
pub fn service_config(
    base_url: &str,
    accounts: &[Account],
    only: &[String],
    data: DataDir,
    browsers: usize,
) -> ServiceConfig {
    let (agents, credentials) = sessions(accounts, only);
    let mut erp = ErpConfig::new(base_url);
    // A debug build on a loaded machine reads big pages slowly: be patient with the simulator.
    erp.page_timeout = Duration::from_secs(60);
    erp.export_timeout = Duration::from_secs(120);
    ServiceConfig {
        data,
        source: SourceConfig::Erp {
            erp,
            chromium: Box::default(),
            browsers,
            launch_at_start: true,
            recycle_after_leases: blackant_actors::browser_pool::RECYCLE_AFTER_LEASES,
        },
        agents,
        credentials,
        retry: Default::default(),
        restart: Default::default(),
        breaker: Default::default(),
        schedule: None,
        tuning: Tuning::default(),
        orders: OrderSettings::default(),
        deletes: Default::default(),
        evidence: Default::default(),
    }
}

/// [`service_config`] for an embedded simulator.
pub fn sim_service_config(
    sim: &SimHandle,
    only: &[String],
    data: DataDir,
    browsers: usize,
) -> ServiceConfig {
    service_config(sim.base_url(), &sim.accounts(), only, data, browsers)
}
