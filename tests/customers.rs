//! The customer sync end to end (issue: foundation): a real Chromium logs into the simulator,
//! presses "Esporta PDF", the PDF is parsed and written to `customers-{agent}.db`, over gRPC.

use crate::util::*;
use archibald_sim::{Faults, ReportKind};
use blackant::grpc::pb::{SyncKind, SyncMode};
use blackant::records::Kind;
use blackant_actors::events::EventBody;
use blackant_actors::run::Scope;

fn db_rows(h: &Harness, agent: &str) -> Vec<serde_json::Map<String, serde_json::Value>> {
    live_rows(&h.customers_db(agent), Kind::Customers, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_sync_equals_the_erp_then_a_second_sync_writes_nothing_then_edits_and_removals_are_exact()
 {
    let h = Harness::start().await;

    // 1. Full sync: the database equals the ERP, field by field.
    let first = ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    let truth1 = truth(&h.sim, ReportKind::Customers, Some("agent1"));
    assert_eq!(truth1.len(), 5_700);
    assert_eq!(counts(&first), (5_700, 0, 0, 0));
    assert_equals_truth("first sync", Kind::Customers, truth1, db_rows(&h, "agent1"));

    // 2. Same data again (full, so the export is parsed and checked row by row): nothing written.
    let second = ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    assert_eq!(counts(&second), (0, 0, 5_700, 0));
    assert!(!second.unchanged_export, "a full sync re-reads the export");

    // 3. 25 edited and 3 removed in the ERP: exactly 25 updated, 3 marked deleted.
    let edited = h.sim.edit_customers("agent1", 25);
    let removed = h.sim.remove_customers("agent1", 3);
    assert_eq!((edited.len(), removed.len()), (25, 3));
    let third = ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Delta).await);
    assert_eq!(counts(&third), (0, 25, 5_700 - 3 - 25, 3));
    assert_equals_truth(
        "after edits",
        Kind::Customers,
        truth(&h.sim, ReportKind::Customers, Some("agent1")),
        db_rows(&h, "agent1"),
    );
    let conn = rusqlite::Connection::open(h.customers_db("agent1")).unwrap();
    for code in &removed {
        let deleted: Option<String> = conn
            .query_row(
                "SELECT deleted_at FROM customers WHERE code = ?1",
                [code],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            deleted.is_some(),
            "removed customer {code} is kept and marked deleted"
        );
    }

    // 4. Delta on a byte-identical export: nothing parsed, nothing written.
    let fourth = ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Delta).await);
    assert!(fourth.unchanged_export);
    assert_eq!(counts(&fourth), (0, 0, 0, 0));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_export_fails_with_a_clear_reason_and_changes_nothing() {
    let h = Harness::start().await;
    ok_result(&h.sync(SyncKind::Customers, "agent2", SyncMode::Full).await);
    let before = db_rows(&h, "agent2");

    // Records change in the ERP, but the export arrives without its last pages.
    h.sim.edit_customers("agent2", 10);
    h.sim.set_faults(Faults {
        truncate_export_pages: Some(2),
        ..Faults::default()
    });
    let resp = h.sync(SyncKind::Customers, "agent2", SyncMode::Full).await;
    let r = resp.result.expect("result");
    assert!(!r.ok, "a truncated export must fail the run");
    assert!(
        r.error.contains("truncated") && r.error.contains("missing"),
        "unclear reason: {}",
        r.error
    );
    assert_eq!(db_rows(&h, "agent2"), before, "nothing deleted or changed");

    // Once the ERP sends whole exports again, the next run catches up.
    h.sim.set_faults(Faults::default());
    let after = ok_result(&h.sync(SyncKind::Customers, "agent2", SyncMode::Delta).await);
    assert_eq!(counts(&after).1, 10);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_customer_sync_is_restarted_and_resumes_from_its_checkpoint() {
    let h = Harness::start().await;
    let mut events = h.service.subscribe();
    let scope = Scope::Agent("agent1".into());
    let ack = h
        .service
        .request_sync(
            Kind::Customers,
            scope.clone(),
            blackant_actors::run::Mode::Full,
            blackant_actors::sync::Trigger::Manual,
        )
        .await
        .expect("request");

    // Let a few pages land, then kill the actor in the middle of the run.
    let progress = wait_event(&mut events, |e| {
        e.run_id == ack.run_id && matches!(e.body, EventBody::Progress { page, .. } if page >= 3)
    })
    .await;
    let EventBody::Progress {
        page: killed_at,
        pages,
        ..
    } = progress.body
    else {
        unreachable!()
    };
    assert!(
        killed_at < pages,
        "the run must still be going when it is killed"
    );
    let cell = h
        .service
        .directory()
        .get("CustomerSync")
        .expect("CustomerSync is running");
    cell.kill();

    // The supervisor restarts it; the same run resumes from its checkpoint...
    let resumed = wait_event(&mut events, |e| {
        e.run_id == ack.run_id && matches!(e.body, EventBody::Started { .. })
    })
    .await;
    assert!(
        matches!(resumed.body, EventBody::Started { resumed: true, .. }),
        "{:?}",
        resumed.body
    );
    let next = wait_event(&mut events, |e| e.run_id == ack.run_id && is_progress(e)).await;
    let EventBody::Progress {
        page: first_after, ..
    } = next.body
    else {
        unreachable!()
    };
    assert!(
        first_after > killed_at,
        "resumed at page {first_after}, killed after page {killed_at}"
    );
    let end = wait_end(&mut events, ack.run_id).await;

    // ...no page was applied twice (a re-applied page would count its rows as unchanged)...
    let EventBody::Completed { counts, .. } = end.body else {
        panic!("run failed: {:?}", end.body)
    };
    assert_eq!(
        (
            counts.inserted,
            counts.updated,
            counts.unchanged,
            counts.deleted
        ),
        (5_700, 0, 0, 0)
    );
    // ...and the database equals the ERP.
    assert_equals_truth(
        "after restart",
        Kind::Customers,
        truth(&h.sim, ReportKind::Customers, Some("agent1")),
        db_rows(&h, "agent1"),
    );
    let tree = h.service.supervisor().list_tree().await.expect("tree");
    let node = tree
        .iter()
        .find(|c| c.name == "CustomerSync")
        .expect("in the tree");
    assert_eq!(node.restarts, 1);
    h.shutdown().await;
}

/// Tabs kept between syncs (`erp.idle_tabs`): a context's second sync uses the tab its first
/// one opened; when the ERP expired the session in between, that
/// tab logs in again and the sync still equals the ERP; with no tabs kept (the default), every
/// sync opens its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_sync_reuses_the_first_ones_tab_and_logs_in_again_when_the_session_expired() {
    let tabs = || counted_by_how(blackant::syncs::TABS_TOTAL, ["opened", "reused"]);
    let before = tabs();
    let h = Harness::start_with(Options {
        agents: vec!["agent1".into()],
        idle_tabs: 2,
        ..Options::default()
    })
    .await;
    let sync = async || ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    sync().await;
    let logins = h.sim.stats().logins;
    let lists = || h.sim.stats().grid_requests;
    assert_eq!(
        lists(),
        1,
        "the list view loaded once: the login sent the tab back to it, not loaded again"
    );
    sync().await;
    assert_eq!(
        lists(),
        1,
        "the kept tab pressed the button of the list it shows"
    );
    let after_two = tabs();
    assert_eq!(
        (after_two.0 - before.0, after_two.1 - before.1),
        (1.0, 1.0),
        "one tab opened, then reused"
    );
    assert_eq!(h.sim.stats().logins, logins, "the session was still open");

    assert!(h.sim.expire_sessions() >= 1);
    let third = sync().await;
    assert_eq!(counts(&third), (0, 0, 5_700, 0));
    assert_eq!(h.sim.stats().logins, logins + 1, "logged in again");
    assert_eq!(
        lists(),
        2,
        "the list view loaded again, once, through the login"
    );
    let after_three = tabs();
    assert_eq!(after_three.0, after_two.0, "no tab opened for it");
    assert_eq!(after_three.1, after_two.1 + 1.0);
    assert_equals_truth(
        "after the expired session",
        Kind::Customers,
        truth(&h.sim, ReportKind::Customers, Some("agent1")),
        db_rows(&h, "agent1"),
    );
    h.shutdown().await;

    let h = Harness::start_with(Options {
        agents: vec!["agent1".into()],
        idle_tabs: 0,
        ..Options::default()
    })
    .await;
    let start = tabs();
    for round in 0..2 {
        let (lists, logins) = (h.sim.stats().grid_requests, h.sim.stats().logins);
        ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
        // Each new tab opens at the list view: loaded once, through the login the first time.
        assert_eq!(h.sim.stats().grid_requests, lists + 1, "sync {round}");
        assert_eq!(
            h.sim.stats().logins,
            logins + u64::from(round == 0),
            "sync {round}"
        );
    }
    let end = tabs();
    assert_eq!(
        (end.0 - start.0, end.1 - start.1),
        (2.0, 0.0),
        "no tab kept"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_button_below_the_first_screen_is_scrolled_to_and_pressed() {
    let h = Harness::start().await;
    h.sim.set_faults(Faults {
        toolbar_below_fold: true,
        ..Faults::default()
    });
    let done = ok_result(&h.sync(SyncKind::Customers, "agent2", SyncMode::Full).await);
    let truth2 = truth(&h.sim, ReportKind::Customers, Some("agent2"));
    assert_eq!(counts(&done), (truth2.len() as u64, 0, 0, 0));
    assert_equals_truth(
        "below the fold",
        Kind::Customers,
        truth2,
        db_rows(&h, "agent2"),
    );
    h.shutdown().await;
}
