//! The service's errors: each variant keeps its cause as a type, so the gRPC layer (and any
//! other adapter) chooses its answer by cause. User input quoted in a message is clipped.

use super::agents::InvalidAgentId;
use crate::records::Kind;
use blackant_actors::directory::{CallError, DirectoryError};
use blackant_actors::root::{SupervisorError, SupervisorUnavailable};
use blackant_actors::scheduler::SchedulerError;
use blackant_actors::sync::SyncCallError;

/// Why an operation was refused or failed; each variant keeps its cause as a type.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The data folder is in use by another service, or cannot be locked.
    #[error(transparent)]
    Lock(#[from] crate::store::folder_lock::LockError),
    /// A data file was written by a later release (refused at start, before anything runs).
    #[error(transparent)]
    NewerSchema(#[from] crate::store::schema::NewerSchema),
    #[error("unknown agent {0:?}")]
    UnknownAgent(String),
    #[error("the {kind} sync is per agent: say which agent")]
    AgentRequired { kind: Kind },
    #[error("the {kind} sync covers the shared catalogue: it takes no agent (got {user:?})")]
    AgentNotAllowed { kind: Kind, user: String },
    #[error(transparent)]
    InvalidAgentId(#[from] InvalidAgentId),
    /// A sync actor did not answer, or refused the request.
    #[error(transparent)]
    Sync(#[from] SyncCallError),
    /// A schedule change was refused (unknown kind, values out of bounds) or not stored.
    #[error(transparent)]
    Schedule(#[from] SchedulerError),
    /// An operator's actor operation was refused.
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
    #[error(transparent)]
    SupervisorUnavailable(#[from] SupervisorUnavailable),
    /// An actor the operation needs is not running.
    #[error(transparent)]
    ActorNotRunning(#[from] DirectoryError),
    /// An actor the operation needs did not answer.
    #[error("{actor}: {source}")]
    NoAnswer {
        actor: &'static str,
        #[source]
        source: CallError,
    },
    /// Reading a database failed.
    #[error("reading {what}: {source}")]
    Read {
        what: &'static str,
        #[source]
        source: Box<crate::store::StoreError>,
    },
    /// Writing a database failed.
    #[error("writing {what}: {source}")]
    Write {
        what: &'static str,
        #[source]
        source: Box<crate::store::StoreError>,
    },
    /// An order that cannot be placed as asked: which field, and why.
    #[error("{field}: {why}")]
    InvalidOrder { field: String, why: String },
    /// The idempotency key names a placement of another order.
    #[error("idempotency key {key:?} was used for a different order")]
    KeyConflict { key: String },
    /// An operator decided about held deletions where none are held.
    #[error("{kind} holds no deletions for {scope}")]
    NothingHeld {
        kind: Kind,
        scope: blackant_actors::run::Scope,
    },
    #[error("no placement with {0}")]
    PlacementNotFound(String),
    /// Only a placement that needs an operator can be resolved.
    #[error("placement {id} is {state}: only a placement that needs an operator can be resolved")]
    NotResolvable { id: i64, state: &'static str },
    /// This service reads exports from elsewhere than the ERP: it cannot place orders.
    #[error("this service has no ERP to place orders in")]
    NoOrderPlacer,
    /// The service could not start.
    #[error("{0}")]
    Start(String),
    /// A bug: an invariant of the service broke.
    #[error("internal error: {0}")]
    Internal(String),
}

/// User input as an error message quotes it: at most 64 characters, then `…` (an agent id of a
/// megabyte must not come back whole in the answer's metadata).
pub fn clip(input: &str) -> String {
    const MAX: usize = 64;
    match input.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &input[..cut]),
        None => input.to_string(),
    }
}
