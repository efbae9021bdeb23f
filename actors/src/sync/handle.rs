//! [`SyncHandle`]: the typed client of one sync actor (or registry) — resolve it, call it with
//! a timeout, and wait for a run's end on the bus without a race.
//!
//! It must NOT decide anything about runs; it only carries requests and answers.

use std::time::Duration;

use ractor::{ActorRef, RpcReplyPort};

use super::contract::SyncError;
use super::protocol::{PauseAck, RequestAck, SyncMessage, SyncStatus};
use crate::directory::{ActorTarget, Directory};
use crate::events::{EventBus, EventError, SyncEvent};
use crate::run::{Mode, RunId, Scope, Trigger};

/// A call to a sync actor that did not get an answer, or got a refusal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncCallError {
    /// The actor is not running or did not answer in time.
    #[error("sync actor {actor} unavailable: {reason}")]
    Unavailable {
        /// Which actor.
        actor: String,
        /// Why.
        reason: String,
    },
    /// The actor refused the request (e.g. the ledger failed).
    #[error("sync actor {actor} refused the request: {source}")]
    Refused {
        /// Which actor.
        actor: String,
        /// Its answer.
        source: SyncError,
    },
    /// Waiting for the run's end on the event bus failed.
    #[error("waiting for run {run_id}: {source}")]
    Events {
        /// The run.
        run_id: RunId,
        /// What went wrong on the bus.
        source: EventError,
    },
}

/// Typed client of one sync actor: resolves it (through the Directory when built with
/// [`SyncHandle::named`]) and wraps the calls with a timeout.
#[derive(Clone)]
pub struct SyncHandle {
    target: ActorTarget<SyncMessage>,
    events: EventBus,
    timeout: Duration,
}

impl SyncHandle {
    /// Default timeout of a call (a request writes one ledger row; status is in memory).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

    /// A handle bound to one actor.
    pub fn new(actor: ActorRef<SyncMessage>, events: EventBus) -> Self {
        Self {
            target: ActorTarget::Fixed(actor),
            events,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// A handle following whatever actor is registered as `name`.
    pub fn named(directory: Directory, name: impl Into<String>, events: EventBus) -> Self {
        Self {
            target: ActorTarget::Named {
                directory,
                name: name.into(),
            },
            events,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// The bus this sync publishes on.
    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Change the call timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn call<T: Send + 'static>(
        &self,
        build: impl FnOnce(RpcReplyPort<T>) -> SyncMessage,
    ) -> Result<T, SyncCallError> {
        let unavailable = |reason: String| SyncCallError::Unavailable {
            actor: self.target.label(),
            reason,
        };
        let actor = self
            .target
            .resolve()
            .map_err(|e| unavailable(e.to_string()))?;
        crate::directory::call(&actor, build, Some(self.timeout))
            .await
            .map_err(|e| unavailable(e.to_string()))
    }

    /// Ask for a run (or join the scope's current one).
    pub async fn request(
        &self,
        scope: Scope,
        mode: Mode,
        trigger: Trigger,
    ) -> Result<RequestAck, SyncCallError> {
        self.call(|reply| SyncMessage::Request {
            scope,
            mode,
            trigger,
            reply,
        })
        .await?
        .map_err(|source| SyncCallError::Refused {
            actor: self.target.label(),
            source,
        })
    }

    /// Ask for a run and wait for its end (subscribing first, so the end cannot be missed).
    /// Returns the terminal event (`Completed` or `Failed`).
    pub async fn request_and_wait(
        &self,
        scope: Scope,
        mode: Mode,
        trigger: Trigger,
    ) -> Result<SyncEvent, SyncCallError> {
        let mut events = self.events.subscribe();
        let ack = self.request(scope, mode, trigger).await?;
        events
            .wait_for_run(ack.run_id)
            .await
            .map_err(|source| SyncCallError::Events {
                run_id: ack.run_id,
                source,
            })
    }

    /// Stop every run at its next page boundary (cancel preparations); answered once done.
    pub async fn pause(&self) -> Result<PauseAck, SyncCallError> {
        self.call(|reply| SyncMessage::Pause { reply }).await
    }

    /// Let paused runs continue (and queued ones start).
    pub fn resume(&self) -> Result<(), SyncCallError> {
        let actor = self
            .target
            .resolve()
            .map_err(|e| SyncCallError::Unavailable {
                actor: self.target.label(),
                reason: e.to_string(),
            })?;
        actor
            .send_message(SyncMessage::Resume)
            .map_err(|e| SyncCallError::Unavailable {
                actor: self.target.label(),
                reason: e.to_string(),
            })
    }

    /// Per-scope state, progress, last outcome and error.
    pub async fn status(&self) -> Result<SyncStatus, SyncCallError> {
        self.call(|reply| SyncMessage::Status { reply }).await
    }
}
