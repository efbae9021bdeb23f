//! The gRPC surface as any client sees it: validation with the right codes and messages,
//! status, the event stream, health and reflection.

use crate::util::*;
use blackant::grpc::pb;
use blackant::grpc::pb::{SyncKind, SyncMode};
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_the_right_codes_and_say_what_was_wrong() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    let req = |kind: i32, user: &str| pb::RequestSyncRequest {
        kind,
        user: user.into(),
        ..Default::default()
    };

    let e = c.request_sync(req(42, "agent1")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("42"), "{}", e.message());

    let e = c.request_sync(req(0, "agent1")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("kind"), "{}", e.message());

    let e = c
        .request_sync(req(SyncKind::Customers as i32, "nobody"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("nobody"), "{}", e.message());

    let e = c
        .request_sync(req(SyncKind::Customers as i32, ""))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("agent"), "{}", e.message());

    let e = c
        .get_sync_status(pb::GetSyncStatusRequest {
            kind: 0,
            user: "nobody".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_event_stream_follow_a_run() {
    let h = Harness::start().await;
    let mut c = h.client.clone();
    let mut stream = c
        .watch_sync_events(pb::WatchSyncEventsRequest {
            kind: SyncKind::Customers as i32,
            user: "agent3".into(),
            run_id: 0,
        })
        .await
        .expect("watch")
        .into_inner();
    let resp = h.sync(SyncKind::Customers, "agent3", SyncMode::Full).await;
    let result = ok_result(&resp);

    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(PATIENCE, stream.message())
            .await
            .expect("in time")
            .expect("stream")
            .expect("open");
        assert_eq!(e.user, "agent3");
        assert_eq!(e.run_id, resp.run_id);
        let end = matches!(e.event, Some(pb::sync_event::Event::Completed(_)));
        seen.push(e);
        if end {
            break;
        }
    }
    let names: Vec<&str> = seen
        .iter()
        .filter_map(|e| e.event.as_ref())
        .map(|ev| match ev {
            pb::sync_event::Event::Queued(_) => "queued",
            pb::sync_event::Event::Started(_) => "started",
            pb::sync_event::Event::Progress(_) => "progress",
            pb::sync_event::Event::Completed(_) => "completed",
            _ => "other",
        })
        .collect();
    assert_eq!(names.first(), Some(&"queued"), "{names:?}");
    let Some(pb::sync_event::Event::Queued(queued)) = &seen[0].event else {
        unreachable!()
    };
    assert_eq!(
        queued.trigger,
        pb::Trigger::Manual as i32,
        "the event says why the run was requested"
    );
    assert!(
        names.contains(&"started") && names.contains(&"progress"),
        "{names:?}"
    );
    let last_progress = seen.iter().rev().find_map(|e| match &e.event {
        Some(pb::sync_event::Event::Progress(p)) => Some(*p),
        _ => None,
    });
    let p = last_progress.expect("progress events");
    assert_eq!(p.page, p.pages, "the last progress event is the last page");
    assert_eq!(p.items, counts(&result).0, "items = records in the export");

    let s = &h.status(SyncKind::Customers, "agent3").await;
    assert_eq!(s.state, pb::sync_status::State::Idle as i32);
    assert!(
        s.last_success.is_some(),
        "a completed run refreshes last_success"
    );
    assert_eq!(s.last_counts.map(|c| c.inserted), Some(counts(&result).0));
    // The watch stream is still open: shutting the server down must end it, not wait on it.
    h.shutdown().await;
    let end = tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("the stream ends with the server");
    assert!(
        matches!(end, Ok(None)),
        "a clean end of stream, got {end:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_work_out_of_the_box_in_both_protocols() {
    let h = Harness::start().await;
    let channel = channel(h.addr).await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in blackant::grpc::SERVICE_NAMES {
        let resp = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.to_string(),
            })
            .await
            .expect("health check")
            .into_inner();
        assert_eq!(resp.status, SERVING, "{service:?}");
    }

    let mut expected: Vec<String> = blackant::grpc::SERVICE_NAMES
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| s.to_string())
        .collect();
    expected.push("grpc.health.v1.Health".into());
    expected.sort();
    // v1: what current clients speak.
    {
        use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
        let req = tonic_reflection::pb::v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let msg = ServerReflectionClient::new(channel.clone())
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .expect("reflection v1")
            .into_inner()
            .message()
            .await
            .expect("answer")
            .expect("one message");
        let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
            panic!("{msg:?}")
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for name in &expected {
            assert!(names.contains(name), "v1 lists {name}: {names:?}");
        }
    }
    // v1alpha: older grpcurl, Postman, Evans and some languages' packages.
    {
        use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
        use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
        use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
        let req = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let msg = ServerReflectionClient::new(channel.clone())
            .server_reflection_info(tokio_stream::iter([req]))
            .await
            .expect("reflection v1alpha")
            .into_inner()
            .message()
            .await
            .expect("answer")
            .expect("one message");
        let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
            panic!("{msg:?}")
        };
        let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
        for name in &expected {
            assert!(names.contains(name), "v1alpha lists {name}: {names:?}");
        }
    }

    // Shutting down: NOT_SERVING before anything stops, for every service.
    let mut watch = health_watch(h.addr, "blackant.v1.DataService").await;
    wait_health(&mut watch, SERVING).await;
    h.service.begin_shutdown();
    wait_health(&mut watch, NOT_SERVING).await;
    let whole = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health check")
        .into_inner();
    assert_eq!(whole.status, NOT_SERVING);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_list_restart_stop_and_start_actors_and_agents_may_not() {
    use blackant::grpc::{AuthConfig, Role, TokenEntry};
    let auth = AuthConfig::new(&[
        TokenEntry::for_token("op-secret", Role::Operator, None),
        TokenEntry::for_token("a1-secret", Role::Agent, Some("agent1")),
    ])
    .unwrap();
    let h = Harness::start_with(Options {
        auth,
        ..Options::default()
    })
    .await;
    let channel = channel(h.addr).await;
    let mut admin = pb::admin_service_client::AdminServiceClient::new(channel.clone());
    let mut sync = pb::sync_service_client::SyncServiceClient::new(channel);

    let e = admin
        .list_actors(with_token(Some("a1-secret"), pb::ListActorsRequest {}))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());
    let e = admin
        .list_actors(pb::ListActorsRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated, "{}", e.message());

    let actors = admin
        .list_actors(with_token(Some("op-secret"), pb::ListActorsRequest {}))
        .await
        .unwrap()
        .into_inner()
        .actors;
    let names: Vec<&str> = actors.iter().map(|a| a.name.as_str()).collect();
    for want in [
        "CustomerSync",
        "ProductSync",
        "PriceSync",
        "OrderSyncRegistry",
        "DdtSync",
        "InvoiceSync",
        "BrowserPool",
        "ImageFetcher",
        "DbWriter:sync.db",
    ] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    assert!(
        actors
            .iter()
            .all(|a| a.state == pb::actor::State::Running as i32 && a.restarts == 0),
        "{actors:?}"
    );
    let op = |name: &str| with_token(Some("op-secret"), pb::ActorRequest { name: name.into() });
    let before = actors
        .iter()
        .find(|a| a.name == "CustomerSync")
        .unwrap()
        .actor_id
        .clone();

    let restarted = admin
        .restart_actor(op("CustomerSync"))
        .await
        .unwrap()
        .into_inner()
        .actor
        .unwrap();
    assert_eq!(
        (restarted.state, restarted.restarts),
        (pb::actor::State::Running as i32, 1)
    );
    assert_ne!(restarted.actor_id, before, "a new incarnation");

    let stopped = admin
        .stop_actor(op("CustomerSync"))
        .await
        .unwrap()
        .into_inner()
        .actor
        .unwrap();
    assert_eq!(stopped.state, pb::actor::State::Stopped as i32);
    let req = pb::RequestSyncRequest {
        kind: SyncKind::Customers as i32,
        user: "agent1".into(),
        wait: true,
        ..Default::default()
    };
    let e = sync
        .request_sync(with_token(Some("a1-secret"), req.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Code::Unavailable,
        "a stopped sync: {}",
        e.message()
    );

    admin.start_actor(op("CustomerSync")).await.unwrap();
    let done = sync
        .request_sync(with_token(Some("a1-secret"), req))
        .await
        .unwrap()
        .into_inner();
    assert!(
        done.result.is_some_and(|r| r.ok),
        "the started actor syncs again"
    );

    let e = admin.restart_actor(op("NoSuchSync")).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().contains("NoSuchSync"), "{}", e.message());
    let e = admin.stop_actor(op(" ")).await.unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    h.shutdown().await;
}
