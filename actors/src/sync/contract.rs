//! The contracts between the sync runtime and whoever defines a kind: [`SyncKind`] (how to get,
//! apply and finish one kind of export), [`RunLedger`] (where runs are recorded), what a step
//! may fail with ([`SyncError`]) and how transient failures are retried ([`RetryPolicy`]).
//!
//! Types and traits only: it must NOT drive runs (that is `actor.rs`) nor know Archibald, PDFs
//! or SQLite schemas (those live behind the traits, in the root crate).

use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::run::{Counts, Mode, RunId, RunNotes, RunOutcome, Scope, Trigger};
use crate::supervision::exponential_backoff;

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
    /// What preparing noticed (columns of the export the contract does not know).
    pub notes: RunNotes,
}

/// Counts of one page.
pub type PageCounts = Counts;

/// What the finish step did: its counts (typically `deleted`) and what it noticed (deletions
/// it held back).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Finished {
    /// Counts of the finish step.
    pub counts: Counts,
    /// Deletions held for an operator.
    pub notes: RunNotes,
}

impl From<Counts> for Finished {
    fn from(counts: Counts) -> Finished {
        Finished {
            counts,
            notes: RunNotes::default(),
        }
    }
}

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
    /// A page did not hold what a step looked for (the ERP changed): permanent, with the id of
    /// the evidence kept of that page for the operator.
    #[error("{reason}")]
    PageChanged {
        /// What was looked for, where, and what the page was.
        reason: String,
        /// The evidence id (HTML and screenshot of the page), when it could be kept.
        evidence: Option<String>,
    },
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
        !matches!(
            self,
            SyncError::Permanent(_) | SyncError::PageChanged { .. }
        )
    }

    /// The evidence kept of the page the step failed on, if any.
    pub fn evidence(&self) -> Option<&str> {
        match self {
            SyncError::PageChanged { evidence, .. } => evidence.as_deref(),
            _ => None,
        }
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
    ) -> impl Future<Output = Result<Finished, SyncError>> + Send;

    /// The run failed for good and will never resume: release what it kept for a resume (a
    /// saved export). `plan` is its plan when the failure came after `prepare`. Called after
    /// the failure is recorded; must not fail. Default: nothing was kept.
    fn abandon(&self, run: &RunSpec, plan: Option<Self::Plan>) -> impl Future<Output = ()> + Send {
        let _ = (run, plan);
        async {}
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
