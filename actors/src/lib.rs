//! How blackant-sync runs: the supervision tree, the generic sync actor, the database
//! writers, the browser pool — everything that is about *running* work, nothing about *what*
//! is synced. This crate knows nothing of Archibald, PDFs, customers or gRPC: a sync kind is
//! the [`SyncKind`] trait the root crate implements, runs are recorded through the
//! [`RunLedger`] trait, and every actor here is tested with fakes.
//!
//! ```text
//! RootSupervisor                      (root.rs: restarts with backoff, escalation, operators)
//! ├── DbWriter × files                (db_writer.rs: the only writer of one SQLite file)
//! ├── BrowserPool<ChromiumLauncher>   (browser_pool/: browsers and per-user contexts)
//! ├── Priority                        (priority.rs: pause / resume every sync, serialized)
//! ├── Scheduler                       (scheduler/: when each kind runs, in which order)
//! ├── OrderPlacer<F>                  (order_placer/: the outbox, placed exactly once)
//! └── SyncActor<K> × kinds            (sync/: runs page by page; pause, retry, resume)
//!     publishes SyncEvents on the EventBus (events.rs)
//! ```
//! Clients never hold an actor reference across restarts: they resolve the current one by
//! name through the [`Directory`] the supervisor keeps up to date ([`DbHandle::named`],
//! [`SyncHandle::named`]). No global ractor names are used, so several service instances
//! can live in one process (the integration tests do).
//!
//! # Layout
//! - [`directory`]: name → current actor, typed lookups ([`Directory`], [`ActorTarget`]).
//! - [`db_writer`]: [`DbWriter`] actor, [`DbHandle`] (`write`/`read` closures run in one
//!   transaction on the blocking pool), [`open_reader`] for read-only WAL connections.
//! - [`run`]: the vocabulary every actor shares — [`RunId`], [`Scope`], [`Mode`], [`Counts`],
//!   [`Trigger`], and [`RunOutcome`], the one type that says how a run ended. A leaf.
//! - [`events`]: the [`EventBus`] (broadcast) and its [`SyncEvent`]s, waiting for a run's end.
//! - [`health`]: the [`health::Health`] board — escalations, browsers, shutdown — the health
//!   service reports.
//! - [`sync`]: the [`SyncKind`] and [`RunLedger`] contracts, the protocol ([`SyncMessage`],
//!   status types), [`SyncActor`], [`SyncRegistry`], the [`SyncHandle`] client.
//! - [`supervision`]: restart bookkeeping ([`RestartPolicy`], [`RestartTracker`]) and the
//!   state machine of one supervised child ([`Supervised`]), shared by every supervisor.
//! - [`root`]: [`RootSupervisor`], [`ChildSpec`], operator messages, [`SupervisorHandle`].
//! - [`browser_pool`]: [`BrowserPool`] over a [`Launcher`], [`Lease`], the real
//!   [`ChromiumLauncher`].
//! - [`clock`]: wall-clock time, real or following tokio's paused clock in tests.
//! - [`digest`]: MD5 as hex, the one way files and hashes are named.
//! - [`image_fetcher`]: [`image_fetcher::ImageFetcher`], background downloads into
//!   content-addressed files, behind the [`image_fetcher::ImageSource`] and
//!   [`image_fetcher::ImageSink`] traits.
//! - [`order_placer`]: the OrderPlacer — an outbox of placements placed in the ERP exactly
//!   once, behind the [`order_placer::Outbox`] and [`order_placer::OrderForm`] contracts.
//! - [`scheduler`]: [`scheduler::Scheduler`], its schedules and grid, the
//!   [`scheduler::ScheduleStore`], [`scheduler::Runner`] and [`scheduler::Clock`] contracts.
//! - [`testing`]: test doubles for other crates ([`testing::MemoryLedger`]).
//!
//! [`SyncRegistry`] runs one [`SyncActor`] per scope (the service's OrderSyncRegistry).
//! [`priority::Priority`] pauses every sync at its next page boundary and resumes them,
//! serializing priority operations. [`scheduler::Scheduler`] decides when each kind runs:
//! per-kind grids persisted through [`scheduler::ScheduleStore`], priorities, dependencies.

pub mod browser_pool;
pub mod clock;
pub mod db_writer;
pub mod digest;
pub mod directory;
pub mod events;
pub mod health;
pub mod image_fetcher;
pub mod order_placer;
pub mod priority;
pub mod root;
pub mod run;
pub mod scheduler;
pub mod supervision;
pub mod sync;
pub mod testing;

pub use browser_pool::{
    BrowserError, BrowserPool, BrowserPoolArguments, BrowserPoolHandle, BrowserPoolMessage,
    ChromiumBrowser, ChromiumConfig, ChromiumContext, ChromiumLauncher, Launched, Launcher, Lease,
    PoolStatus,
};
pub use db_writer::{
    DbError, DbHandle, DbWriter, DbWriterArguments, DbWriterMessage, Durability, open_reader,
};
pub use directory::{ActorTarget, CallError, Directory, DirectoryError};
pub use events::{EventBody, EventBus, EventError, EventSubscription, SyncEvent};
pub use root::{
    AddChildOutcome, ChildInfo, ChildSpec, ChildState, RootSupervisor, RootSupervisorArguments,
    RootSupervisorMessage, SupervisorError, SupervisorHandle,
};
pub use run::{Counts, Mode, RunId, RunOutcome, Scope, Trigger};
pub use supervision::{RestartDecision, RestartPolicy, RestartTracker, Supervised};
pub use sync::{
    Finished, LedgerError, OpenRun, PageCounts, Prepared, RequestAck, RetryPolicy, RunLedger,
    RunSpec, RunState, SyncActor, SyncArguments, SyncError, SyncHandle, SyncKind, SyncMessage,
    SyncRegistry, SyncRegistryArguments, SyncStatus,
};
