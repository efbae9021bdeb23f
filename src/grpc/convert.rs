//! Conversions between protobuf messages and domain types, in one place. Validation of enum
//! numbers coming from clients happens here too (unknown values → InvalidArgument naming the
//! field and the value).

use super::pb;
use crate::records::Kind;
use blackant_actors::events::{EventBody, SyncEvent};
use blackant_actors::run::Trigger;
use blackant_actors::run::{Counts, Mode, Scope};
use blackant_actors::sync::RunState;
use std::time::{Duration, SystemTime};
use tonic::Status;

/// A client's kind: must be one of the six (unspecified is refused with a message that says so).
pub fn kind_from_proto(value: i32) -> Result<Kind, Status> {
    match pb::SyncKind::try_from(value) {
        Ok(pb::SyncKind::Customers) => Ok(Kind::Customers),
        Ok(pb::SyncKind::Products) => Ok(Kind::Products),
        Ok(pb::SyncKind::Prices) => Ok(Kind::Prices),
        Ok(pb::SyncKind::Orders) => Ok(Kind::Orders),
        Ok(pb::SyncKind::Ddt) => Ok(Kind::Ddt),
        Ok(pb::SyncKind::Invoices) => Ok(Kind::Invoices),
        Ok(pb::SyncKind::Unspecified) => Err(Status::invalid_argument(
            "kind is required: one of SYNC_KIND_CUSTOMERS, _PRODUCTS, _PRICES, _ORDERS, _DDT, _INVOICES",
        )),
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
    match kind {
        Kind::Customers => pb::SyncKind::Customers,
        Kind::Products => pb::SyncKind::Products,
        Kind::Prices => pb::SyncKind::Prices,
        Kind::Orders => pb::SyncKind::Orders,
        Kind::Ddt => pb::SyncKind::Ddt,
        Kind::Invoices => pb::SyncKind::Invoices,
    }
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

/// RFC 3339 text from the databases → Timestamp (None if unparsable).
pub fn timestamp_from_text(text: &str) -> Option<prost_types::Timestamp> {
    crate::store::parse_time(text, "timestamp")
        .ok()
        .map(timestamp)
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
        } => Some(pb::RunResult {
            ok: true,
            counts: Some(counts_to_proto(*counts)),
            unchanged_export: *unchanged_export,
            error: String::new(),
            permanent: false,
            duration: Some(duration(*d)),
        }),
        EventBody::Failed { reason, permanent } => Some(pb::RunResult {
            ok: false,
            counts: None,
            unchanged_export: false,
            error: reason.clone(),
            permanent: *permanent,
            duration: None,
        }),
        _ => None,
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
    fn every_kind_round_trips() {
        for k in [
            Kind::Customers,
            Kind::Products,
            Kind::Prices,
            Kind::Orders,
            Kind::Ddt,
            Kind::Invoices,
        ] {
            assert_eq!(kind_from_proto(kind_to_proto(k) as i32).unwrap(), k);
            assert_eq!(kind_name_to_proto(k.name()), kind_to_proto(k));
        }
    }
}
