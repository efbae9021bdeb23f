//! Starting what the figures measure: the embedded simulator and the real service against it
//! (through the library's start-up kit, like `blackant serve --sim` and the tests), and
//! running a set of syncs to their end.

use archibald_sim::{Account, Faults, Role, SimHandle};
use blackant::records::Kind;
use blackant::service::{Service, ServiceConfig};
use blackant::store::DataDir;
use blackant::store::ledger::RunFilter;
use blackant_actors::events::{EventBody, EventError};
use blackant_actors::run::{Mode, RunId, Scope, Trigger};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// The multi-threaded runtime every figure runs on.
pub fn runtime() -> tokio::runtime::Runtime {
    logs();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Logs only when asked (`RUST_LOG=blackant::erp=debug`), on stderr: the tables stay clean.
pub fn logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}

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

/// Wait until `service`'s BrowserPool has `n` browsers running (a warm pool launches them at
/// start; a figure of the first sync after a start waits for that, as a client would).
pub async fn browsers_launched(service: &Service, n: usize) {
    use blackant_actors::browser_pool::{BrowserPoolHandle, BrowserPoolMessage, ChromiumLauncher};
    let pool = service
        .directory()
        .get_ref::<BrowserPoolMessage<ChromiumLauncher>>(blackant::service::BROWSER_POOL)
        .expect("the BrowserPool runs");
    let pool = BrowserPoolHandle::new(pool);
    let since = Instant::now();
    while pool.status().await.expect("pool status").launched < n {
        assert!(
            since.elapsed() < Duration::from_secs(60),
            "browsers not launched after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
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

/// [`service_at`] with its configuration adjusted by `adjust` first.
pub async fn service_at_with(
    url: &str,
    accounts: &[Account],
    browsers: usize,
    adjust: impl FnOnce(&mut ServiceConfig),
) -> (Service, tempfile::TempDir) {
    start_at(url, accounts, browsers, adjust).await
}

/// Read `n` order detail pages at once per agent.
pub fn set_detail_pages_at_once(config: &mut ServiceConfig, n: usize) {
    if let blackant::service::SourceConfig::Erp { erp, .. } = &mut config.source {
        erp.detail_pages_at_once = n;
    }
}

/// Open every order detail page in a tab (`true`) or fetch their HTML after the first (the
/// default, `false`).
pub fn set_render_detail_pages(config: &mut ServiceConfig, render: bool) {
    if let blackant::service::SourceConfig::Erp { erp, .. } = &mut config.source {
        erp.render_detail_pages = render;
    }
}

/// Keep `n` logged-in tabs between syncs (0: every sync opens its own).
pub fn set_idle_tabs(config: &mut ServiceConfig, n: usize) {
    if let blackant::service::SourceConfig::Erp { erp, .. } = &mut config.source {
        erp.idle_tabs = n;
    }
}

/// Replace each browser after `leases` leases (0: never).
pub fn set_recycle_after(config: &mut ServiceConfig, leases: u32) {
    if let blackant::service::SourceConfig::Erp {
        recycle_after_leases,
        ..
    } = &mut config.source
    {
        *recycle_after_leases = leases;
    }
}

/// Start each browser of a warm pool with a spare context and a blank tab (`true`, the default).
pub fn set_spare_context(config: &mut ServiceConfig, spare: bool) {
    if let blackant::service::SourceConfig::Erp { chromium, .. } = &mut config.source {
        chromium.spare_context = spare;
    }
}

/// Launch the browsers when the service starts (`true`) or when first needed.
pub fn set_launch_at_start(config: &mut ServiceConfig, at_start: bool) {
    if let blackant::service::SourceConfig::Erp {
        launch_at_start, ..
    } = &mut config.source
    {
        *launch_at_start = at_start;
    }
}

/// [`service_at`] on a data folder prepared beforehand (e.g. a seeded `orders.db`), its
/// configuration adjusted by `adjust`.
pub async fn service_in_with(
    url: &str,
    accounts: &[Account],
    browsers: usize,
    data: tempfile::TempDir,
    adjust: impl FnOnce(&mut ServiceConfig),
) -> (Service, tempfile::TempDir) {
    start_in(url, accounts, browsers, adjust, data).await
}

async fn start_at(
    url: &str,
    accounts: &[Account],
    browsers: usize,
    adjust: impl FnOnce(&mut ServiceConfig),
) -> (Service, tempfile::TempDir) {
    let data = tempfile::tempdir().expect("data dir");
    start_in(url, accounts, browsers, adjust, data).await
}

async fn start_in(
    url: &str,
    accounts: &[Account],
    browsers: usize,
    adjust: impl FnOnce(&mut ServiceConfig),
    data: tempfile::TempDir,
) -> (Service, tempfile::TempDir) {
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
    let (wall, counts) = run_all_counts(service, runs, mode).await;
    (wall, counts.inserted)
}

/// [`run_all`] with every count of the runs summed (inserted, updated, unchanged).
pub async fn run_all_counts(
    service: &Service,
    runs: &[(Kind, Scope)],
    mode: Mode,
) -> (Duration, blackant_actors::run::Counts) {
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
    let mut total = blackant_actors::run::Counts::default();
    while !pending.is_empty() {
        let e = match events.recv().await {
            Ok(e) => e,
            // Hundreds of runs at once outpace this reader on a busy machine: the run history
            // says which ended while their events were dropped.
            Err(EventError::Lagged { .. }) => {
                settle_from_history(service, &mut pending, &mut total).await;
                continue;
            }
            Err(e) => panic!("events: {e}"),
        };
        if e.body.is_terminal() && pending.remove(&e.run_id) {
            match &e.body {
                EventBody::Completed { counts, .. } => total += *counts,
                other => panic!("{} {} failed: {other:?}", e.kind, e.scope),
            }
        }
    }
    (t.elapsed(), total)
}

/// Request every `(kind, scope)` at once and wait until all have ended AND the syncs that
/// follow them (an agent's DDT and invoices after its orders changed, `KindSpec::follow_ups`):
/// the wall time, the requested runs' counts and the follow-up runs' counts. A follow-up is
/// known by its kind and scope (and a run id after the requested ones'): nothing else may run
/// those kinds for those scopes meanwhile.
pub async fn run_all_with_follow_ups(
    service: &Service,
    runs: &[(Kind, Scope)],
    mode: Mode,
) -> (
    Duration,
    blackant_actors::run::Counts,
    blackant_actors::run::Counts,
) {
    let mut events = service.subscribe();
    let t = Instant::now();
    let mut pending = HashSet::new();
    let mut first = i64::MAX;
    for (kind, scope) in runs {
        let ack = service
            .request_sync(*kind, scope.clone(), mode, Trigger::Manual)
            .await
            .expect("request");
        first = first.min(ack.run_id.0);
        pending.insert(ack.run_id);
    }
    let mut total = blackant_actors::run::Counts::default();
    let mut follow_total = blackant_actors::run::Counts::default();
    // (kind, scope as the run history stores it) of the follow-ups still awaited.
    let mut expected: HashSet<(String, String)> = HashSet::new();
    fn expect(
        expected: &mut HashSet<(String, String)>,
        kind: &str,
        scope: &str,
        counts: &blackant_actors::run::Counts,
    ) {
        if let Some(kind) = Kind::from_name(kind) {
            for follow in kind.spec().follow_ups(counts) {
                expected.insert((follow.name().to_string(), scope.to_string()));
            }
        }
    }
    const QUIET: Duration = Duration::from_secs(300);
    while !pending.is_empty() || !expected.is_empty() {
        let e = match tokio::time::timeout(QUIET, events.recv()).await {
            Err(_) => panic!(
                "nothing happened for {QUIET:?}; still awaited: {} runs, follow-ups {expected:?}",
                pending.len()
            ),
            Ok(Ok(e)) => e,
            Ok(Err(EventError::Lagged { .. })) => {
                for run in ended_runs(service, pending.len() + expected.len()).await {
                    let key = (run.kind.clone(), run.scope.clone());
                    if pending.remove(&RunId(run.id)) {
                        let counts = add_stored_counts(&mut total, &run);
                        expect(&mut expected, &run.kind, &run.scope, &counts);
                    } else if run.id >= first && expected.remove(&key) {
                        add_stored_counts(&mut follow_total, &run);
                    }
                }
                continue;
            }
            Ok(Err(e)) => panic!("events: {e}"),
        };
        if !e.body.is_terminal() {
            continue;
        }
        // As the run history stores it, so both ways of settling agree.
        let scope = blackant::store::scope_text(&e.scope).to_string();
        let counts = match &e.body {
            EventBody::Completed { counts, .. } => *counts,
            other => panic!("{} {scope} failed: {other:?}", e.kind),
        };
        if pending.remove(&e.run_id) {
            total += counts;
            expect(&mut expected, &e.kind, &scope, &counts);
        } else if e.run_id.0 >= first && expected.remove(&(e.kind.clone(), scope)) {
            follow_total += counts;
        }
    }
    (t.elapsed(), total, follow_total)
}

/// Take the runs of `pending` that have ended out of it, from the run history.
async fn settle_from_history(
    service: &Service,
    pending: &mut HashSet<RunId>,
    total: &mut blackant_actors::run::Counts,
) {
    for run in ended_runs(service, pending.len()).await {
        if pending.remove(&RunId(run.id)) {
            add_stored_counts(total, &run);
        }
    }
}

/// The latest runs of the history that have ended, enough of them for `awaited` runs.
async fn ended_runs(service: &Service, awaited: usize) -> Vec<blackant::store::ledger::RunRow> {
    let limit = u32::try_from(awaited * 4 + 100).unwrap_or(u32::MAX);
    let runs = service
        .recent_runs(RunFilter::default(), limit)
        .await
        .expect("run history");
    runs.into_iter().filter(|run| run.state != "open").collect()
}

/// A stored run's counts added to `total` (and returned); it must have completed.
fn add_stored_counts(
    total: &mut blackant_actors::run::Counts,
    run: &blackant::store::ledger::RunRow,
) -> blackant_actors::run::Counts {
    assert_eq!(
        run.state, "completed",
        "{} {} ({}) ended {}: {:?}",
        run.kind, run.scope, run.trigger, run.state, run.error
    );
    let n = |v: Option<i64>| u64::try_from(v.unwrap_or(0)).unwrap_or(0);
    let counts = blackant_actors::run::Counts {
        inserted: n(run.inserted),
        updated: n(run.updated),
        unchanged: n(run.unchanged),
        deleted: n(run.deleted),
    };
    *total += counts;
    counts
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

/// Re-run this benchmark as a child with `args` (a figure measured alone, so its RSS is its
/// own), printing what it prints; `what` names it if it fails.
pub fn in_child(args: &[&str], what: &str) {
    let exe = std::env::current_exe().expect("own path");
    let out = std::process::Command::new(exe)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {what}: {e}"));
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        println!(
            "   {what} failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
}

/// `blackant sim` in its own process (seed 42, `scale`): the child, its URL and its accounts.
/// Killed when the returned [`SimProcess`] is dropped.
pub fn external_simulator(scale: usize) -> (SimProcess, String, Vec<Account>) {
    use std::io::BufRead;
    let blackant = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("blackant")))
        .filter(|p| p.exists())
        .expect("target/release/blackant (make bench builds it)");
    let mut sim = std::process::Command::new(blackant)
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "42",
            "--scale",
            &scale.to_string(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start blackant sim");
    let mut url = String::new();
    let mut accounts = Vec::new();
    let stdout = sim.stdout.take().expect("sim stdout");
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("sim output");
        if let Some(u) = line.strip_prefix("Archibald simulator at ") {
            url = u.trim().to_string();
        } else if line.starts_with("controls:") {
            break;
        } else if let [user, role, "password", password] =
            line.split_whitespace().collect::<Vec<_>>()[..]
        {
            accounts.push(Account {
                username: user.to_string(),
                password: password.to_string(),
                role: if role == "service" {
                    Role::Service
                } else {
                    Role::Agent
                },
            });
        }
    }
    (SimProcess(sim), url, accounts)
}

/// The simulator's process, killed when dropped: a figure that panics does not leave a
/// simulator (gigabytes at a big scale) running behind it.
pub struct SimProcess(std::process::Child);

impl std::ops::Deref for SimProcess {
    type Target = std::process::Child;
    fn deref(&self) -> &std::process::Child {
        &self.0
    }
}

impl std::ops::DerefMut for SimProcess {
    fn deref_mut(&mut self) -> &mut std::process::Child {
        &mut self.0
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
