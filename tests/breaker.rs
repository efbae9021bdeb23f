//! The ERP's circuit breaker against the simulator: consecutive HTTP 500s open it, a run then
//! fails saying so, later calls fail at once without reaching the ERP, and status shows it;
//! after the cool-down one probe goes through and, when it succeeds, closes it. (The same
//! transitions on a paused clock: `syncs::breaker` unit tests.) An ERP that does not answer at
//! all fails a run with the network's error, and one too slow with a timeout, after their
//! retries.

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
    let r = failed_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    assert!(
        r.error.contains("circuit breaker erp is open"),
        "{}",
        r.error
    );

    assert_eq!(
        h.status(SyncKind::Customers, "agent2").await.breaker,
        pb::BreakerState::Open as i32,
        "status shows the open breaker"
    );

    // Another agent's sync fails at once: not one request reaches the ERP.
    let before = h.sim.stats().requests;
    let r = failed_result(&h.sync(SyncKind::Customers, "agent2", SyncMode::Full).await);
    assert!(r.error.contains("circuit breaker"), "{}", r.error);
    assert_eq!(
        h.sim.stats().requests,
        before,
        "the open breaker kept every call away from the ERP"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_cool_down_one_probe_closes_the_breaker_and_the_run_completes() {
    // Three HTTP 500s (attempts 1-3) open the breaker. Retry delays are uniform in [d/2, d]
    // with d = 1, 2, 4, 8 s: attempt 4 comes 2-4 s after the opening, inside the 5 s
    // cool-down, and is refused without a request; attempt 5 comes 6-12 s after, when the
    // breaker is half-open: it is the probe, it succeeds, the breaker closes.
    let opts = Options {
        retry: RetryPolicy {
            max_attempts: 6,
            base: Duration::from_secs(1),
            max: Duration::from_secs(10),
        },
        breaker: BreakerPolicy {
            failures_to_open: 3,
            cool_down: Duration::from_secs(5),
        },
        faults: Faults {
            fail_next: 3,
            ..Faults::default()
        },
        ..Options::default()
    };
    let h = Harness::start_with(opts).await;
    let mut events = h.service.subscribe();
    // The probe's run completes.
    ok_result(&h.sync(SyncKind::Customers, "agent3", SyncMode::Full).await);

    // The run's events, buffered on the subscription up to its end.
    let mut retries = Vec::new();
    loop {
        let e = events.recv().await.expect("events");
        match e.body {
            blackant_actors::events::EventBody::Retrying { reason, .. } => retries.push(reason),
            body if body.is_terminal() => break,
            _ => {}
        }
    }
    assert_eq!(retries.len(), 4, "{retries:#?}");
    assert!(
        retries[..3].iter().all(|r| r.contains("500")),
        "three HTTP 500s: {retries:#?}"
    );
    assert!(
        retries[3].contains("circuit breaker erp is open"),
        "attempt 4 was refused by the open breaker: {}",
        retries[3]
    );
    assert_eq!(
        h.status(SyncKind::Customers, "agent3").await.breaker,
        pb::BreakerState::Closed as i32,
        "the successful probe closed the breaker"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erp_that_does_not_answer_fails_the_run_with_the_network_error_after_its_retries() {
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let h = Harness::start_with(Options {
        erp_url: Some(format!("http://127.0.0.1:{port}")),
        ..Options::default()
    })
    .await;
    let r = failed_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    assert!(
        r.error.contains("ERR_CONNECTION_REFUSED") && r.error.contains(&format!(":{port}/clienti")),
        "the error names the network failure and the page: {}",
        r.error
    );
    assert!(!r.permanent, "a network failure is transient: {}", r.error);
    assert_eq!(h.sim.stats().requests, 0);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erp_slower_than_the_page_timeout_fails_the_run_with_a_timeout_after_its_retries() {
    let h = Harness::start_with(Options {
        faults: Faults {
            latency: Duration::from_secs(2),
            ..Faults::default()
        },
        page_timeout: Some(Duration::from_millis(500)),
        ..Options::default()
    })
    .await;
    let r = failed_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    assert!(
        r.error
            .contains("timed out after 500ms while opening a tab at")
            && r.error.ends_with("/clienti"),
        "the error names the wait and the page: {}",
        r.error
    );
    assert!(!r.permanent, "a timeout is transient: {}", r.error);
    h.shutdown().await;
}
