//! `blackant.v1.AdminService` and `blackant.v1.PriorityService`: thin adapters for operators
//! over the service's operations (list the actor tree with restart counts, restart / stop /
//! start an actor by name, run metrics, held deletions listed, released or discarded; pause /
//! resume every sync, pause metrics). Only the operator role passes; the logic lives in the
//! service and the actors.

use super::auth::principal;
use super::convert::{duration, status_of, timestamp};
use super::pb;
use crate::service::held::HeldDeletions;
use crate::service::{ActorOperation, Service};
use crate::store::tables::HeldDecision;
use blackant_actors::root::{ActorNode, ChildInfo, ChildState};
use blackant_actors::run::RunId;
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct AdminApi {
    service: Arc<Service>,
}

impl AdminApi {
    pub fn new(service: Arc<Service>) -> Self {
        Self { service }
    }

    /// Restart, stop or start the named actor; answer with the actor afterwards.
    async fn operate(
        &self,
        request: Request<pb::ActorRequest>,
        op: ActorOperation,
    ) -> Result<Response<pb::ActorResponse>, Status> {
        operator(&request)?;
        let name = name_of(request.get_ref())?;
        tracing::info!(actor = %name, operation = ?op, "operator request");
        let actor = self
            .service
            .operate_actor(&name, op)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::ActorResponse {
            actor: Some(actor_to_proto(&actor)),
        }))
    }
}

/// Only the operator role passes.
pub(super) fn operator<T>(req: &Request<T>) -> Result<(), Status> {
    if principal(req)?.is_operator() {
        Ok(())
    } else {
        Err(Status::permission_denied(
            "admin RPCs need a token with the operator role",
        ))
    }
}

fn name_of(req: &pb::ActorRequest) -> Result<String, Status> {
    let name = req.name.trim();
    if name.is_empty() {
        return Err(Status::invalid_argument(
            "say which actor: `name` is empty (ListActors shows the names)",
        ));
    }
    Ok(name.to_string())
}

fn node_to_proto(n: &ActorNode) -> pb::ActorNode {
    pb::ActorNode {
        name: n.name.clone(),
        id: n.id.clone(),
        children: n.children.iter().map(node_to_proto).collect(),
    }
}

fn actor_to_proto(c: &ChildInfo) -> pb::Actor {
    use pb::actor::State;
    let state = match c.state {
        ChildState::Running => State::Running,
        ChildState::Restarting => State::Restarting,
        ChildState::Stopping => State::Stopping,
        ChildState::Stopped => State::Stopped,
        ChildState::Escalated => State::Escalated,
    };
    pb::Actor {
        name: c.name.clone(),
        state: state as i32,
        restarts: c.restarts,
        last_failure: c.last_failure.clone().unwrap_or_default(),
        started_at: c.started_at.map(timestamp),
        actor_id: c.actor_id.clone().unwrap_or_default(),
        children: c.children.iter().map(node_to_proto).collect(),
    }
}

#[tonic::async_trait]
impl pb::admin_service_server::AdminService for AdminApi {
    async fn list_actors(
        &self,
        request: Request<pb::ListActorsRequest>,
    ) -> Result<Response<pb::ListActorsResponse>, Status> {
        operator(&request)?;
        let tree = self.service.actors().await.map_err(status_of)?;
        Ok(Response::new(pb::ListActorsResponse {
            actors: tree.iter().map(actor_to_proto).collect(),
        }))
    }

    async fn restart_actor(
        &self,
        request: Request<pb::ActorRequest>,
    ) -> Result<Response<pb::ActorResponse>, Status> {
        self.operate(request, ActorOperation::Restart).await
    }

    async fn stop_actor(
        &self,
        request: Request<pb::ActorRequest>,
    ) -> Result<Response<pb::ActorResponse>, Status> {
        self.operate(request, ActorOperation::Stop).await
    }

    async fn start_actor(
        &self,
        request: Request<pb::ActorRequest>,
    ) -> Result<Response<pb::ActorResponse>, Status> {
        self.operate(request, ActorOperation::Start).await
    }

    async fn get_run_metrics(
        &self,
        request: Request<pb::GetRunMetricsRequest>,
    ) -> Result<Response<pb::GetRunMetricsResponse>, Status> {
        operator(&request)?;
        let metrics = self.service.run_metrics().await.map_err(status_of)?;
        let ms = |v: Option<u64>| v.map(|m| duration(std::time::Duration::from_millis(m)));
        let kinds = metrics
            .into_iter()
            .filter_map(|m| {
                let kind = crate::records::Kind::from_name(&m.kind)?;
                Some(pb::KindRunMetrics {
                    kind: super::convert::kind_to_proto(kind) as i32,
                    runs: m.runs,
                    completed: m.completed,
                    failed: m.failed,
                    unchanged_exports: m.unchanged_exports,
                    joined: m.joined,
                    duration_p50: ms(m.p50_ms),
                    duration_p95: ms(m.p95_ms),
                    duration_p99: ms(m.p99_ms),
                    duration_max: ms(m.max_ms),
                })
            })
            .collect();
        Ok(Response::new(pb::GetRunMetricsResponse { kinds }))
    }

    async fn list_held_deletions(
        &self,
        request: Request<pb::ListHeldDeletionsRequest>,
    ) -> Result<Response<pb::ListHeldDeletionsResponse>, Status> {
        operator(&request)?;
        let held = self.service.held_deletions().await.map_err(status_of)?;
        Ok(Response::new(pb::ListHeldDeletionsResponse {
            held: held.iter().map(held_to_proto).collect(),
        }))
    }

    async fn release_held_deletions(
        &self,
        request: Request<pb::HeldDeletionsRequest>,
    ) -> Result<Response<pb::HeldDeletionsResponse>, Status> {
        self.decide(request, HeldDecision::Release).await
    }

    async fn discard_held_deletions(
        &self,
        request: Request<pb::HeldDeletionsRequest>,
    ) -> Result<Response<pb::HeldDeletionsResponse>, Status> {
        self.decide(request, HeldDecision::Discard).await
    }
}

impl AdminApi {
    async fn decide(
        &self,
        request: Request<pb::HeldDeletionsRequest>,
        decision: HeldDecision,
    ) -> Result<Response<pb::HeldDeletionsResponse>, Status> {
        operator(&request)?;
        let req = request.get_ref();
        let kind = super::convert::kind_from_proto(req.kind)?;
        if req.run_id < 0 {
            return Err(Status::invalid_argument(
                "run_id is a run id (0: whichever run holds the set)",
            ));
        }
        let run = (req.run_id > 0).then_some(RunId(req.run_id));
        let out = self
            .service
            .decide_held(kind, req.user.trim(), decision, run)
            .await
            .map_err(status_of)?;
        Ok(Response::new(pb::HeldDeletionsResponse {
            held: Some(held_to_proto(&out.held)),
            deleted: out.deleted,
        }))
    }
}

fn held_to_proto(h: &HeldDeletions) -> pb::HeldDeletions {
    pb::HeldDeletions {
        kind: super::convert::kind_to_proto(h.kind) as i32,
        user: crate::store::scope_text(&h.scope).to_string(),
        run_id: h.run_id.0,
        held_at: crate::store::parse_time(&h.held_at, "held_at")
            .ok()
            .map(timestamp),
        reason: h.reason.clone(),
        count: h.count,
    }
}

/// `blackant.v1.PriorityService`: pause / resume every sync, pause metrics (operator role).
pub struct PriorityApi {
    service: Arc<Service>,
}

impl PriorityApi {
    pub fn new(service: Arc<Service>) -> Self {
        Self { service }
    }
}

#[tonic::async_trait]
impl pb::priority_service_server::PriorityService for PriorityApi {
    async fn pause_syncs(
        &self,
        request: Request<pb::PauseSyncsRequest>,
    ) -> Result<Response<pb::PauseSyncsResponse>, Status> {
        operator(&request)?;
        let r = self.service.pause_syncs().await.map_err(status_of)?;
        Ok(Response::new(pb::PauseSyncsResponse {
            waited: Some(duration(r.waited)),
            acked: r
                .acked
                .iter()
                .map(|a| pb::SyncAck {
                    name: a.name.clone(),
                    waited: Some(duration(a.waited)),
                    paused_runs: a.paused.iter().map(|p| p.run_id.0.max(0) as u64).collect(),
                })
                .collect(),
            timed_out: r.timed_out,
            slowest: r.slowest.unwrap_or_default(),
        }))
    }

    async fn resume_syncs(
        &self,
        request: Request<pb::ResumeSyncsRequest>,
    ) -> Result<Response<pb::ResumeSyncsResponse>, Status> {
        operator(&request)?;
        self.service.resume_syncs().map_err(status_of)?;
        Ok(Response::new(pb::ResumeSyncsResponse {}))
    }

    async fn get_pause_metrics(
        &self,
        request: Request<pb::GetPauseMetricsRequest>,
    ) -> Result<Response<pb::PauseMetrics>, Status> {
        operator(&request)?;
        let m = self.service.pause_metrics().await.map_err(status_of)?;
        Ok(Response::new(pb::PauseMetrics {
            pauses: m.pauses,
            wait_p50: Some(duration(m.wait_p50)),
            wait_p95: Some(duration(m.wait_p95)),
            wait_max: Some(duration(m.wait_max)),
            slowest: m.slowest.unwrap_or_default(),
            timeouts: m.timeouts.into_iter().collect(),
        }))
    }
}
