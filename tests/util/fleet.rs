//! The schedules and syncs of a served `blackant serve` address, as the chaos run and the soak
//! drive them: the scopes three agents make, schedules compressed to seconds or disabled, and
//! a clean full sync that does not count a joined run.

use super::channel;
use super::process::client;
use blackant::grpc::pb::{self, SyncKind, request_sync_response::Outcome};
use blackant::records::Kind;
use rand::Rng;

/// The agents of the chaos run and the soak.
pub const AGENTS: [&str; 3] = ["agent1", "agent2", "agent3"];

/// Every (kind, agent) the service keeps: the catalogue once, the rest per agent.
pub fn scopes() -> Vec<(Kind, &'static str)> {
    let mut out = vec![(Kind::Products, ""), (Kind::Prices, "")];
    for agent in AGENTS {
        for kind in [Kind::Customers, Kind::Ddt, Kind::Invoices, Kind::Orders] {
            out.push((kind, agent));
        }
    }
    out
}

/// The proto enum of a kind.
pub fn sync_kind(kind: Kind) -> SyncKind {
    blackant::grpc::kind_to_proto(kind)
}

/// Every kind every few seconds, each interval drawn from `seconds` (kept in sync.db for the
/// service's next lives).
pub async fn compress_schedules(addr: &str, rng: &mut impl Rng, seconds: std::ops::Range<i64>) {
    let mut c = pb::scheduler_service_client::SchedulerServiceClient::new(channel(addr).await);
    for kind in Kind::ALL {
        c.update_schedule(pb::UpdateScheduleRequest {
            kind: sync_kind(kind) as i32,
            interval: Some(prost_types::Duration {
                seconds: rng.random_range(seconds.clone()),
                nanos: 0,
            }),
            stagger: Some(prost_types::Duration::default()),
            jitter: Some(prost_types::Duration {
                seconds: 1,
                nanos: 0,
            }),
            enabled: Some(true),
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("{kind}: a compressed schedule: {e}"));
    }
}

/// Every kind's schedule off (nothing syncs unless asked).
pub async fn disable_schedules(addr: &str) {
    let mut c = pb::scheduler_service_client::SchedulerServiceClient::new(channel(addr).await);
    for kind in Kind::ALL {
        c.disable_schedule(pb::ScheduleKindRequest {
            kind: sync_kind(kind) as i32,
        })
        .await
        .unwrap_or_else(|e| panic!("{kind}: disable its schedule: {e}"));
    }
}

/// One full sync of `kind` for `agent` that read the ERP as it is now, faults off: a run the
/// request joined may have resumed an export of an earlier life, so a joined request asks
/// again.
pub async fn clean_sync(addr: &str, kind: Kind, agent: &str) {
    let mut c = client(addr).await;
    for _ in 0..3 {
        let r = c
            .request_sync(pb::RequestSyncRequest {
                kind: sync_kind(kind) as i32,
                user: agent.into(),
                mode: pb::SyncMode::Full as i32,
                reason: "a clean sync".into(),
                wait: true,
            })
            .await
            .unwrap_or_else(|e| panic!("{kind} {agent}: a clean sync: {e}"))
            .into_inner();
        let result = r.result.expect("a waited run has a result");
        assert!(
            result.ok,
            "{kind} {agent}: a sync with faults off failed: {}",
            result.error
        );
        if r.outcome == Outcome::Started as i32 {
            return;
        }
    }
    panic!("{kind} {agent}: every final request joined a run already going");
}
