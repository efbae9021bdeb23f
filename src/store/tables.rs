//! Record tables and checkpoints: the statements a sync's page transaction runs.
//!
//! - `upsert_rows`: hash-gated — a row is written only when its hash differs from the stored
//!   one (or it was marked deleted); the counts (inserted / updated / unchanged) are exact.
//! - `settle_missing`: soft delete of live rows a COMPLETE export no longer holds — or, past the
//!   `DeletionGuard`, holding them for an operator (`decide_held`); the caller must never call
//!   it for a truncated export.
//! - `save_checkpoint` / `load_state` / `complete_export`: the per-kind `sync_state` row.
//!
//! Knows table shapes (`TableSpec`) but not what the records mean, where they come from, or
//! when to call what: that is the sync kinds' business.

use super::{StoreError, schema};
use crate::records::{Kind, Record, Value};
use rusqlite::types::Value as SqlValue;
use rusqlite::{OptionalExtension, Transaction, params};
use std::collections::HashSet;

/// How one kind's records are stored.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub table: &'static str,
    /// Column holding the record key: the first field, or `record_key` for prices.
    pub key_column: &'static str,
    /// The key column is not one of `fields` (prices): it is written in addition to them.
    pub key_is_extra: bool,
    /// The file holds several agents' rows (orders.db): every row carries `user_id`, and
    /// deletions only ever touch the syncing agent's rows.
    pub user_scoped: bool,
    /// Canonical field columns, in ERP.md column order.
    pub fields: Vec<&'static str>,
}

impl TableSpec {
    /// Where `kind`'s records live (see `schema`): the field columns are the kind's canonical
    /// fields, so the schema and the parser cannot drift apart silently (a test checks it).
    pub fn for_kind(kind: Kind) -> TableSpec {
        let spec = kind.spec();
        TableSpec {
            table: spec.table,
            key_column: spec.key_column,
            key_is_extra: spec.key_is_extra,
            user_scoped: spec.file.user_scoped(),
            fields: kind.columns().iter().map(|c| c.field).collect(),
        }
    }

    /// The migrations of the file holding this kind.
    pub fn migrations(kind: Kind) -> &'static [&'static str] {
        schema::migrations(kind.spec().file)
    }
}

/// How a canonical value is stored: decimals and dates as their canonical text, booleans as 0/1.
pub fn sql_value(v: &Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Text(s) | Value::Decimal(s) | Value::Date(s) => SqlValue::Text(s.clone()),
        Value::Int(i) => SqlValue::Integer(*i),
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
    }
}

impl RowImage {
    /// A parsed record as stored: key, MD5 of its canonical fields, values in column order
    /// (decimals and dates as their canonical text, booleans as 0/1).
    pub fn from_record(record: &Record) -> RowImage {
        let values = record.values().iter().map(sql_value).collect();
        RowImage {
            key: record.key(),
            hash: record.md5_hex(),
            values,
        }
    }
}

/// One record as stored: its key, the MD5 of its canonical fields, and the field values in
/// `TableSpec::fields` order.
#[derive(Debug, Clone, PartialEq)]
pub struct RowImage {
    pub key: String,
    pub hash: String,
    pub values: Vec<SqlValue>,
}

/// What a page did to the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowCounts {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl RowCounts {
    pub fn add(&mut self, other: RowCounts) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

fn quoted(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

struct Sql {
    select: String,
    insert: String,
    update: String,
}

impl TableSpec {
    fn sql(&self) -> Sql {
        let t = quoted(self.table);
        let key = quoted(self.key_column);
        let scope_where = if self.user_scoped {
            "\"user_id\" = ?1 AND "
        } else {
            ""
        };
        // Parameter layout shared by insert and update: ?1 user_id (or unused), ?2 key,
        // ?3 hash, ?4 now, ?5.. fields.
        let fields: Vec<String> = self.fields.iter().map(|f| quoted(f)).collect();
        let field_params: Vec<String> = (0..fields.len()).map(|i| format!("?{}", i + 5)).collect();

        let mut insert_cols = Vec::new();
        let mut insert_vals = Vec::new();
        if self.user_scoped {
            insert_cols.push("\"user_id\"".to_string());
            insert_vals.push("?1".to_string());
        }
        if self.key_is_extra {
            insert_cols.push(key.clone());
            insert_vals.push("?2".to_string());
        }
        insert_cols.extend(fields.iter().cloned());
        insert_vals.extend(field_params.iter().cloned());
        insert_cols.extend(["\"hash\"", "\"first_seen_at\"", "\"updated_at\""].map(String::from));
        insert_vals.extend(["?3", "?4", "?4"].map(String::from));

        let sets: Vec<String> = fields
            .iter()
            .zip(&field_params)
            .map(|(f, p)| format!("{f} = {p}"))
            .collect();
        Sql {
            select: format!(
                "SELECT \"hash\", \"deleted_at\" IS NOT NULL FROM {t} WHERE {scope_where}{key} = ?2"
            ),
            insert: format!(
                "INSERT INTO {t} ({}) VALUES ({})",
                insert_cols.join(", "),
                insert_vals.join(", ")
            ),
            update: format!(
                "UPDATE {t} SET {}, \"hash\" = ?3, \"updated_at\" = ?4, \"deleted_at\" = NULL WHERE {scope_where}{key} = ?2",
                sets.join(", ")
            ),
        }
    }
}

/// Write the rows whose hash changed; count exactly what happened. `user` is required for
/// user-scoped tables and ignored otherwise.
pub fn upsert_rows(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    user: Option<&str>,
    rows: &[RowImage],
    now: &str,
) -> Result<RowCounts, StoreError> {
    let user = scope_user(spec, user)?;
    let sql = spec.sql();
    let what = || format!("upserting into {}", spec.table);
    let mut select = tx
        .prepare_cached(&sql.select)
        .map_err(StoreError::sql_lazy(what))?;
    let mut insert = tx
        .prepare_cached(&sql.insert)
        .map_err(StoreError::sql_lazy(what))?;
    let mut update = tx
        .prepare_cached(&sql.update)
        .map_err(StoreError::sql_lazy(what))?;
    let mut counts = RowCounts::default();
    for row in rows {
        if row.values.len() != spec.fields.len() {
            return Err(StoreError::Inconsistent(format!(
                "record {} has {} values for the {} columns of {}",
                row.key,
                row.values.len(),
                spec.fields.len(),
                spec.table
            )));
        }
        let existing: Option<(String, bool)> = select
            .query_row(params![user, row.key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(StoreError::sql_lazy(what))?;
        let statement = match existing {
            Some((hash, false)) if hash == row.hash => {
                counts.unchanged += 1;
                continue;
            }
            Some(_) => {
                counts.updated += 1;
                &mut update
            }
            None => {
                counts.inserted += 1;
                &mut insert
            }
        };
        // Bound in place (?1 user, ?2 key, ?3 hash, ?4 now, ?5.. the fields): nothing is
        // copied per row. SQLite numbers parameters by the highest index, so ?1 exists (and
        // is bound, unused) on unscoped tables too.
        statement
            .raw_bind_parameter(1, user)
            .map_err(StoreError::sql_lazy(what))?;
        statement
            .raw_bind_parameter(2, row.key.as_str())
            .map_err(StoreError::sql_lazy(what))?;
        statement
            .raw_bind_parameter(3, row.hash.as_str())
            .map_err(StoreError::sql_lazy(what))?;
        statement
            .raw_bind_parameter(4, now)
            .map_err(StoreError::sql_lazy(what))?;
        let used = statement.parameter_count();
        for (i, value) in row.values.iter().enumerate().take(used.saturating_sub(4)) {
            statement
                .raw_bind_parameter(i + 5, value)
                .map_err(StoreError::sql_lazy(what))?;
        }
        statement
            .raw_execute()
            .map_err(StoreError::sql_lazy(what))?;
    }
    Ok(counts)
}

/// The keys of the live rows of this scope that `live_keys` (the keys of a complete export)
/// does not hold, and how many live rows the scope has.
fn missing_keys(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    user: &str,
    live_keys: &HashSet<String>,
) -> Result<(Vec<String>, u64), StoreError> {
    let t = quoted(spec.table);
    let key = quoted(spec.key_column);
    let what = || {
        format!(
            "finding the rows of {} a complete export no longer holds",
            spec.table
        )
    };
    let mut stmt = tx
        .prepare_cached(&format!(
            "SELECT {key} FROM {t} WHERE {}\"deleted_at\" IS NULL",
            scope_where(spec)
        ))
        .map_err(StoreError::sql_lazy(what))?;
    let keys = stmt
        .query_map(params![user], |r| r.get::<_, String>(0))
        .map_err(StoreError::sql_lazy(what))?;
    let mut missing = Vec::new();
    let mut live = 0u64;
    for k in keys {
        let k = k.map_err(StoreError::sql_lazy(what))?;
        live += 1;
        if !live_keys.contains(&k) {
            missing.push(k);
        }
    }
    Ok((missing, live))
}

/// `"user_id" = ?1 AND ` for user-scoped tables; `?1 = ?1 AND ` (binds ?1, matches all)
/// otherwise.
fn scope_where(spec: &TableSpec) -> &'static str {
    if spec.user_scoped {
        "\"user_id\" = ?1 AND "
    } else {
        "?1 = ?1 AND "
    }
}

/// Mark deleted the rows of this scope whose keys are `keys` and still live; how many were.
fn mark_deleted(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    user: &str,
    keys: &[String],
    now: &str,
) -> Result<u64, StoreError> {
    let t = quoted(spec.table);
    let key = quoted(spec.key_column);
    let what = || format!("marking deleted rows of {}", spec.table);
    let mut mark = tx
        .prepare_cached(&format!(
            "UPDATE {t} SET \"deleted_at\" = ?3 WHERE {}{key} = ?2 AND \"deleted_at\" IS NULL",
            scope_where(spec)
        ))
        .map_err(StoreError::sql_lazy(what))?;
    let mut marked = 0;
    for k in keys {
        marked += mark
            .execute(params![user, k, now])
            .map_err(StoreError::sql_lazy(what))? as u64;
    }
    Ok(marked)
}

/// When a complete export may not delete on its own word: it would mark deleted more than
/// `max_share` of the scope's live rows AND more than `min_rows` rows (ERP.md: a view left
/// filtered exports a complete-looking report holding a fraction of the records).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DeletionGuard {
    /// Share of the live rows (0..1) above which deletions are held.
    pub max_share: f64,
    /// Rows at or below which deletions always apply (a few records removed in the ERP).
    pub min_rows: u64,
}

impl Default for DeletionGuard {
    /// More than 10 % and more than 20 rows.
    fn default() -> Self {
        DeletionGuard {
            max_share: 0.10,
            min_rows: 20,
        }
    }
}

impl DeletionGuard {
    /// Whether deleting `missing` of `live` rows must wait for an operator.
    pub fn holds(&self, missing: u64, live: u64) -> bool {
        missing > self.min_rows && (missing as f64) > self.max_share * live as f64
    }
}

/// What a complete export's deletions came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletions {
    /// Applied at once: this many rows marked deleted.
    Applied(u64),
    /// Held for an operator: this many rows of `live` would have been deleted; nothing was.
    Held {
        count: u64,
        live: u64,
        reason: String,
    },
}

/// A complete export's deletions (the live rows of this scope it does not hold): applied at
/// once, unless `guard` holds them — then they replace the scope's held set (rows that came
/// back are no longer in it) and nothing is deleted. Either way the held set a previous export
/// left is recomputed by this one.
#[allow(clippy::too_many_arguments)]
pub fn settle_missing(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    kind: &str,
    scope: &str,
    user: Option<&str>,
    live_keys: &HashSet<String>,
    guard: &DeletionGuard,
    run_id: i64,
    now: &str,
) -> Result<Deletions, StoreError> {
    let user = scope_user(spec, user)?;
    let (missing, live) = missing_keys(tx, spec, user, live_keys)?;
    let count = missing.len() as u64;
    let what = || format!("recording the held deletions of {kind}");
    // This export judges again: whatever an earlier one held is replaced.
    forget_held(tx, kind, scope).map_err(StoreError::sql_lazy(what))?;
    if !guard.holds(count, live) {
        return Ok(Deletions::Applied(mark_deleted(
            tx, spec, user, &missing, now,
        )?));
    }
    let reason = format!(
        "the complete export would mark {count} of the {live} live {} deleted ({:.0} %), more \
         than deletes.max_share ({:.0} %) and deletes.min_rows ({}): held for an operator to \
         release or discard (a filter left on the ERP's list view?)",
        spec.table,
        100.0 * count as f64 / live.max(1) as f64,
        100.0 * guard.max_share,
        guard.min_rows
    );
    {
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO held_deletions (kind, scope, record_key) VALUES (?1, ?2, ?3)",
            )
            .map_err(StoreError::sql_lazy(what))?;
        for k in &missing {
            insert
                .execute(params![kind, scope, k])
                .map_err(StoreError::sql_lazy(what))?;
        }
    }
    tx.prepare_cached(
        "INSERT INTO sync_state (kind, scope, held_run_id, held_at, held_reason) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (kind, scope) DO UPDATE SET held_run_id = ?3, held_at = ?4, held_reason = ?5",
    )
    .and_then(|mut s| s.execute(params![kind, scope, run_id, now, reason]))
    .map_err(StoreError::sql_lazy(what))?;
    Ok(Deletions::Held {
        count,
        live,
        reason,
    })
}

/// The deletions a scope holds for an operator: the run that held them, when, why, and how
/// many rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSet {
    pub kind: String,
    /// Agent id, or `''` for the catalogue.
    pub scope: String,
    pub run_id: i64,
    pub held_at: String,
    pub reason: String,
    pub count: u64,
}

/// Whether the file has table `name` (one written by an older version may not).
fn has_table(conn: &rusqlite::Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        [name],
        |r| r.get(0),
    )
}

/// Every held set of a data file (works on a read-only connection; a file from before held
/// deletions existed holds none).
pub fn held_sets(conn: &rusqlite::Connection) -> Result<Vec<HeldSet>, StoreError> {
    let what = "reading the held deletions";
    if !has_table(conn, "held_deletions").map_err(StoreError::sql(what))? {
        return Ok(Vec::new());
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT s.kind, s.scope, s.held_run_id, s.held_at, s.held_reason,
                    (SELECT COUNT(*) FROM held_deletions h WHERE h.kind = s.kind AND h.scope = s.scope)
             FROM sync_state s WHERE s.held_run_id IS NOT NULL ORDER BY s.kind, s.scope",
        )
        .map_err(StoreError::sql(what))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(HeldSet {
                kind: r.get(0)?,
                scope: r.get(1)?,
                run_id: r.get(2)?,
                held_at: r.get(3)?,
                reason: r.get(4)?,
                count: r.get::<_, i64>(5)? as u64,
            })
        })
        .map_err(StoreError::sql(what))?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::sql(what))
}

/// What an operator decided about a held set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldDecision {
    /// Apply the held deletions: the rows still live are marked deleted.
    Release,
    /// Forget them: the rows stay (the next complete export judges again).
    Discard,
}

/// Carry out `decision` on the held set of `kind` for this scope, if it is still the one run
/// `expected_run` held (`None`: whichever it is). Answers the set as it was and how many rows
/// were marked deleted; `Ok(None)` when the scope holds nothing, and an error naming the run
/// when the set was recomputed by another run since the operator looked.
#[allow(clippy::too_many_arguments)]
pub fn decide_held(
    tx: &Transaction<'_>,
    spec: &TableSpec,
    kind: &str,
    scope: &str,
    user: Option<&str>,
    decision: HeldDecision,
    expected_run: Option<i64>,
    now: &str,
) -> Result<Option<(HeldSet, u64)>, StoreError> {
    let user = scope_user(spec, user)?;
    let what = || format!("deciding the held deletions of {kind}");
    let Some(set) = held_sets(tx)?
        .into_iter()
        .find(|h| h.kind == kind && h.scope == scope)
    else {
        return Ok(None);
    };
    if let Some(run) = expected_run
        && run != set.run_id
    {
        return Err(StoreError::Stale(format!(
            "the held deletions of {kind} were recomputed by run {} (you asked about run {run}): \
             look at them again",
            set.run_id
        )));
    }
    let keys: Vec<String> = {
        let mut stmt = tx
            .prepare_cached("SELECT record_key FROM held_deletions WHERE kind = ?1 AND scope = ?2")
            .map_err(StoreError::sql_lazy(what))?;
        stmt.query_map(params![kind, scope], |r| r.get(0))
            .and_then(|rows| rows.collect::<Result<Vec<String>, _>>())
            .map_err(StoreError::sql_lazy(what))?
    };
    let deleted = match decision {
        HeldDecision::Release => mark_deleted(tx, spec, user, &keys, now)?,
        HeldDecision::Discard => 0,
    };
    forget_held(tx, kind, scope).map_err(StoreError::sql_lazy(what))?;
    Ok(Some((set, deleted)))
}

/// The scope holds nothing any more: its held rows and the run that held them forgotten.
fn forget_held(tx: &Transaction<'_>, kind: &str, scope: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM held_deletions WHERE kind = ?1 AND scope = ?2")?
        .execute(params![kind, scope])?;
    tx.prepare_cached(
        "UPDATE sync_state SET held_run_id = NULL, held_at = NULL, held_reason = NULL
         WHERE kind = ?1 AND scope = ?2",
    )?
    .execute(params![kind, scope])?;
    Ok(())
}

fn scope_user<'a>(spec: &TableSpec, user: Option<&'a str>) -> Result<&'a str, StoreError> {
    match (spec.user_scoped, user) {
        (true, Some(u)) => Ok(u),
        (true, None) => Err(StoreError::Inconsistent(format!(
            "{} rows need an agent id",
            spec.table
        ))),
        (false, _) => Ok(""),
    }
}

/// Where a run in progress is: the export it reads and the last page applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub run_id: i64,
    pub export_md5: String,
    pub pages: u32,
    /// 0-based index of the last page applied.
    pub last_page: u32,
    /// Counts of the pages applied so far.
    pub counts: RowCounts,
}

/// The `sync_state` row of one kind and scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncState {
    pub checkpoint: Option<Checkpoint>,
    pub last_export_md5: Option<String>,
    pub last_complete_at: Option<String>,
    pub last_records: Option<u64>,
}

/// Record that page `checkpoint.last_page` of the run is applied; call in the page's transaction.
pub fn save_checkpoint(
    tx: &Transaction<'_>,
    kind: &str,
    scope: &str,
    cp: &Checkpoint,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO sync_state (kind, scope, run_id, export_md5, pages, last_page, inserted, updated, unchanged)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (kind, scope) DO UPDATE SET run_id = ?3, export_md5 = ?4, pages = ?5, last_page = ?6,
             inserted = ?7, updated = ?8, unchanged = ?9",
    )
    .and_then(|mut s| {
        s.execute(params![
            kind,
            scope,
            cp.run_id,
            cp.export_md5,
            cp.pages,
            cp.last_page,
            cp.counts.inserted as i64,
            cp.counts.updated as i64,
            cp.counts.unchanged as i64
        ])
    })
    .map_err(StoreError::sql(format!("saving the {kind} checkpoint")))?;
    Ok(())
}

/// The exports the checkpoints of a data file name (their MD5s), read before the file's
/// DbWriter starts. A file without checkpoints yet (no `sync_state` table) names none.
pub fn checkpoint_exports(db: &std::path::Path) -> Result<Vec<String>, StoreError> {
    let what = || format!("reading the checkpoints of {}", db.display());
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(StoreError::sql_lazy(what))?;
    if !has_table(&conn, "sync_state").map_err(StoreError::sql_lazy(what))? {
        return Ok(Vec::new());
    }
    conn.prepare("SELECT export_md5 FROM sync_state WHERE export_md5 IS NOT NULL")
        .and_then(|mut stmt| {
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()
        })
        .map_err(StoreError::sql_lazy(what))
}

/// Read the state of one kind and scope (works on a read-only connection too).
pub fn load_state(
    conn: &rusqlite::Connection,
    kind: &str,
    scope: &str,
) -> Result<SyncState, StoreError> {
    conn.query_row(
        "SELECT run_id, export_md5, pages, last_page, inserted, updated, unchanged,
                last_export_md5, last_complete_at, last_records
         FROM sync_state WHERE kind = ?1 AND scope = ?2",
        params![kind, scope],
        |r| {
            let run_id: Option<i64> = r.get(0)?;
            let export_md5: Option<String> = r.get(1)?;
            let checkpoint = match (run_id, export_md5) {
                (Some(run_id), Some(export_md5)) => Some(Checkpoint {
                    run_id,
                    export_md5,
                    pages: r.get(2)?,
                    last_page: r.get(3)?,
                    counts: RowCounts {
                        inserted: r.get::<_, i64>(4)? as u64,
                        updated: r.get::<_, i64>(5)? as u64,
                        unchanged: r.get::<_, i64>(6)? as u64,
                    },
                }),
                _ => None,
            };
            Ok(SyncState {
                checkpoint,
                last_export_md5: r.get(7)?,
                last_complete_at: r.get(8)?,
                last_records: r.get::<_, Option<i64>>(9)?.map(|n| n as u64),
            })
        },
    )
    .optional()
    .map(Option::unwrap_or_default)
    .map_err(StoreError::sql(format!("reading the {kind} sync state")))
}

/// The run applied its whole export: forget the checkpoint, remember the export.
pub fn complete_export(
    tx: &Transaction<'_>,
    kind: &str,
    scope: &str,
    export_md5: &str,
    records: u64,
    now: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "INSERT INTO sync_state (kind, scope, last_export_md5, last_complete_at, last_records)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (kind, scope) DO UPDATE SET run_id = NULL, export_md5 = NULL, pages = NULL,
             last_page = NULL, inserted = 0, updated = 0, unchanged = 0,
             last_export_md5 = ?3, last_complete_at = ?4, last_records = ?5",
    )
    .and_then(|mut s| s.execute(params![kind, scope, export_md5, now, records as i64]))
    .map_err(StoreError::sql(format!("completing the {kind} export")))?;
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::schema;
    use rusqlite::Connection;

    fn customers() -> TableSpec {
        TableSpec::for_kind(Kind::Customers)
    }
    fn ddts() -> TableSpec {
        TableSpec::for_kind(Kind::Ddt)
    }

    fn customer(code: &str, name: &str) -> RowImage {
        let mut values = vec![SqlValue::Text(code.into()), SqlValue::Text(name.into())];
        values.resize(customers().fields.len(), SqlValue::Null);
        RowImage {
            key: code.into(),
            hash: format!("h-{name}"),
            values,
        }
    }

    fn ddt(number: &str, carrier: &str) -> RowImage {
        let mut values = vec![SqlValue::Text(number.into())];
        values.resize(ddts().fields.len(), SqlValue::Null);
        values[4] = SqlValue::Text(carrier.into());
        values[6] = SqlValue::Integer(2);
        RowImage {
            key: number.into(),
            hash: format!("h-{carrier}"),
            values,
        }
    }

    fn db(migrations: &[&str]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        for m in migrations {
            conn.execute_batch(m).unwrap();
        }
        conn
    }

    #[test]
    fn upsert_counts_are_exact_and_unchanged_rows_are_not_written() {
        let mut conn = db(schema::CUSTOMERS_DB);
        let tx = conn.transaction().unwrap();
        let rows = vec![customer("C1", "Rossi"), customer("C2", "Bianchi")];
        let c = upsert_rows(&tx, &customers(), None, &rows, "t1").unwrap();
        assert_eq!(
            c,
            RowCounts {
                inserted: 2,
                updated: 0,
                unchanged: 0
            }
        );
        let c = upsert_rows(
            &tx,
            &customers(),
            None,
            &[customer("C1", "Rossi"), customer("C2", "Verdi")],
            "t2",
        )
        .unwrap();
        assert_eq!(
            c,
            RowCounts {
                inserted: 0,
                updated: 1,
                unchanged: 1
            }
        );
        tx.commit().unwrap();
        let (name, first, updated): (String, String, String) = conn
            .query_row(
                "SELECT name, first_seen_at, updated_at FROM customers WHERE code='C2'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!(
            (name.as_str(), first.as_str(), updated.as_str()),
            ("Verdi", "t1", "t2")
        );
        let untouched: String = conn
            .query_row(
                "SELECT updated_at FROM customers WHERE code='C1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(untouched, "t1", "an unchanged row must not be rewritten");
    }

    #[test]
    fn deletion_marks_only_missing_rows_and_a_returning_row_is_revived() {
        let mut conn = db(schema::CUSTOMERS_DB);
        let tx = conn.transaction().unwrap();
        upsert_rows(
            &tx,
            &customers(),
            None,
            &[
                customer("C1", "a"),
                customer("C2", "b"),
                customer("C3", "c"),
            ],
            "t1",
        )
        .unwrap();
        let live: HashSet<String> = ["C1".to_string(), "C3".to_string()].into();
        assert_eq!(settle(&tx, &live, 1, "t2").unwrap(), Deletions::Applied(1));
        assert_eq!(
            settle(&tx, &live, 2, "t3").unwrap(),
            Deletions::Applied(0),
            "already deleted"
        );
        let c = upsert_rows(&tx, &customers(), None, &[customer("C2", "b")], "t4").unwrap();
        assert_eq!(
            c.updated, 1,
            "a deleted record that comes back is written again"
        );
        let deleted: Option<String> = tx
            .query_row(
                "SELECT deleted_at FROM customers WHERE code='C2'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(deleted, None);
    }

    fn live_count(tx: &Transaction<'_>) -> i64 {
        tx.query_row(
            "SELECT COUNT(*) FROM customers WHERE deleted_at IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    /// `settle_missing` of the customers of the catalogue-less test scope, default guard.
    fn settle(
        tx: &rusqlite::Transaction<'_>,
        seen: &HashSet<String>,
        run: i64,
        at: &str,
    ) -> Result<Deletions, StoreError> {
        settle_missing(
            tx,
            &customers(),
            "customers",
            "",
            None,
            seen,
            &DeletionGuard::default(),
            run,
            at,
        )
    }

    /// 100 live customers C000..C099; the keys of one in ten (what a filtered view shows).
    fn hundred_customers(tx: &rusqlite::Transaction<'_>) -> HashSet<String> {
        let rows: Vec<RowImage> = (0..100)
            .map(|i| customer(&format!("C{i:03}"), "n"))
            .collect();
        upsert_rows(tx, &customers(), None, &rows, "t1").unwrap();
        (0..100).step_by(10).map(|i| format!("C{i:03}")).collect()
    }

    #[test]
    fn the_guard_holds_only_many_rows_that_are_a_large_share() {
        let g = DeletionGuard::default();
        assert!(!g.holds(20, 30), "20 rows never hold, whatever the share");
        assert!(g.holds(21, 30));
        assert!(!g.holds(500, 5700), "8.8 % of a big table applies");
        assert!(g.holds(5130, 5700));
        assert!(!g.holds(570, 5700), "exactly 10 % is not more than 10 %");
        assert!(g.holds(571, 5700));
    }

    #[test]
    fn a_large_share_missing_is_held_until_released_and_a_discard_keeps_every_row() {
        let mut conn = db(schema::CUSTOMERS_DB);
        let tx = conn.transaction().unwrap();
        let tenth = hundred_customers(&tx);
        let d = settle(&tx, &tenth, 7, "t2").unwrap();
        let Deletions::Held {
            count,
            live,
            reason,
        } = d
        else {
            panic!("{d:?}")
        };
        assert_eq!((count, live), (90, 100));
        assert!(reason.contains("90 of the 100"), "{reason}");
        assert_eq!(live_count(&tx), 100, "nothing deleted while held");
        let sets = held_sets(&tx).unwrap();
        assert_eq!(sets.len(), 1);
        assert_eq!((sets[0].run_id, sets[0].count), (7, 90));

        // Asked about another run than the one holding them: refused, nothing done.
        let stale = decide_held(
            &tx,
            &customers(),
            "customers",
            "",
            None,
            HeldDecision::Release,
            Some(6),
            "t3",
        );
        assert!(matches!(stale, Err(StoreError::Stale(_))), "{stale:?}");
        assert_eq!(live_count(&tx), 100);

        let (set, deleted) = decide_held(
            &tx,
            &customers(),
            "customers",
            "",
            None,
            HeldDecision::Release,
            Some(7),
            "t3",
        )
        .unwrap()
        .unwrap();
        assert_eq!((set.count, deleted), (90, 90));
        assert_eq!(live_count(&tx), 10);
        assert!(held_sets(&tx).unwrap().is_empty());
        assert_eq!(
            decide_held(
                &tx,
                &customers(),
                "customers",
                "",
                None,
                HeldDecision::Release,
                None,
                "t4"
            )
            .unwrap(),
            None,
            "nothing left to decide"
        );

        // Everything back; then a filter again, discarded: every row stays.
        hundred_customers(&tx);
        settle(&tx, &tenth, 8, "t6").unwrap();
        let (_, deleted) = decide_held(
            &tx,
            &customers(),
            "customers",
            "",
            None,
            HeldDecision::Discard,
            None,
            "t7",
        )
        .unwrap()
        .unwrap();
        assert_eq!(deleted, 0);
        assert_eq!(live_count(&tx), 100);
        assert!(held_sets(&tx).unwrap().is_empty());
    }

    #[test]
    fn a_few_rows_missing_are_deleted_at_once_and_a_later_export_replaces_a_held_set() {
        let mut conn = db(schema::CUSTOMERS_DB);
        let tx = conn.transaction().unwrap();
        let tenth = hundred_customers(&tx);
        settle(&tx, &tenth, 1, "t2").unwrap();
        assert_eq!(held_sets(&tx).unwrap().len(), 1);
        // The filter removed, and three customers really gone: applied, the held set forgotten.
        let most: HashSet<String> = (3..100).map(|i| format!("C{i:03}")).collect();
        let d = settle(&tx, &most, 2, "t3").unwrap();
        assert_eq!(d, Deletions::Applied(3));
        assert_eq!(live_count(&tx), 97);
        assert!(held_sets(&tx).unwrap().is_empty());
    }

    #[test]
    fn user_scoped_tables_never_touch_another_agents_rows() {
        let mut conn = db(schema::ORDERS_DB);
        let tx = conn.transaction().unwrap();
        upsert_rows(&tx, &ddts(), Some("agent1"), &[ddt("D1", "BRT")], "t1").unwrap();
        let c = upsert_rows(&tx, &ddts(), Some("agent2"), &[ddt("D1", "GLS")], "t1").unwrap();
        assert_eq!(c.inserted, 1, "same number, other agent: a separate row");
        let deleted = settle_missing(
            &tx,
            &ddts(),
            "ddt",
            "agent2",
            Some("agent2"),
            &HashSet::new(),
            &DeletionGuard::default(),
            1,
            "t2",
        )
        .unwrap();
        assert_eq!(deleted, Deletions::Applied(1));
        let a1: Option<String> = tx
            .query_row(
                "SELECT deleted_at FROM ddts WHERE user_id='agent1' AND ddt_number='D1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            a1, None,
            "agent2's complete export must not delete agent1's rows"
        );
        assert!(
            upsert_rows(&tx, &ddts(), None, &[ddt("D2", "x")], "t").is_err(),
            "scope is required"
        );
    }

    #[test]
    fn checkpoint_round_trip_and_completion() {
        let mut conn = db(schema::CUSTOMERS_DB);
        assert_eq!(
            load_state(&conn, "customers", "agent1").unwrap(),
            SyncState::default()
        );
        let cp = Checkpoint {
            run_id: 7,
            export_md5: "abc".into(),
            pages: 10,
            last_page: 3,
            counts: RowCounts {
                inserted: 5,
                updated: 1,
                unchanged: 2,
            },
        };
        let tx = conn.transaction().unwrap();
        save_checkpoint(&tx, "customers", "agent1", &cp).unwrap();
        tx.commit().unwrap();
        assert_eq!(
            load_state(&conn, "customers", "agent1").unwrap().checkpoint,
            Some(cp)
        );
        let tx = conn.transaction().unwrap();
        complete_export(&tx, "customers", "agent1", "abc", 40, "t9").unwrap();
        tx.commit().unwrap();
        let state = load_state(&conn, "customers", "agent1").unwrap();
        assert_eq!(state.checkpoint, None);
        assert_eq!(state.last_export_md5.as_deref(), Some("abc"));
        assert_eq!(state.last_records, Some(40));
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use rusqlite::Connection;

    /// The hand-written schema and the parser's columns must agree, or upserts would fail at
    /// run time (or, worse, a renamed field would silently stop being stored).
    #[test]
    fn every_kind_table_has_exactly_the_kinds_fields() {
        for kind in Kind::ALL {
            let spec = TableSpec::for_kind(kind);
            let conn = Connection::open_in_memory().unwrap();
            for m in TableSpec::migrations(kind) {
                conn.execute_batch(m).unwrap();
            }
            let mut stmt = conn
                .prepare(&format!("PRAGMA table_info({})", spec.table))
                .unwrap();
            let columns: Vec<String> = stmt
                .query_map([], |r| r.get(1))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            for f in &spec.fields {
                assert!(
                    columns.iter().any(|c| c == f),
                    "{}: no column {f}",
                    spec.table
                );
            }
            for c in [
                "hash",
                "first_seen_at",
                "updated_at",
                "deleted_at",
                spec.key_column,
            ] {
                assert!(
                    columns.iter().any(|x| x == c),
                    "{}: no column {c}",
                    spec.table
                );
            }
            assert_eq!(
                spec.user_scoped,
                columns.iter().any(|c| c == "user_id"),
                "{}",
                spec.table
            );
        }
    }
}
