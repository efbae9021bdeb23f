//! The ERP's circuit breaker against the simulator: consecutive HTTP 500s open it, a run then
//! fails saying so, later calls fail at once without reaching the ERP, and status shows it.
//! (Half-open after the cool-down and the closing probe: `syncs::breaker` unit tests, on a
//! paused clock.)

use crate::util::*;
use archibald_sim::Faults;
use blackant::grpc::pb::{self, SyncKind, SyncMode};
use blackant::syncs::breaker::BreakerPolicy;
use blackant_actors::sync::RetryPolicy;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_consecutive_http_500s_open_the_breaker_and_no_call_reaches_the_erp_while_open() {
    let opts = Options {
        retry: RetryPolicy {
            max_attempts: 4,
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
        breaker: BreakerPolicy {
            failures_to_open: 3,
            cool_down: Duration::from_secs(600),
        },
        faults: Faults {
            fail_next: 1_000,
            ..Faults::default()
        },
        ..Options::default()
    };
    let h = Harness::start_with(opts).await;

    // Attempts 1-3 get HTTP 500 and open the breaker; attempt 4 is refused by it.
    let r = h
        .sync(SyncKind::Customers, "agent1", SyncMode::Full)
        .await
        .result
        .expect("result");
    assert!(!r.ok);
    assert!(
        r.error.contains("circuit breaker erp is open"),
        "{}",
        r.error
    );

    let mut c = h.client.clone();
    let status = c
        .get_sync_status(pb::GetSyncStatusRequest {
            kind: SyncKind::Customers as i32,
            user: "agent2".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        status.statuses[0].breaker,
        pb::BreakerState::Open as i32,
        "status shows the open breaker"
    );

    // Another agent's sync fails at once: not one request reaches the ERP.
    let before = h.sim.stats().requests;
    let r = h
        .sync(SyncKind::Customers, "agent2", SyncMode::Full)
        .await
        .result
        .expect("result");
    assert!(!r.ok && r.error.contains("circuit breaker"), "{}", r.error);
    assert_eq!(
        h.sim.stats().requests,
        before,
        "the open breaker kept every call away from the ERP"
    );
    h.shutdown().await;
}
