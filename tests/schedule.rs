//! The Scheduler in the real service (Chromium, simulator, sync.db): at first start every
//! kind of every agent with credentials syncs at once (never synced = stale), dependencies
//! first; operators read and change schedules over gRPC with immediate effect; the schedules
//! survive a restart, and a restart on fresh data starts nothing.

use crate::util::{Harness, Options, PATIENCE};
use blackant::grpc::pb;
use blackant::grpc::pb::scheduler_service_client::SchedulerServiceClient;
use blackant::records::Kind;
use blackant::service::ScheduleSettings;
use blackant::store::ledger::{self, RunRow};
use blackant_actors::events::EventBody;
use blackant_actors::run::Trigger;

const AGENT: &str = "agent3";

fn options(data: Option<std::sync::Arc<tempfile::TempDir>>) -> Options {
    Options {
        schedule: Some(ScheduleSettings::default()),
        agents: vec![AGENT.into()],
        data,
        ..Options::default()
    }
}

fn runs(h: &Harness) -> Vec<RunRow> {
    let conn =
        blackant_actors::db_writer::open_reader(h.service.data().sync_db()).expect("sync.db opens");
    let mut rows = ledger::recent_runs(&conn, None, 1000).expect("runs");
    rows.reverse();
    rows
}

fn fresh_kinds(h: &Harness) -> usize {
    let Ok(conn) = blackant_actors::db_writer::open_reader(h.service.data().sync_db()) else {
        return 0;
    };
    ledger::all_freshness(&conn).map(|f| f.len()).unwrap_or(0)
}

fn first_run(rows: &[RunRow], kind: Kind) -> &RunRow {
    rows.iter()
        .find(|r| r.kind == kind.name())
        .unwrap_or_else(|| panic!("no {kind} run in {rows:#?}"))
}

async fn scheduler_client(h: &Harness) -> SchedulerServiceClient<tonic::transport::Channel> {
    SchedulerServiceClient::connect(format!("http://{}", h.addr))
        .await
        .expect("connect")
}

async fn get_schedules(
    admin: &mut SchedulerServiceClient<tonic::transport::Channel>,
) -> Vec<pb::Schedule> {
    admin
        .get_schedules(pb::GetSchedulesRequest {})
        .await
        .expect("GetSchedules")
        .into_inner()
        .schedules
}

/// The next `Queued` event: (kind, trigger).
async fn next_queued(events: &mut blackant_actors::events::EventSubscription) -> (String, Trigger) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let e = events.recv().await.expect("events");
            if let EventBody::Queued { trigger } = e.body {
                return (e.kind, trigger);
            }
        }
    })
    .await
    .expect("a run is queued in time")
}

fn secs(s: u64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration {
        seconds: s as i64,
        nanos: 0,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_syncs_every_kind_at_first_start_follows_grpc_changes_and_keeps_them() {
    let h = Harness::start_with(options(None)).await;
    let mut events = h.service.subscribe();
    // Every kind of agent3 and the catalogue: six freshness rows once all have completed.
    tokio::time::timeout(PATIENCE, async {
        while fresh_kinds(&h) < Kind::ALL.len() {
            let e = events.recv().await.expect("events");
            if let EventBody::Failed { reason, .. } = &e.body {
                panic!("{} failed: {reason}", e.kind);
            }
        }
    })
    .await
    .expect("the first scheduled syncs end in time");

    let rows = runs(&h);
    for kind in Kind::ALL {
        let run = first_run(&rows, kind);
        assert!(
            ["stale", "follow_up"].contains(&run.trigger.as_str()),
            "{kind} started by {}",
            run.trigger
        );
    }
    // Dependencies: prices opened after products ended; DDT and invoices after orders.
    for (kind, after) in [
        (Kind::Prices, Kind::Products),
        (Kind::Ddt, Kind::Orders),
        (Kind::Invoices, Kind::Orders),
    ] {
        let (run, dep) = (first_run(&rows, kind), first_run(&rows, after));
        let dep_end = dep.ended_at.clone().expect("ended");
        assert!(
            run.queued_at >= dep_end,
            "{kind} queued at {} before {after} ended at {dep_end}",
            run.queued_at
        );
    }

    let mut admin = scheduler_client(&h).await;
    let schedules = get_schedules(&mut admin).await;
    let by_kind = |list: &[pb::Schedule], k: pb::SyncKind| {
        list.iter()
            .find(|s| s.kind == k as i32)
            .cloned()
            .expect("schedule")
    };
    let orders = by_kind(&schedules, pb::SyncKind::Orders);
    assert_eq!(
        (orders.interval, orders.stagger, orders.priority),
        (secs(600), secs(0), 4)
    );
    let products = by_kind(&schedules, pb::SyncKind::Products);
    assert_eq!(
        (products.interval, products.stagger),
        (secs(5400), secs(1800))
    );
    assert_eq!(
        by_kind(&schedules, pb::SyncKind::Prices).after,
        vec![pb::SyncKind::Products as i32]
    );
    assert_eq!(orders.next.len(), 1, "one planned run for agent3");
    assert_eq!(orders.next[0].user, AGENT);

    // An out-of-bounds change is refused with the reason and changes nothing.
    let bad = admin
        .update_schedule(pb::UpdateScheduleRequest {
            kind: pb::SyncKind::Customers as i32,
            interval: secs(60),
            jitter: secs(40),
            ..Default::default()
        })
        .await
        .expect_err("jitter above half the interval");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument);
    assert!(bad.message().contains("jitter"), "{}", bad.message());

    // Customers every 2 s from now: the next grid point starts a scheduled run.
    let mut events = h.service.subscribe();
    let changed = admin
        .update_schedule(pb::UpdateScheduleRequest {
            kind: pb::SyncKind::Customers as i32,
            interval: secs(2),
            stagger: secs(0),
            jitter: secs(0),
            ..Default::default()
        })
        .await
        .expect("UpdateSchedule")
        .into_inner();
    assert_eq!(changed.interval, secs(2));
    // Only customers can be due now (every other kind ran moments ago).
    assert_eq!(
        next_queued(&mut events).await,
        ("customers".into(), Trigger::Scheduled)
    );

    let disabled = admin
        .disable_schedule(pb::ScheduleKindRequest {
            kind: pb::SyncKind::Customers as i32,
        })
        .await
        .expect("DisableSchedule")
        .into_inner();
    assert!(!disabled.enabled && disabled.next.is_empty());

    // Run history over gRPC: a second request while an order sync runs joins it, and counts.
    let mut events = h.service.subscribe();
    let scope = blackant_actors::run::Scope::Agent(AGENT.into());
    let mode = blackant_actors::run::Mode::Delta;
    let first = h
        .service
        .request_sync(Kind::Orders, scope.clone(), mode, Trigger::Manual)
        .await
        .expect("orders");
    let second = h
        .service
        .request_sync(Kind::Orders, scope, mode, Trigger::Manual)
        .await
        .expect("orders again");
    assert!(!first.joined && second.joined && second.run_id == first.run_id);
    tokio::time::timeout(PATIENCE, events.wait_for_run(first.run_id))
        .await
        .expect("the order sync ends")
        .expect("events");
    let mut metrics_client = blackant::grpc::pb::admin_service_client::AdminServiceClient::connect(
        format!("http://{}", h.addr),
    )
    .await
    .expect("connect");
    let metrics = metrics_client
        .get_run_metrics(pb::GetRunMetricsRequest {})
        .await
        .expect("GetRunMetrics")
        .into_inner()
        .kinds;
    assert_eq!(metrics.len(), Kind::ALL.len(), "{metrics:#?}");
    let orders = metrics
        .iter()
        .find(|m| m.kind == pb::SyncKind::Orders as i32)
        .expect("orders metrics");
    assert_eq!((orders.runs, orders.completed, orders.failed), (2, 2, 0));
    assert_eq!(orders.joined, 1, "one request joined a running order sync");
    let ms = |d: Option<prost_types::Duration>| {
        let d = d.expect("a duration");
        d.seconds * 1000 + i64::from(d.nanos) / 1_000_000
    };
    assert!(ms(orders.duration_p50) > 0 && ms(orders.duration_p99) >= ms(orders.duration_p50));

    let data = h.data.clone();
    h.shutdown().await;

    // Restarted on the same data: the changed schedule is still there, and nothing is due.
    let h = Harness::start_with(options(Some(data))).await;
    let mut admin = scheduler_client(&h).await;
    let schedules = get_schedules(&mut admin).await;
    let customers = by_kind(&schedules, pb::SyncKind::Customers);
    assert_eq!((customers.interval, customers.enabled), (secs(2), false));
    assert_eq!(
        by_kind(&schedules, pb::SyncKind::Orders).interval,
        secs(600),
        "untouched kinds keep their defaults"
    );
    for s in &schedules {
        assert!(
            s.queued.is_empty() && s.running.is_empty(),
            "fresh data, nothing due after a restart: {s:?}"
        );
    }
    let mut events = h.service.subscribe();
    let enabled = admin
        .enable_schedule(pb::ScheduleKindRequest {
            kind: pb::SyncKind::Customers as i32,
        })
        .await
        .expect("EnableSchedule")
        .into_inner();
    assert!(enabled.enabled);
    assert_eq!(enabled.interval, secs(2));
    // Grid points missed while disabled: one scheduled run at once.
    let e = tokio::time::timeout(PATIENCE, async {
        loop {
            let e = events.recv().await.expect("events");
            if matches!(e.body, EventBody::Queued { .. }) {
                return e;
            }
        }
    })
    .await
    .expect("re-enabled customers run");
    assert_eq!(
        (e.kind.as_str(), e.body),
        (
            "customers",
            EventBody::Queued {
                trigger: Trigger::Scheduled
            }
        )
    );
    h.shutdown().await;
}
