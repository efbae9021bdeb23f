//! Triggers with freshness thresholds and agent sessions, over gRPC: EnsureFresh skips fresh
//! data (saying how old it is) and runs stale data; a login hands over the agent's ERP
//! credentials and syncs customers and orders when older than 2 h; a reconnect when older
//! than their interval; a logout forgets the credentials.

use crate::util::*;
use blackant::grpc::pb::{self, SyncKind, request_sync_response::Outcome};
use tonic::Code;

fn ensure(
    kind: SyncKind,
    user: &str,
    max_age: Option<std::time::Duration>,
) -> pb::EnsureFreshRequest {
    pb::EnsureFreshRequest {
        kind: kind as i32,
        user: user.into(),
        max_age: max_age.map(|d| prost_types::Duration::try_from(d).unwrap()),
        wait: true,
    }
}

fn age(r: &pb::RequestSyncResponse) -> std::time::Duration {
    std::time::Duration::try_from(r.data_age.expect("the data's age is said")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_fresh_skips_fresh_data_saying_its_age_and_syncs_stale_data() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    // Never synced: runs.
    let first = c
        .ensure_fresh(ensure(SyncKind::Orders, "agent3", None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.outcome, Outcome::Started as i32);
    assert!(first.data_age.is_none(), "never synced: no age");
    ok_result(&first);
    // Younger than the default 10 minutes: skipped, with the age.
    let fresh = c
        .ensure_fresh(ensure(SyncKind::Orders, "agent3", None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (fresh.outcome, fresh.run_id),
        (Outcome::SkippedFresh as i32, 0)
    );
    assert!(
        age(&fresh) < std::time::Duration::from_secs(600),
        "{fresh:?}"
    );
    assert!(fresh.result.is_none());
    // Older than the caller's threshold: runs (a delta: the export did not change).
    let stale = c
        .ensure_fresh(ensure(
            SyncKind::Orders,
            "agent3",
            Some(std::time::Duration::ZERO),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stale.outcome, Outcome::Started as i32);
    assert!(age(&stale) <= age(&fresh) + std::time::Duration::from_secs(60));
    assert!(ok_result(&stale).unchanged_export);

    let e = c
        .ensure_fresh(ensure(SyncKind::Products, "agent3", None))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_brings_the_agents_credentials_and_syncs_when_older_than_its_threshold() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    let password = h.sim.account("agent2").expect("agent2").password;
    let session = |user: &str| pb::SessionRequest { user: user.into() };
    let join_customers = pb::RequestSyncRequest {
        kind: SyncKind::Customers as i32,
        user: "agent2".into(),
        wait: true,
        ..Default::default()
    };

    // Logged out: the service no longer holds agent2's ERP credentials.
    c.close_session(session("agent2")).await.unwrap();
    let r = c
        .request_sync(join_customers.clone())
        .await
        .unwrap()
        .into_inner();
    let r = r.result.expect("result");
    assert!(!r.ok && r.error.contains("open a session"), "{}", r.error);

    // A login with a wrong password: the login syncs start and fail saying why.
    let open = |password: &str| pb::OpenSessionRequest {
        user: "agent2".into(),
        erp_username: "agent2".into(),
        erp_password: password.into(),
    };
    let bad = c.open_session(open("wrong")).await.unwrap().into_inner();
    assert_eq!(bad.syncs.len(), 2);
    let r = c
        .request_sync(join_customers.clone())
        .await
        .unwrap()
        .into_inner();
    let r = r.result.expect("result");
    assert!(
        !r.ok && r.error.contains("rejected the credentials"),
        "{}",
        r.error
    );

    // The right password: customers and orders, never synced, run.
    let good = c.open_session(open(&password)).await.unwrap().into_inner();
    let kinds: Vec<i32> = good.syncs.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [SyncKind::Customers as i32, SyncKind::Orders as i32]);
    assert!(
        good.syncs
            .iter()
            .all(|s| s.response.as_ref().unwrap().outcome != Outcome::SkippedFresh as i32)
    );
    let customers = c
        .request_sync(join_customers.clone())
        .await
        .unwrap()
        .into_inner();
    ok_result(&customers);
    let orders = c
        .request_sync(pb::RequestSyncRequest {
            kind: SyncKind::Orders as i32,
            ..join_customers.clone()
        })
        .await
        .unwrap()
        .into_inner();
    ok_result(&orders);

    // Logging in again, and reconnecting, within the thresholds: nothing runs, ages are said.
    for response in [
        c.open_session(open(&password)).await.unwrap().into_inner(),
        c.reconnect_session(session("agent2"))
            .await
            .unwrap()
            .into_inner(),
    ] {
        for s in &response.syncs {
            let r = s.response.as_ref().unwrap();
            assert_eq!(r.outcome, Outcome::SkippedFresh as i32, "{s:?}");
            assert!(age(r) < std::time::Duration::from_secs(600));
        }
    }

    let e = c.reconnect_session(session("nobody")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    let e = c
        .open_session(pb::OpenSessionRequest {
            user: "agent2".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    h.shutdown().await;
}
