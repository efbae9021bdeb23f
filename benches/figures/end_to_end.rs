//! Figure 3: the end-to-end customer sync of agent1 against the embedded simulator at zero
//! latency, through the real service (BrowserPool with Chromium, DbWriters, SyncActor), split
//! by stage from the run's own events: cold with the browser launched on demand (before) and
//! the first sync after a start with the browser launched at start (after), warm, delta.

use crate::setup;
use crate::table::{Table, median, ms};
use blackant::records::Kind;
use blackant_actors::events::{EventBody, SyncEvent};
use blackant_actors::run::{Mode, Scope, Trigger};
use std::time::{Duration, Instant, SystemTime};

/// Stage split of one run, from its events' timestamps.
struct Stages {
    wall: Duration,
    prepare: Duration,
    pages: Duration,
    finish: Duration,
    records: u64,
}

/// `erp.idle_tabs` of the "tab kept" rows (the service keeps none by default).
const KEPT_TABS: usize = 8;

pub async fn run(warm_runs: usize) {
    let sim = setup::simulator().await;
    // After: the pool launches its browser when the service starts.
    let (service, _data) = setup::service_with(&sim, 1, |c| {
        setup::set_launch_at_start(c, true);
        setup::set_idle_tabs(c, KEPT_TABS);
    })
    .await;
    setup::browsers_launched(&service, 1).await;
    let cold = customer_sync(&service, Mode::Full).await;
    let mut warm = Vec::new();
    for _ in 0..warm_runs {
        warm.push(customer_sync(&service, Mode::Full).await);
    }
    let delta = customer_sync(&service, Mode::Delta).await;
    service.shutdown().await;
    // Before: the pool launched its browser when the first sync asked for one. Measured second,
    // so the simulator serves it an export it has already rendered: the comparison favours it.
    let (lazy, _lazy_data) =
        setup::service_with(&sim, 1, |c| setup::set_launch_at_start(c, false)).await;
    let lazy_cold = customer_sync(&lazy, Mode::Full).await;
    lazy.shutdown().await;
    // Before: no tab kept between syncs, so every warm sync opens a tab and loads the list view.
    let (no_kept, _no_kept_data) =
        setup::service_with(&sim, 1, |c| setup::set_idle_tabs(c, 0)).await;
    setup::browsers_launched(&no_kept, 1).await;
    customer_sync(&no_kept, Mode::Full).await;
    let mut warm_no_kept = Vec::new();
    for _ in 0..warm_runs {
        warm_no_kept.push(customer_sync(&no_kept, Mode::Full).await);
    }
    let delta_no_kept = customer_sync(&no_kept, Mode::Delta).await;
    no_kept.shutdown().await;
    let mut table = Table::new(
        "3. end-to-end customer sync of agent1 (simulator, zero latency, real Chromium)",
        &["", "wall", "prepare", "pages", "finish", "records"],
    );
    let mut print = |label: &str, s: &Stages| {
        table.row([
            label.to_string(),
            ms(s.wall),
            ms(s.prepare),
            ms(s.pages),
            ms(s.finish),
            s.records.to_string(),
        ]);
    };
    print(
        "before: cold, Chromium launched on demand (launch, login)",
        &lazy_cold,
    );
    print(
        "after: first after start, Chromium launched at start (login)",
        &cold,
    );
    print(
        &format!("before: warm full, no tab kept, median of {warm_runs}"),
        &median_stages(&warm_no_kept),
    );
    print(
        &format!("after: warm full, tab kept, median of {warm_runs}"),
        &median_stages(&warm),
    );
    print(
        "before: delta, export unchanged, no tab kept",
        &delta_no_kept,
    );
    print("after: delta, export unchanged, tab kept", &delta);
    table
        .note("prepare = lease browser + (login) + export download + parse + keep export")
        .note("pages   = first page applied → last page applied (one transaction each)")
        .note("finish  = deletions + completion record")
        .note("the first before is measured after the first after, on an export the simulator has already rendered")
        .note("tab kept = erp.idle_tabs 8 (first after start and delta too); no tab kept = 0, the default: each sync opens a tab and loads the list view")
        .print();
    sim.shutdown().await;
}

/// Each stage's median over `runs`.
fn median_stages(runs: &[Stages]) -> Stages {
    let med = |f: fn(&Stages) -> Duration| median(runs.iter().map(f).collect());
    Stages {
        wall: med(|s| s.wall),
        prepare: med(|s| s.prepare),
        pages: med(|s| s.pages),
        finish: med(|s| s.finish),
        records: runs[0].records,
    }
}

/// One customer sync of agent1 in `mode`, timed from the request and split by its events.
async fn customer_sync(service: &blackant::service::Service, mode: Mode) -> Stages {
    let mut events = service.subscribe();
    let requested = Instant::now();
    let ack = service
        .request_sync(
            Kind::Customers,
            Scope::Agent("agent1".into()),
            mode,
            Trigger::Manual,
        )
        .await
        .expect("request");
    let mut seen: Vec<SyncEvent> = Vec::new();
    loop {
        let e = events.recv().await.expect("events");
        if e.run_id != ack.run_id {
            continue;
        }
        let end = e.body.is_terminal();
        seen.push(e);
        if end {
            break;
        }
    }
    let wall = requested.elapsed();
    let at = |pred: &dyn Fn(&EventBody) -> bool, last: bool| -> SystemTime {
        let mut it = seen.iter().filter(|e| pred(&e.body)).map(|e| e.at);
        if last { it.last() } else { it.next() }.expect("event")
    };
    let since = |a: SystemTime, b: SystemTime| b.duration_since(a).unwrap_or_default();
    let started = at(&|b| matches!(b, EventBody::Started { .. }), false);
    let end = at(&|b| b.is_terminal(), true);
    let EventBody::Completed { counts, .. } = &seen.last().expect("end").body else {
        panic!("the run failed: {:?}", seen.last())
    };
    let records = counts.inserted + counts.updated + counts.unchanged;
    if seen
        .iter()
        .any(|e| matches!(e.body, EventBody::Progress { .. }))
    {
        let first_page = at(&|b| matches!(b, EventBody::Progress { .. }), false);
        let last_page = at(&|b| matches!(b, EventBody::Progress { .. }), true);
        Stages {
            wall,
            prepare: since(started, first_page),
            pages: since(first_page, last_page),
            finish: since(last_page, end),
            records,
        }
    } else {
        Stages {
            wall,
            prepare: since(started, end),
            pages: Duration::ZERO,
            finish: Duration::ZERO,
            records,
        }
    }
}
