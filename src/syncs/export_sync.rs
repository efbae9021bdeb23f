//! `ExportSync`: the sync kind for every report that is "one export → one table" (customers,
//! products, prices, orders, DDT, invoices).
//!
//! Before anything, a kind with a dependency (`after`: prices after products) waits while
//! that kind's catalogue run is in progress — cancellably, so a pause still stops it.
//! prepare: resume the export a checkpoint names (content-addressed under `exports/`), or get
//! a fresh one; a delta run on a byte-identical export stops there; otherwise parse it (off the
//! async threads), refuse an incomplete export before touching anything, and plan one step per
//! PDF page; for orders, read the detail pages of the new or changed orders (their lines).
//! apply_page: the page's rows (hash-gated), the lines of its orders and the checkpoint, in
//! one transaction.
//! finish: soft-delete what the complete export no longer holds — or, when that would be a
//! large share of the table (`DeletionGuard`), hold those deletions for an operator — forget
//! the checkpoint,
//! remember the export and, for products and prices, match every price row to the catalogue
//! again (`store::prices`) — one transaction — then drop the export file.
//! abandon (a run failed for good): drop the exports it kept. An export no checkpoint can use
//! any more goes too: a checkpoint of another run when a run prepares, and at start everything
//! in `exports/` that no checkpoint names ([`sweep_exports`]).
//!
//! Does not decide when to run, retry, or pause: the SyncActor does.

use super::{DbRouter, ExportSource, SourceError, scope_key, scope_user};
use crate::records::order_lines::OrderLine;
use crate::records::{Kind, parse_export};
use crate::store::tables::{
    self, Checkpoint, DeletionGuard, Deletions, RowCounts, RowImage, TableSpec,
};
use crate::store::{DataDir, StoreError, now_text};
use crate::store::{orders, prices};
use blackant_actors::db_writer::DbHandle;
use blackant_actors::digest::md5_hex;
use blackant_actors::run::{Counts, Mode, RunNotes, Scope};
use blackant_actors::sync::{
    Finished, PageCounts, Prepared, RunSpec, RunState, SyncError, SyncHandle, SyncKind,
};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// One report kind synced from its PDF export into its table.
pub struct ExportSync {
    kind: Kind,
    spec: TableSpec,
    data: DataDir,
    dbs: Arc<dyn DbRouter>,
    source: Arc<dyn ExportSource>,
    /// The sync a run of this kind waits for (while it runs on the same scope).
    after: Option<SyncHandle>,
    /// When a complete export's deletions wait for an operator.
    guard: DeletionGuard,
    /// The export saved for each unfinished run of this life (run id → MD5), so that a run
    /// that fetches its export again, or fails, leaves no file behind.
    kept: std::sync::Mutex<HashMap<i64, String>>,
}

/// A prepared run: the parsed export, page by page, and what `finish` needs.
pub struct ExportPlan {
    db: DbHandle,
    export_md5: String,
    /// Rows of each physical page (pages without rows are empty and still checkpointed).
    pages: Arc<Vec<Vec<RowImage>>>,
    /// Keys of every record in the (complete) export: what `finish` keeps alive.
    keys: Arc<HashSet<String>>,
    records: u64,
    /// Delta run on a byte-identical export: nothing to apply.
    unchanged_export: bool,
    /// Orders only: the lines read from the detail pages of the new or changed orders.
    lines: Arc<HashMap<String, Vec<OrderLine>>>,
}

/// Gauge: columns ERP.md does not list in the last export parsed of a kind (`kind`); 0 once
/// the report is back to its contract.
pub const UNKNOWN_COLUMNS: &str = "blackant_report_unknown_columns";

impl ExportSync {
    pub fn new(
        kind: Kind,
        data: DataDir,
        dbs: Arc<dyn DbRouter>,
        source: Arc<dyn ExportSource>,
    ) -> Self {
        Self {
            kind,
            spec: TableSpec::for_kind(kind),
            data,
            dbs,
            source,
            after: None,
            guard: DeletionGuard::default(),
            kept: std::sync::Mutex::default(),
        }
    }

    /// Hold a complete export's deletions for an operator as `guard` says (default: more than
    /// 10 % and more than 20 rows).
    pub fn deletion_guard(mut self, guard: DeletionGuard) -> Self {
        self.guard = guard;
        self
    }

    /// Save the export of `run` where a resume finds it, and drop the one it saved before
    /// (a retry that fetched the export again and got other bytes).
    async fn keep(&self, run: i64, md5: &str, bytes: Arc<Vec<u8>>) -> Result<(), SyncError> {
        keep_export(self.data.export_file(md5), bytes).await?;
        let before = self.kept().insert(run, md5.to_string());
        match before {
            Some(old) if old != md5 => self.drop_export(&old).await,
            _ => {}
        }
        Ok(())
    }

    /// The saved exports of this life's runs (a poisoned lock is taken as is: the map only
    /// says which files to remove).
    fn kept(&self) -> std::sync::MutexGuard<'_, HashMap<i64, String>> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn drop_export(&self, md5: &str) {
        let path = self.data.export_file(md5);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => tracing::debug!(path = %path.display(), "dropped an export no run needs"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %path.display(), cause = %e, "cannot remove an export no run needs")
            }
        }
    }

    /// Runs of this kind wait while `sync` has a run in progress on the same scope (DESIGN.md,
    /// "after": a price sync waits for a running product sync).
    pub fn after(mut self, sync: SyncHandle) -> Self {
        self.after = Some(sync);
        self
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Read the detail page of every order on `pages` that is new or changed since its lines
    /// were last read (its row hash differs from `lines_hash`); unchanged orders cost nothing.
    async fn read_order_lines(
        &self,
        run: &RunSpec,
        db: &DbHandle,
        user: &str,
        pages: &[Vec<RowImage>],
        cancel: CancellationToken,
    ) -> Result<HashMap<String, Vec<OrderLine>>, SyncError> {
        let who = user.to_string();
        let known = db
            .read(move |conn| orders::lines_hashes(conn, &who))
            .await
            .map_err(store_err("reading which orders have their lines"))?;
        let wanted: Vec<String> = pages
            .iter()
            .flatten()
            .filter(|row| known.get(&row.key) != Some(&row.hash))
            .map(|row| row.key.clone())
            .collect();
        if wanted.is_empty() {
            return Ok(HashMap::new());
        }
        tracing::info!(run = %run.run_id, scope = %run.scope, orders = wanted.len(), "reading the lines of new or changed orders");
        self.source
            .order_lines(&run.scope, wanted, cancel)
            .await
            .map_err(|e| source_err(format!("reading order lines: {e}"), &e))
    }

    /// Wait until the `after` sync has no run in progress for `scope`. If that actor cannot be
    /// asked (restarting, stopped) this run goes ahead rather than wait for ever.
    async fn wait_for_dependency(
        &self,
        scope: &Scope,
        cancel: &CancellationToken,
    ) -> Result<(), SyncError> {
        let Some(dep) = &self.after else {
            return Ok(());
        };
        loop {
            // Subscribe first: the dependency's end cannot slip between the status and the wait.
            let mut events = dep.events().subscribe();
            let status = match dep.status().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(kind = %self.kind, cause = %e, "cannot ask the sync this one follows; going ahead");
                    return Ok(());
                }
            };
            let running = status
                .scope(scope)
                .filter(|s| s.state != RunState::Idle)
                .and_then(|s| s.run_id);
            let Some(run) = running else { return Ok(()) };
            tracing::info!(kind = %self.kind, waits_for = %status.kind, %run, "waiting for the run this sync follows");
            tokio::select! {
                _ = cancel.cancelled() => return Err(SyncError::Cancelled),
                ended = events.wait_for_run(run) => {
                    if let Err(e) = ended {
                        tracing::warn!(kind = %self.kind, cause = %e, "lost the events of the sync this one follows; asking again");
                    }
                }
            }
        }
    }

    async fn get_export(
        &self,
        run: &RunSpec,
        cancel: CancellationToken,
    ) -> Result<Vec<u8>, SyncError> {
        let fetch = self.source.export(self.kind, &run.scope, cancel.clone());
        tokio::select! {
            _ = cancel.cancelled() => Err(SyncError::Cancelled),
            got = fetch => got.map_err(|e| {
                source_err(format!("getting the {} export: {e}", self.kind), &e)
            }),
        }
    }
}

/// The sync error of a source failure described by `msg`: a page that changed keeps its
/// evidence (permanent), the rest is transient or permanent as the source says.
fn source_err(msg: String, e: &SourceError) -> SyncError {
    if let SourceError::Erp(erp @ crate::erp::ErpError::PageChanged { .. }) = e {
        return SyncError::PageChanged {
            reason: msg,
            evidence: erp.evidence().map(str::to_string),
        };
    }
    if e.is_transient() {
        SyncError::transient(msg)
    } else {
        SyncError::permanent(msg)
    }
}

fn store_err(what: &str) -> impl FnOnce(StoreError) -> SyncError + '_ {
    move |e| {
        let msg = format!("{what}: {e}");
        if e.is_transient() {
            SyncError::transient(msg)
        } else {
            SyncError::permanent(msg)
        }
    }
}

/// Write the export where a resumed run will find it: `exports/{md5}.pdf`, atomically.
async fn keep_export(path: PathBuf, bytes: Arc<Vec<u8>>) -> Result<(), SyncError> {
    let io = |e: std::io::Error| {
        SyncError::transient(format!("saving the export to {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(io)?;
    }
    let tmp = path.with_extension("pdf.part");
    tokio::fs::write(&tmp, bytes.as_slice()).await.map_err(io)?;
    tokio::fs::rename(&tmp, &path).await.map_err(io)
}

impl SyncKind for ExportSync {
    type Plan = ExportPlan;

    fn name(&self) -> &str {
        self.kind.name()
    }

    async fn prepare(
        &self,
        run: &RunSpec,
        cancel: CancellationToken,
    ) -> Result<Prepared<ExportPlan>, SyncError> {
        self.wait_for_dependency(&run.scope, &cancel).await?;
        let db = self.dbs.db_for(self.kind, &run.scope).await?;
        let (kind, scope) = (self.kind.name(), scope_key(&run.scope).to_string());
        let state = db
            .read(move |conn| tables::load_state(conn, kind, &scope))
            .await
            .map_err(store_err("reading the sync state"))?;

        // Resume in the export the checkpoint names, if this run left one and it is still there.
        let resume = match state.checkpoint {
            Some(cp) if cp.run_id == run.run_id.0 => {
                let path = self.data.export_file(&cp.export_md5);
                match tokio::fs::read(&path).await {
                    Ok(bytes) if md5_hex(&bytes) == cp.export_md5 => Some((cp, bytes)),
                    Ok(_) | Err(_) => {
                        tracing::warn!(run = %run.run_id, path = %path.display(),
                            "the checkpoint's export is gone or damaged; starting the run over");
                        None
                    }
                }
            }
            // Another run's checkpoint: that run ended without finishing and never resumes.
            Some(stale) => {
                self.drop_export(&stale.export_md5).await;
                None
            }
            None => None,
        };
        let (bytes, export_md5, next_page, counts_so_far) = match resume {
            Some((cp, bytes)) => {
                let counts = Counts {
                    inserted: cp.counts.inserted,
                    updated: cp.counts.updated,
                    unchanged: cp.counts.unchanged,
                    deleted: 0,
                };
                (bytes, cp.export_md5, cp.last_page as usize + 1, counts)
            }
            None => {
                let bytes = self.get_export(run, cancel.clone()).await?;
                let md5 = md5_hex(&bytes);
                if run.mode == Mode::Delta && state.last_export_md5.as_deref() == Some(md5.as_str())
                {
                    return Ok(Prepared {
                        plan: ExportPlan {
                            db,
                            export_md5: md5,
                            pages: Arc::default(),
                            keys: Arc::default(),
                            records: state.last_records.unwrap_or(0),
                            unchanged_export: true,
                            lines: Arc::default(),
                        },
                        pages: 0,
                        next_page: 0,
                        counts_so_far: Counts::default(),
                        items: state.last_records,
                        unchanged_export: true,
                        notes: RunNotes::default(),
                    });
                }
                (bytes, md5, 0, Counts::default())
            }
        };

        let bytes = Arc::new(bytes);
        let kind = self.kind;
        let parsing = Arc::clone(&bytes);
        let parsed = tokio::task::spawn_blocking(move || parse_export(kind, &parsing))
            .await
            .map_err(|e| SyncError::transient(format!("parsing the {kind} export: {e}")))?
            .map_err(|e| {
                // A value that breaks its column's format, or columns that changed, is what the
                // ERP says: retrying won't help. An unreadable PDF is most often a cut download:
                // worth another try.
                if e.is_permanent() {
                    SyncError::permanent(format!("malformed {kind} report: {e}"))
                } else {
                    SyncError::transient(format!("unreadable {kind} export: {e}"))
                }
            })?;
        if !parsed.is_complete() {
            return Err(SyncError::transient(format!(
                "truncated {kind} export ({}): refusing to apply it, nothing was changed",
                parsed.completeness.problems().join("; ")
            )));
        }
        if next_page == 0 {
            self.keep(run.run_id.0, &export_md5, Arc::clone(&bytes))
                .await?;
        }
        metrics::gauge!(UNKNOWN_COLUMNS, "kind" => kind.name())
            .set(parsed.unknown_columns.len() as f64);
        if !parsed.unknown_columns.is_empty() {
            tracing::warn!(kind = %kind, scope = %run.scope, run = %run.run_id,
                columns = ?parsed.unknown_columns,
                "the report has columns ERP.md does not list: their text is ignored");
        }

        let mut keys = HashSet::with_capacity(parsed.record_count());
        let mut duplicates = 0usize;
        let pages: Vec<Vec<RowImage>> = parsed
            .pages
            .iter()
            .map(|p| {
                p.records
                    .iter()
                    .map(|r| {
                        let row = RowImage::from_record(r);
                        if !keys.insert(row.key.clone()) {
                            duplicates += 1;
                        }
                        row
                    })
                    .collect()
            })
            .collect();
        if duplicates > 0 {
            tracing::warn!(kind = %kind, scope = %run.scope, duplicates,
                "the export repeats some record keys; the last occurrence wins");
        }
        let records = parsed.record_count() as u64;
        let page_count = pages.len();
        let lines = match (self.kind.spec().reads_order_lines, scope_user(&run.scope)) {
            (true, Some(user)) => {
                self.read_order_lines(run, &db, user, &pages[next_page.min(page_count)..], cancel)
                    .await?
            }
            _ => HashMap::new(),
        };
        Ok(Prepared {
            plan: ExportPlan {
                db,
                export_md5,
                pages: Arc::new(pages),
                keys: Arc::new(keys),
                records,
                unchanged_export: false,
                lines: Arc::new(lines),
            },
            pages: page_count,
            next_page: next_page.min(page_count),
            counts_so_far,
            items: Some(records),
            unchanged_export: false,
            notes: RunNotes {
                unknown_columns: parsed.unknown_columns,
                ..RunNotes::default()
            },
        })
    }

    async fn apply_page(
        &self,
        run: &RunSpec,
        plan: &ExportPlan,
        index: usize,
    ) -> Result<PageCounts, SyncError> {
        let pages = Arc::clone(&plan.pages);
        let spec = self.spec.clone();
        let user = scope_user(&run.scope).map(str::to_string);
        let (kind, scope) = (self.kind.name(), scope_key(&run.scope).to_string());
        let run_id = run.run_id.0;
        let export_md5 = plan.export_md5.clone();
        let page_count = pages.len() as u32;
        let lines = Arc::clone(&plan.lines);
        let counts = plan
            .db
            .write(move |tx| {
                let rows = pages.get(index).map(Vec::as_slice).unwrap_or_default();
                let now = now_text();
                let page = tables::upsert_rows(tx, &spec, user.as_deref(), rows, &now)?;
                // An order's lines go in with the order's row, or not at all.
                if let Some(user) = user.as_deref() {
                    for row in rows {
                        if let Some(l) = lines.get(&row.key) {
                            orders::replace_lines(tx, user, &row.key, &row.hash, l)?;
                        }
                    }
                }
                // Cumulative counts live in the checkpoint itself, so a resumed run reports the
                // whole run's totals.
                let mut total = tables::load_state(tx, kind, &scope)?
                    .checkpoint
                    .filter(|cp| cp.run_id == run_id && index > 0)
                    .map(|cp| cp.counts)
                    .unwrap_or_default();
                total.add(page);
                let cp = Checkpoint {
                    run_id,
                    export_md5,
                    pages: page_count,
                    last_page: index as u32,
                    counts: total,
                };
                tables::save_checkpoint(tx, kind, &scope, &cp)?;
                Ok::<RowCounts, StoreError>(page)
            })
            .await
            .map_err(store_err("applying a page"))?;
        Ok(Counts {
            inserted: counts.inserted,
            updated: counts.updated,
            unchanged: counts.unchanged,
            deleted: 0,
        })
    }

    async fn finish(&self, run: &RunSpec, plan: ExportPlan) -> Result<Finished, SyncError> {
        let spec = self.spec.clone();
        let user = scope_user(&run.scope).map(str::to_string);
        let (kind, scope) = (self.kind.name(), scope_key(&run.scope).to_string());
        let ExportPlan {
            db,
            export_md5,
            keys,
            records,
            unchanged_export,
            ..
        } = plan;
        let md5 = export_md5.clone();
        let rematch = self.kind.spec().rematches_prices;
        let guard = self.guard;
        let run_id = run.run_id.0;
        let deletions = db
            .write(move |tx| {
                let now = now_text();
                // An unchanged export deletes nothing: its keys were never loaded, and the rows
                // already match the export that was applied completely last time (a set it held
                // stays held).
                let deletions = if unchanged_export {
                    Deletions::Applied(0)
                } else {
                    tables::settle_missing(
                        tx,
                        &spec,
                        kind,
                        &scope,
                        user.as_deref(),
                        &keys,
                        &guard,
                        run_id,
                        &now,
                    )?
                };
                tables::complete_export(tx, kind, &scope, &md5, records, &now)?;
                // The catalogue or the price list changed: match every price row again (new
                // products may claim prices that matched nothing so far).
                if !unchanged_export && rematch {
                    let m = prices::rematch(tx)?;
                    tracing::info!(
                        matched = m.matched,
                        unmatched = m.unmatched,
                        changed = m.changed,
                        "prices matched to the catalogue"
                    );
                }
                Ok::<Deletions, StoreError>(deletions)
            })
            .await
            .map_err(store_err("finishing the run"))?;
        self.kept().remove(&run.run_id.0);
        if !unchanged_export {
            self.drop_export(&export_md5).await;
        }
        Ok(match deletions {
            Deletions::Applied(deleted) => Counts {
                deleted,
                ..Counts::default()
            }
            .into(),
            Deletions::Held { count, reason, .. } => {
                tracing::warn!(kind = %self.kind, scope = %run.scope, run = %run.run_id,
                    held = count, %reason, "deletions held for an operator");
                Finished {
                    counts: Counts::default(),
                    notes: RunNotes {
                        held_deletions: count,
                        held_reason: reason,
                        ..RunNotes::default()
                    },
                }
            }
        })
    }

    async fn abandon(&self, run: &RunSpec, plan: Option<ExportPlan>) {
        let mut gone: Vec<String> = self.kept().remove(&run.run_id.0).into_iter().collect();
        if let Some(plan) = plan.filter(|p| !p.unchanged_export) {
            gone.push(plan.export_md5);
        }
        // A run resumed from a previous life kept its export then.
        let (kind, scope) = (self.kind.name(), scope_key(&run.scope).to_string());
        if let Ok(db) = self.dbs.db_for(self.kind, &run.scope).await
            && let Ok(state) = db
                .read(move |conn| tables::load_state(conn, kind, &scope))
                .await
            && let Some(cp) = state.checkpoint.filter(|cp| cp.run_id == run.run_id.0)
        {
            gone.push(cp.export_md5);
        }
        gone.sort();
        gone.dedup();
        for md5 in gone {
            self.drop_export(&md5).await;
        }
    }
}

/// At start, before any run: remove from `exports/` every file no checkpoint names — a
/// `.part` cut by a kill mid-write, the export of a run killed before its first page, or of
/// one that failed. Checkpoints are read from every data file (`*.db` but `sync.db`); if one
/// cannot be read, nothing is removed (its checkpoint might name a file). Answers how many
/// files were removed.
pub fn sweep_exports(data: &DataDir) -> usize {
    let Ok(entries) = std::fs::read_dir(data.exports_dir()) else {
        return 0;
    };
    let files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    if files.is_empty() {
        return 0;
    }
    let mut named = HashSet::new();
    let dbs = match std::fs::read_dir(data.root()) {
        Ok(d) => d.flatten().map(|e| e.path()).collect::<Vec<_>>(),
        Err(e) => {
            tracing::warn!(cause = %e, "cannot list the data folder; exports kept as they are");
            return 0;
        }
    };
    for db in dbs {
        let is_data_file = db.extension().is_some_and(|x| x == "db")
            && db.file_name().is_some_and(|n| n != "sync.db");
        if !is_data_file {
            continue;
        }
        match tables::checkpoint_exports(&db) {
            Ok(md5s) => named.extend(md5s),
            Err(e) => {
                tracing::warn!(file = %db.display(), cause = %e,
                    "cannot read the checkpoints; exports kept as they are");
                return 0;
            }
        }
    }
    let mut removed = 0;
    for file in files {
        let keep = file
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pdf"))
            .is_some_and(|md5| named.contains(md5));
        if !keep && std::fs::remove_file(&file).is_ok() {
            removed += 1;
        }
    }
    if removed > 0 {
        tracing::info!(
            removed,
            "removed exports no checkpoint names (left by a previous life)"
        );
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_file_with_checkpoint(path: &std::path::Path, md5: Option<&str>) {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.execute_batch("CREATE TABLE sync_state (kind TEXT, scope TEXT, export_md5 TEXT)")
            .unwrap();
        conn.execute(
            "INSERT INTO sync_state VALUES ('customers', 'agent1', ?1)",
            [md5],
        )
        .unwrap();
    }

    #[test]
    fn the_start_sweep_keeps_only_the_exports_a_checkpoint_names() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        std::fs::create_dir_all(data.exports_dir()).unwrap();
        for name in ["aaaa.pdf", "bbbb.pdf", "cccc.pdf.part"] {
            std::fs::write(data.exports_dir().join(name), b"%PDF").unwrap();
        }
        data_file_with_checkpoint(&dir.path().join("customers-agent1.db"), Some("aaaa"));
        data_file_with_checkpoint(&dir.path().join("orders.db"), None);
        // sync.db has no sync_state: it is not a data file and is not read.
        rusqlite::Connection::open(dir.path().join("sync.db")).unwrap();

        assert_eq!(sweep_exports(&data), 2);
        let left: Vec<String> = std::fs::read_dir(data.exports_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["aaaa.pdf"]);
    }

    #[test]
    fn an_unreadable_data_file_keeps_every_export() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::new(dir.path());
        std::fs::create_dir_all(data.exports_dir()).unwrap();
        std::fs::write(data.exports_dir().join("aaaa.pdf"), b"%PDF").unwrap();
        std::fs::write(dir.path().join("products.db"), b"not a database at all").unwrap();

        assert_eq!(sweep_exports(&data), 0);
        assert!(data.exports_dir().join("aaaa.pdf").exists());
    }
}
