//! Routing each kind's writes to the DbWriter of its file, starting an agent's file writer
//! the first time it is needed (a supervised child like the others). Must NOT write itself:
//! it only hands out the writer's handle.

use crate::kinds::DataFile;
use crate::records::Kind;
use crate::store::{DataDir, schema};
use crate::syncs::DbRouter;
use blackant_actors::db_writer::{DbHandle, DbWriter, DbWriterArguments, Durability};
use blackant_actors::directory::Directory;
use blackant_actors::root::{ChildSpec, SupervisorHandle};
use blackant_actors::run::Scope;
use blackant_actors::supervision::RestartPolicy;
use blackant_actors::sync::SyncError;
use futures::FutureExt;
use futures::future::BoxFuture;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The DbWriter of a file, as the Directory names it.
pub fn db_writer_name(file: &str) -> String {
    format!("DbWriter:{file}")
}

/// Finds (or starts) the DbWriter of a kind's file for a scope.
pub(super) struct Router {
    pub data: DataDir,
    pub directory: Directory,
    /// Set once the supervisor runs (the router is built before it).
    pub supervisor: OnceLock<SupervisorHandle>,
    pub restart: RestartPolicy,
}

pub(super) fn writer_spec(
    restart: RestartPolicy,
    name: String,
    path: PathBuf,
    migrations: &'static [&'static str],
    durability: Durability,
) -> ChildSpec {
    ChildSpec::for_actor(name, restart, move || {
        (
            DbWriter,
            DbWriterArguments {
                path: path.clone(),
                migrations,
                durability,
            },
        )
    })
}

impl DbRouter for Router {
    fn db_for<'a>(
        &'a self,
        kind: Kind,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<DbHandle, SyncError>> {
        async move {
            let file: DataFile = kind.spec().file;
            if file.per_agent() && scope.agent().is_none() {
                return Err(SyncError::permanent(format!(
                    "{kind} are synced per agent, not for the catalogue"
                )));
            }
            let path = self
                .data
                .data_file(file, scope.agent())
                .map_err(|e| SyncError::permanent(e.to_string()))?;
            let name = db_writer_name(&file.file_name(scope.agent()));
            if self.directory.get(&name).is_none() {
                let supervisor = self
                    .supervisor
                    .get()
                    .ok_or_else(|| SyncError::transient("the supervisor is not running yet"))?;
                // Data files are re-read from the ERP if a power loss takes a commit back.
                let spec = writer_spec(
                    self.restart,
                    name.clone(),
                    path,
                    schema::migrations(file),
                    Durability::Relaxed,
                );
                supervisor
                    .add_child(spec)
                    .await
                    .map_err(|e| SyncError::transient(format!("starting {name}: {e}")))?
                    .map_err(|e| SyncError::transient(format!("starting {name}: {e}")))?;
            }
            Ok(DbHandle::named(self.directory.clone(), name))
        }
        .boxed()
    }
}
