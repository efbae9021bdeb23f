//! Restart intensity in the real service: a sync actor that keeps dying is restarted with
//! backoff until it exceeds its limit, then escalated — left down, named in an error log,
//! ESCALATED in ListActors, DOWN in the sync status, NOT_SERVING in gRPC health — while an order sync that was running
//! the whole time completes. An operator's StartActor brings it back.

use crate::util::*;
use blackant::grpc::pb::admin_service_client::AdminServiceClient;
use blackant::grpc::pb::{self, SyncKind};
use blackant_actors::run::Trigger;
use blackant_actors::run::{Mode, Scope};
use blackant_actors::supervision::RestartPolicy;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sync_actor_dying_too_often_is_escalated_alone_and_an_operator_starts_it_again() {
    let logs = Logs::capture(tracing::Level::INFO);
    let max_restarts = 2;
    let h = Harness::start_with(Options {
        restart: RestartPolicy {
            max_restarts,
            within: Duration::from_secs(300),
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(100),
        },
        browsers: 2,
        ..Options::default()
    })
    .await;

    // An order sync runs while the customer sync actor keeps dying.
    let mut events = h.service.subscribe();
    let orders = h
        .service
        .request_sync(
            blackant::records::Kind::Orders,
            Scope::Agent("agent3".into()),
            Mode::Full,
            Trigger::Manual,
        )
        .await
        .expect("orders requested");

    let directory = h.service.directory();
    let mut last = None;
    for _ in 0..=max_restarts {
        let cell = tokio::time::timeout(PATIENCE, directory.next_incarnation("CustomerSync", last))
            .await
            .expect("CustomerSync is (re)started");
        last = Some(cell.get_id());
        cell.kill_and_wait(None).await.expect("killed");
    }

    let mut admin = AdminServiceClient::connect(format!("http://{}", h.addr))
        .await
        .expect("connect");
    let actors = admin
        .list_actors(pb::ListActorsRequest {})
        .await
        .expect("ListActors")
        .into_inner()
        .actors;
    let customers = actors
        .iter()
        .find(|a| a.name == "CustomerSync")
        .expect("CustomerSync listed");
    assert_eq!(customers.state, pb::actor::State::Escalated as i32);
    assert_eq!(customers.restarts, max_restarts);
    assert!(!customers.last_failure.is_empty());
    for a in actors.iter().filter(|a| a.name != "CustomerSync") {
        assert_eq!(
            a.state,
            pb::actor::State::Running as i32,
            "{} is not taken down with it",
            a.name
        );
    }

    // Health says so: NOT_SERVING while an actor is escalated.
    let mut health = health_watch(h.addr, "blackant.v1.SyncService").await;
    wait_health(&mut health, NOT_SERVING).await;

    let status = h.status(SyncKind::Customers, "agent3").await;
    assert_eq!(status.state, pb::sync_status::State::Down as i32);
    assert!(
        status.last_error.contains("CustomerSync"),
        "{}",
        status.last_error
    );
    let mut c = h.client.clone();
    let refused = c
        .request_sync(pb::RequestSyncRequest {
            kind: SyncKind::Customers as i32,
            user: "agent3".into(),
            ..Default::default()
        })
        .await
        .expect_err("an escalated sync takes no request");
    assert_eq!(refused.code(), tonic::Code::Unavailable);

    let end = tokio::time::timeout(PATIENCE, events.wait_for_run(orders.run_id))
        .await
        .expect("the order sync ends in time")
        .expect("events");
    assert!(
        matches!(
            end.body,
            blackant_actors::events::EventBody::Completed { .. }
        ),
        "the order sync kept running: {:?}",
        end.body
    );

    let log = logs.text();
    let line = log
        .lines()
        .find(|l| l.contains("restart intensity exceeded"))
        .unwrap_or_else(|| panic!("no escalation in the logs:\n{log}"));
    assert!(
        line.contains("ERROR") && line.contains("CustomerSync"),
        "{line}"
    );

    admin
        .start_actor(pb::ActorRequest {
            name: "CustomerSync".into(),
        })
        .await
        .expect("StartActor");
    wait_health(&mut health, SERVING).await;
    let r = h
        .sync(SyncKind::Customers, "agent3", pb::SyncMode::Full)
        .await;
    assert!(ok_result(&r).ok);
    h.shutdown().await;
}
