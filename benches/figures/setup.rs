//! Starting what the figures measure: the embedded simulator and the real service against it
//! (through the library's start-up kit, like `blackant serve --sim` and the tests), and
//! running a set of syncs to their end.

use archibald_sim::{Account, Faults, SimHandle};
use blackant::records::Kind;
use blackant::service::{Service, ServiceConfig};
use blackant::store::DataDir;
use blackant_actors::events::EventBody;
use blackant_actors::run::{Mode, Scope, Trigger};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// A simulator with the default data set and no faults.
pub async fn simulator() -> SimHandle {
    blackant::sim_kit::start_simulator(42, 1, Faults::default())
        .await
        .expect("simulator")
}

/// The service against `sim`'s accounts, with `browsers` Chromium processes.
pub async fn service(sim: &SimHandle, browsers: usize) -> (Service, tempfile::TempDir) {
    service_at(sim.base_url(), &sim.accounts(), browsers).await
}

/// [`service`] with its configuration adjusted by `adjust` first.
pub async fn service_with(
    sim: &SimHandle,
    browsers: usize,
    adjust: impl FnOnce(&mut ServiceConfig),
) -> (Service, tempfile::TempDir) {
    start_at(sim.base_url(), &sim.accounts(), browsers, adjust).await
}

/// The service against the ERP at `url` with `accounts`.
pub async fn service_at(
    url: &str,
    accounts: &[Account],
    browsers: usize,
) -> (Service, tempfile::TempDir) {
    start_at(url, accounts, browsers, |_| {}).await
}

async fn start_at(
    url: &str,
    accounts: &[Account],
    browsers: usize,
    adjust: impl FnOnce(&mut ServiceConfig),
) -> (Service, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("data dir");
    let mut config =
        blackant::sim_kit::service_config(url, accounts, &[], DataDir::new(data.path()), browsers);
    if let blackant::service::SourceConfig::Erp { erp, .. } = &mut config.source {
        erp.page_timeout = Duration::from_secs(120);
    }
    adjust(&mut config);
    let service = Service::start(config).await.expect("service");
    (service, data)
}

/// Request every `(kind, scope)` at once and wait until all have ended; the wall time and
/// the records inserted.
pub async fn run_all(service: &Service, runs: &[(Kind, Scope)], mode: Mode) -> (Duration, u64) {
    let mut events = service.subscribe();
    let t = Instant::now();
    let mut pending = HashSet::new();
    for (kind, scope) in runs {
        let ack = service
            .request_sync(*kind, scope.clone(), mode, Trigger::Manual)
            .await
            .expect("request");
        pending.insert(ack.run_id);
    }
    let mut inserted = 0;
    while !pending.is_empty() {
        let e = events.recv().await.expect("events");
        if e.body.is_terminal() && pending.remove(&e.run_id) {
            match &e.body {
                EventBody::Completed { counts, .. } => inserted += counts.inserted,
                other => panic!("{} {} failed: {other:?}", e.kind, e.scope),
            }
        }
    }
    (t.elapsed(), inserted)
}

/// Every kind once: per-agent kinds for `agent`, catalogue kinds for the catalogue.
pub fn every_kind_of(agent: &str) -> Vec<(Kind, Scope)> {
    Kind::ALL
        .iter()
        .map(|k| {
            let scope = if k.spec().per_agent {
                Scope::Agent(agent.into())
            } else {
                Scope::Catalogue
            };
            (*k, scope)
        })
        .collect()
}
