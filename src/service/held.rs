//! Deletions held for an operator: a complete export that would have marked deleted more of a
//! table than `[deletes]` allows applies its inserts and updates and holds its deletions
//! (`store::tables::settle_missing`). This module lists the held sets of every data file (read
//! only) and carries out an operator's release or discard of one set through its file's
//! DbWriter. It must NOT decide anything by itself: only an operator's call reaches
//! [`Service::decide_held`].

use super::{Service, ServiceError};
use crate::records::Kind;
use crate::store::tables::{self, HeldDecision, HeldSet, TableSpec};
use crate::store::{StoreError, scope_of, scope_text};
use crate::syncs::DbRouter;
use blackant_actors::run::{RunId, Scope};
use std::path::PathBuf;

/// Gauge: rows held from deletion for an operator, per `kind` (summed over its scopes; 0 when
/// none).
pub const HELD_DELETIONS: &str = "blackant_held_deletions";

/// One scope's held deletions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldDeletions {
    pub kind: Kind,
    pub scope: Scope,
    /// The run whose export held them (the one to name when deciding).
    pub run_id: RunId,
    /// RFC 3339.
    pub held_at: String,
    pub reason: String,
    /// Rows that would be marked deleted.
    pub count: u64,
}

/// What a decision did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldOutcome {
    /// The set as it was.
    pub held: HeldDeletions,
    pub decision: HeldDecision,
    /// Rows marked deleted (0 for a discard; fewer than held when some came back meanwhile).
    pub deleted: u64,
}

impl Service {
    /// Every held set of every data file, by kind then scope. A file that cannot be read
    /// (damaged, on a failed disk) is left out with a warning: its own syncs and health say
    /// what is wrong with it, and the other files' held sets still show.
    pub async fn held_deletions(&self) -> Result<Vec<HeldDeletions>, ServiceError> {
        let mut out = Vec::new();
        for path in self.data_files() {
            let shown = path.display().to_string();
            let sets = match self
                .reads
                .read_file(path, "the held deletions", tables::held_sets)
                .await
            {
                Ok(sets) => sets.unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(file = %shown, cause = %e, "cannot read the held deletions of a data file");
                    continue;
                }
            };
            out.extend(sets.into_iter().filter_map(to_held));
        }
        out.sort_by(|a, b| {
            (a.kind as usize, scope_text(&a.scope)).cmp(&(b.kind as usize, scope_text(&b.scope)))
        });
        Ok(out)
    }

    /// Release (mark deleted) or discard (keep) the deletions `kind` holds for `user`'s scope
    /// (`""` for the catalogue), if run `expected_run` (when given) is still the one that held
    /// them: a set another run recomputed since the operator looked is refused, not decided
    /// blind.
    pub async fn decide_held(
        &self,
        kind: Kind,
        user: &str,
        decision: HeldDecision,
        expected_run: Option<RunId>,
    ) -> Result<HeldOutcome, ServiceError> {
        let scope = self.scope_for(kind, user)?;
        let db =
            self.tree.router.db_for(kind, &scope).await.map_err(|e| {
                ServiceError::Internal(format!("finding the DbWriter of {kind}: {e}"))
            })?;
        let spec = TableSpec::for_kind(kind);
        let key = scope_text(&scope).to_string();
        let user = user.to_string();
        let decided = db
            .write(move |tx| {
                let user = (!user.is_empty()).then_some(user.as_str());
                tables::decide_held(
                    tx,
                    &spec,
                    kind.name(),
                    &key,
                    user,
                    decision,
                    expected_run.map(|r| r.0),
                    &crate::store::now_text(),
                )
            })
            .await
            .map_err(|source: StoreError| ServiceError::Write {
                what: "the held deletions",
                source: Box::new(source),
            })?;
        let Some((set, deleted)) = decided else {
            return Err(ServiceError::NothingHeld { kind, scope });
        };
        let held = to_held(set).ok_or_else(|| {
            ServiceError::Internal("a held set of a kind this build does not know".into())
        })?;
        tracing::warn!(kind = %kind, scope = %held.scope, run = held.run_id.0, ?decision,
            held = held.count, deleted, "held deletions decided by an operator");
        self.refresh_held_gauge().await;
        Ok(HeldOutcome {
            held,
            decision,
            deleted,
        })
    }

    /// Set [`HELD_DELETIONS`] for every kind from the data files.
    pub async fn refresh_held_gauge(&self) {
        let held = self.held_deletions().await.unwrap_or_else(|e| {
            tracing::warn!(cause = %e, "metrics: cannot read the held deletions");
            Vec::new()
        });
        for spec in &crate::kinds::KINDS {
            let n: u64 = held
                .iter()
                .filter(|h| h.kind == spec.kind)
                .map(|h| h.count)
                .sum();
            metrics::gauge!(HELD_DELETIONS, "kind" => spec.kind.name()).set(n as f64);
        }
    }

    /// The record files in the folder: the shared ones and every agent's customers file.
    fn data_files(&self) -> Vec<PathBuf> {
        match self.data.record_files() {
            Ok(files) => files.into_iter().map(|(_, path)| path).collect(),
            Err(e) => {
                tracing::warn!(cause = %e, "cannot list the data folder's files");
                Vec::new()
            }
        }
    }
}

fn to_held(set: HeldSet) -> Option<HeldDeletions> {
    Some(HeldDeletions {
        kind: Kind::from_name(&set.kind)?,
        scope: scope_of(set.scope),
        run_id: RunId(set.run_id),
        held_at: set.held_at,
        reason: set.reason,
        count: set.count,
    })
}
