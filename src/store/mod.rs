//! The SQLite side of blackant-sync: where each file lives, its schema, and the statements
//! the DbWriters run — hash-gated upserts with exact counts, soft deletes after a complete
//! export, per-page checkpoints, the run history and freshness in `sync.db`.
//!
//! Every function here takes a `rusqlite` connection or transaction and does only SQL: no
//! actors, no async, no browser. Whoever holds the file's DbWriter calls them inside the one
//! transaction that applies a page (rows and checkpoint together, or nothing).
//!
//! Layout of the data folder (DESIGN.md, "Data layout"):
//! - `customers-{user}.db`: that agent's customers;
//! - `products.db`: products, prices matched to them (`prices`), price changes, unmatched prices;
//! - `orders.db`: orders (with `user_id`), their lines (`orders` module), DDTs, invoices;
//! - `sync.db`: runs (history, stats), freshness, schedules, the order outbox (`outbox`);
//! - `exports/{md5}.pdf`: the export a run is reading, kept until the run completes;
//! - `blackant.lock`: the lock one running service holds on the folder (`folder_lock`).

pub mod folder_lock;
pub mod ledger;
pub mod lookups;
pub mod orders;
pub mod outbox;
pub mod paths;
pub mod prices;
pub mod replica;
pub mod schedules;
pub mod schema;
pub mod tables;

pub use paths::DataDir;

/// A failed store operation, with the file or table it concerned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("SQLite error on {what}: {source}")]
    Sql {
        what: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid agent id {0:?}: use letters, digits, '.', '_' or '-' (at most 64)")]
    InvalidUser(String),
    #[error("the data folder holds an inconsistent state: {0}")]
    Inconsistent(String),
    /// What the caller acted on changed since it looked (a held set recomputed).
    #[error("{0}")]
    Stale(String),
    /// The file's DbWriter could not run the job (restarting, or the job failed to start).
    #[error(transparent)]
    Writer(#[from] blackant_actors::db_writer::DbError),
}

impl StoreError {
    /// Worth retrying: the writer was restarting, the disk was busy. A schema or data
    /// inconsistency is not.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            StoreError::Inconsistent(_) | StoreError::InvalidUser(_) | StoreError::Stale(_)
        )
    }
}

impl StoreError {
    pub(crate) fn sql(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> StoreError {
        let what = what.into();
        move |source| StoreError::Sql { what, source }
    }

    /// [`Self::sql`] with the description written only if the call failed: for calls made
    /// per row, where formatting it each time would cost more than the call.
    pub(crate) fn sql_lazy(
        what: impl FnOnce() -> String,
    ) -> impl FnOnce(rusqlite::Error) -> StoreError {
        move |source| StoreError::Sql {
            what: what(),
            source,
        }
    }
}

/// The time format stored in every `*_at` column: RFC 3339 UTC with milliseconds, which sorts
/// as text.
pub fn time_text(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Now, as stored (see [`time_text`]).
pub fn now_text() -> String {
    time_text(std::time::SystemTime::now())
}

/// A stored `*_at` column back to a time; `what` names it in the error.
pub fn parse_time(text: &str, what: &str) -> Result<std::time::SystemTime, StoreError> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| std::time::SystemTime::from(t.with_timezone(&chrono::Utc)))
        .map_err(|e| StoreError::Inconsistent(format!("{what}: {text:?} is not a time: {e}")))
}

/// A store error as the actors' `LedgerError` of `operation` (the ledger and schedule stores).
pub(crate) fn ledger_error(
    operation: &'static str,
) -> impl FnOnce(StoreError) -> blackant_actors::sync::LedgerError {
    move |e| blackant_actors::sync::LedgerError {
        operation,
        reason: e.to_string(),
    }
}

/// How a scope is stored in `sync.db`'s `scope` columns: the agent id, or '' for the catalogue.
pub fn scope_text(scope: &blackant_actors::run::Scope) -> &str {
    match scope {
        blackant_actors::run::Scope::Catalogue => "",
        blackant_actors::run::Scope::Agent(a) => a,
    }
}

/// The scope a stored `scope` column names (see [`scope_text`]).
pub fn scope_of(text: String) -> blackant_actors::run::Scope {
    if text.is_empty() {
        blackant_actors::run::Scope::Catalogue
    } else {
        blackant_actors::run::Scope::Agent(text)
    }
}
