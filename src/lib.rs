//! blackant-sync: keeps local SQLite replicas of the Archibald ERP fresh for the Black Ant PWA,
//! driving a real Chromium the way a user would. The binary (`main.rs`, `cli/`) is glue over
//! this library; the runtime (actors, supervision) is the `blackant-actors` crate.
//!
//! Layout, from the bottom up (each module imports only those above it in this list):
//! - `pdf`: Archibald report PDFs (any producer) → table rows: content operators → positioned
//!   text → lines and phrases → header, columns, rows, completeness ("Pagina N di M",
//!   "Totale record: K"). Knows nothing of record kinds.
//! - `records`: the six report kinds (columns, types, keys), canonical values, `Record` JSON
//!   and MD5, and `parse_export` (PDF bytes → records grouped by page).
//! - `kinds`: one description per kind (actor, scope, file and table, list page, schedule,
//!   dependencies, triggers) that every layer below reads.
//! - `erp`: Archibald through a real Chromium (login, list views, PDF exports, detail pages).
//! - `store`: SQLite files, schemas, hash-gated upserts, checkpoints, run history, schedules.
//! - `syncs`: the sync kinds (export → parse → pages with checkpoints → deletions), the ERP
//!   source, circuit breakers, images.
//! - `service`: the supervision tree and the domain operations gRPC and the CLI call.
//! - `grpc`: the gRPC surface (thin adapters, conversions, bearer-token auth).
//! - `config`: the TOML configuration file and its defaults.
//! - `sim_kit` (feature `sim`): starting the embedded simulator and a service against it.

pub mod config;
pub mod doctor;
pub mod erp;
pub mod grpc;
pub mod http;
pub mod kinds;
pub mod pdf;
pub mod records;
pub mod service;
#[cfg(feature = "sim")]
pub mod sim_kit;
pub mod store;
pub mod syncs;
