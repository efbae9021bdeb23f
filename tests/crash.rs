//! The whole service killed with SIGKILL in the middle of a sync, as processes: `blackant sim`
//! stands in for Archibald, `blackant serve` is killed (paused at a page boundary first, so
//! the kill lands mid-run for sure) and started again on the same data folder. The run
//! resumes from its checkpoint in the export it kept, applies no page twice, and the database
//! equals the ERP.

use crate::util::process::*;
use crate::util::*;
use blackant::grpc::pb::{self, SyncKind, request_sync_response::Outcome};
use blackant::records::Kind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_killed_mid_sync_resumes_from_its_checkpoint_and_ends_equal_to_the_erp() {
    let (sim, url) = sim();
    let truth: Vec<serde_json::Map<String, serde_json::Value>> =
        sim_json(&url, "truth/customers?agent=agent1").await;
    let accounts: Vec<serde_json::Value> = sim_json(&url, "accounts").await;
    let password = password_of(&accounts, "agent1");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("blackant.toml");
    std::fs::write(
        &config,
        format!("agents = [\"agent1\"]\n[erp]\nbase_url = \"{url}\"\n"),
    )
    .unwrap();
    let data = dir.path().join("data");

    // First life: log the agent in (its customer sync starts), pause at a page boundary, kill.
    let (mut first, addr) = serve(&config, &data);
    let mut c = client(&addr).await;
    let open = pb::OpenSessionRequest {
        user: "agent1".into(),
        erp_username: "agent1".into(),
        erp_password: password.clone(),
    };
    let mut events = c
        .watch_sync_events(pb::WatchSyncEventsRequest {
            kind: SyncKind::Customers as i32,
            user: "agent1".into(),
            run_id: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let login = c.open_session(open.clone()).await.unwrap().into_inner();
    let run_id = login.syncs[0].response.as_ref().unwrap().run_id;
    assert_ne!(run_id, 0, "the login started the customer sync");
    wait_page(&mut events, 5).await;
    let channel = channel(&addr).await;
    let paused = pb::priority_service_client::PriorityServiceClient::new(channel)
        .pause_syncs(pb::PauseSyncsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        paused.acked.iter().any(|a| a.paused_runs.contains(&run_id)),
        "{paused:?}"
    );
    first.0.kill().expect("SIGKILL");
    first.0.wait().unwrap();

    // The run is open in the ledger, its export kept, some pages applied.
    let sync_db = rusqlite::Connection::open(data.join("sync.db")).unwrap();
    let state: String = sync_db
        .query_row(
            "SELECT state FROM runs WHERE id = ?1",
            [run_id as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(state, "open", "killed mid-run");
    drop(sync_db);
    let applied_before = live_rows(&data.join("customers-agent1.db"), Kind::Customers, None).len();
    assert!(
        applied_before > 0 && applied_before < truth.len(),
        "{applied_before} rows before the kill"
    );

    // Second life: the run resumes by itself (from the kept export: no ERP session needed).
    let (second, addr) = serve(&config, &data);
    let mut c = client(&addr).await;
    let again = c.open_session(open).await.unwrap().into_inner();
    let customers = again.syncs[0].response.as_ref().unwrap();
    if customers.outcome != Outcome::SkippedFresh as i32 {
        assert_eq!(
            (customers.outcome, customers.run_id),
            (Outcome::Joined as i32, run_id),
            "the resumed run, not a new one"
        );
        let done = c
            .request_sync(pb::RequestSyncRequest {
                kind: SyncKind::Customers as i32,
                user: "agent1".into(),
                wait: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(done.run_id, run_id);
    }
    let sync_db = rusqlite::Connection::open(data.join("sync.db")).unwrap();
    let (state, inserted, updated, unchanged): (String, i64, i64, i64) = sync_db
        .query_row(
            "SELECT state, inserted, updated, unchanged FROM runs WHERE id = ?1",
            [run_id as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(state, "completed");
    assert_eq!(
        (inserted, updated, unchanged),
        (truth.len() as i64, 0, 0),
        "no page applied twice, none lost"
    );
    assert_equals_truth(
        "after SIGKILL",
        Kind::Customers,
        truth,
        live_rows(&data.join("customers-agent1.db"), Kind::Customers, None),
    );

    drop(second);
    drop(sim);
}
