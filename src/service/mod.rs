//! The running service, in domain terms: what the gRPC layer, the CLI and the tests call — ask
//! for a sync, read the status report, open and close agents' sessions, pause, read and change
//! schedules, operate actors, shut down. This file is the facade; each job lives in its own:
//! - `config.rs`: what the service needs to start, with its defaults;
//! - `error.rs`: [`ServiceError`], causes kept as types;
//! - `tree.rs`: the supervision tree built from the kind table; `routing.rs`: each kind's
//!   writes to the DbWriter of its file;
//! - `follow_ups.rs`: DDT and invoices after an agent's orders, images after products;
//! - `agents.rs`: known agents, their sessions (credentials in memory) and the breakers;
//! - `read_model.rs`: `sync.db` read on blocking threads — freshness, run metrics, status rows;
//! - `metrics.rs`: run metrics from the event bus, state gauges refreshed at scrape time;
//! - `operators.rs`: schedules, pauses, the actor tree and its operations, run metrics;
//! - `placements.rs`, `order_rules.rs`: placing orders (validation, outbox, reads);
//! - `replica.rs`: pages of the replicas for the PWA backend (customers, catalogue, orders).
//!
//! It knows nothing of protobuf or tonic, and the actors never see it. Errors are typed
//! ([`ServiceError`]) and keep their causes, so the gRPC layer chooses codes by cause.

mod agents;
mod config;
mod error;
mod follow_ups;
pub mod held;
pub mod metrics;
mod operators;
mod order_rules;
mod placements;
mod read_model;
mod replica;
mod routing;
mod tree;

pub use crate::store::replica::{
    CustomerQuery, CustomerRow, DdtRow, InvoiceRow, OrderLineRow, OrderQuery, OrderRow, Page,
    PriceRow, ProductQuery, ProductRow,
};
pub use agents::{Agents, InvalidAgentId};
pub use config::{
    MIN_RETENTION, OrderSettings, ScheduleSettings, ServiceConfig, SourceConfig, Tuning,
    default_schedule,
};
pub use error::{ServiceError, clip};
pub use operators::ActorOperation;
pub use order_rules::{OrderRequest, reference_for};
pub use placements::{PlacementRef, PlacementView, Resolution};
pub use read_model::{FreshnessMap, Progress, ScopeState, StatusRow};
pub use replica::PageAt;
pub use routing::db_writer_name;
pub use tree::{BROWSER_POOL, IMAGE_FETCHER, ORDER_PLACER, PRIORITY, SCHEDULER};

use crate::erp::Credentials;
use crate::records::Kind;
use crate::store::folder_lock::{FolderLock, LockError};
use crate::syncs::breaker::BreakerState;
use blackant_actors::db_writer::DbHandle;
use blackant_actors::directory::Directory;
use blackant_actors::events::{EventBus, EventSubscription};
use blackant_actors::order_placer::OrderPlacerMessage;
use blackant_actors::priority::PriorityMessage;
use blackant_actors::root::SupervisorHandle;
use blackant_actors::run::{Mode, Scope, Trigger};
use blackant_actors::scheduler::SchedulerMessage;
use blackant_actors::sync::{RequestAck, SyncHandle, SyncStatus};
use read_model::{ReadModel, StatusSources};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;
use tokio_util::task::AbortOnDropHandle;
use tree::Tree;

/// What a freshness-gated request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The data is younger than the threshold: nothing was run.
    Fresh { age: Duration },
    /// A run was requested (or joined); `age` of the data before it (None: never synced).
    Requested {
        ack: RequestAck,
        age: Option<Duration>,
    },
}

/// A login syncs the agent's session kinds when they are older than this (DESIGN.md).
pub const LOGIN_MAX_AGE: Duration = Duration::from_secs(2 * 3600);

/// The running service.
pub struct Service {
    tree: Tree,
    agents: Agents,
    reads: ReadModel,
    events: EventBus,
    data: crate::store::DataDir,
    tuning: Tuning,
    orders: OrderSettings,
    /// DDT and invoices after orders, images after products, placed orders into orders.db;
    /// stopped at shutdown.
    follow_ups: Mutex<Vec<AbortOnDropHandle<()>>>,
    /// The data folder's lock, held from before the first file is opened until the tree has
    /// stopped: one service per data folder.
    folder_lock: std::sync::Mutex<Option<FolderLock>>,
}

impl Service {
    /// Start the tree with the configured agents and the ERP accounts known from the start,
    /// after locking the data folder (a folder another service holds is refused at once).
    pub async fn start(config: ServiceConfig) -> Result<Service, ServiceError> {
        let lock = FolderLock::acquire(config.data.root())?;
        Self::start_locked(config, lock).await
    }

    /// [`Self::start`] with the folder's lock already taken (`blackant serve` takes it before
    /// it binds a port or starts anything).
    pub async fn start_locked(
        config: ServiceConfig,
        lock: FolderLock,
    ) -> Result<Service, ServiceError> {
        if lock.folder() != config.data.root() {
            return Err(ServiceError::Lock(LockError::Io {
                folder: config.data.root().to_path_buf(),
                source: std::io::Error::other(format!(
                    "the lock held is of another folder ({})",
                    lock.folder().display()
                )),
            }));
        }
        // A folder a later release wrote is refused before any writer opens a file of it.
        crate::store::schema::check_versions(&config.data)?;
        let agents = Agents::new(config.agents.iter().cloned(), config.breaker)?;
        for (scope, credentials) in &config.credentials {
            match scope {
                Scope::Catalogue => agents.set_service_account(credentials.clone()),
                Scope::Agent(a) => agents.open_session(a, credentials.clone())?,
            }
        }
        let events = EventBus::default();
        let tree = Tree::start(&config, &agents, &events).await?;
        let sync_db = DbHandle::named(tree.directory.clone(), db_writer_name("sync.db"));
        let follow_ups = vec![
            metrics::spawn_run_metrics(&events),
            follow_ups::spawn(
                &events,
                tree.syncs.clone(),
                tree.directory.clone(),
                config.data.clone(),
            ),
            follow_ups::spawn_for_placements(
                &tree.placements,
                tree.syncs[Kind::Orders as usize].1.clone(),
                config.data.clone(),
                sync_db,
                config.orders.index_lag,
                config.orders.retention,
            ),
        ];
        Ok(Service {
            tree,
            agents,
            reads: ReadModel::new(config.data.clone()),
            events,
            data: config.data,
            tuning: config.tuning,
            orders: config.orders,
            follow_ups: Mutex::new(follow_ups),
            folder_lock: std::sync::Mutex::new(Some(lock)),
        })
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Subscribe before acting, so no event of what you start can be missed.
    pub fn subscribe(&self) -> EventSubscription {
        self.events.subscribe()
    }

    pub fn data(&self) -> &crate::store::DataDir {
        &self.data
    }

    pub fn directory(&self) -> &Directory {
        &self.tree.directory
    }

    pub fn supervisor(&self) -> &SupervisorHandle {
        &self.tree.supervisor
    }

    /// Known agents, sorted.
    pub fn agents(&self) -> Vec<String> {
        self.agents.known()
    }

    pub fn is_known_agent(&self, user: &str) -> bool {
        self.agents.is_known(user)
    }

    /// Check `user` against `kind`'s scope rule and turn it into a scope.
    pub fn scope_for(&self, kind: Kind, user: &str) -> Result<Scope, ServiceError> {
        match (kind.spec().per_agent, user.is_empty()) {
            (true, true) => Err(ServiceError::AgentRequired { kind }),
            (true, false) if !self.is_known_agent(user) => {
                Err(ServiceError::UnknownAgent(clip(user)))
            }
            (true, false) => Ok(Scope::Agent(user.to_string())),
            (false, true) => Ok(Scope::Catalogue),
            (false, false) => Err(ServiceError::AgentNotAllowed {
                kind,
                user: clip(user),
            }),
        }
    }

    fn sync(&self, kind: Kind) -> &SyncHandle {
        // Tree::start builds one handle per kind of the table, in its order.
        &self.tree.syncs[kind as usize].1
    }

    /// Ask for a sync (or join the running one).
    #[tracing::instrument(skip(self), fields(kind = %kind, scope = %scope))]
    pub async fn request_sync(
        &self,
        kind: Kind,
        scope: Scope,
        mode: Mode,
        trigger: Trigger,
    ) -> Result<RequestAck, ServiceError> {
        Ok(self.sync(kind).request(scope, mode, trigger).await?)
    }

    /// Every kind's actor status (a kind whose actor is down: why it could not be asked).
    pub async fn status(&self) -> Vec<(Kind, Result<SyncStatus, String>)> {
        let asks = self.tree.syncs.iter().map(|(kind, handle)| async move {
            (*kind, handle.status().await.map_err(|e| e.to_string()))
        });
        futures::future::join_all(asks).await
    }

    /// The status report: one row per kind and scope that `visible` keeps (the catalogue for
    /// catalogue kinds, each known agent for per-agent kinds), with the live state, progress,
    /// last success, next run, breaker and last error.
    pub async fn status_report(
        &self,
        visible: &(dyn Fn(Kind, &Scope) -> bool + Sync),
    ) -> Result<Vec<StatusRow>, ServiceError> {
        let freshness = self.reads.freshness().await?;
        // The Scheduler's plan (absent when it does not run).
        let mut next = HashMap::new();
        for view in self.schedules().await.unwrap_or_default() {
            if let Some(kind) = Kind::from_name(&view.schedule.kind) {
                for (scope, at) in view.next {
                    next.insert((kind, scope), at);
                }
            }
        }
        let agents = self.agents();
        let breaker = |scope: &Scope| self.agents.breaker_state(scope);
        let held: HashMap<(Kind, Scope), u64> = self
            .held_deletions()
            .await?
            .into_iter()
            .map(|h| ((h.kind, h.scope), h.count))
            .collect();
        let sources = StatusSources {
            actors: self.status().await,
            agents: &agents,
            freshness: &freshness,
            next: &next,
            held: &held,
            breaker: &breaker,
        };
        Ok(read_model::status_rows(sources, visible))
    }

    /// How old `kind`'s data for `scope` is: since its last successful run (`None`: never).
    pub async fn data_age(
        &self,
        kind: Kind,
        scope: &Scope,
    ) -> Result<Option<Duration>, ServiceError> {
        let last = self.reads.last_success(kind, scope).await?;
        Ok(last.map(|t| SystemTime::now().duration_since(t).unwrap_or_default()))
    }

    /// Sync `kind` for `scope` only if its data is older than `max_age` (or was never synced).
    pub async fn request_if_older(
        &self,
        kind: Kind,
        scope: Scope,
        max_age: Duration,
        trigger: Trigger,
    ) -> Result<Freshness, ServiceError> {
        let age = self.data_age(kind, &scope).await?;
        if let Some(age) = age.filter(|a| *a < max_age) {
            return Ok(Freshness::Fresh { age });
        }
        let ack = self.request_sync(kind, scope, Mode::Delta, trigger).await?;
        Ok(Freshness::Requested { ack, age })
    }

    /// An agent logged in: hold its ERP credentials (memory only), know it from now on, and
    /// sync its session kinds older than [`LOGIN_MAX_AGE`].
    pub async fn open_session(
        &self,
        user: &str,
        credentials: Credentials,
    ) -> Result<Vec<(Kind, Freshness)>, ServiceError> {
        self.agents.open_session(user, credentials)?;
        // The Scheduler takes the agent's kinds on from now, and the agent's placements that
        // waited for its session go on.
        self.refresh_schedule();
        if let Ok(placer) = self.order_placer() {
            let _ = placer.cast(OrderPlacerMessage::SessionOpened(user.to_string()));
        }
        self.session_syncs(user, Trigger::Login, Some(LOGIN_MAX_AGE))
            .await
    }

    /// An agent's PWA reconnected: sync its session kinds older than their interval.
    pub async fn reconnect_session(
        &self,
        user: &str,
    ) -> Result<Vec<(Kind, Freshness)>, ServiceError> {
        self.session_syncs(user, Trigger::Reconnect, None).await
    }

    /// The agent's session kinds (customers and orders), each synced if older than `max_age`
    /// (`None`: the kind's current interval).
    async fn session_syncs(
        &self,
        user: &str,
        trigger: Trigger,
        max_age: Option<Duration>,
    ) -> Result<Vec<(Kind, Freshness)>, ServiceError> {
        let mut out = Vec::new();
        for spec in crate::kinds::KINDS.iter().filter(|s| s.on_session) {
            let max_age = match max_age {
                Some(age) => age,
                None => self.interval(spec.kind).await,
            };
            let scope = Scope::Agent(user.to_string());
            let fresh = self
                .request_if_older(spec.kind, scope, max_age, trigger)
                .await?;
            out.push((spec.kind, fresh));
        }
        Ok(out)
    }

    /// An agent logged out: forget its credentials. True if a session was open.
    pub fn close_session(&self, user: &str) -> bool {
        self.agents.close_session(user)
    }

    /// The worse of the ERP's breaker and the breaker of the account `scope` logs in with.
    pub fn breaker_state(&self, scope: &Scope) -> BreakerState {
        self.agents.breaker_state(scope)
    }

    fn scheduler(&self) -> Result<ractor::ActorRef<SchedulerMessage>, ServiceError> {
        Ok(self.tree.directory.get_ref::<SchedulerMessage>(SCHEDULER)?)
    }

    fn priority(&self) -> Result<ractor::ActorRef<PriorityMessage>, ServiceError> {
        Ok(self.tree.directory.get_ref::<PriorityMessage>(PRIORITY)?)
    }

    fn order_placer(&self) -> Result<ractor::ActorRef<OrderPlacerMessage>, ServiceError> {
        Ok(self
            .tree
            .directory
            .get_ref::<OrderPlacerMessage>(ORDER_PLACER)?)
    }

    /// The writer of `sync.db` (fsynced commits: the outbox lives there).
    fn sync_db(&self) -> DbHandle {
        DbHandle::named(self.tree.directory.clone(), db_writer_name("sync.db"))
    }

    /// Call `actor` and wait at most the configured call timeout (`None`: no deadline but the
    /// caller's).
    async fn call<M: ractor::Message, T: Send + 'static>(
        &self,
        actor: &'static str,
        target: &ractor::ActorRef<M>,
        build: impl FnOnce(ractor::RpcReplyPort<T>) -> M,
        timeout: Option<Duration>,
    ) -> Result<T, ServiceError> {
        blackant_actors::directory::call(target, build, timeout)
            .await
            .map_err(|source| ServiceError::NoAnswer { actor, source })
    }

    /// Escalations, browsers that cannot launch, shutdown: the service's health, and changes.
    pub fn health(&self) -> tokio::sync::watch::Receiver<blackant_actors::health::HealthState> {
        self.tree.health.subscribe()
    }

    /// Say the service is stopping (health NOT_SERVING) before anything stops.
    pub fn begin_shutdown(&self) {
        self.tree.health.set_shutting_down();
    }

    /// Stop the tree: every actor stops (syncs at their page boundary, writers after their
    /// queued jobs, browsers closed), the follow-up reactor ends. Idempotent; answers each
    /// actor that was running and whether it has stopped.
    pub async fn shutdown(&self) -> Vec<(String, bool)> {
        self.begin_shutdown();
        self.follow_ups.lock().await.clear();
        let stopped = self.tree.shutdown(self.tuning.shutdown_timeout).await;
        // The folder is free for the next service once this one's actors have stopped.
        self.folder_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        stopped
    }
}
