//! The Priority actor with every sync running on real exports: a pause stops each one at its
//! next page boundary and is acknowledged by all; after the resume each continues from its
//! checkpoint and every database still equals the ERP.

use crate::util::*;
use archibald_sim::ReportKind;
use blackant::records::Kind;
use blackant_actors::events::{EventBody, SyncEvent};
use blackant_actors::run::Trigger;
use blackant_actors::run::{Mode, RunId, Scope};
use blackant_actors::sync::RunState;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_stops_all_six_syncs_at_a_page_boundary_and_after_resume_every_database_equals_the_erp()
 {
    let h = Harness::start_with(Options {
        browsers: 2,
        ..Options::default()
    })
    .await;
    // Every event, kept by a task so that none is lost to a slow reader.
    let seen: Arc<Mutex<Vec<SyncEvent>>> = Arc::default();
    let mut events = h.service.subscribe();
    let collector = tokio::spawn({
        let seen = seen.clone();
        async move {
            while let Ok(e) = events.recv().await {
                seen.lock().unwrap().push(e);
            }
        }
    });
    let mut progress = h.service.subscribe();

    let agent = Scope::Agent("agent1".into());
    let mut runs: HashMap<RunId, Kind> = HashMap::new();
    for kind in Kind::ALL {
        let scope = if kind.spec().per_agent {
            agent.clone()
        } else {
            Scope::Catalogue
        };
        let ack = h
            .service
            .request_sync(kind, scope, Mode::Full, Trigger::Manual)
            .await
            .expect("request");
        runs.insert(ack.run_id, kind);
    }
    // Pages are being applied: pause now.
    wait_event(&mut progress, |e| {
        runs.contains_key(&e.run_id) && is_progress(e)
    })
    .await;
    let report = h.service.pause_syncs().await.expect("pause");
    let acked_at = std::time::SystemTime::now();
    assert!(report.timed_out.is_empty(), "{report:?}");
    assert_eq!(report.acked.len(), 6, "every sync acknowledged: {report:?}");
    for (kind, status) in h.service.status().await {
        for s in status.expect("status").scopes {
            assert!(
                !matches!(s.state, RunState::Running | RunState::Preparing),
                "{kind} {} is still working after the pause: {:?}",
                s.scope,
                s.state
            );
        }
    }
    let paused_runs: Vec<RunId> = report
        .acked
        .iter()
        .flat_map(|a| a.paused.iter().map(|p| p.run_id))
        .collect();
    assert!(
        !paused_runs.is_empty(),
        "some runs were stopped mid-way: {report:?}"
    );

    // Resume: every run ends, completed.
    h.service.resume_syncs().expect("resume");
    let mut ends = h.service.subscribe();
    let mut open: Vec<RunId> = runs.keys().copied().collect();
    open.retain(|r| {
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|e| e.run_id == *r && e.body.is_terminal())
    });
    while !open.is_empty() {
        let e = wait_event(&mut ends, |e| {
            open.contains(&e.run_id) && e.body.is_terminal()
        })
        .await;
        assert!(
            matches!(e.body, EventBody::Completed { .. }),
            "{} failed: {:?}",
            e.kind,
            e.body
        );
        open.retain(|r| *r != e.run_id);
    }

    // No page was applied between the acknowledgement and the resume.
    {
        let seen = seen.lock().unwrap();
        for run in &paused_runs {
            let resumed = seen
                .iter()
                .find(|e| e.run_id == *run && e.body == EventBody::Resumed)
                .map(|e| e.at);
            let during = seen
                .iter()
                .filter(|e| {
                    e.run_id == *run
                        && is_progress(e)
                        && e.at > acked_at
                        && resumed.is_none_or(|r| e.at < r)
                })
                .count();
            assert_eq!(during, 0, "run {run} applied {during} pages while paused");
        }
    }
    collector.abort();

    for (kind, report) in [
        (Kind::Customers, ReportKind::Customers),
        (Kind::Products, ReportKind::Products),
        (Kind::Prices, ReportKind::Prices),
        (Kind::Orders, ReportKind::Orders),
        (Kind::Ddt, ReportKind::Ddt),
        (Kind::Invoices, ReportKind::Invoices),
    ] {
        let user = kind.spec().per_agent.then_some("agent1");
        let db = live_rows(&db_of(&h, kind, "agent1"), kind, user);
        assert_equals_truth(
            &format!("{kind} after pause and resume"),
            kind,
            truth(&h.sim, report, user),
            db,
        );
    }
    let metrics = h.service.pause_metrics().await.expect("metrics");
    assert_eq!(metrics.pauses, 1);
    assert!(metrics.slowest.is_some());
    h.shutdown().await;
}
