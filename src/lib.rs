//! blackant-sync (skeleton; being written).
//!
//! - `config`: the TOML configuration file and its defaults.
//! - `grpc`: the gRPC surface (sync service, health, reflection, bearer-token auth).
//! - `erp`: Archibald through a real Chromium (login, list views, PDF exports).
//! - `store`: SQLite files, schemas, hash-gated upserts, checkpoints, run history.
//! - `service`: the supervision tree and the domain operations gRPC and the CLI call.
//! - `syncs`: the sync kinds (export → parse → pages with checkpoints → deletions).
//! - `pdf`: Archibald report PDFs (any producer) → table rows: content operators → positioned
//!   text → lines and phrases → header, columns, rows, completeness ("Pagina N di M",
//!   "Totale record: K"). Knows nothing of record kinds.
//! - `records`: the six report kinds (columns, types, keys), canonical values, `Record` JSON
//!   and MD5, and `parse_export` (PDF bytes → records grouped by page).

pub mod config;
pub mod erp;
pub mod grpc;
pub mod pdf;
pub mod records;
pub mod service;
pub mod store;
pub mod syncs;
