//! The vocabulary of sync runs and the contracts the root crate implements.
//!
//! A sync *kind* (customers, products, prices, orders, DDT, invoices) is a [`SyncKind`]: it
//! knows how to get an export and cut it into pages ([`SyncKind::prepare`]), how to apply one
//! page together with its checkpoint ([`SyncKind::apply_page`]) and how to finish
//! ([`SyncKind::finish`]). The generic [`SyncActor`] drives any kind: coalescing, pause and
//! resume at page boundaries, retries with backoff, crash-resume from the ledger, status.
//! Runs are recorded through a [`RunLedger`] (implemented over `sync.db` by the root crate;
//! [`crate::testing::MemoryLedger`] in tests).
//!
//! This module must NOT know Archibald, PDFs or SQLite schemas: those live behind the traits.
//!
//! Layout: `mod.rs` (types, traits, [`SyncHandle`]), `actor.rs` (the actor), `registry.rs`
//! ([`SyncRegistry`]: one actor per scope, the service's OrderSyncRegistry), `tests.rs`.

mod actor;
mod registry;
#[cfg(test)]
mod tests;

use std::fmt;
use std::future::Future;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use ractor::{ActorRef, RpcReplyPort};
use rand::Rng;
use tokio_util::sync::CancellationToken;

pub use actor::{SyncActor, SyncArguments, SyncMessage, SyncState};
pub use registry::{SyncRegistry, SyncRegistryArguments, SyncRegistryState};

use crate::directory::{ActorTarget, Directory};
use crate::events::{Counts, EventBus, EventError, Mode, ParseError, RunId, Scope, SyncEvent};
use crate::supervision::exponential_backoff;

/// Why a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// The scheduler's timer for this kind.
    Scheduled,
    /// An agent logged in to the PWA.
    Login,
    /// An agent's PWA reconnected.
    Reconnect,
    /// The data is older than the staleness limit.
    Stale,
    /// A read asked for fresh data (`EnsureFresh`).
    EnsureFresh,
    /// An agent pressed refresh.
    Manual,
    /// An operator forced it (ignores freshness thresholds).
    Operator,
    /// Follows another kind's run (DDT and invoices after orders, price re-match after
    /// products).
    FollowUp,
    /// Reopened from the ledger after the actor restarted.
    Resume,
}

impl Trigger {
    /// Every trigger, for parsers and tests.
    pub const ALL: [Trigger; 9] = [
        Trigger::Scheduled,
        Trigger::Login,
        Trigger::Reconnect,
        Trigger::Stale,
        Trigger::EnsureFresh,
        Trigger::Manual,
        Trigger::Operator,
        Trigger::FollowUp,
        Trigger::Resume,
    ];

    /// The stable lowercase name (stored in the ledger, shown in status).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Scheduled => "scheduled",
            Trigger::Login => "login",
            Trigger::Reconnect => "reconnect",
            Trigger::Stale => "stale",
            Trigger::EnsureFresh => "ensure_fresh",
            Trigger::Manual => "manual",
            Trigger::Operator => "operator",
            Trigger::FollowUp => "follow_up",
            Trigger::Resume => "resume",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Trigger {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Trigger::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ParseError {
                what: "trigger",
                value: s.to_string(),
            })
    }
}

/// Everything a kind needs to know about the run it is working on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSpec {
    /// The run (stable across restarts and retries).
    pub run_id: RunId,
    /// The kind's name.
    pub kind: String,
    /// Catalogue or agent.
    pub scope: Scope,
    /// Full or delta.
    pub mode: Mode,
    /// Why it runs (`Resume` when reopened after a restart).
    pub trigger: Trigger,
    /// Attempt at the current step, 1-based: 2 is the first retry. Back to 1 after each page
    /// applied, so a long run is not failed by scattered transient errors.
    pub attempt: u32,
}

/// What `prepare` found: the plan to apply and where to start.
#[derive(Debug)]
pub struct Prepared<P> {
    /// The kind's own data: the parsed export (or the path to it) — handed back to
    /// `apply_page` and `finish`.
    pub plan: P,
    /// Pages in the export.
    pub pages: usize,
    /// First page to apply: 0 for a fresh run, the checkpoint's next page when resuming.
    pub next_page: usize,
    /// Counts already applied by the pages before `next_page` (from the checkpoint).
    pub counts_so_far: Counts,
    /// Records in the export, when known (progress display).
    pub items: Option<u64>,
    /// Delta run whose export is byte-identical to the last one: apply no page, finish at
    /// once (`finish` is still called, to record the freshness).
    pub unchanged_export: bool,
}

/// Counts of one page.
pub type PageCounts = Counts;
/// Counts of the finish step (typically `deleted`).
pub type FinishCounts = Counts;

/// Why a step of a run failed. Transient errors are retried with backoff; permanent ones fail
/// the run at once. The strings carry the context (page, row, URL...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Network, HTTP 5xx, session expired, browser crash, writer restarting: retry.
    #[error("{0}")]
    Transient(String),
    /// Malformed report, bad credentials, schema mismatch: retrying cannot help.
    #[error("{0}")]
    Permanent(String),
    /// The step stopped because its cancellation token fired.
    #[error("cancelled")]
    Cancelled,
    /// The run ledger could not record the run.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl SyncError {
    /// A transient error with context.
    pub fn transient(context: impl fmt::Display) -> Self {
        SyncError::Transient(context.to_string())
    }

    /// A permanent error with context.
    pub fn permanent(context: impl fmt::Display) -> Self {
        SyncError::Permanent(context.to_string())
    }

    /// Whether retrying may help. A `Cancelled` the actor did not ask for (the kind gave up
    /// on its own) is treated as transient.
    pub fn is_transient(&self) -> bool {
        !matches!(self, SyncError::Permanent(_))
    }
}

/// A sync kind: how to get, apply and finish one kind of export. Implemented by the root
/// crate (one per ERP report); driven by [`SyncActor`].
///
/// Each method's future must be `Send`; `prepare`'s must also be `'static`-safe to run in a
/// spawned task (it borrows only `self`, which the actor keeps in an `Arc`, and its
/// arguments, which the task owns).
pub trait SyncKind: Send + Sync + 'static {
    /// The prepared export (parsed pages, export id...). Lives in the actor between steps.
    type Plan: Send + 'static;

    /// The kind's name (`customers`, `products`...): used in events, the ledger and logs.
    fn name(&self) -> &str;

    /// Get the export (or, if a checkpoint for this run exists, reload the export it names) and
    /// parse it into pages. Long (browser + ERP): must stop promptly when `cancel` fires
    /// (returning [`SyncError::Cancelled`]). Runs in a spawned task, so the actor stays
    /// responsive meanwhile.
    fn prepare(
        &self,
        run: &RunSpec,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<Prepared<Self::Plan>, SyncError>> + Send;

    /// Apply page `index` and its checkpoint in ONE transaction (a page is applied with its
    /// checkpoint or not at all). Short: runs inside the actor's handler, so a pause waits for
    /// at most one page.
    fn apply_page(
        &self,
        run: &RunSpec,
        plan: &Self::Plan,
        index: usize,
    ) -> impl Future<Output = Result<PageCounts, SyncError>> + Send;

    /// After the last page (or at once for an unchanged export): deletions (only for complete
    /// exports), clear the checkpoint, remember the export — in one transaction, so a failed
    /// finish can simply be prepared and run again.
    fn finish(
        &self,
        run: &RunSpec,
        plan: Self::Plan,
    ) -> impl Future<Output = Result<FinishCounts, SyncError>> + Send;
}

/// How a run ended, as stored in the ledger and shown in status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every page applied and finished.
    Completed {
        /// Totals.
        counts: Counts,
        /// Delta run on a byte-identical export.
        unchanged_export: bool,
        /// From first start to the end (in this process).
        duration: Duration,
    },
    /// Given up.
    Failed {
        /// Why, with context.
        reason: String,
        /// True when the error was permanent; false when transient retries ran out.
        permanent: bool,
        /// What had been applied before the failure.
        counts: Counts,
        /// From first start to the failure (in this process).
        duration: Duration,
    },
}

impl RunOutcome {
    /// The counts, whichever the outcome.
    pub fn counts(&self) -> Counts {
        match self {
            RunOutcome::Completed { counts, .. } | RunOutcome::Failed { counts, .. } => *counts,
        }
    }
}

/// A run the ledger holds as open (opened, never closed): to be resumed after a restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRun {
    /// Its id.
    pub run_id: RunId,
    /// Its scope.
    pub scope: Scope,
    /// Its mode.
    pub mode: Mode,
    /// The trigger it was opened with.
    pub trigger: Trigger,
}

/// The ledger refused or failed an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("run ledger: {operation} failed: {reason}")]
pub struct LedgerError {
    /// `open_run`, `close_run` or `open_runs`.
    pub operation: &'static str,
    /// Why, with context.
    pub reason: String,
}

/// Where runs are recorded (the `runs` table of `sync.db` in production). Object-safe, so
/// every sync actor shares one `Arc<dyn RunLedger>`.
pub trait RunLedger: Send + Sync + 'static {
    /// Record a new open run and allocate its id.
    fn open_run<'a>(
        &'a self,
        kind: &'a str,
        scope: &'a Scope,
        mode: Mode,
        trigger: Trigger,
    ) -> BoxFuture<'a, Result<RunId, LedgerError>>;

    /// Close a run with its outcome.
    fn close_run(
        &self,
        run_id: RunId,
        outcome: RunOutcome,
    ) -> BoxFuture<'_, Result<(), LedgerError>>;

    /// The runs of `kind` that were opened and never closed.
    fn open_runs<'a>(&'a self, kind: &'a str) -> BoxFuture<'a, Result<Vec<OpenRun>, LedgerError>>;

    /// A request joined run `run_id` instead of opening one (counted in the run history).
    /// The default records nothing.
    fn note_joined(
        &self,
        run_id: RunId,
        trigger: Trigger,
    ) -> BoxFuture<'_, Result<(), LedgerError>> {
        let _ = (run_id, trigger);
        Box::pin(async { Ok(()) })
    }
}

/// Retry rules for transient errors within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per step, the first included (1 = never retry).
    pub max_attempts: u32,
    /// Delay before the first retry; doubles for each further one.
    pub base: Duration,
    /// Upper bound of a delay.
    pub max: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 2 s doubling up to 60 s.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base: Duration::from_secs(2),
            max: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1 = first retry): exponential, capped, with
    /// "equal jitter" (uniform in `[d/2, d]`) so runs that failed together do not hammer
    /// the ERP together.
    pub fn delay(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let d = exponential_backoff(self.base, self.max, retry);
        let half = d / 2;
        let spread = (d - half).as_nanos().min(u64::MAX as u128) as u64;
        half + Duration::from_nanos(rng.random_range(0..=spread))
    }
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
