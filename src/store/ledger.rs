//! `sync.db`'s run history and freshness: open a run when it is accepted, close it with its
//! outcome and counts, list runs that never closed (the service died), and answer "how old is
//! this kind's data for this agent". The history keeps the newest [`RUNS_KEPT_PER_SCOPE`]
//! ended runs of each kind and scope: a run that ends drops the oldest beyond that.
//!
//! Plain SQL over a connection or transaction; the sync.db DbWriter is the only writer, the
//! gRPC read paths use read-only connections.

use super::{StoreError, now_text};
use blackant_actors::run::RunNotes;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

/// A run as the history shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    pub id: i64,
    pub kind: String,
    pub scope: String,
    pub mode: String,
    pub trigger: String,
    pub state: String,
    pub queued_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<i64>,
    pub inserted: Option<i64>,
    pub updated: Option<i64>,
    pub unchanged: Option<i64>,
    pub deleted: Option<i64>,
    pub unchanged_export: Option<bool>,
    pub error: Option<String>,
    pub permanent: Option<bool>,
    /// Titles of the export's columns the contract does not know (ignored).
    pub unknown_columns: Vec<String>,
    /// Deletions the run held for an operator (0 or none: none held).
    pub held_deletions: Option<i64>,
    pub held_reason: Option<String>,
    /// The evidence kept of the page a failed run's step found changed.
    pub evidence: Option<String>,
}

/// How a run ended, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    Completed {
        inserted: u64,
        updated: u64,
        unchanged: u64,
        deleted: u64,
        unchanged_export: bool,
        notes: RunNotes,
    },
    Failed {
        error: String,
        permanent: bool,
        notes: RunNotes,
    },
}

/// Ended runs (completed, failed, skipped) kept per kind and scope; older ones are deleted as
/// new ones end. An orders run every 10 minutes keeps ~7 days per agent, 100 agents' four
/// per-agent kinds at most 400,000 rows. Open runs and the run a freshness row names are
/// never deleted.
pub const RUNS_KEPT_PER_SCOPE: i64 = 1_000;

/// Delete the ended runs of `kind` and `scope` older than the newest [`RUNS_KEPT_PER_SCOPE`].
fn prune_history(tx: &Transaction<'_>, kind: &str, scope: &str) -> Result<(), StoreError> {
    tx.prepare_cached(
        "DELETE FROM runs WHERE kind = ?1 AND scope = ?2 AND state != 'open'
           AND id <= (SELECT id FROM runs WHERE kind = ?1 AND scope = ?2 AND state != 'open'
                      ORDER BY id DESC LIMIT 1 OFFSET ?3)
           AND id NOT IN (SELECT last_run_id FROM freshness WHERE kind = ?1 AND scope = ?2)",
    )
    .and_then(|mut stmt| stmt.execute(params![kind, scope, RUNS_KEPT_PER_SCOPE]))
    .map_err(StoreError::sql(format!("pruning the {kind} run history")))?;
    Ok(())
}

/// Accept a run: it is `open` until `close_run`.
pub fn open_run(
    tx: &Transaction<'_>,
    kind: &str,
    scope: &str,
    mode: &str,
    trigger: &str,
) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO runs (kind, scope, mode, trigger, state, queued_at) VALUES (?1, ?2, ?3, ?4, 'open', ?5)",
        params![kind, scope, mode, trigger, now_text()],
    )
    .map_err(StoreError::sql(format!("opening a {kind} run")))?;
    Ok(tx.last_insert_rowid())
}

/// Record a run that was due but not started, and why (the Scheduler found the data
/// refreshed by another run meanwhile): state `skipped`, counted in no metric.
pub fn record_skip(
    tx: &Transaction<'_>,
    kind: &str,
    scope: &str,
    trigger: &str,
    reason: &str,
) -> Result<(), StoreError> {
    let now = now_text();
    tx.execute(
        "INSERT INTO runs (kind, scope, mode, trigger, state, queued_at, ended_at, duration_ms, error)
         VALUES (?1, ?2, 'delta', ?3, 'skipped', ?4, ?4, 0, ?5)",
        params![kind, scope, trigger, now, reason],
    )
    .map_err(StoreError::sql(format!("recording a skipped {kind} run")))?;
    prune_history(tx, kind, scope)
}

/// Close a run; a completed run also refreshes the kind's freshness for its scope. The
/// history of its kind and scope is then pruned to [`RUNS_KEPT_PER_SCOPE`].
pub fn close_run(
    tx: &Transaction<'_>,
    run_id: i64,
    end: &RunEnd,
    duration_ms: i64,
) -> Result<(), StoreError> {
    let now = now_text();
    let what = format!("closing run {run_id}");
    let changed = match end {
        RunEnd::Completed { inserted, updated, unchanged, deleted, unchanged_export, .. } => tx.execute(
            "UPDATE runs SET state = 'completed', ended_at = ?2, duration_ms = ?3, inserted = ?4, updated = ?5,
                 unchanged = ?6, deleted = ?7, unchanged_export = ?8, error = NULL, permanent = NULL
             WHERE id = ?1",
            params![
                run_id,
                now,
                duration_ms,
                *inserted as i64,
                *updated as i64,
                *unchanged as i64,
                *deleted as i64,
                unchanged_export
            ],
        ),
        RunEnd::Failed { error, permanent, .. } => tx.execute(
            "UPDATE runs SET state = 'failed', ended_at = ?2, duration_ms = ?3, error = ?4, permanent = ?5 WHERE id = ?1",
            params![run_id, now, duration_ms, error, permanent],
        ),
    }
    .map_err(StoreError::sql(what.clone()))?;
    let (RunEnd::Completed { notes, .. } | RunEnd::Failed { notes, .. }) = end;
    if !notes.is_empty() {
        let columns = (!notes.unknown_columns.is_empty())
            .then(|| serde_json::to_string(&notes.unknown_columns).unwrap_or_default());
        tx.execute(
            "UPDATE runs SET unknown_columns = ?2, held_deletions = ?3, held_reason = ?4, evidence = ?5
             WHERE id = ?1",
            params![
                run_id,
                columns,
                (notes.held_deletions > 0).then_some(notes.held_deletions as i64),
                (!notes.held_reason.is_empty()).then_some(notes.held_reason.as_str()),
                notes.evidence
            ],
        )
        .map_err(StoreError::sql(what.clone()))?;
    }
    if changed == 0 {
        return Err(StoreError::Inconsistent(format!(
            "run {run_id} does not exist"
        )));
    }
    if matches!(end, RunEnd::Completed { .. }) {
        tx.execute(
            "INSERT INTO freshness (kind, scope, last_success_at, last_run_id)
             SELECT kind, scope, ?2, id FROM runs WHERE id = ?1
             ON CONFLICT (kind, scope) DO UPDATE SET last_success_at = excluded.last_success_at,
                 last_run_id = excluded.last_run_id",
            params![run_id, now],
        )
        .map_err(StoreError::sql(what.clone()))?;
    }
    let (kind, scope): (String, String) = tx
        .query_row(
            "SELECT kind, scope FROM runs WHERE id = ?1",
            params![run_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(StoreError::sql(what))?;
    prune_history(tx, &kind, &scope)
}

/// Runs of `kind` accepted but never closed (the service stopped while they ran).
pub fn open_runs(conn: &Connection, kind: &str) -> Result<Vec<RunRow>, StoreError> {
    query_runs(
        conn,
        "WHERE state = 'open' AND kind = ?1 ORDER BY id",
        params![kind],
    )
}

/// One run by id.
pub fn run(conn: &Connection, run_id: i64) -> Result<Option<RunRow>, StoreError> {
    Ok(query_runs(conn, "WHERE id = ?1", params![run_id])?
        .into_iter()
        .next())
}

/// The latest runs, newest first, optionally for one kind.
pub fn recent_runs(
    conn: &Connection,
    kind: Option<&str>,
    limit: u32,
) -> Result<Vec<RunRow>, StoreError> {
    match kind {
        Some(k) => query_runs(
            conn,
            "WHERE kind = ?1 ORDER BY id DESC LIMIT ?2",
            params![k, limit],
        ),
        None => query_runs(conn, "ORDER BY id DESC LIMIT ?1", params![limit]),
    }
}

/// Which runs [`runs_matching`] answers; `None` matches any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub kind: Option<String>,
    /// `''` for the catalogue, else the agent.
    pub scope: Option<String>,
    /// open, completed, failed or skipped.
    pub state: Option<String>,
}

/// The latest runs matching `filter`, newest first.
pub fn runs_matching(
    conn: &Connection,
    filter: &RunFilter,
    limit: u32,
) -> Result<Vec<RunRow>, StoreError> {
    query_runs(
        conn,
        "WHERE (?1 IS NULL OR kind = ?1) AND (?2 IS NULL OR scope = ?2) AND (?3 IS NULL OR state = ?3)
         ORDER BY id DESC LIMIT ?4",
        params![filter.kind, filter.scope, filter.state, limit],
    )
}

fn query_runs(
    conn: &Connection,
    tail: &str,
    p: impl rusqlite::Params,
) -> Result<Vec<RunRow>, StoreError> {
    let sql = format!(
        "SELECT id, kind, scope, mode, trigger, state, queued_at, ended_at, duration_ms, inserted, updated,
                unchanged, deleted, unchanged_export, error, permanent, unknown_columns,
                held_deletions, held_reason, evidence FROM runs {tail}"
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(StoreError::sql("reading runs"))?;
    let rows = stmt
        .query_map(p, |r| {
            Ok(RunRow {
                id: r.get(0)?,
                kind: r.get(1)?,
                scope: r.get(2)?,
                mode: r.get(3)?,
                trigger: r.get(4)?,
                state: r.get(5)?,
                queued_at: r.get(6)?,
                ended_at: r.get(7)?,
                duration_ms: r.get(8)?,
                inserted: r.get(9)?,
                updated: r.get(10)?,
                unchanged: r.get(11)?,
                deleted: r.get(12)?,
                unchanged_export: r.get(13)?,
                error: r.get(14)?,
                permanent: r.get(15)?,
                unknown_columns: r
                    .get::<_, Option<String>>(16)?
                    .and_then(|j| serde_json::from_str(&j).ok())
                    .unwrap_or_default(),
                held_deletions: r.get(17)?,
                held_reason: r.get(18)?,
                evidence: r.get(19)?,
            })
        })
        .map_err(StoreError::sql("reading runs"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::sql("reading runs"))
}

/// When this kind last synced successfully for this scope (RFC 3339), if ever.
pub fn last_success(
    conn: &Connection,
    kind: &str,
    scope: &str,
) -> Result<Option<String>, StoreError> {
    conn.query_row(
        "SELECT last_success_at FROM freshness WHERE kind = ?1 AND scope = ?2",
        params![kind, scope],
        |r| r.get(0),
    )
    .optional()
    .map_err(StoreError::sql(format!("reading {kind} freshness")))
}

/// Every (kind, scope, last_success_at) known.
pub fn all_freshness(conn: &Connection) -> Result<Vec<(String, String, String)>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT kind, scope, last_success_at FROM freshness ORDER BY kind, scope")
        .map_err(StoreError::sql("reading freshness"))?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .map_err(StoreError::sql("reading freshness"))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::sql("reading freshness"))
}

/// A request joined run `run_id` rather than opening one.
pub fn note_joined(tx: &Transaction<'_>, run_id: i64) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE runs SET joined = joined + 1 WHERE id = ?1",
        params![run_id],
    )
    .map_err(StoreError::sql(format!(
        "counting a request joining run {run_id}"
    )))?;
    Ok(())
}

/// Run-history figures of one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindMetrics {
    pub kind: String,
    /// Runs ended (completed or failed) in the window.
    pub runs: u64,
    pub completed: u64,
    pub failed: u64,
    /// Delta runs that found a byte-identical export (no parse, no write).
    pub unchanged_exports: u64,
    /// Requests that joined a running run instead of starting one.
    pub joined: u64,
    /// Duration percentiles of completed runs, in milliseconds (None: no completed run).
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub max_ms: Option<u64>,
}

/// How many of each kind's newest ended runs the metrics cover.
pub const METRICS_WINDOW: u32 = 10_000;

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Per kind, over its newest [`METRICS_WINDOW`] ended runs: counts and duration percentiles.
pub fn run_metrics(conn: &Connection) -> Result<Vec<KindMetrics>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT kind, state, duration_ms, joined, unchanged_export FROM (
                 SELECT *, ROW_NUMBER() OVER (PARTITION BY kind ORDER BY id DESC) AS n
                 FROM runs WHERE state NOT IN ('open', 'skipped'))
             WHERE n <= ?1 ORDER BY kind",
        )
        .map_err(StoreError::sql("reading run metrics"))?;
    let rows = stmt
        .query_map(params![METRICS_WINDOW], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<i64>>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, Option<bool>>(4)?,
            ))
        })
        .map_err(StoreError::sql("reading run metrics"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::sql("reading run metrics"))?;
    let mut out: Vec<(KindMetrics, Vec<u64>)> = Vec::new();
    for (kind, state, duration, joined, unchanged) in rows {
        if out.last().is_none_or(|(m, _)| m.kind != kind) {
            out.push((
                KindMetrics {
                    kind: kind.clone(),
                    ..KindMetrics::default()
                },
                Vec::new(),
            ));
        }
        let Some((m, durations)) = out.last_mut() else {
            continue;
        };
        m.runs += 1;
        m.joined += joined.max(0) as u64;
        if state == "completed" {
            m.completed += 1;
            m.unchanged_exports += u64::from(unchanged == Some(true));
            durations.push(duration.unwrap_or(0).max(0) as u64);
        } else {
            m.failed += 1;
        }
    }
    Ok(out
        .into_iter()
        .map(|(mut m, mut d)| {
            d.sort_unstable();
            m.p50_ms = percentile(&d, 50.0);
            m.p95_ms = percentile(&d, 95.0);
            m.p99_ms = percentile(&d, 99.0);
            m.max_ms = d.last().copied();
            m
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema;

    use schema::memory_sync_db as db;

    /// A completed run that saw one unchanged record and `inserted` new ones.
    fn completed(inserted: u64, unchanged_export: bool) -> RunEnd {
        RunEnd::Completed {
            inserted,
            updated: 0,
            unchanged: 1,
            deleted: 0,
            unchanged_export,
            notes: RunNotes::default(),
        }
    }

    #[test]
    fn metrics_count_runs_failures_joins_and_percentiles() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        // A skipped run is history, not a run: no metric counts it.
        record_skip(&tx, "orders", "a1", "stale", "no longer due").unwrap();
        let done = |u| completed(0, u);
        // 100 completed orders runs of 1..=100 ms, two failed, one still open.
        for ms in 1..=100 {
            let id = open_run(&tx, "orders", "a1", "delta", "scheduled").unwrap();
            close_run(&tx, id, &done(ms % 2 == 0), ms).unwrap();
            if ms <= 3 {
                note_joined(&tx, id).unwrap();
            }
        }
        for _ in 0..2 {
            let id = open_run(&tx, "orders", "a1", "delta", "manual").unwrap();
            let failed = RunEnd::Failed {
                error: "HTTP 500".into(),
                permanent: false,
                notes: RunNotes::default(),
            };
            close_run(&tx, id, &failed, 7).unwrap();
        }
        open_run(&tx, "orders", "a2", "delta", "manual").unwrap();
        let id = open_run(&tx, "products", "", "full", "manual").unwrap();
        close_run(&tx, id, &done(false), 900).unwrap();
        tx.commit().unwrap();

        let m = run_metrics(&conn).unwrap();
        assert_eq!(m.len(), 2);
        let orders = &m[0];
        assert_eq!(orders.kind, "orders");
        assert_eq!(
            (orders.runs, orders.completed, orders.failed),
            (102, 100, 2)
        );
        assert_eq!((orders.joined, orders.unchanged_exports), (3, 50));
        assert_eq!(
            (orders.p50_ms, orders.p95_ms, orders.p99_ms, orders.max_ms),
            (Some(50), Some(95), Some(99), Some(100))
        );
        assert_eq!((m[1].kind.as_str(), m[1].p99_ms), ("products", Some(900)));
    }

    #[test]
    fn the_history_keeps_the_newest_ended_runs_of_each_scope_the_open_and_the_fresh_one() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        let done = completed(0, true);
        let failed = RunEnd::Failed {
            error: "HTTP 500".into(),
            permanent: false,
            notes: RunNotes::default(),
        };
        // The oldest run is the last success (freshness names it) and one stays open.
        let fresh = open_run(&tx, "orders", "a1", "delta", "scheduled").unwrap();
        close_run(&tx, fresh, &done, 5).unwrap();
        let open = open_run(&tx, "orders", "a1", "delta", "scheduled").unwrap();
        let other = open_run(&tx, "orders", "a2", "delta", "scheduled").unwrap();
        close_run(&tx, other, &failed, 5).unwrap();
        let mut ids = Vec::new();
        for i in 0..RUNS_KEPT_PER_SCOPE + 10 {
            if i % 100 == 0 {
                record_skip(&tx, "orders", "a1", "stale", "no longer due").unwrap();
            } else {
                let id = open_run(&tx, "orders", "a1", "delta", "scheduled").unwrap();
                close_run(&tx, id, &failed, 5).unwrap();
                ids.push(id);
            }
        }
        tx.commit().unwrap();
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count("SELECT count(*) FROM runs WHERE scope = 'a1' AND state != 'open'"),
            RUNS_KEPT_PER_SCOPE + 1,
            "the newest ended runs, plus the one freshness names"
        );
        assert_eq!(
            count("SELECT max(id) FROM runs WHERE scope = 'a1'"),
            *ids.last().unwrap()
        );
        assert!(
            run(&conn, fresh).unwrap().is_some(),
            "the last success stays"
        );
        assert!(run(&conn, open).unwrap().is_some(), "an open run stays");
        assert!(
            run(&conn, other).unwrap().is_some(),
            "another scope is its own"
        );
        assert!(run(&conn, ids[0]).unwrap().is_none(), "the oldest went");
        assert!(last_success(&conn, "orders", "a1").unwrap().is_some());
    }

    #[test]
    fn runs_open_close_and_freshness() {
        let mut conn = db();
        let tx = conn.transaction().unwrap();
        let a = open_run(&tx, "customers", "agent1", "full", "manual").unwrap();
        let b = open_run(&tx, "customers", "agent2", "delta", "schedule").unwrap();
        tx.commit().unwrap();
        assert_eq!(
            open_runs(&conn, "customers")
                .unwrap()
                .iter()
                .map(|r| r.id)
                .collect::<Vec<_>>(),
            vec![a, b]
        );
        assert_eq!(last_success(&conn, "customers", "agent1").unwrap(), None);

        let tx = conn.transaction().unwrap();
        let done = completed(3, false);
        close_run(&tx, a, &done, 120).unwrap();
        close_run(
            &tx,
            b,
            &RunEnd::Failed {
                error: "truncated export".into(),
                permanent: true,
                notes: RunNotes {
                    evidence: Some("20261207T101500-000001".into()),
                    ..RunNotes::default()
                },
            },
            5,
        )
        .unwrap();
        assert!(close_run(&tx, 999, &done, 1).is_err());
        assert_eq!(
            run(&tx, b).unwrap().unwrap().evidence.as_deref(),
            Some("20261207T101500-000001"),
            "a failed run keeps its evidence"
        );
        tx.commit().unwrap();

        assert!(open_runs(&conn, "customers").unwrap().is_empty());
        assert!(
            last_success(&conn, "customers", "agent1")
                .unwrap()
                .is_some()
        );
        assert_eq!(
            last_success(&conn, "customers", "agent2").unwrap(),
            None,
            "a failed run is not fresh"
        );
        let failed = run(&conn, b).unwrap().unwrap();
        assert_eq!(
            (failed.state.as_str(), failed.error.as_deref()),
            ("failed", Some("truncated export"))
        );
        assert_eq!(recent_runs(&conn, None, 10).unwrap()[0].id, b);
    }
}

/// The actors' `RunLedger` over `sync.db`, through its DbWriter.
pub struct SyncDbLedger {
    db: blackant_actors::db_writer::DbHandle,
}

impl SyncDbLedger {
    pub fn new(db: blackant_actors::db_writer::DbHandle) -> Self {
        Self { db }
    }
}

mod ledger_impl {
    use super::*;
    use blackant_actors::run::{Mode, RunId, Scope};
    use blackant_actors::run::{RunOutcome, Trigger};
    use blackant_actors::sync::{LedgerError, OpenRun, RunLedger};
    use futures::FutureExt;
    use futures::future::BoxFuture;

    use crate::store::ledger_error as failed;

    impl RunLedger for SyncDbLedger {
        fn open_run<'a>(
            &'a self,
            kind: &'a str,
            scope: &'a Scope,
            mode: Mode,
            trigger: Trigger,
        ) -> BoxFuture<'a, Result<RunId, LedgerError>> {
            let (kind, scope) = (
                kind.to_string(),
                crate::store::scope_text(scope).to_string(),
            );
            async move {
                self.db
                    .write(move |tx| {
                        open_run(tx, &kind, &scope, &mode.to_string(), trigger.as_str())
                    })
                    .await
                    .map(RunId)
                    .map_err(failed("open_run"))
            }
            .boxed()
        }

        fn close_run(
            &self,
            run_id: RunId,
            outcome: RunOutcome,
        ) -> BoxFuture<'_, Result<(), LedgerError>> {
            async move {
                let (end, duration) = match outcome {
                    RunOutcome::Completed {
                        counts,
                        unchanged_export,
                        duration,
                        notes,
                    } => (
                        RunEnd::Completed {
                            inserted: counts.inserted,
                            updated: counts.updated,
                            unchanged: counts.unchanged,
                            deleted: counts.deleted,
                            unchanged_export,
                            notes,
                        },
                        duration,
                    ),
                    RunOutcome::Failed {
                        reason,
                        permanent,
                        duration,
                        notes,
                        ..
                    } => (
                        RunEnd::Failed {
                            error: reason,
                            permanent,
                            notes,
                        },
                        duration,
                    ),
                };
                let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
                self.db
                    .write(move |tx| close_run(tx, run_id.0, &end, ms))
                    .await
                    .map_err(failed("close_run"))
            }
            .boxed()
        }

        fn note_joined(
            &self,
            run_id: RunId,
            _trigger: Trigger,
        ) -> BoxFuture<'_, Result<(), LedgerError>> {
            async move {
                self.db
                    .write(move |tx| note_joined(tx, run_id.0))
                    .await
                    .map_err(failed("note_joined"))
            }
            .boxed()
        }

        fn open_runs<'a>(
            &'a self,
            kind: &'a str,
        ) -> BoxFuture<'a, Result<Vec<OpenRun>, LedgerError>> {
            let kind = kind.to_string();
            async move {
                let rows = self
                    .db
                    .read(move |conn| open_runs(conn, &kind))
                    .await
                    .map_err(failed("open_runs"))?;
                rows.into_iter()
                    .map(|r| {
                        let bad = |e: blackant_actors::run::ParseError| LedgerError {
                            operation: "open_runs",
                            reason: format!("run {}: {e}", r.id),
                        };
                        Ok(OpenRun {
                            run_id: RunId(r.id),
                            scope: crate::store::scope_of(r.scope.clone()),
                            mode: r.mode.parse().map_err(bad)?,
                            trigger: r.trigger.parse().map_err(bad)?,
                        })
                    })
                    .collect()
            }
            .boxed()
        }
    }
}
