//! The sync kinds: what "sync customers" (products, prices, orders, DDT, invoices) means, as
//! implementations of the actors crate's `SyncKind` (get the export → parse → apply page by
//! page with its checkpoint → finish with deletions).
//!
//! The OrderPlacer reaches the ERP through the same `ErpSource` (`order_form.rs`).
//!
//! A kind reaches the ERP only through an `ExportSource` and its SQLite file only through the
//! file's DbWriter (`DbRouter` finds it), so kinds are tested with fixture PDFs and a temp
//! folder. This module does not drive Chromium itself (`erp` does), does not schedule or
//! pause anything (the actors do), and never holds credentials longer than a call.

pub mod breaker;
mod export_sync;
mod idle_tabs;
pub mod images;
mod order_form;
mod source;

pub use export_sync::{ExportPlan, ExportSync, sweep_exports};
pub use order_form::{FilledOrder, PLACEMENT_PRIORITY};
pub use source::{
    CredentialSource, DETAIL_PAGES_TOTAL, ErpSource, ExportSource, SourceError, TABS_TOTAL,
};

use blackant_actors::db_writer::DbHandle;
use blackant_actors::run::Scope;
use blackant_actors::sync::SyncError;
use futures::future::BoxFuture;

/// Finds the DbWriter of the file that holds a kind's rows for a scope (starting it the first
/// time an agent's file is needed).
pub trait DbRouter: Send + Sync + 'static {
    fn db_for<'a>(
        &'a self,
        kind: crate::records::Kind,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<DbHandle, SyncError>>;
}

/// The agent id of a per-agent scope; `None` for the catalogue.
pub fn scope_user(scope: &Scope) -> Option<&str> {
    match scope {
        Scope::Agent(u) => Some(u.as_str()),
        Scope::Catalogue => None,
    }
}

/// The `scope` column value stored in `sync_state` and `sync.db`.
pub use crate::store::scope_text as scope_key;
