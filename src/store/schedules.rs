//! `sync.db`'s side of the Scheduler: the per-kind schedules operators changed, the anchor of
//! every kind's grid, and when the Scheduler last started each (kind, scope) — so a restart
//! keeps the schedules and catches up what it missed. [`SyncDbSchedules`] is the actors'
//! `ScheduleStore` over the sync.db DbWriter.
//!
//! Plain SQL and conversions; it must not decide when anything runs (the Scheduler does).

use super::ledger_error as failed;
use super::{StoreError, now_text, parse_time, scope_of, scope_text, time_text};
use blackant_actors::db_writer::DbHandle;
use blackant_actors::run::{Scope, Trigger};
use blackant_actors::scheduler::{KindSchedule, ScheduleStore, ScopeTimes, StoredSchedules};
use blackant_actors::sync::LedgerError;
use futures::FutureExt;
use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use std::time::{Duration, SystemTime};

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn duration(v: i64, what: &str) -> Result<Duration, StoreError> {
    u64::try_from(v)
        .map(Duration::from_millis)
        .map_err(|_| StoreError::Inconsistent(format!("{what} is negative ({v} ms)")))
}

/// Everything the Scheduler stored.
pub fn load(conn: &Connection) -> Result<StoredSchedules, StoreError> {
    let anchor: Option<String> = conn
        .query_row(
            "SELECT value FROM scheduler_state WHERE key = 'anchor'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::sql("reading the scheduler's anchor"))?;
    let anchor = anchor
        .map(|a| parse_time(&a, "scheduler anchor"))
        .transpose()?;

    let mut stmt = conn
        .prepare_cached(
            "SELECT kind, interval_ms, stagger_ms, jitter_ms, priority, enabled FROM schedules ORDER BY kind",
        )
        .map_err(StoreError::sql("reading schedules"))?;
    let raw = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, bool>(5)?,
            ))
        })
        .map_err(StoreError::sql("reading schedules"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::sql("reading schedules"))?;
    let mut schedules = Vec::with_capacity(raw.len());
    for (kind, interval, stagger, jitter, priority, enabled) in raw {
        let what = |field: &str| format!("schedule of {kind}: {field}");
        schedules.push(KindSchedule {
            interval: duration(interval, &what("interval"))?,
            stagger: duration(stagger, &what("stagger"))?,
            jitter: duration(jitter, &what("jitter"))?,
            priority: u8::try_from(priority).map_err(|_| {
                StoreError::Inconsistent(format!("{}: {priority}", what("priority")))
            })?,
            enabled,
            kind,
        });
    }

    let mut stmt = conn
        .prepare_cached(
            "SELECT kind, scope, dispatched_at FROM schedule_dispatches ORDER BY kind, scope",
        )
        .map_err(StoreError::sql("reading schedule dispatches"))?;
    let raw = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })
        .map_err(StoreError::sql("reading schedule dispatches"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::sql("reading schedule dispatches"))?;
    let dispatched = raw
        .into_iter()
        .map(|(kind, scope, at)| {
            let at = parse_time(&at, &format!("last dispatch of {kind}"))?;
            Ok((kind, scope_of(scope), at))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(StoredSchedules {
        anchor,
        schedules,
        dispatched,
    })
}

/// Record the anchor, unless one is stored already.
pub fn save_anchor(tx: &Transaction<'_>, anchor: SystemTime) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO scheduler_state (key, value) VALUES ('anchor', ?1) ON CONFLICT (key) DO NOTHING",
        params![time_text(anchor)],
    )
    .map_err(StoreError::sql("saving the scheduler's anchor"))?;
    Ok(())
}

/// Store a kind's schedule.
pub fn save_schedule(tx: &Transaction<'_>, s: &KindSchedule) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO schedules (kind, interval_ms, stagger_ms, jitter_ms, priority, enabled, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (kind) DO UPDATE SET interval_ms = excluded.interval_ms, stagger_ms = excluded.stagger_ms,
             jitter_ms = excluded.jitter_ms, priority = excluded.priority, enabled = excluded.enabled,
             updated_at = excluded.updated_at",
        params![
            s.kind,
            ms(s.interval),
            ms(s.stagger),
            ms(s.jitter),
            s.priority,
            s.enabled,
            now_text()
        ],
    )
    .map_err(StoreError::sql(format!("saving the schedule of {}", s.kind)))?;
    Ok(())
}

/// Record that the Scheduler started (kind, scope) at `at`.
pub fn record_dispatch(
    tx: &Transaction<'_>,
    kind: &str,
    scope: &Scope,
    at: SystemTime,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO schedule_dispatches (kind, scope, dispatched_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (kind, scope) DO UPDATE SET dispatched_at = excluded.dispatched_at",
        params![kind, scope_text(scope), time_text(at)],
    )
    .map_err(StoreError::sql(format!("recording a {kind} dispatch")))?;
    Ok(())
}

/// The Scheduler's store: `sync.db` through its DbWriter.
pub struct SyncDbSchedules {
    db: DbHandle,
}

impl SyncDbSchedules {
    pub fn new(db: DbHandle) -> Self {
        Self { db }
    }
}

impl ScheduleStore for SyncDbSchedules {
    fn load(&self) -> BoxFuture<'_, Result<StoredSchedules, LedgerError>> {
        async move { self.db.read(load).await.map_err(failed("load schedules")) }.boxed()
    }

    fn save_anchor(&self, anchor: SystemTime) -> BoxFuture<'_, Result<(), LedgerError>> {
        async move {
            self.db
                .write(move |tx| save_anchor(tx, anchor))
                .await
                .map_err(failed("save the scheduler's anchor"))
        }
        .boxed()
    }

    fn save_schedule(&self, schedule: KindSchedule) -> BoxFuture<'_, Result<(), LedgerError>> {
        async move {
            self.db
                .write(move |tx| save_schedule(tx, &schedule))
                .await
                .map_err(failed("save a schedule"))
        }
        .boxed()
    }

    fn record_dispatch(
        &self,
        kind: String,
        scope: Scope,
        at: SystemTime,
    ) -> BoxFuture<'_, Result<(), LedgerError>> {
        async move {
            self.db
                .write(move |tx| record_dispatch(tx, &kind, &scope, at))
                .await
                .map_err(failed("record a dispatch"))
        }
        .boxed()
    }

    fn record_skip(
        &self,
        kind: String,
        scope: Scope,
        trigger: Trigger,
        reason: String,
    ) -> BoxFuture<'_, Result<(), LedgerError>> {
        async move {
            self.db
                .write(move |tx| {
                    super::ledger::record_skip(
                        tx,
                        &kind,
                        scope_text(&scope),
                        trigger.as_str(),
                        &reason,
                    )
                })
                .await
                .map_err(failed("record a skipped run"))
        }
        .boxed()
    }

    fn last_successes(&self) -> BoxFuture<'_, Result<ScopeTimes, LedgerError>> {
        async move {
            let rows = self
                .db
                .read(super::ledger::all_freshness)
                .await
                .map_err(failed("read freshness"))?;
            rows.into_iter()
                .map(|(kind, scope, at)| {
                    let at = parse_time(&at, &format!("freshness of {kind}"))
                        .map_err(|e| failed("read freshness")(e))?;
                    Ok((kind, scope_of(scope), at))
                })
                .collect()
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema;

    use schema::memory_sync_db as db;

    #[test]
    fn schedules_anchor_and_dispatches_round_trip() {
        let mut conn = db();
        assert_eq!(load(&conn).unwrap(), StoredSchedules::default());
        let anchor = SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_123);
        let s = KindSchedule {
            kind: "orders".into(),
            interval: Duration::from_secs(120),
            stagger: Duration::from_secs(5),
            jitter: Duration::from_millis(1500),
            priority: 4,
            enabled: false,
        };
        let tx = conn.transaction().unwrap();
        save_anchor(&tx, anchor).unwrap();
        save_anchor(&tx, anchor + Duration::from_secs(9)).unwrap();
        save_schedule(&tx, &s).unwrap();
        record_dispatch(&tx, "orders", &Scope::Agent("a1".into()), anchor).unwrap();
        record_dispatch(&tx, "products", &Scope::Catalogue, anchor).unwrap();
        record_dispatch(
            &tx,
            "products",
            &Scope::Catalogue,
            anchor + Duration::from_secs(1),
        )
        .unwrap();
        tx.commit().unwrap();
        let got = load(&conn).unwrap();
        assert_eq!(got.anchor, Some(anchor), "the first anchor stays");
        assert_eq!(got.schedules, vec![s]);
        assert_eq!(
            got.dispatched,
            vec![
                ("orders".into(), Scope::Agent("a1".into()), anchor),
                (
                    "products".into(),
                    Scope::Catalogue,
                    anchor + Duration::from_secs(1)
                ),
            ]
        );
    }
}
