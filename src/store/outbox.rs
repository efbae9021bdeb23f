//! `sync.db`'s order outbox: placements (accepted before anything happens, with their
//! idempotency key, payload, reference and state), every transition with its time, attempt and
//! cause, the id mapping (key → Archibald's order number), and pruning of ended placements
//! older than the retention.
//!
//! Plain SQL over a connection or transaction; `SyncDbOutbox` runs it on the sync.db DbWriter
//! (whose commits are fsynced) for the OrderPlacer. It must NOT decide anything about a
//! placement: the OrderPlacer moves them, the service accepts them.

use super::{StoreError, ledger_error, parse_time, time_text};
use blackant_actors::db_writer::DbHandle;
use blackant_actors::order_placer::{
    OrderDraft, OrderLine, Outbox, OutboxError, Placement, PlacementFilter, PlacementId,
    PlacementState, Transition, TransitionRecord,
};
use blackant_actors::sync::LedgerError;
use futures::FutureExt;
use futures::future::BoxFuture;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};
use serde::{Deserialize, Serialize};
use std::time::SystemTime;

/// What is stored of an order (its reference has a column of its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub customer_code: String,
    pub lines: Vec<PayloadLine>,
    pub notes: String,
}

/// One line of a stored order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadLine {
    pub code: String,
    pub quantity: i64,
}

impl Payload {
    /// The canonical JSON that is stored and hashed: the same order always gives the same text.
    pub fn canonical(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn draft(self, reference: String) -> OrderDraft {
        OrderDraft {
            customer_code: self.customer_code,
            lines: self
                .lines
                .into_iter()
                .map(|l| OrderLine {
                    code: l.code,
                    quantity: l.quantity,
                })
                .collect(),
            notes: self.notes,
            reference,
        }
    }
}

/// A placement to accept.
#[derive(Debug, Clone)]
pub struct NewPlacement {
    pub key: String,
    pub agent: String,
    pub payload: Payload,
    pub reference: String,
    pub accepted_at: SystemTime,
    pub deadline: SystemTime,
}

/// What accepting a placement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Stored now.
    New(Placement),
    /// The key was known with the same agent and payload: that placement.
    Existing(Placement),
    /// The key was known with another agent or payload: nothing was stored.
    Conflict(Placement),
    /// Another key's placement has this reference (derive another one).
    ReferenceTaken,
}

const COLUMNS: &str = "id, idempotency_key, user_id, payload, reference, state, attempts, \
     order_number, reason, accepted_at, deadline_at, submitted_at, updated_at";

fn placement(row: &Row<'_>) -> rusqlite::Result<Result<Placement, StoreError>> {
    let payload: String = row.get(3)?;
    let state: String = row.get(5)?;
    let times = |i: usize, what: &str| -> rusqlite::Result<Result<SystemTime, StoreError>> {
        let text: String = row.get(i)?;
        Ok(parse_time(&text, what))
    };
    let submitted: Option<String> = row.get(11)?;
    let (accepted_at, deadline, updated_at) = (
        times(9, "accepted_at")?,
        times(10, "deadline_at")?,
        times(12, "updated_at")?,
    );
    let id: i64 = row.get(0)?;
    let reference: String = row.get(4)?;
    let build = move || -> Result<Placement, StoreError> {
        let bad = |what: String| StoreError::Inconsistent(format!("placement {id}: {what}"));
        let payload: Payload =
            serde_json::from_str(&payload).map_err(|e| bad(format!("payload: {e}")))?;
        Ok(Placement {
            id,
            key: String::new(),
            agent: String::new(),
            order: payload.draft(reference),
            state: state.parse().map_err(|e| bad(format!("{e}")))?,
            attempts: 0,
            order_number: None,
            reason: None,
            accepted_at: accepted_at?,
            deadline: deadline?,
            submitted_at: submitted
                .map(|t| parse_time(&t, "submitted_at"))
                .transpose()?,
            updated_at: updated_at?,
        })
    };
    let mut p = match build() {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    p.key = row.get(1)?;
    p.agent = row.get(2)?;
    p.attempts = row.get::<_, i64>(6)?.try_into().unwrap_or(0);
    p.order_number = row.get(7)?;
    p.reason = row.get(8)?;
    Ok(Ok(p))
}

fn query(
    conn: &Connection,
    tail: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Placement>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM placements {tail}");
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(StoreError::sql("reading placements"))?;
    let rows = stmt
        .query_map(params, placement)
        .map_err(StoreError::sql("reading placements"))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(StoreError::sql("reading placements"))??);
    }
    Ok(out)
}

/// One placement by id.
pub fn get(conn: &Connection, id: PlacementId) -> Result<Option<Placement>, StoreError> {
    Ok(query(conn, "WHERE id = ?1", params![id])?
        .into_iter()
        .next())
}

/// One placement by idempotency key.
pub fn by_key(conn: &Connection, key: &str) -> Result<Option<Placement>, StoreError> {
    Ok(query(conn, "WHERE idempotency_key = ?1", params![key])?
        .into_iter()
        .next())
}

/// Placements the placer still has work for, oldest first.
pub fn unfinished(conn: &Connection) -> Result<Vec<Placement>, StoreError> {
    query(
        conn,
        "WHERE state IN ('accepted', 'submitting', 'in_doubt') ORDER BY id",
        [],
    )
}

/// Placements by agent and state, newest first.
pub fn list(conn: &Connection, filter: &PlacementFilter) -> Result<Vec<Placement>, StoreError> {
    let states: Vec<&str> = filter.states.iter().map(|s| s.as_str()).collect();
    let states_json = serde_json::to_string(&states).unwrap_or_else(|_| "[]".into());
    query(
        conn,
        "WHERE (?1 IS NULL OR user_id = ?1)
           AND (?2 = '[]' OR state IN (SELECT value FROM json_each(?2)))
           AND (?3 IS NULL OR id < ?3)
         ORDER BY id DESC LIMIT ?4",
        params![filter.agent, states_json, filter.before_id, filter.limit],
    )
}

/// Every transition of a placement, in order.
pub fn transitions(
    conn: &Connection,
    id: PlacementId,
) -> Result<Vec<TransitionRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT at, from_state, to_state, attempt, cause FROM placement_transitions
             WHERE placement_id = ?1 ORDER BY id",
        )
        .map_err(StoreError::sql("reading transitions"))?;
    let rows = stmt
        .query_map(params![id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .map_err(StoreError::sql("reading transitions"))?;
    let mut out = Vec::new();
    for row in rows {
        let (at, from, to, attempt, cause) = row.map_err(StoreError::sql("reading transitions"))?;
        let state = |s: &str| {
            s.parse::<PlacementState>()
                .map_err(|e| StoreError::Inconsistent(format!("placement {id}: {e}")))
        };
        out.push(TransitionRecord {
            at: parse_time(&at, "transition at")?,
            from: from.as_deref().map(state).transpose()?,
            to: state(&to)?,
            attempt: attempt.try_into().unwrap_or(0),
            cause,
        });
    }
    Ok(out)
}

/// Placements per agent and state.
pub fn counts(conn: &Connection) -> Result<Vec<(String, PlacementState, u64)>, StoreError> {
    let mut stmt = conn
        .prepare_cached("SELECT user_id, state, COUNT(*) FROM placements GROUP BY user_id, state")
        .map_err(StoreError::sql("counting placements"))?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .map_err(StoreError::sql("counting placements"))?;
    let mut out = Vec::new();
    for row in rows {
        let (agent, state, n) = row.map_err(StoreError::sql("counting placements"))?;
        let state = state
            .parse::<PlacementState>()
            .map_err(|e| StoreError::Inconsistent(format!("placement counts: {e}")))?;
        out.push((agent, state, n.max(0) as u64));
    }
    Ok(out)
}

fn record(
    tx: &Transaction<'_>,
    id: PlacementId,
    from: Option<PlacementState>,
    to: PlacementState,
    attempt: u32,
    cause: &str,
    at: SystemTime,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO placement_transitions (placement_id, at, from_state, to_state, attempt, cause)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            id,
            time_text(at),
            from.map(|s| s.as_str()),
            to.as_str(),
            attempt,
            cause
        ],
    )
    .map_err(StoreError::sql(format!(
        "recording a transition of placement {id}"
    )))?;
    Ok(())
}

/// Store a placement, or answer the one its key already names.
pub fn accept(tx: &Transaction<'_>, new: &NewPlacement) -> Result<Accepted, StoreError> {
    let payload = new.payload.canonical();
    let md5 = blackant_actors::digest::md5_hex(payload.as_bytes());
    if let Some(existing) = by_key(tx, &new.key)? {
        let stored_md5: String = tx
            .query_row(
                "SELECT payload_md5 FROM placements WHERE id = ?1",
                params![existing.id],
                |r| r.get(0),
            )
            .map_err(StoreError::sql("reading a placement"))?;
        return Ok(if stored_md5 == md5 && existing.agent == new.agent {
            Accepted::Existing(existing)
        } else {
            Accepted::Conflict(existing)
        });
    }
    let taken: Option<i64> = tx
        .query_row(
            "SELECT id FROM placements WHERE reference = ?1",
            params![new.reference],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::sql("checking a reference"))?;
    if taken.is_some() {
        return Ok(Accepted::ReferenceTaken);
    }
    let at = time_text(new.accepted_at);
    tx.execute(
        "INSERT INTO placements (idempotency_key, user_id, payload, payload_md5, reference, state,
             accepted_at, deadline_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'accepted', ?6, ?7, ?6)",
        params![
            new.key,
            new.agent,
            payload,
            md5,
            new.reference,
            at,
            time_text(new.deadline)
        ],
    )
    .map_err(StoreError::sql("accepting a placement"))?;
    let id = tx.last_insert_rowid();
    record(
        tx,
        id,
        None,
        PlacementState::Accepted,
        0,
        "accepted",
        new.accepted_at,
    )?;
    let placement =
        get(tx, id)?.ok_or_else(|| StoreError::Inconsistent(format!("placement {id} vanished")))?;
    Ok(Accepted::New(placement))
}

/// Move placement `id` from `from`: `Ok(Err(actual))` when it is not in `from` any more.
pub fn transition(
    tx: &Transaction<'_>,
    id: PlacementId,
    from: PlacementState,
    t: &Transition,
    at: SystemTime,
) -> Result<Result<Placement, PlacementState>, StoreError> {
    let current =
        get(tx, id)?.ok_or_else(|| StoreError::Inconsistent(format!("no placement {id}")))?;
    if current.state != from {
        return Ok(Err(current.state));
    }
    let when = time_text(at);
    let attempts = current.attempts + u32::from(t.submit);
    tx.execute(
        "UPDATE placements SET state = ?2, reason = ?3, attempts = ?4,
             order_number = COALESCE(?5, order_number),
             submitted_at = CASE WHEN ?6 THEN ?7 ELSE submitted_at END,
             updated_at = ?7
         WHERE id = ?1",
        params![
            id,
            t.to.as_str(),
            t.cause,
            attempts,
            t.order_number,
            t.submit,
            when
        ],
    )
    .map_err(StoreError::sql(format!("moving placement {id}")))?;
    record(tx, id, Some(from), t.to, attempts, &t.cause, at)?;
    get(tx, id)?
        .map(Ok)
        .ok_or_else(|| StoreError::Inconsistent(format!("placement {id} vanished")))
}

/// Delete ended placements (placed, rejected, failed) last changed before `cutoff`, with their
/// transitions; answers how many.
pub fn prune(tx: &Transaction<'_>, cutoff: SystemTime) -> Result<usize, StoreError> {
    tx.execute(
        "DELETE FROM placement_transitions WHERE placement_id IN (SELECT id FROM placements
             WHERE state IN ('placed', 'rejected', 'failed') AND updated_at < ?1)",
        params![time_text(cutoff)],
    )
    .map_err(StoreError::sql("pruning transitions"))?;
    tx.execute(
        "DELETE FROM placements WHERE state IN ('placed', 'rejected', 'failed') AND updated_at < ?1",
        params![time_text(cutoff)],
    )
    .map_err(StoreError::sql("pruning placements"))
}

/// The outbox on the sync.db DbWriter (fsynced commits), for the OrderPlacer.
#[derive(Clone)]
pub struct SyncDbOutbox {
    db: DbHandle,
}

impl SyncDbOutbox {
    pub fn new(db: DbHandle) -> Self {
        Self { db }
    }
}

impl Outbox for SyncDbOutbox {
    fn unfinished(&self) -> BoxFuture<'_, Result<Vec<Placement>, LedgerError>> {
        async move {
            self.db
                .read(unfinished)
                .await
                .map_err(ledger_error("unfinished placements"))
        }
        .boxed()
    }

    fn transition(
        &self,
        id: PlacementId,
        from: PlacementState,
        t: Transition,
        at: SystemTime,
    ) -> BoxFuture<'_, Result<Placement, OutboxError>> {
        async move {
            match self
                .db
                .write(move |tx| transition(tx, id, from, &t, at))
                .await
            {
                Ok(Ok(p)) => Ok(p),
                Ok(Err(actual)) => Err(OutboxError::Moved {
                    id,
                    expected: from,
                    actual,
                }),
                Err(e) => Err(OutboxError::Store(ledger_error("placement transition")(e))),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema::memory_sync_db;
    use std::time::Duration;

    fn new(key: &str, agent: &str, qty: i64, reference: &str) -> NewPlacement {
        let now = SystemTime::now();
        NewPlacement {
            key: key.into(),
            agent: agent.into(),
            payload: Payload {
                customer_code: "C1".into(),
                lines: vec![PayloadLine {
                    code: "P.1".into(),
                    quantity: qty,
                }],
                notes: "al mattino".into(),
            },
            reference: reference.into(),
            accepted_at: now,
            deadline: now + Duration::from_secs(600),
        }
    }

    #[test]
    fn a_key_is_accepted_once_and_another_payload_under_it_is_a_conflict() {
        let mut conn = memory_sync_db();
        let tx = conn.transaction().unwrap();
        let Accepted::New(p) = accept(&tx, &new("k1", "a1", 6, "BAAAA")).unwrap() else {
            panic!("new");
        };
        assert_eq!(p.state, PlacementState::Accepted);
        assert_eq!(p.order.lines[0].quantity, 6);
        assert!(
            matches!(accept(&tx, &new("k1", "a1", 6, "BAAAA")).unwrap(), Accepted::Existing(e) if e.id == p.id)
        );
        assert!(matches!(
            accept(&tx, &new("k1", "a1", 12, "BAAAA")).unwrap(),
            Accepted::Conflict(_)
        ));
        assert!(matches!(
            accept(&tx, &new("k1", "a2", 6, "BAAAA")).unwrap(),
            Accepted::Conflict(_)
        ));
        assert_eq!(
            accept(&tx, &new("k2", "a1", 6, "BAAAA")).unwrap(),
            Accepted::ReferenceTaken
        );
        tx.commit().unwrap();
        assert_eq!(unfinished(&conn).unwrap().len(), 1);
    }

    #[test]
    fn counts_are_per_agent_and_state() {
        let mut conn = memory_sync_db();
        let tx = conn.transaction().unwrap();
        for (key, agent, reference) in [
            ("k1", "a1", "BA1"),
            ("k2", "a1", "BA2"),
            ("k3", "a2", "BA3"),
        ] {
            accept(&tx, &new(key, agent, 6, reference)).unwrap();
        }
        let p = by_key(&tx, "k3").unwrap().unwrap();
        let fail = Transition::to(PlacementState::Failed, "given up");
        transition(
            &tx,
            p.id,
            PlacementState::Accepted,
            &fail,
            SystemTime::now(),
        )
        .unwrap()
        .unwrap();
        let mut counts = counts(&tx).unwrap();
        counts.sort();
        assert_eq!(
            counts,
            [
                ("a1".to_string(), PlacementState::Accepted, 2),
                ("a2".to_string(), PlacementState::Failed, 1),
            ]
        );
    }

    #[test]
    fn transitions_are_recorded_in_order_and_a_moved_placement_is_not_moved_again() {
        let mut conn = memory_sync_db();
        let tx = conn.transaction().unwrap();
        let Accepted::New(p) = accept(&tx, &new("k1", "a1", 6, "BAAAA")).unwrap() else {
            panic!("new");
        };
        let at = SystemTime::now();
        let submit = Transition {
            submit: true,
            ..Transition::to(PlacementState::Submitting, "submitting")
        };
        let p = transition(&tx, p.id, PlacementState::Accepted, &submit, at)
            .unwrap()
            .unwrap();
        assert_eq!((p.state, p.attempts), (PlacementState::Submitting, 1));
        assert!(p.submitted_at.is_some());
        let placed = Transition {
            order_number: Some("ORD/1".into()),
            ..Transition::to(PlacementState::Placed, "confirmed")
        };
        let p = transition(&tx, p.id, PlacementState::Submitting, &placed, at)
            .unwrap()
            .unwrap();
        assert_eq!(p.order_number.as_deref(), Some("ORD/1"));
        let again = transition(&tx, p.id, PlacementState::Submitting, &placed, at).unwrap();
        assert_eq!(again, Err(PlacementState::Placed));
        let log: Vec<_> = transitions(&tx, p.id)
            .unwrap()
            .into_iter()
            .map(|t| (t.from, t.to, t.attempt))
            .collect();
        assert_eq!(
            log,
            [
                (None, PlacementState::Accepted, 0),
                (
                    Some(PlacementState::Accepted),
                    PlacementState::Submitting,
                    1
                ),
                (Some(PlacementState::Submitting), PlacementState::Placed, 1),
            ]
        );
        assert!(unfinished(&tx).unwrap().is_empty());
        // Pruned once older than the retention, transitions included.
        assert_eq!(prune(&tx, at + Duration::from_secs(1)).unwrap(), 1);
        assert!(by_key(&tx, "k1").unwrap().is_none());
        assert!(transitions(&tx, p.id).unwrap().is_empty());
        tx.commit().unwrap();
    }
}
