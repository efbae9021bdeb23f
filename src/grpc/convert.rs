//! Conversions between protobuf messages and domain types, in one place: enums, times,
//! events, status rows, sessions' answers, and the one mapping of [`ServiceError`] to a gRPC
//! status (the code chosen by the error's cause). Validation of enum numbers coming from
//! clients happens here too (unknown values → InvalidArgument naming the field and the value).

use super::pb;
use crate::records::Kind;
use crate::service::{Freshness, ScopeState, ServiceError, StatusRow};
use blackant_actors::events::{EventBody, SyncEvent};
use blackant_actors::order_placer::TransitionRecord;
use blackant_actors::order_placer::{Placement, PlacementEvent, PlacementState};
use blackant_actors::root::SupervisorError;
use blackant_actors::run::Trigger;
use blackant_actors::run::{Counts, Mode, RunNotes, Scope};
use blackant_actors::scheduler::SchedulerError;
use blackant_actors::sync::RunState;
use blackant_actors::sync::{RequestAck, SyncCallError, SyncError};
use std::time::{Duration, SystemTime};
use tonic::Status;

/// The proto name of a kind: `SYNC_KIND_` and the kind's name in capitals (the kind table
/// and the proto enum are held to it by a test).
fn proto_name(kind: Kind) -> String {
    format!("SYNC_KIND_{}", kind.name().to_ascii_uppercase())
}

/// A client's kind: must be one of the six (unspecified is refused with a message that says so).
pub fn kind_from_proto(value: i32) -> Result<Kind, Status> {
    match pb::SyncKind::try_from(value) {
        Ok(pb::SyncKind::Unspecified) => Err(Status::invalid_argument(format!(
            "kind is required: one of {}",
            Kind::ALL.map(proto_name).join(", ")
        ))),
        Ok(known) => Kind::ALL
            .into_iter()
            .find(|k| proto_name(*k) == known.as_str_name())
            .ok_or_else(|| {
                Status::invalid_argument(format!("sync kind {} is not served", known.as_str_name()))
            }),
        Err(_) => Err(Status::invalid_argument(format!(
            "unknown sync kind {value}"
        ))),
    }
}

/// A filter's kind: unspecified means "all".
pub fn kind_filter(value: i32) -> Result<Option<Kind>, Status> {
    if value == pb::SyncKind::Unspecified as i32 {
        Ok(None)
    } else {
        kind_from_proto(value).map(Some)
    }
}

pub fn kind_to_proto(kind: Kind) -> pb::SyncKind {
    pb::SyncKind::from_str_name(&proto_name(kind)).unwrap_or(pb::SyncKind::Unspecified)
}

/// The kind name used on the event bus (`customers`...) back to its proto value.
pub fn kind_name_to_proto(name: &str) -> pb::SyncKind {
    Kind::from_name(name)
        .map(kind_to_proto)
        .unwrap_or(pb::SyncKind::Unspecified)
}

/// Unspecified means delta (the cheap default).
pub fn mode_from_proto(value: i32) -> Result<Mode, Status> {
    match pb::SyncMode::try_from(value) {
        Ok(pb::SyncMode::Unspecified | pb::SyncMode::Delta) => Ok(Mode::Delta),
        Ok(pb::SyncMode::Full) => Ok(Mode::Full),
        Err(_) => Err(Status::invalid_argument(format!(
            "unknown sync mode {value}"
        ))),
    }
}

pub fn mode_to_proto(mode: Mode) -> pb::SyncMode {
    match mode {
        Mode::Delta => pb::SyncMode::Delta,
        Mode::Full => pb::SyncMode::Full,
    }
}

pub fn trigger_to_proto(trigger: Trigger) -> pb::Trigger {
    match trigger {
        Trigger::Scheduled => pb::Trigger::Schedule,
        Trigger::Login => pb::Trigger::Login,
        Trigger::Reconnect => pb::Trigger::Reconnect,
        Trigger::Stale => pb::Trigger::Stale,
        Trigger::EnsureFresh => pb::Trigger::EnsureFresh,
        Trigger::Manual => pb::Trigger::Manual,
        Trigger::Operator => pb::Trigger::Forced,
        Trigger::FollowUp => pb::Trigger::FollowUp,
        Trigger::Resume => pb::Trigger::Resume,
    }
}

pub fn state_to_proto(state: RunState) -> pb::sync_status::State {
    use pb::sync_status::State;
    match state {
        RunState::Idle => State::Idle,
        RunState::Queued => State::Queued,
        RunState::Preparing => State::Preparing,
        RunState::Running => State::Running,
        RunState::Paused => State::Paused,
        RunState::RetryWait => State::RetryWait,
    }
}

pub fn counts_to_proto(c: Counts) -> pb::Counts {
    pb::Counts {
        inserted: c.inserted,
        updated: c.updated,
        unchanged: c.unchanged,
        deleted: c.deleted,
    }
}

pub fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}

pub fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration::try_from(d).unwrap_or(prost_types::Duration {
        seconds: i64::MAX,
        nanos: 0,
    })
}

pub fn scope_user(scope: &Scope) -> String {
    match scope {
        Scope::Catalogue => String::new(),
        Scope::Agent(a) => a.clone(),
    }
}

/// A terminal event's result (`None` for non-terminal events).
pub fn run_result(body: &EventBody) -> Option<pb::RunResult> {
    match body {
        EventBody::Completed {
            counts,
            unchanged_export,
            duration: d,
            notes,
        } => Some(with_notes(
            pb::RunResult {
                ok: true,
                counts: Some(counts_to_proto(*counts)),
                unchanged_export: *unchanged_export,
                duration: Some(duration(*d)),
                ..Default::default()
            },
            notes,
        )),
        EventBody::Failed {
            reason,
            permanent,
            notes,
        } => Some(with_notes(
            pb::RunResult {
                ok: false,
                error: reason.clone(),
                permanent: *permanent,
                ..Default::default()
            },
            notes,
        )),
        _ => None,
    }
}

/// `result` with what the run noticed.
fn with_notes(result: pb::RunResult, notes: &RunNotes) -> pb::RunResult {
    pb::RunResult {
        unknown_columns: notes.unknown_columns.clone(),
        held_deletions: notes.held_deletions,
        held_reason: notes.held_reason.clone(),
        evidence: notes.evidence.clone().unwrap_or_default(),
        ..result
    }
}

pub fn event_to_proto(e: &SyncEvent) -> pb::SyncEvent {
    use pb::sync_event::Event;
    let event = match &e.body {
        EventBody::Queued { trigger } => Event::Queued(pb::Queued {
            trigger: trigger_to_proto(*trigger) as i32,
        }),
        EventBody::Started { mode, resumed } => Event::Started(pb::Started {
            mode: mode_to_proto(*mode) as i32,
            resumed: *resumed,
        }),
        EventBody::Progress { page, pages, items } => Event::Progress(pb::Progress {
            page: *page as u32,
            pages: *pages as u32,
            items: items.unwrap_or(0),
        }),
        EventBody::Paused => Event::Paused(pb::Paused {}),
        EventBody::Resumed => Event::Resumed(pb::Resumed {}),
        EventBody::Retrying {
            attempt,
            after,
            reason,
        } => Event::Retrying(pb::Retrying {
            attempt: *attempt,
            after: Some(duration(*after)),
            reason: reason.clone(),
        }),
        body @ EventBody::Completed { .. } => {
            Event::Completed(run_result(body).unwrap_or_default())
        }
        body @ EventBody::Failed { .. } => Event::Failed(run_result(body).unwrap_or_default()),
    };
    pb::SyncEvent {
        run_id: e.run_id.0.max(0) as u64,
        kind: kind_name_to_proto(&e.kind) as i32,
        user: scope_user(&e.scope),
        at: Some(timestamp(e.at)),
        event: Some(event),
        missed: 0,
    }
}

/// The one mapping of domain errors to gRPC statuses, by cause.
pub fn status_of(e: ServiceError) -> Status {
    use tonic::Code;
    let code = match &e {
        ServiceError::UnknownAgent(_) => Code::NotFound,
        ServiceError::NewerSchema(_) => Code::FailedPrecondition,
        ServiceError::AgentRequired { .. }
        | ServiceError::AgentNotAllowed { .. }
        | ServiceError::InvalidAgentId(_) => Code::InvalidArgument,
        ServiceError::Sync(SyncCallError::Refused { source, .. }) => match source {
            // The actor refuses for good (an agent's actor escalated after repeated failures,
            // a request it can never serve): an operator must act first.
            SyncError::Permanent(_) | SyncError::PageChanged { .. } => Code::FailedPrecondition,
            SyncError::Transient(_) | SyncError::Ledger(_) | SyncError::Cancelled => {
                Code::Unavailable
            }
        },
        ServiceError::Sync(SyncCallError::Unavailable { .. } | SyncCallError::Events { .. }) => {
            Code::Unavailable
        }
        ServiceError::Schedule(SchedulerError::UnknownKind(_) | SchedulerError::Invalid { .. }) => {
            Code::InvalidArgument
        }
        ServiceError::Schedule(SchedulerError::Store(_)) => Code::Unavailable,
        ServiceError::Supervisor(SupervisorError::UnknownChild { .. }) => Code::NotFound,
        ServiceError::Supervisor(SupervisorError::StartFailed { .. })
        | ServiceError::SupervisorUnavailable(_)
        | ServiceError::ActorNotRunning(_)
        | ServiceError::NoAnswer { .. }
        | ServiceError::Start(_)
        | ServiceError::Lock(_) => Code::Unavailable,
        ServiceError::Write { source, .. }
            if matches!(**source, crate::store::StoreError::Stale(_)) =>
        {
            Code::FailedPrecondition
        }
        ServiceError::NothingHeld { .. } => Code::NotFound,
        ServiceError::Read { source, .. } | ServiceError::Write { source, .. }
            if source.is_transient() =>
        {
            Code::Unavailable
        }
        ServiceError::Read { .. } | ServiceError::Write { .. } | ServiceError::Internal(_) => {
            Code::Internal
        }
        ServiceError::InvalidOrder { .. } => Code::InvalidArgument,
        ServiceError::KeyConflict { .. } | ServiceError::NotResolvable { .. } => {
            Code::FailedPrecondition
        }
        ServiceError::PlacementNotFound(_) => Code::NotFound,
        ServiceError::NoOrderPlacer => Code::Unavailable,
    };
    Status::new(code, e.to_string())
}

/// A status row of the service's report.
pub fn status_row_to_proto(row: &StatusRow) -> pb::SyncStatus {
    use pb::sync_status::State;
    pb::SyncStatus {
        kind: kind_to_proto(row.kind) as i32,
        user: scope_user(&row.scope),
        state: match row.state {
            ScopeState::Run(s) => state_to_proto(s) as i32,
            ScopeState::Down => State::Down as i32,
        },
        run_id: row.run_id.map_or(0, |r| r.0.max(0) as u64),
        progress: row.progress.map(|p| pb::Progress {
            page: p.page as u32,
            pages: p.pages as u32,
            items: p.items.unwrap_or(0),
        }),
        last_success: row.last_success.map(timestamp),
        next_run: row.next_run.map(timestamp),
        last_error: row.last_error.clone().unwrap_or_default(),
        last_counts: row.last_counts.map(counts_to_proto),
        breaker: breaker_to_proto(row.breaker) as i32,
        held_deletions: row.held_deletions,
    }
}

/// The answer to a request that ran (or joined) `ack`, with the run's result once ended.
pub fn request_answer(
    ack: RequestAck,
    data_age: Option<Duration>,
    result: Option<pb::RunResult>,
) -> pb::RequestSyncResponse {
    let outcome = if ack.joined {
        pb::request_sync_response::Outcome::Joined
    } else {
        pb::request_sync_response::Outcome::Started
    };
    pb::RequestSyncResponse {
        outcome: outcome as i32,
        run_id: ack.run_id.0.max(0) as u64,
        data_age: data_age.map(duration),
        result,
    }
}

/// A freshness-gated request that skipped: the data's age.
pub fn skipped_answer(age: Duration) -> pb::RequestSyncResponse {
    pb::RequestSyncResponse {
        outcome: pb::request_sync_response::Outcome::SkippedFresh as i32,
        run_id: 0,
        data_age: Some(duration(age)),
        result: None,
    }
}

/// What a session's open or reconnect triggered (without waiting for the runs).
pub fn session_to_proto(syncs: &[(Kind, Freshness)]) -> pb::SessionResponse {
    pb::SessionResponse {
        syncs: syncs
            .iter()
            .map(|(kind, fresh)| pb::TriggeredSync {
                kind: kind_to_proto(*kind) as i32,
                response: Some(match fresh {
                    Freshness::Fresh { age } => skipped_answer(*age),
                    Freshness::Requested { ack, age } => request_answer(*ack, *age, None),
                }),
            })
            .collect(),
    }
}

/// A placement state's proto value (by name: `PLACEMENT_STATE_` and the state in capitals).
pub fn placement_state_to_proto(state: PlacementState) -> pb::PlacementState {
    let name = format!("PLACEMENT_STATE_{}", state.as_str().to_ascii_uppercase());
    pb::PlacementState::from_str_name(&name).unwrap_or(pb::PlacementState::Unspecified)
}

/// A client's placement state (unspecified and unknown values are refused).
pub fn placement_state_from_proto(value: i32) -> Result<PlacementState, Status> {
    let known = pb::PlacementState::try_from(value)
        .ok()
        .filter(|s| *s != pb::PlacementState::Unspecified)
        .ok_or_else(|| Status::invalid_argument(format!("unknown placement state {value}")))?;
    PlacementState::ALL
        .into_iter()
        .find(|s| placement_state_to_proto(*s) == known)
        .ok_or_else(|| Status::invalid_argument(format!("unknown placement state {value}")))
}

/// A placement, with its transitions when given.
pub fn placement_to_proto(p: &Placement, transitions: &[TransitionRecord]) -> pb::Placement {
    pb::Placement {
        id: p.id.max(0) as u64,
        idempotency_key: p.key.clone(),
        user: p.agent.clone(),
        state: placement_state_to_proto(p.state) as i32,
        order_number: p.order_number.clone().unwrap_or_default(),
        reason: p.reason.clone().unwrap_or_default(),
        reference: p.order.reference.clone(),
        attempts: p.attempts,
        accepted_at: Some(timestamp(p.accepted_at)),
        updated_at: Some(timestamp(p.updated_at)),
        deadline: Some(timestamp(p.deadline)),
        customer_code: p.order.customer_code.clone(),
        lines: p
            .order
            .lines
            .iter()
            .map(|l| pb::OrderLine {
                code: l.code.clone(),
                quantity: l.quantity,
            })
            .collect(),
        notes: p.order.notes.clone(),
        transitions: transitions
            .iter()
            .map(|t| pb::PlacementTransition {
                at: Some(timestamp(t.at)),
                from: t
                    .from
                    .map_or(pb::PlacementState::Unspecified, placement_state_to_proto)
                    as i32,
                to: placement_state_to_proto(t.to) as i32,
                attempt: t.attempt,
                cause: t.cause.clone(),
            })
            .collect(),
    }
}

/// A placement's transition as an event of the stream.
pub fn placement_event_to_proto(e: &PlacementEvent) -> pb::SyncEvent {
    pb::SyncEvent {
        user: e.placement.agent.clone(),
        at: Some(timestamp(e.placement.updated_at)),
        event: Some(pb::sync_event::Event::Placement(pb::PlacementChanged {
            placement: Some(placement_to_proto(&e.placement, &[])),
            from: placement_state_to_proto(e.from) as i32,
            cause: e.cause.clone(),
        })),
        ..Default::default()
    }
}

pub fn breaker_to_proto(state: crate::syncs::breaker::BreakerState) -> pb::BreakerState {
    use crate::syncs::breaker::BreakerState;
    match state {
        BreakerState::Closed => pb::BreakerState::Closed,
        BreakerState::HalfOpen => pb::BreakerState::HalfOpen,
        BreakerState::Open => pb::BreakerState::Open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_enums_are_validated_with_a_message_naming_the_value() {
        assert_eq!(
            kind_from_proto(pb::SyncKind::Customers as i32).unwrap(),
            Kind::Customers
        );
        let unknown = kind_from_proto(42).unwrap_err();
        assert_eq!(unknown.code(), tonic::Code::InvalidArgument);
        assert!(unknown.message().contains("42"), "{}", unknown.message());
        assert_eq!(
            kind_from_proto(0).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        assert_eq!(kind_filter(0).unwrap(), None);
        assert_eq!(mode_from_proto(0).unwrap(), Mode::Delta);
        assert!(mode_from_proto(9).unwrap_err().message().contains('9'));
    }

    #[test]
    fn every_placement_state_round_trips() {
        for s in PlacementState::ALL {
            let p = placement_state_to_proto(s);
            assert_ne!(p, pb::PlacementState::Unspecified, "{s}");
            assert_eq!(placement_state_from_proto(p as i32).unwrap(), s);
        }
        assert!(placement_state_from_proto(0).is_err());
        assert!(placement_state_from_proto(99).is_err());
    }

    #[test]
    fn every_kind_round_trips() {
        for k in Kind::ALL {
            assert_ne!(
                kind_to_proto(k),
                pb::SyncKind::Unspecified,
                "{k} has no proto value"
            );
            assert_eq!(kind_from_proto(kind_to_proto(k) as i32).unwrap(), k);
            assert_eq!(kind_name_to_proto(k.name()), kind_to_proto(k));
        }
    }
}
