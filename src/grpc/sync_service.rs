//! `blackant.v1.SyncService`: a thin adapter. Each RPC checks who may do what, turns the
//! request into domain values (`convert`), calls the `Service`, and maps the answer back; the
//! error codes come from `convert::status_of`. No sync logic and no database access here.

use super::auth::{Principal, principal};
use super::convert::{self, kind_filter, kind_from_proto, mode_from_proto, status_of};
use super::pb;
use crate::records::Kind;
use crate::service::{Freshness, Service, clip};
use blackant_actors::events::{EventSubscription, SyncEvent};
use blackant_actors::order_placer::PlacementEvent;
use blackant_actors::run::{Scope, Trigger};
use blackant_actors::sync::RequestAck;
use futures::Stream;
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tracing::Span;

pub struct SyncApi {
    service: Arc<Service>,
    /// Cancelled when the server shuts down: ends every event stream.
    streams_end: CancellationToken,
}

impl SyncApi {
    pub fn new(service: Arc<Service>, streams_end: CancellationToken) -> Self {
        Self {
            service,
            streams_end,
        }
    }
}

fn authorize(who: &Principal, kind: Kind, scope: &Scope) -> Result<(), Status> {
    match scope {
        Scope::Agent(user) if !who.may_access_agent(user) => Err(Status::permission_denied(
            format!("this token may not reach agent {user:?}'s data"),
        )),
        Scope::Catalogue if !who.may_sync_catalogue() => Err(Status::permission_denied(format!(
            "this token may not start {kind} syncs (shared catalogue)"
        ))),
        _ => Ok(()),
    }
}

/// Record the kind and agent a request is about on the handler's span.
fn note(kind: Option<Kind>, agent: &str) {
    let span = Span::current();
    if let Some(kind) = kind {
        span.record("kind", kind.name());
    }
    if !agent.is_empty() {
        span.record("agent", agent);
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::SyncEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::sync_service_server::SyncService for SyncApi {
    #[tracing::instrument(skip_all, fields(kind, agent, run))]
    async fn request_sync(
        &self,
        request: Request<pb::RequestSyncRequest>,
    ) -> Result<Response<pb::RequestSyncResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let kind = kind_from_proto(req.kind)?;
        let mode = mode_from_proto(req.mode)?;
        let user = req.user.trim();
        note(Some(kind), user);
        let scope = self.service.scope_for(kind, user).map_err(status_of)?;
        authorize(&who, kind, &scope)?;
        if !req.reason.is_empty() {
            tracing::info!(reason = %req.reason, "sync requested");
        }
        // Subscribe before asking, so the run's end cannot slip past us.
        let events = req.wait.then(|| self.service.subscribe());
        let ack = self
            .service
            .request_sync(kind, scope, mode, Trigger::Manual)
            .await
            .map_err(status_of)?;
        Ok(Response::new(answer(ack, None, events).await?))
    }

    #[tracing::instrument(skip_all, fields(kind, agent, run))]
    async fn ensure_fresh(
        &self,
        request: Request<pb::EnsureFreshRequest>,
    ) -> Result<Response<pb::RequestSyncResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let kind = kind_from_proto(req.kind)?;
        let user = req.user.trim();
        note(Some(kind), user);
        let scope = self.service.scope_for(kind, user).map_err(status_of)?;
        authorize(&who, kind, &scope)?;
        let max_age = match req.max_age {
            None => self.service.interval(kind).await,
            Some(d) => std::time::Duration::try_from(d)
                .map_err(|_| Status::invalid_argument("max_age must be a non-negative duration"))?,
        };
        let events = req.wait.then(|| self.service.subscribe());
        let fresh = self
            .service
            .request_if_older(kind, scope, max_age, Trigger::EnsureFresh)
            .await
            .map_err(status_of)?;
        Ok(Response::new(match fresh {
            Freshness::Fresh { age } => convert::skipped_answer(age),
            Freshness::Requested { ack, age } => answer(ack, age, events).await?,
        }))
    }

    #[tracing::instrument(skip_all, fields(agent))]
    async fn open_session(
        &self,
        request: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<pb::SessionResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let user = req.user.trim().to_string();
        if user.is_empty() || req.erp_username.trim().is_empty() || req.erp_password.is_empty() {
            return Err(Status::invalid_argument(
                "user, erp_username and erp_password are all required",
            ));
        }
        note(None, &user);
        if !who.may_access_agent(&user) {
            return Err(Status::permission_denied(format!(
                "this token may not open a session for agent {user:?}"
            )));
        }
        let credentials = crate::erp::Credentials::new(req.erp_username.trim(), req.erp_password);
        let syncs = self
            .service
            .open_session(&user, credentials)
            .await
            .map_err(status_of)?;
        tracing::info!("session opened");
        Ok(Response::new(convert::session_to_proto(&syncs)))
    }

    #[tracing::instrument(skip_all, fields(agent))]
    async fn reconnect_session(
        &self,
        request: Request<pb::SessionRequest>,
    ) -> Result<Response<pb::SessionResponse>, Status> {
        let who = principal(&request)?;
        let user = self.session_user(&who, request.get_ref())?;
        let syncs = self
            .service
            .reconnect_session(&user)
            .await
            .map_err(status_of)?;
        Ok(Response::new(convert::session_to_proto(&syncs)))
    }

    #[tracing::instrument(skip_all, fields(agent))]
    async fn close_session(
        &self,
        request: Request<pb::SessionRequest>,
    ) -> Result<Response<pb::SessionResponse>, Status> {
        let who = principal(&request)?;
        let user = self.session_user(&who, request.get_ref())?;
        if self.service.close_session(&user) {
            tracing::info!("session closed");
        }
        Ok(Response::new(pb::SessionResponse { syncs: Vec::new() }))
    }

    #[tracing::instrument(skip_all, fields(kind, agent))]
    async fn get_sync_status(
        &self,
        request: Request<pb::GetSyncStatusRequest>,
    ) -> Result<Response<pb::GetSyncStatusResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let kind_wanted = kind_filter(req.kind)?;
        let user_wanted = req.user.trim().to_string();
        note(kind_wanted, &user_wanted);
        self.check_agent(&who, &user_wanted)?;
        // The catalogue is readable by every principal; agents only by who may reach them.
        let visible = |kind: Kind, scope: &Scope| {
            kind_wanted.is_none_or(|k| k == kind)
                && match scope {
                    Scope::Catalogue => user_wanted.is_empty(),
                    Scope::Agent(a) => {
                        (user_wanted.is_empty() || *a == user_wanted) && who.may_access_agent(a)
                    }
                }
        };
        let rows = self
            .service
            .status_report(&visible)
            .await
            .map_err(status_of)?;
        let placements = if kind_wanted.is_some() {
            Vec::new()
        } else {
            let counts = self.service.placement_counts().await.map_err(status_of)?;
            let mut by_state = std::collections::BTreeMap::new();
            for (agent, state, n) in counts {
                if (user_wanted.is_empty() || agent == user_wanted) && who.may_access_agent(&agent)
                {
                    *by_state.entry(state).or_insert(0) += n;
                }
            }
            by_state
                .into_iter()
                .map(|(state, count)| pb::PlacementCount {
                    state: convert::placement_state_to_proto(state) as i32,
                    count,
                })
                .collect()
        };
        Ok(Response::new(pb::GetSyncStatusResponse {
            statuses: rows.iter().map(convert::status_row_to_proto).collect(),
            placements,
        }))
    }

    type WatchSyncEventsStream = EventStream;

    #[tracing::instrument(skip_all, fields(kind, agent))]
    async fn watch_sync_events(
        &self,
        request: Request<pb::WatchSyncEventsRequest>,
    ) -> Result<Response<Self::WatchSyncEventsStream>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let kind_wanted = kind_filter(req.kind)?;
        let user_wanted = req.user.trim().to_string();
        note(kind_wanted, &user_wanted);
        self.check_agent(&who, &user_wanted)?;
        let run_wanted = req.run_id;
        let who_too = who.clone();
        let keep = move |e: &SyncEvent| {
            let user = convert::scope_user(&e.scope);
            kind_wanted.is_none_or(|k| k.name() == e.kind)
                && (user_wanted.is_empty() || user == user_wanted)
                && (run_wanted == 0 || e.run_id.0 == run_wanted as i64)
                && (user.is_empty() || who.may_access_agent(&user))
        };
        // Placements belong to an agent, not to a kind or a run: a kind or run filter leaves
        // them out.
        let placement_user = req.user.trim().to_string();
        let keep_placement = move |e: &PlacementEvent| {
            kind_wanted.is_none()
                && run_wanted == 0
                && (placement_user.is_empty() || e.placement.agent == placement_user)
                && who_too.may_access_agent(&e.placement.agent)
        };
        let missed = |n| {
            Some(Ok(pb::SyncEvent {
                missed: n,
                ..Default::default()
            }))
        };
        let syncs =
            BroadcastStream::new(self.service.subscribe().into_inner()).filter_map(move |item| {
                match item {
                    Ok(e) if keep(&e) => Some(Ok(convert::event_to_proto(&e))),
                    Ok(_) => None,
                    Err(BroadcastStreamRecvError::Lagged(n)) => missed(n),
                }
            });
        let placements = BroadcastStream::new(self.service.subscribe_placements().into_inner())
            .filter_map(move |item| match item {
                Ok(e) if keep_placement(&e) => Some(Ok(convert::placement_event_to_proto(&e))),
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(n)) => missed(n),
            });
        let stream = syncs.merge(placements);
        let stream =
            futures::StreamExt::take_until(stream, self.streams_end.clone().cancelled_owned());
        Ok(Response::new(Box::pin(stream)))
    }
}

/// The answer to a request that ran (or joined) `ack`: with `events` (subscribed before the
/// request), wait for the run's end and include its result.
async fn answer(
    ack: RequestAck,
    data_age: Option<std::time::Duration>,
    events: Option<EventSubscription>,
) -> Result<pb::RequestSyncResponse, Status> {
    Span::current().record("run", ack.run_id.0);
    let result = match events {
        Some(mut events) => {
            let end = events
                .wait_for_run(ack.run_id)
                .await
                .map_err(|e| Status::unavailable(format!("waiting for run {}: {e}", ack.run_id)))?;
            convert::run_result(&end.body)
        }
        None => None,
    };
    Ok(convert::request_answer(ack, data_age, result))
}

impl SyncApi {
    /// An optional agent filter: known, and reachable by this principal.
    fn check_agent(&self, who: &Principal, user: &str) -> Result<(), Status> {
        if user.is_empty() {
            return Ok(());
        }
        if !self.service.is_known_agent(user) {
            return Err(Status::not_found(format!("unknown agent {:?}", clip(user))));
        }
        if !who.may_access_agent(user) {
            return Err(Status::permission_denied(format!(
                "this token may not reach agent {:?}'s data",
                clip(user)
            )));
        }
        Ok(())
    }

    /// A known agent this principal may act for.
    fn session_user(&self, who: &Principal, req: &pb::SessionRequest) -> Result<String, Status> {
        let user = req.user.trim().to_string();
        if user.is_empty() {
            return Err(Status::invalid_argument("say which agent: `user` is empty"));
        }
        note(None, &user);
        self.check_agent(who, &user)?;
        Ok(user)
    }
}
