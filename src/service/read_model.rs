//! The read side of the data folder: when each kind was last synced for each scope (freshness),
//! the run metrics, the status report of every kind and agent (the sync actors' live state
//! joined with the freshness, the Scheduler's plan and the breakers), and point reads of the
//! data files for the other services' modules.
//!
//! Every read runs on a read-only connection (kept for the next read) on a blocking thread
//! (SQLite blocks; readers never queue behind the DbWriter). A `sync.db` that does not exist yet reads as empty. Must NOT
//! write anything, nor talk to the ERP.

use super::ServiceError;
use crate::records::Kind;
use crate::store::ledger::{self, KindMetrics};
use crate::store::{DataDir, StoreError, parse_time, scope_of, scope_text};
use crate::syncs::breaker::BreakerState;
use blackant_actors::db_writer::open_reader;
use blackant_actors::run::{Counts, RunId, Scope};
use blackant_actors::sync::{RunState, SyncStatus};
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// Reads `sync.db` off the async threads.
#[derive(Debug, Clone)]
pub struct ReadModel {
    data: DataDir,
    readers: Arc<Readers>,
}

/// Idle read-only connections per file, kept for the next read: opening one per read cost
/// more than the read (file open, schema parse, statements prepared again).
#[derive(Debug, Default)]
struct Readers {
    idle: Mutex<HashMap<PathBuf, Vec<Connection>>>,
}

/// Idle connections kept per file (more are opened under load, and closed after).
const IDLE_READERS: usize = 8;

impl Readers {
    fn take(&self, path: &Path) -> rusqlite::Result<Connection> {
        let pooled = self
            .idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.get_mut(path)?.pop());
        match pooled {
            Some(conn) => Ok(conn),
            None => open_reader(path),
        }
    }

    fn give_back(&self, path: PathBuf, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(path).or_default();
            if list.len() < IDLE_READERS {
                list.push(conn);
            }
        }
    }
}

/// When each (kind, scope) last completed a run.
pub type FreshnessMap = HashMap<(Kind, Scope), SystemTime>;

impl ReadModel {
    /// The read model of the data folder `data`.
    pub fn new(data: DataDir) -> Self {
        Self {
            data,
            readers: Arc::default(),
        }
    }

    /// Run `read` on a read-only connection to `sync.db`, on a blocking thread; `None` when
    /// the file does not exist yet.
    pub(super) async fn read<T: Send + 'static>(
        &self,
        what: &'static str,
        read: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<Option<T>, ServiceError> {
        self.read_file(self.data.sync_db(), what, read).await
    }

    /// Run `read` on a read-only connection to the data file `path`, on a blocking thread;
    /// `None` when the file does not exist yet.
    pub(super) async fn read_file<T: Send + 'static>(
        &self,
        path: std::path::PathBuf,
        what: &'static str,
        read: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<Option<T>, ServiceError> {
        let failed = move |source| ServiceError::Read {
            what,
            source: Box::new(source),
        };
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            if !path.exists() {
                return Ok(None);
            }
            let conn = readers.take(&path).map_err(StoreError::sql(format!(
                "opening {} to read {what}",
                path.display()
            )))?;
            let out = read(&conn).map(Some);
            // A connection that failed a read is closed, not kept.
            if out.is_ok() {
                readers.give_back(path, conn);
            }
            out
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("reading {what}: {e}")))?
        .map_err(failed)
    }

    /// When `kind` last completed a run for `scope` (`None`: never).
    pub async fn last_success(
        &self,
        kind: Kind,
        scope: &Scope,
    ) -> Result<Option<SystemTime>, ServiceError> {
        let key = scope_text(scope).to_string();
        let text = self
            .read("freshness", move |conn| {
                ledger::last_success(conn, kind.name(), &key)
            })
            .await?
            .flatten();
        text.map(|t| parse_time(&t, "freshness"))
            .transpose()
            .map_err(|source| ServiceError::Read {
                what: "freshness",
                source: Box::new(source),
            })
    }

    /// The last success of every (kind, scope) ever synced.
    pub async fn freshness(&self) -> Result<FreshnessMap, ServiceError> {
        let rows = self
            .read("freshness", ledger::all_freshness)
            .await?
            .unwrap_or_default();
        let mut map = FreshnessMap::new();
        for (kind, scope, at) in rows {
            let Some(kind) = Kind::from_name(&kind) else {
                continue; // a kind this build does not sync (any more)
            };
            let at = parse_time(&at, "freshness").map_err(|source| ServiceError::Read {
                what: "freshness",
                source: Box::new(source),
            })?;
            map.insert((kind, scope_of(scope)), at);
        }
        Ok(map)
    }

    /// The latest runs matching `filter`, newest first.
    pub async fn runs(
        &self,
        filter: ledger::RunFilter,
        limit: u32,
    ) -> Result<Vec<ledger::RunRow>, ServiceError> {
        Ok(self
            .read("runs", move |conn| {
                ledger::runs_matching(conn, &filter, limit)
            })
            .await?
            .unwrap_or_default())
    }

    /// Run-history metrics per kind (durations, runs, failures, joined requests).
    pub async fn run_metrics(&self) -> Result<Vec<KindMetrics>, ServiceError> {
        Ok(self
            .read("run metrics", ledger::run_metrics)
            .await?
            .unwrap_or_default())
    }
}

/// What a (kind, scope) is doing, as the status report shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeState {
    /// Its sync actor answered: the run state (Idle when it has no run).
    Run(RunState),
    /// Its sync actor is down (restarting, stopped or escalated): `last_error` says why.
    Down,
}

/// Progress of the current run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Pages applied.
    pub page: usize,
    /// Pages in the export (0 until prepared).
    pub pages: usize,
    /// Records in the export, when known.
    pub items: Option<u64>,
}

/// One row of the status report: one kind for one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub kind: Kind,
    pub scope: Scope,
    pub state: ScopeState,
    /// The current run.
    pub run_id: Option<RunId>,
    /// Set when the actor reported this scope.
    pub progress: Option<Progress>,
    pub last_success: Option<SystemTime>,
    /// The Scheduler's next run (absent when it does not run or the kind is disabled).
    pub next_run: Option<SystemTime>,
    pub last_error: Option<String>,
    /// Counts of the last finished run.
    pub last_counts: Option<Counts>,
    pub breaker: BreakerState,
    /// Rows a complete export held from deletion for an operator (0: none held).
    pub held_deletions: u64,
}

/// What the status report is assembled from (gathered by the facade).
pub(super) struct StatusSources<'a> {
    /// Each kind's actor status, or why it could not be asked.
    pub actors: Vec<(Kind, Result<SyncStatus, String>)>,
    /// The scopes to report for per-agent kinds.
    pub agents: &'a [String],
    pub freshness: &'a FreshnessMap,
    /// The Scheduler's next run per (kind, scope).
    pub next: &'a HashMap<(Kind, Scope), SystemTime>,
    /// Rows held from deletion per (kind, scope).
    pub held: &'a HashMap<(Kind, Scope), u64>,
    pub breaker: &'a dyn Fn(&Scope) -> BreakerState,
}

/// One row per kind and scope the `visible` filter keeps: the catalogue for catalogue kinds,
/// each agent for per-agent kinds.
pub(super) fn status_rows(
    sources: StatusSources<'_>,
    visible: &dyn Fn(Kind, &Scope) -> bool,
) -> Vec<StatusRow> {
    let mut rows = Vec::new();
    for (kind, actor) in &sources.actors {
        let scopes: Vec<Scope> = if kind.spec().per_agent {
            sources.agents.iter().cloned().map(Scope::Agent).collect()
        } else {
            vec![Scope::Catalogue]
        };
        for scope in scopes.into_iter().filter(|s| visible(*kind, s)) {
            let key = (*kind, scope.clone());
            let mut row = StatusRow {
                kind: *kind,
                scope: scope.clone(),
                state: ScopeState::Run(RunState::Idle),
                run_id: None,
                progress: None,
                last_success: sources.freshness.get(&key).copied(),
                next_run: sources.next.get(&key).copied(),
                last_error: None,
                last_counts: None,
                breaker: (sources.breaker)(&scope),
                held_deletions: sources.held.get(&key).copied().unwrap_or_default(),
            };
            match actor {
                Err(reason) => {
                    row.state = ScopeState::Down;
                    row.last_error = Some(reason.clone());
                }
                Ok(status) => {
                    if let Some(sc) = status.scope(&scope) {
                        row.state = ScopeState::Run(sc.state);
                        row.run_id = sc.run_id;
                        row.progress = Some(Progress {
                            page: sc.page,
                            pages: sc.pages,
                            items: sc.items,
                        });
                        row.last_error = sc.last_error.clone();
                        row.last_counts = sc.last.as_ref().map(|l| l.outcome.counts());
                    }
                }
            }
            rows.push(row);
        }
    }
    rows
}
