//! Test doubles other crates may use too: an in-memory [`RunLedger`].
//!
//! Public (not `cfg(test)`) so the root crate's tests can drive real sync actors without
//! `sync.db`. It must NOT be used in production wiring: it forgets everything on exit.

use std::sync::{Arc, Mutex, PoisonError};

use futures::future::BoxFuture;

use crate::run::{Mode, RunId, RunOutcome, Scope, Trigger};
use crate::sync::{LedgerError, OpenRun, RunLedger};

/// One run as the [`MemoryLedger`] holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerRow {
    /// Allocated id (1, 2, ...).
    pub run_id: RunId,
    /// Kind name.
    pub kind: String,
    /// Scope.
    pub scope: Scope,
    /// Mode.
    pub mode: Mode,
    /// Trigger it was opened with.
    pub trigger: Trigger,
    /// `None` while open.
    pub outcome: Option<RunOutcome>,
}

#[derive(Debug, Default)]
struct Inner {
    rows: Vec<LedgerRow>,
    fail_next_open: Option<String>,
}

/// An in-memory run ledger. Clones share the same rows, so a test keeps one clone to inspect
/// while the actors (and their restarts) use another.
#[derive(Debug, Clone, Default)]
pub struct MemoryLedger {
    inner: Arc<Mutex<Inner>>,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every run, in id order.
    pub fn rows(&self) -> Vec<LedgerRow> {
        self.lock().rows.clone()
    }

    /// One run.
    pub fn row(&self, run_id: RunId) -> Option<LedgerRow> {
        self.lock()
            .rows
            .iter()
            .find(|r| r.run_id == run_id)
            .cloned()
    }

    /// Make the next `open_run` fail with `reason`.
    pub fn fail_next_open(&self, reason: impl Into<String>) {
        self.lock().fail_next_open = Some(reason.into());
    }

    /// Insert an open run directly (as if a previous process had opened it and crashed).
    pub fn insert_open(&self, kind: &str, scope: Scope, mode: Mode, trigger: Trigger) -> RunId {
        let mut inner = self.lock();
        let run_id = RunId(inner.rows.len() as i64 + 1);
        inner.rows.push(LedgerRow {
            run_id,
            kind: kind.to_string(),
            scope,
            mode,
            trigger,
            outcome: None,
        });
        run_id
    }
}

impl RunLedger for MemoryLedger {
    fn open_run<'a>(
        &'a self,
        kind: &'a str,
        scope: &'a Scope,
        mode: Mode,
        trigger: Trigger,
    ) -> BoxFuture<'a, Result<RunId, LedgerError>> {
        Box::pin(async move {
            if let Some(reason) = self.lock().fail_next_open.take() {
                return Err(LedgerError {
                    operation: "open_run",
                    reason,
                });
            }
            Ok(self.insert_open(kind, scope.clone(), mode, trigger))
        })
    }

    fn close_run(
        &self,
        run_id: RunId,
        outcome: RunOutcome,
    ) -> BoxFuture<'_, Result<(), LedgerError>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let row = inner
                .rows
                .iter_mut()
                .find(|r| r.run_id == run_id)
                .ok_or_else(|| LedgerError {
                    operation: "close_run",
                    reason: format!("no run {run_id}"),
                })?;
            if row.outcome.is_some() {
                return Err(LedgerError {
                    operation: "close_run",
                    reason: format!("run {run_id} is already closed"),
                });
            }
            row.outcome = Some(outcome);
            Ok(())
        })
    }

    fn open_runs<'a>(&'a self, kind: &'a str) -> BoxFuture<'a, Result<Vec<OpenRun>, LedgerError>> {
        Box::pin(async move {
            Ok(self
                .lock()
                .rows
                .iter()
                .filter(|r| r.kind == kind && r.outcome.is_none())
                .map(|r| OpenRun {
                    run_id: r.run_id,
                    scope: r.scope.clone(),
                    mode: r.mode,
                    trigger: r.trigger,
                })
                .collect())
        })
    }
}
