//! Sync runs: the contracts a kind implements, the actor that drives any kind, the registry
//! that runs one actor per scope, and the client handle.
//!
//! A sync *kind* (customers, products, prices, orders, DDT, invoices) is a [`SyncKind`]: it
//! knows how to get an export and cut it into pages ([`SyncKind::prepare`]), how to apply one
//! page together with its checkpoint ([`SyncKind::apply_page`]) and how to finish
//! ([`SyncKind::finish`]). The generic [`SyncActor`] drives any kind: coalescing, pause and
//! resume at page boundaries, retries with backoff, crash-resume from the ledger, status.
//! Runs are recorded through a [`RunLedger`] (implemented over `sync.db` by the root crate;
//! [`crate::testing::MemoryLedger`] in tests).
//!
//! Layout, each file importing only those before it (no circle):
//! - `contract.rs`: [`SyncKind`], [`RunLedger`], [`RunSpec`], [`Prepared`], [`SyncError`],
//!   [`RetryPolicy`];
//! - `protocol.rs`: [`SyncMessage`] and what it answers ([`SyncStatus`], [`RequestAck`],
//!   [`PauseAck`]...);
//! - `handle.rs`: [`SyncHandle`], the typed client;
//! - `actor.rs`: [`SyncActor`], one state machine per scope;
//! - `registry.rs`: [`SyncRegistry`], one actor per scope (the service's OrderSyncRegistry);
//! - `tests.rs`.
//!
//! This module must NOT know Archibald, PDFs or SQLite schemas: those live behind the traits.

mod actor;
mod contract;
mod handle;
mod protocol;
mod registry;
#[cfg(test)]
mod tests;

pub use actor::{SyncActor, SyncArguments, SyncState};
pub use contract::{
    Finished, LedgerError, OpenRun, PageCounts, Prepared, RetryPolicy, RunLedger, RunSpec,
    SyncError, SyncKind,
};
pub use handle::{SyncCallError, SyncHandle};
pub use protocol::{
    Internal, LastRun, PauseAck, PausedRun, RequestAck, RunState, ScopeStatus, SyncMessage,
    SyncStatus,
};
pub use registry::{SyncRegistry, SyncRegistryArguments, SyncRegistryState};
// The run vocabulary, for the tests' `use super::*` and callers used to finding it here.
pub use crate::run::{RunOutcome, Trigger};
