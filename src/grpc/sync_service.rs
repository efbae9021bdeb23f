//! `blackant.v1.SyncService`: a thin adapter. Each RPC validates its request (InvalidArgument,
//! NotFound, PermissionDenied with a message that says what was wrong), calls the `Service`,
//! and maps the answer; a sync actor that cannot be reached becomes Unavailable. No sync logic
//! lives here.

use super::auth::{Principal, principal};
use super::convert::{self, kind_filter, kind_from_proto, mode_from_proto};
use super::pb;
use crate::records::Kind;
use crate::service::{Freshness, LOGIN_MAX_AGE, Service, ServiceError, per_agent};
use crate::store::ledger;
use blackant_actors::db_writer::open_reader;
use blackant_actors::events::{EventSubscription, SyncEvent};
use blackant_actors::run::Scope;
use blackant_actors::run::Trigger;
use blackant_actors::sync::RequestAck;
use futures::Stream;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

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

/// Domain refusals → gRPC codes.
pub fn status_of(e: ServiceError) -> Status {
    match e {
        ServiceError::UnknownAgent(_) => Status::not_found(e.to_string()),
        ServiceError::AgentRequired { .. }
        | ServiceError::AgentNotAllowed { .. }
        | ServiceError::Invalid(_) => Status::invalid_argument(e.to_string()),
        ServiceError::KindNotAvailable(_) => Status::unimplemented(e.to_string()),
        ServiceError::Unavailable(_) => Status::unavailable(e.to_string()),
        ServiceError::Refused(_) => Status::internal(e.to_string()),
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

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::SyncEvent, Status>> + Send>>;

#[tonic::async_trait]
impl pb::sync_service_server::SyncService for SyncApi {
    async fn request_sync(
        &self,
        request: Request<pb::RequestSyncRequest>,
    ) -> Result<Response<pb::RequestSyncResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let kind = kind_from_proto(req.kind)?;
        let mode = mode_from_proto(req.mode)?;
        let scope = self
            .service
            .scope_for(kind, req.user.trim())
            .map_err(status_of)?;
        authorize(&who, kind, &scope)?;
        if !req.reason.is_empty() {
            tracing::info!(kind = %kind, scope = %scope, reason = %req.reason, "sync requested");
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

    async fn ensure_fresh(
        &self,
        request: Request<pb::EnsureFreshRequest>,
    ) -> Result<Response<pb::RequestSyncResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let kind = kind_from_proto(req.kind)?;
        let scope = self
            .service
            .scope_for(kind, req.user.trim())
            .map_err(status_of)?;
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
        Ok(Response::new(freshness_answer(fresh, events).await?))
    }

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
        if !who.may_access_agent(&user) {
            return Err(Status::permission_denied(format!(
                "this token may not open a session for agent {user:?}"
            )));
        }
        let credentials = crate::erp::Credentials::new(req.erp_username.trim(), req.erp_password);
        self.service
            .open_session(&user, credentials)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        tracing::info!(agent = %user, "session opened");
        let syncs = self
            .session_syncs(&user, Trigger::Login, Some(LOGIN_MAX_AGE))
            .await?;
        Ok(Response::new(pb::SessionResponse { syncs }))
    }

    async fn reconnect_session(
        &self,
        request: Request<pb::SessionRequest>,
    ) -> Result<Response<pb::SessionResponse>, Status> {
        let who = principal(&request)?;
        let user = self.session_user(&who, request.get_ref())?;
        let syncs = self.session_syncs(&user, Trigger::Reconnect, None).await?;
        Ok(Response::new(pb::SessionResponse { syncs }))
    }

    async fn close_session(
        &self,
        request: Request<pb::SessionRequest>,
    ) -> Result<Response<pb::SessionResponse>, Status> {
        let who = principal(&request)?;
        let user = self.session_user(&who, request.get_ref())?;
        if self.service.close_session(&user) {
            tracing::info!(agent = %user, "session closed");
        }
        Ok(Response::new(pb::SessionResponse { syncs: Vec::new() }))
    }

    async fn get_sync_status(
        &self,
        request: Request<pb::GetSyncStatusRequest>,
    ) -> Result<Response<pb::GetSyncStatusResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let kind_wanted = kind_filter(req.kind)?;
        let user_wanted = req.user.trim().to_string();
        if !user_wanted.is_empty() {
            if !self.service.is_known_agent(&user_wanted) {
                return Err(Status::not_found(format!("unknown agent {user_wanted:?}")));
            }
            if !who.may_access_agent(&user_wanted) {
                return Err(Status::permission_denied(format!(
                    "this token may not reach agent {user_wanted:?}'s data"
                )));
            }
        }
        let freshness = read_freshness(&self.service);
        // The Scheduler's plan (absent when it does not run).
        let plan = self.service.schedules().await.unwrap_or_default();
        let mut statuses = Vec::new();
        for (kind, status) in self.service.status().await {
            if kind_wanted.is_some_and(|k| k != kind) {
                continue;
            }
            let scopes: Vec<Scope> = if per_agent(kind) {
                self.service
                    .agents()
                    .into_iter()
                    .filter(|a| {
                        (user_wanted.is_empty() || *a == user_wanted) && who.may_access_agent(a)
                    })
                    .map(Scope::Agent)
                    .collect()
            } else if user_wanted.is_empty() {
                vec![Scope::Catalogue]
            } else {
                Vec::new()
            };
            for scope in scopes {
                let user = convert::scope_user(&scope);
                let last_success = freshness
                    .get(&(kind.name().to_string(), user.clone()))
                    .and_then(|t| convert::timestamp_from_text(t));
                let mut s = pb::SyncStatus {
                    kind: convert::kind_to_proto(kind) as i32,
                    user,
                    state: pb::sync_status::State::Idle as i32,
                    last_success,
                    breaker: convert::breaker_to_proto(self.service.breaker_state(&scope)) as i32,
                    next_run: plan
                        .iter()
                        .find(|v| v.schedule.kind == kind.name())
                        .and_then(|v| v.next.iter().find(|(s, _)| *s == scope))
                        .map(|(_, t)| convert::timestamp(*t)),
                    ..Default::default()
                };
                match &status {
                    Err(reason) => {
                        s.state = pb::sync_status::State::Down as i32;
                        s.last_error = reason.clone();
                    }
                    Ok(actor) => {
                        if let Some(sc) = actor.scope(&scope) {
                            s.state = convert::state_to_proto(sc.state) as i32;
                            s.run_id = sc.run_id.map(|r| r.0.max(0) as u64).unwrap_or(0);
                            s.progress = Some(pb::Progress {
                                page: sc.page as u32,
                                pages: sc.pages as u32,
                                items: sc.items.unwrap_or(0),
                            });
                            s.last_error = sc.last_error.clone().unwrap_or_default();
                            s.last_counts = sc
                                .last
                                .as_ref()
                                .map(|l| convert::counts_to_proto(l.outcome.counts()));
                        }
                    }
                }
                statuses.push(s);
            }
        }
        Ok(Response::new(pb::GetSyncStatusResponse { statuses }))
    }

    type WatchSyncEventsStream = EventStream;

    async fn watch_sync_events(
        &self,
        request: Request<pb::WatchSyncEventsRequest>,
    ) -> Result<Response<Self::WatchSyncEventsStream>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let kind_wanted = kind_filter(req.kind)?;
        let user_wanted = req.user.trim().to_string();
        if !user_wanted.is_empty() {
            if !self.service.is_known_agent(&user_wanted) {
                return Err(Status::not_found(format!("unknown agent {user_wanted:?}")));
            }
            if !who.may_access_agent(&user_wanted) {
                return Err(Status::permission_denied(format!(
                    "this token may not reach agent {user_wanted:?}'s data"
                )));
            }
        }
        let run_wanted = req.run_id;
        let keep = move |e: &SyncEvent| {
            let user = convert::scope_user(&e.scope);
            kind_wanted.is_none_or(|k| k.name() == e.kind)
                && (user_wanted.is_empty() || user == user_wanted)
                && (run_wanted == 0 || e.run_id.0 == run_wanted as i64)
                && (user.is_empty() || who.may_access_agent(&user))
        };
        let stream =
            BroadcastStream::new(self.service.subscribe().into_inner()).filter_map(move |item| {
                match item {
                    Ok(e) if keep(&e) => Some(Ok(convert::event_to_proto(&e))),
                    Ok(_) => None,
                    Err(BroadcastStreamRecvError::Lagged(n)) => Some(Ok(pb::SyncEvent {
                        missed: n,
                        ..Default::default()
                    })),
                }
            });
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
    let outcome = if ack.joined {
        pb::request_sync_response::Outcome::Joined
    } else {
        pb::request_sync_response::Outcome::Started
    };
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
    Ok(pb::RequestSyncResponse {
        outcome: outcome as i32,
        run_id: ack.run_id.0.max(0) as u64,
        data_age: data_age.map(convert::duration),
        result,
    })
}

async fn freshness_answer(
    fresh: Freshness,
    events: Option<EventSubscription>,
) -> Result<pb::RequestSyncResponse, Status> {
    match fresh {
        Freshness::Fresh { age } => Ok(pb::RequestSyncResponse {
            outcome: pb::request_sync_response::Outcome::SkippedFresh as i32,
            run_id: 0,
            data_age: Some(convert::duration(age)),
            result: None,
        }),
        Freshness::Requested { ack, age } => answer(ack, age, events).await,
    }
}

impl SyncApi {
    /// A known agent this principal may act for.
    fn session_user(&self, who: &Principal, req: &pb::SessionRequest) -> Result<String, Status> {
        let user = req.user.trim().to_string();
        if user.is_empty() {
            return Err(Status::invalid_argument("say which agent: `user` is empty"));
        }
        if !self.service.is_known_agent(&user) {
            return Err(Status::not_found(format!("unknown agent {user:?}")));
        }
        if !who.may_access_agent(&user) {
            return Err(Status::permission_denied(format!(
                "this token may not reach agent {user:?}'s data"
            )));
        }
        Ok(user)
    }

    /// The agent's customers and orders, each synced if older than `max_age(kind)`.
    async fn session_syncs(
        &self,
        user: &str,
        trigger: Trigger,
        max_age: Option<std::time::Duration>,
    ) -> Result<Vec<pb::TriggeredSync>, Status> {
        let mut out = Vec::new();
        for kind in [Kind::Customers, Kind::Orders] {
            let scope = Scope::Agent(user.to_string());
            // Reconnects: stale means older than the kind's (current) interval.
            let max_age = match max_age {
                Some(age) => age,
                None => self.service.interval(kind).await,
            };
            let fresh = self
                .service
                .request_if_older(kind, scope, max_age, trigger)
                .await
                .map_err(status_of)?;
            out.push(pb::TriggeredSync {
                kind: convert::kind_to_proto(kind) as i32,
                response: Some(freshness_answer(fresh, None).await?),
            });
        }
        Ok(out)
    }
}

/// (kind, agent-or-empty) → last success, from sync.db (read-only; empty if not there yet).
fn read_freshness(service: &Service) -> HashMap<(String, String), String> {
    let path = service.data().sync_db();
    let Ok(conn) = open_reader(&path) else {
        return HashMap::new();
    };
    match ledger::all_freshness(&conn) {
        Ok(rows) => rows.into_iter().map(|(k, s, t)| ((k, s), t)).collect(),
        Err(e) => {
            tracing::warn!(cause = %e, "reading freshness for status");
            HashMap::new()
        }
    }
}
