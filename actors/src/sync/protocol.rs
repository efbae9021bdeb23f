//! What a sync actor (and the registry that stands for several) understands and answers: the
//! [`SyncMessage`]s, the status it reports, the acknowledgements of requests and pauses. The
//! Priority actor, the Scheduler and the [`super::SyncHandle`] speak only this.
//!
//! Types only: it must NOT hold the actor's logic (`actor.rs`, `registry.rs`).

use std::any::Any;
use std::time::{Duration, SystemTime};

use ractor::RpcReplyPort;

use super::contract::SyncError;
use crate::run::{Counts, Mode, RunId, RunOutcome, Scope, Trigger};

/// Messages of a sync actor. Every sync kind uses the same type, so the Priority actor and
/// the Scheduler can hold all of them in one list, and a registry stands in for its children.
pub enum SyncMessage {
    /// Run `scope` (or join its current run).
    Request {
        /// Catalogue or agent.
        scope: Scope,
        /// Full or delta (a request joining a run gets that run's mode).
        mode: Mode,
        /// Why.
        trigger: Trigger,
        /// The run id, or why no run could be opened.
        reply: RpcReplyPort<Result<RequestAck, SyncError>>,
    },
    /// Stop every run at its next page boundary; cancel preparations. Answered at once.
    Pause {
        /// Which runs were paused.
        reply: RpcReplyPort<PauseAck>,
    },
    /// Let paused runs continue and queued ones start.
    Resume,
    /// Per-scope state.
    Status {
        /// The answer.
        reply: RpcReplyPort<SyncStatus>,
    },
    /// Stop if no scope has a run and none ended less than `idle_for` ago; answers whether it
    /// is stopping. A registry uses it to retire idle per-agent actors without a race: the
    /// answer comes in mailbox order, after every request sent before it.
    StopIfIdle {
        /// How long the actor must have had nothing to do.
        idle_for: Duration,
        /// True: the actor is stopping.
        reply: RpcReplyPort<bool>,
    },
    /// The actor's messages to itself.
    #[doc(hidden)]
    Internal(Internal),
}

/// The actors' messages to themselves (opaque outside this module tree).
#[doc(hidden)]
pub struct Internal(pub(super) InternalMsg);

pub(super) enum InternalMsg {
    /// Timers of a registry (which speaks `SyncMessage` too).
    Registry(RegistryTimer),
    /// A preparation task ended. The plan is type-erased so that `SyncMessage` is the same
    /// type for every kind.
    Prepared {
        scope: Scope,
        epoch: u64,
        result: Result<Box<dyn Any + Send>, SyncError>,
    },
    /// Apply the next page (or finish).
    Step { scope: Scope, epoch: u64 },
    /// A retry delay elapsed.
    RetryDue { scope: Scope, epoch: u64 },
}

/// A registry's timers (carried inside [`SyncMessage::Internal`]).
pub(super) enum RegistryTimer {
    RestartDue { scope: Scope, generation: u64 },
    IdleCheck,
}

pub(super) fn internal(msg: InternalMsg) -> SyncMessage {
    SyncMessage::Internal(Internal(msg))
}

/// The state of a scope, as shown in status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    /// No run.
    Idle,
    /// Opened, waiting to start (e.g. requested while syncs are paused).
    Queued,
    /// Getting the export.
    Preparing,
    /// Applying pages.
    Running,
    /// Stopped at a page boundary until `Resume`.
    Paused,
    /// Waiting to retry after a transient error.
    RetryWait,
}

/// The last finished run of a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastRun {
    /// Its id.
    pub run_id: RunId,
    /// How it ended.
    pub outcome: RunOutcome,
    /// When.
    pub finished_at: SystemTime,
}

/// One scope of a sync actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeStatus {
    /// Catalogue or agent.
    pub scope: Scope,
    /// What the scope is doing.
    pub state: RunState,
    /// The current run, if any.
    pub run_id: Option<RunId>,
    /// The current run's mode.
    pub mode: Option<Mode>,
    /// Pages applied by the current run.
    pub page: usize,
    /// Pages in the current run's export (0 until prepared).
    pub pages: usize,
    /// Records in the current export, when known.
    pub items: Option<u64>,
    /// Attempt at the current step.
    pub attempt: u32,
    /// Counts of the current run so far.
    pub counts: Counts,
    /// The last finished run.
    pub last: Option<LastRun>,
    /// The most recent error of this scope (kept after later successes, for operators).
    pub last_error: Option<String>,
}

/// Status of one sync actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncStatus {
    /// The kind.
    pub kind: String,
    /// Whether the actor is paused.
    pub paused: bool,
    /// Scopes with a current or past run (sorted); a scope never synced is absent (Idle).
    pub scopes: Vec<ScopeStatus>,
}

impl SyncStatus {
    /// The status of one scope, if it ever ran.
    pub fn scope(&self, scope: &Scope) -> Option<&ScopeStatus> {
        self.scopes.iter().find(|s| &s.scope == scope)
    }
}

/// Answer to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestAck {
    /// The run that will do the work.
    pub run_id: RunId,
    /// True when the request joined a run already queued or running for the scope.
    pub joined: bool,
}

/// A run stopped by a pause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PausedRun {
    /// Its id.
    pub run_id: RunId,
    /// Its scope.
    pub scope: Scope,
}

/// Answer to a pause: the actor has stopped every run at a page boundary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PauseAck {
    /// Runs that were active and are now paused (empty if none, or already paused).
    pub paused: Vec<PausedRun>,
}
