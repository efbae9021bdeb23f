//! The running service: builds the supervision tree (DbWriters, BrowserPool, one SyncActor
//! per kind) and offers the operations the gRPC layer and the CLI need — request a sync,
//! status, events — in domain terms.
//!
//! Tree (names are the Directory keys operators see):
//! ```text
//! RootSupervisor
//! ├── Priority                pauses / resumes every sync, serializes priority operations
//! ├── Scheduler               per-kind timers and the stale-data trigger (not in tests)
//! ├── DbWriter:sync.db        run history, freshness
//! ├── DbWriter:customers-{u}  added the first time agent u syncs customers
//! ├── DbWriter:products.db    products AND prices: their writes are serialized by construction
//! ├── DbWriter:orders.db      every agent's orders, DDT, invoices (rows carry user_id)
//! ├── BrowserPool             Chromium processes, per-agent contexts
//! ├── ImageFetcher            product images in the background, after each product sync
//! ├── CustomerSync            SyncActor<ExportSync(customers)>
//! ├── ProductSync             SyncActor<ExportSync(products)>
//! ├── PriceSync               SyncActor<ExportSync(prices)>, waits for a running ProductSync
//! ├── OrderSyncRegistry       SyncRegistry<ExportSync(orders)>: one actor per agent
//! │   └── OrderSync(u)        SyncActor, spawned on demand, supervised, stopped when idle
//! ├── DdtSync                 SyncActor<ExportSync(ddt)>, follows each agent's order sync
//! └── InvoiceSync             SyncActor<ExportSync(invoices)>, follows each agent's order sync
//! ```
//! Follow-ups (DDT and invoices after an agent's orders, image downloads after products) are
//! requested by a task watching the event bus. This module knows nothing of protobuf or tonic; the actors never see it either.

use crate::erp::{Credentials, ErpConfig};
use crate::records::Kind;
use crate::store::ledger::KindMetrics;
use crate::store::ledger::SyncDbLedger;
use crate::store::schedules::SyncDbSchedules;
use crate::store::{DataDir, schema};
use crate::syncs::breaker::{self, BreakerPolicy, BreakerState, Breakers};
use crate::syncs::images::{HttpImageSource, ProductImageSink, products_without_image};
use crate::syncs::{CredentialStore, DbRouter, ErpSource, ExportSource, ExportSync};
use blackant_actors::browser_pool::{
    BrowserPool, BrowserPoolArguments, ChromiumConfig, ChromiumLauncher,
};
use blackant_actors::db_writer::{DbHandle, DbWriter, DbWriterArguments};
use blackant_actors::directory::Directory;
use blackant_actors::events::{EventBus, EventSubscription};
use blackant_actors::image_fetcher::{ImageFetcher, ImageFetcherArguments, ImageFetcherMessage};
use blackant_actors::priority::{
    PauseMetrics, PauseReport, Priority, PriorityArguments, PriorityMessage, PrioritySync,
};
use blackant_actors::root::{
    ChildSpec, RootSupervisor, RootSupervisorArguments, RootSupervisorMessage, SupervisorHandle,
};
use blackant_actors::run::Trigger;
use blackant_actors::run::{Mode, Scope};
use blackant_actors::scheduler::{
    KindSchedule, SchedulePatch, ScheduleView, ScheduledKind, Scheduler, SchedulerArguments,
    SchedulerError, SchedulerMessage, SystemClock,
};
use blackant_actors::supervision::RestartPolicy;
use blackant_actors::sync::{
    RequestAck, RetryPolicy, SyncActor, SyncArguments, SyncHandle, SyncRegistry,
    SyncRegistryArguments, SyncStatus,
};
use futures::FutureExt;
use futures::future::BoxFuture;
use ractor::{Actor, ActorRef};
use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

/// Where exports come from.
#[derive(Clone)]
pub enum SourceConfig {
    /// The ERP at `erp.base_url`, through a BrowserPool of `browsers` Chromium processes.
    Erp {
        erp: ErpConfig,
        chromium: ChromiumConfig,
        browsers: usize,
    },
    /// Anything else (tests feed fixture PDFs); no BrowserPool is started.
    Custom(Arc<dyn ExportSource>),
}

/// Name of the BrowserPool in the Directory and the operators' tree.
pub const BROWSER_POOL: &str = "BrowserPool";

/// What the service needs to start.
#[derive(Clone)]
pub struct ServiceConfig {
    pub data: DataDir,
    pub source: SourceConfig,
    /// Agents the service knows (requests for others are refused with NotFound).
    pub agents: Vec<String>,
    pub retry: RetryPolicy,
    pub restart: RestartPolicy,
    /// An agent's OrderSync actor idle this long is stopped (spawned again when needed).
    pub order_sync_idle: Duration,
    /// Circuit breakers of the ERP and of each account's logins.
    pub breaker: BreakerPolicy,
    /// The Scheduler's settings; `None` runs no Scheduler (syncs only on request: tests).
    pub schedule: Option<ScheduleSettings>,
}

/// How the Scheduler runs (the schedules themselves live in `sync.db`, changed over gRPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScheduleSettings {
    /// Data older than this syncs at once (DESIGN.md: 3 days).
    pub stale_after: Duration,
}

impl Default for ScheduleSettings {
    fn default() -> Self {
        Self {
            stale_after: blackant_actors::scheduler::DEFAULT_STALE_AFTER,
        }
    }
}

/// Name of the Scheduler in the Directory and the operators' tree.
pub const SCHEDULER: &str = "Scheduler";

/// A kind's default schedule (DESIGN.md, "Syncs, triggers and schedule"): interval, stagger
/// (minutes after the grid's anchor), priority (higher first); 30 s of jitter spreads agents.
pub fn default_schedule(kind: Kind) -> KindSchedule {
    let (stagger_min, priority) = match kind {
        Kind::Orders => (0, 4),
        Kind::Customers => (5, 3),
        Kind::Prices => (10, 5),
        Kind::Invoices => (15, 4),
        Kind::Ddt => (20, 2),
        Kind::Products => (30, 2),
    };
    KindSchedule {
        kind: kind.name().to_string(),
        interval: default_max_age(kind),
        stagger: Duration::from_secs(stagger_min * 60),
        jitter: Duration::from_secs(30),
        priority,
        enabled: true,
    }
}

/// Kinds that must run first for the same scope when both are due (DESIGN.md, "after").
pub fn runs_after(kind: Kind) -> &'static [Kind] {
    match kind {
        Kind::Prices => &[Kind::Products],
        Kind::Ddt | Kind::Invoices => &[Kind::Orders],
        Kind::Orders | Kind::Customers | Kind::Products => &[],
    }
}

/// Default of [`ServiceConfig::order_sync_idle`]: longer than the order sync interval, so an
/// agent who is synced on schedule keeps its actor.
pub const DEFAULT_ORDER_SYNC_IDLE: Duration = Duration::from_secs(15 * 60);

/// Why an operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("unknown agent {0:?}")]
    UnknownAgent(String),
    #[error("the {kind} sync is per agent: say which agent")]
    AgentRequired { kind: Kind },
    #[error("the {kind} sync covers the shared catalogue: it takes no agent (got {user:?})")]
    AgentNotAllowed { kind: Kind, user: String },
    #[error("the {0} sync is not available in this build yet")]
    KindNotAvailable(Kind),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Refused(String),
    /// The request's values are out of bounds (e.g. a schedule's interval).
    #[error("{0}")]
    Invalid(String),
}

/// Name of the actor syncing `kind` in the Directory and in the operators' tree.
pub fn actor_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Customers => "CustomerSync",
        Kind::Products => "ProductSync",
        Kind::Prices => "PriceSync",
        Kind::Orders => "OrderSyncRegistry",
        Kind::Ddt => "DdtSync",
        Kind::Invoices => "InvoiceSync",
    }
}

/// Whether `kind` is synced per agent (customers, orders, DDT, invoices) or once for all.
pub fn per_agent(kind: Kind) -> bool {
    !matches!(kind, Kind::Products | Kind::Prices)
}

fn db_writer_name(file: &str) -> String {
    format!("DbWriter:{file}")
}

/// The running service.
pub struct Service {
    root: ActorRef<RootSupervisorMessage>,
    supervisor: SupervisorHandle,
    directory: Directory,
    events: EventBus,
    credentials: CredentialStore,
    agents: Arc<RwLock<BTreeSet<String>>>,
    data: DataDir,
    syncs: Vec<(Kind, SyncHandle)>,
    breakers: Arc<Breakers>,
    /// Starts the DDT and invoice syncs that follow each agent's order sync.
    follow_ups: tokio::task::JoinHandle<()>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.follow_ups.abort();
    }
}

/// Kinds that follow a completed run of another kind for the same agent (DESIGN.md, "after"):
/// the DDT and invoices of an agent are matched to its orders, so they sync after them.
const FOLLOW_UPS: &[(Kind, &[Kind])] = &[(Kind::Orders, &[Kind::Ddt, Kind::Invoices])];

/// Request the follow-up syncs of every completed run, until the bus closes. A follow-up that
/// cannot be requested is logged, not retried: the schedule catches it up.
fn spawn_follow_ups(
    events: &EventBus,
    syncs: Vec<(Kind, SyncHandle)>,
    directory: Directory,
    data: DataDir,
) -> tokio::task::JoinHandle<()> {
    let mut sub = events.subscribe();
    tokio::spawn(async move {
        loop {
            let event = match sub.recv().await {
                Ok(e) => e,
                Err(blackant_actors::events::EventError::Lagged { missed }) => {
                    tracing::warn!(
                        missed,
                        "follow-ups fell behind the event bus; some follow-up syncs may wait for the schedule"
                    );
                    continue;
                }
                Err(_) => return,
            };
            if !matches!(
                event.body,
                blackant_actors::events::EventBody::Completed { .. }
            ) {
                continue;
            }
            let Some(kind) = Kind::from_name(&event.kind) else {
                continue;
            };
            if kind == Kind::Products {
                enqueue_images(&directory, &data).await;
            }
            let Some((_, next)) = FOLLOW_UPS.iter().find(|(k, _)| *k == kind) else {
                continue;
            };
            for follow in *next {
                let Some((_, handle)) = syncs.iter().find(|(k, _)| k == follow) else {
                    continue;
                };
                match handle
                    .request(event.scope.clone(), Mode::Delta, Trigger::FollowUp)
                    .await
                {
                    Ok(ack) => {
                        tracing::info!(kind = %follow, scope = %event.scope, run = %ack.run_id, after = %event.run_id, "follow-up sync requested")
                    }
                    Err(e) => {
                        tracing::warn!(kind = %follow, scope = %event.scope, cause = %e, "cannot request a follow-up sync")
                    }
                }
            }
        }
    })
}

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

/// A kind's default freshness threshold: its schedule interval (DESIGN.md: orders 10 min,
/// customers, prices, invoices 30 min, DDT 45 min, products 90 min). `EnsureFresh` and
/// reconnects use it.
pub fn default_max_age(kind: Kind) -> Duration {
    let minutes = match kind {
        Kind::Orders => 10,
        Kind::Customers | Kind::Prices | Kind::Invoices => 30,
        Kind::Ddt => 45,
        Kind::Products => 90,
    };
    Duration::from_secs(minutes * 60)
}

/// A login syncs the agent's customers and orders when they are older than this (DESIGN.md).
pub const LOGIN_MAX_AGE: Duration = Duration::from_secs(2 * 3600);

/// Longest the Scheduler sleeps between two looks (new agents are seen at the latest then).
const SCHEDULER_MAX_SLEEP: Duration = Duration::from_secs(60);

/// Name of the Priority actor in the Directory and the operators' tree.
pub const PRIORITY: &str = "Priority";

/// How long Priority waits for one sync to acknowledge a pause (it answers at its next page
/// boundary: a page takes milliseconds, so this only catches a sync that is stuck).
pub const PAUSE_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// Name of the ImageFetcher in the Directory and the operators' tree.
pub const IMAGE_FETCHER: &str = "ImageFetcher";

/// Downloads at once of the ImageFetcher (the ERP's image server is slow, not busy).
const IMAGE_DOWNLOADS: usize = 4;

/// After a product sync: hand the products that have no image yet to the ImageFetcher, which
/// downloads them in the background (the sync is already over and never waits for it).
async fn enqueue_images(directory: &Directory, data: &DataDir) {
    let Ok(fetcher) = directory.get_ref::<ImageFetcherMessage>(IMAGE_FETCHER) else {
        return; // no ERP to fetch from (tests with a custom source)
    };
    let path = data.products_db();
    match tokio::task::spawn_blocking(move || products_without_image(&path)).await {
        Ok(Ok(codes)) if codes.is_empty() => {}
        Ok(Ok(codes)) => {
            tracing::info!(images = codes.len(), "product images queued for download");
            if let Err(e) = fetcher.cast(ImageFetcherMessage::Enqueue(codes)) {
                tracing::warn!(cause = %e, "cannot queue product images");
            }
        }
        Ok(Err(e)) => tracing::warn!(cause = %e, "cannot list the products without an image"),
        Err(e) => tracing::warn!(cause = %e, "listing the products without an image"),
    }
}

/// Finds (or starts) the DbWriter of a kind's file for a scope.
struct Router {
    data: DataDir,
    directory: Directory,
    supervisor: OnceLock<SupervisorHandle>,
    restart: RestartPolicy,
}

impl Router {
    fn writer_spec(
        &self,
        name: String,
        path: std::path::PathBuf,
        migrations: &'static [&'static str],
    ) -> ChildSpec {
        ChildSpec::for_actor(name, self.restart, move || {
            (
                DbWriter,
                DbWriterArguments {
                    path: path.clone(),
                    migrations,
                },
            )
        })
    }
}

impl DbRouter for Router {
    fn db_for<'a>(
        &'a self,
        kind: Kind,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<DbHandle, blackant_actors::sync::SyncError>> {
        async move {
            use blackant_actors::sync::SyncError;
            let (file, path) = match (kind, scope) {
                (Kind::Customers, Scope::Agent(user)) => {
                    let path = self
                        .data
                        .customers_db(user)
                        .map_err(|e| SyncError::permanent(e.to_string()))?;
                    (format!("customers-{user}.db"), path)
                }
                (Kind::Products | Kind::Prices, _) => {
                    ("products.db".to_string(), self.data.products_db())
                }
                (Kind::Orders | Kind::Ddt | Kind::Invoices, _) => {
                    ("orders.db".to_string(), self.data.orders_db())
                }
                (Kind::Customers, Scope::Catalogue) => {
                    return Err(SyncError::permanent(
                        "customers are synced per agent, not for the catalogue",
                    ));
                }
            };
            let name = db_writer_name(&file);
            if self.directory.get(&name).is_none() {
                let supervisor = self
                    .supervisor
                    .get()
                    .ok_or_else(|| SyncError::transient("the supervisor is not running yet"))?;
                let spec = self.writer_spec(
                    name.clone(),
                    path,
                    crate::store::tables::TableSpec::migrations(kind),
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

impl Service {
    /// Start the tree. `credentials` holds the ERP accounts (the service account for the
    /// catalogue, agents' own); it is shared, so sessions opened later are seen at once.
    pub async fn start(
        config: ServiceConfig,
        credentials: CredentialStore,
    ) -> Result<Service, ServiceError> {
        let directory = Directory::new();
        let events = EventBus::default();
        let router = Arc::new(Router {
            data: config.data.clone(),
            directory: directory.clone(),
            supervisor: OnceLock::new(),
            restart: config.restart,
        });
        let sync_db = db_writer_name("sync.db");
        let ledger: Arc<dyn blackant_actors::sync::RunLedger> = Arc::new(SyncDbLedger::new(
            DbHandle::named(directory.clone(), sync_db.clone()),
        ));

        let mut children =
            vec![router.writer_spec(sync_db, config.data.sync_db(), schema::SYNC_DB)];
        let breakers = Arc::new(Breakers::new(config.breaker));
        let source: Arc<dyn ExportSource> = match &config.source {
            SourceConfig::Custom(source) => source.clone(),
            SourceConfig::Erp {
                erp,
                chromium,
                browsers,
            } => {
                let args = BrowserPoolArguments {
                    size: (*browsers).max(1),
                    launcher: Arc::new(ChromiumLauncher::new(chromium.clone())),
                };
                children.push(ChildSpec::for_actor(
                    BROWSER_POOL,
                    config.restart,
                    move || (BrowserPool::<ChromiumLauncher>::new(), args.clone()),
                ));
                let images =
                    HttpImageSource::new(&erp.base_url, erp.page_timeout).map_err(|e| {
                        ServiceError::Unavailable(format!("building the image client: {e}"))
                    })?;
                let fetcher = ImageFetcherArguments {
                    source: Arc::new(images),
                    sink: Arc::new(ProductImageSink::new(DbHandle::named(
                        directory.clone(),
                        db_writer_name("products.db"),
                    ))),
                    dir: config.data.images_dir(),
                    concurrency: IMAGE_DOWNLOADS,
                    retry: config.retry,
                };
                children.push(ChildSpec::for_actor(
                    IMAGE_FETCHER,
                    config.restart,
                    move || (ImageFetcher, fetcher.clone()),
                ));
                Arc::new(ErpSource::new(
                    directory.clone(),
                    BROWSER_POOL,
                    erp.clone(),
                    credentials.clone(),
                    breakers.clone(),
                ))
            }
        };
        let kinds = Kind::ALL;
        for kind in kinds {
            let mut sync =
                ExportSync::new(kind, config.data.clone(), router.clone(), source.clone());
            if kind == Kind::Prices {
                // DESIGN.md: a price sync waits for a running product sync.
                let products = SyncHandle::named(
                    directory.clone(),
                    actor_name(Kind::Products),
                    events.clone(),
                );
                sync = sync.after(products);
            }
            let sync = Arc::new(sync);
            let args = SyncArguments {
                ledger: ledger.clone(),
                events: events.clone(),
                retry: config.retry,
                jitter_seed: None,
                only: None,
            };
            let spec = if kind == Kind::Orders {
                // One OrderSync actor per agent, spawned on demand and supervised here.
                let registry = SyncRegistryArguments {
                    sync: args,
                    restart: config.restart,
                    idle_after: config.order_sync_idle,
                    label: "OrderSync".into(),
                };
                ChildSpec::for_actor(actor_name(kind), config.restart, move || {
                    (SyncRegistry::new(sync.clone()), registry.clone())
                })
            } else {
                ChildSpec::for_actor(actor_name(kind), config.restart, move || {
                    (SyncActor::new(sync.clone()), args.clone())
                })
            };
            children.push(spec);
        }

        let (root, _) = RootSupervisor::spawn(
            None,
            RootSupervisor,
            RootSupervisorArguments::new(directory.clone(), children),
        )
        .await
        .map_err(|e| ServiceError::Unavailable(format!("starting the supervision tree: {e}")))?;
        let supervisor = SupervisorHandle::new(root.clone(), Duration::from_secs(30));
        let _ = router.supervisor.set(supervisor.clone());
        let syncs: Vec<(Kind, SyncHandle)> = kinds
            .iter()
            .map(|k| {
                (
                    *k,
                    SyncHandle::named(directory.clone(), actor_name(*k), events.clone()),
                )
            })
            .collect();
        // Priority pauses every sync; it restarts one that does not acknowledge, so it is
        // added once the supervisor it asks runs.
        let priority = PriorityArguments {
            syncs: syncs
                .iter()
                .map(|(k, h)| PrioritySync {
                    name: actor_name(*k).to_string(),
                    handle: h.clone(),
                })
                .collect(),
            ack_timeout: PAUSE_ACK_TIMEOUT,
            supervisor: Some(supervisor.clone()),
        };
        let spec = ChildSpec::for_actor(PRIORITY, config.restart, move || {
            (Priority, priority.clone())
        });
        Self::add(&supervisor, spec, PRIORITY).await?;
        if let Some(settings) = config.schedule {
            let args = SchedulerArguments {
                kinds: syncs
                    .iter()
                    .map(|(k, h)| ScheduledKind {
                        default: default_schedule(*k),
                        per_agent: per_agent(*k),
                        after: runs_after(*k)
                            .iter()
                            .map(|a| a.name().to_string())
                            .collect(),
                        runner: Arc::new(h.clone()),
                    })
                    .collect(),
                scopes: {
                    let credentials = credentials.clone();
                    Arc::new(move || credentials.agents())
                },
                store: Arc::new(SyncDbSchedules::new(DbHandle::named(
                    directory.clone(),
                    db_writer_name("sync.db"),
                ))),
                clock: Arc::new(SystemClock),
                max_running: match &config.source {
                    SourceConfig::Erp { browsers, .. } => (*browsers).max(1),
                    SourceConfig::Custom(_) => 2,
                },
                stale_after: settings.stale_after,
                max_sleep: SCHEDULER_MAX_SLEEP,
            };
            let spec =
                ChildSpec::for_actor(SCHEDULER, config.restart, move || (Scheduler, args.clone()));
            Self::add(&supervisor, spec, SCHEDULER).await?;
        }
        let follow_ups = spawn_follow_ups(
            &events,
            syncs.clone(),
            directory.clone(),
            config.data.clone(),
        );
        Ok(Service {
            breakers,
            follow_ups,
            root,
            supervisor,
            directory,
            events,
            credentials,
            agents: Arc::new(RwLock::new(config.agents.into_iter().collect())),
            data: config.data,
            syncs,
        })
    }

    /// Add a child to the running tree.
    async fn add(
        supervisor: &SupervisorHandle,
        spec: ChildSpec,
        name: &str,
    ) -> Result<(), ServiceError> {
        let failed = |e: String| ServiceError::Unavailable(format!("starting {name}: {e}"));
        supervisor
            .add_child(spec)
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(e.to_string()))?;
        Ok(())
    }

    pub fn events(&self) -> &EventBus {
        &self.events
    }

    /// Subscribe before acting, so no event of what you start can be missed.
    pub fn subscribe(&self) -> EventSubscription {
        self.events.subscribe()
    }

    pub fn credentials(&self) -> &CredentialStore {
        &self.credentials
    }

    pub fn data(&self) -> &DataDir {
        &self.data
    }

    pub fn directory(&self) -> &Directory {
        &self.directory
    }

    pub fn supervisor(&self) -> &SupervisorHandle {
        &self.supervisor
    }

    /// Known agents, sorted.
    pub fn agents(&self) -> Vec<String> {
        self.agents
            .read()
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn is_known_agent(&self, user: &str) -> bool {
        self.agents
            .read()
            .map(|a| a.contains(user))
            .unwrap_or(false)
    }

    /// Check `user` against `kind`'s scope rules and turn it into a scope.
    pub fn scope_for(&self, kind: Kind, user: &str) -> Result<Scope, ServiceError> {
        match (per_agent(kind), user.is_empty()) {
            (true, true) => Err(ServiceError::AgentRequired { kind }),
            (true, false) if !self.is_known_agent(user) => {
                Err(ServiceError::UnknownAgent(user.to_string()))
            }
            (true, false) => Ok(Scope::Agent(user.to_string())),
            (false, true) => Ok(Scope::Catalogue),
            (false, false) => Err(ServiceError::AgentNotAllowed {
                kind,
                user: user.to_string(),
            }),
        }
    }

    fn sync(&self, kind: Kind) -> Result<&SyncHandle, ServiceError> {
        self.syncs
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, h)| h)
            .ok_or(ServiceError::KindNotAvailable(kind))
    }

    /// Ask for a sync (or join the running one).
    pub async fn request_sync(
        &self,
        kind: Kind,
        scope: Scope,
        mode: Mode,
        trigger: Trigger,
    ) -> Result<RequestAck, ServiceError> {
        use blackant_actors::sync::SyncCallError;
        self.sync(kind)?
            .request(scope, mode, trigger)
            .await
            .map_err(|e| match e {
                SyncCallError::Refused { .. } => ServiceError::Refused(e.to_string()),
                _ => ServiceError::Unavailable(e.to_string()),
            })
    }

    /// Status of every available kind (a kind whose actor is down is reported as an error
    /// string instead).
    pub async fn status(&self) -> Vec<(Kind, Result<SyncStatus, String>)> {
        let mut out = Vec::with_capacity(self.syncs.len());
        for (kind, handle) in &self.syncs {
            out.push((*kind, handle.status().await.map_err(|e| e.to_string())));
        }
        out
    }

    /// How old `kind`'s data for `scope` is: since its last successful run (`None`: never).
    pub async fn data_age(
        &self,
        kind: Kind,
        scope: &Scope,
    ) -> Result<Option<Duration>, ServiceError> {
        let path = self.data.sync_db();
        let (name, key) = (kind.name(), crate::syncs::scope_key(scope).to_string());
        let last = tokio::task::spawn_blocking(move || -> Result<Option<String>, String> {
            if !path.exists() {
                return Ok(None);
            }
            let conn = blackant_actors::db_writer::open_reader(&path).map_err(|e| e.to_string())?;
            crate::store::ledger::last_success(&conn, name, &key).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| ServiceError::Unavailable(format!("reading freshness: {e}")))?
        .map_err(|e| ServiceError::Unavailable(format!("reading freshness: {e}")))?;
        Ok(last
            .and_then(|t| crate::store::parse_time(&t, "freshness").ok())
            .map(|t| t.elapsed().unwrap_or_default()))
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

    /// An agent opened a PWA session: keep their ERP credentials (memory only) and make them a
    /// known agent.
    pub fn open_session(&self, user: &str, credentials: Credentials) -> Result<(), ServiceError> {
        crate::store::paths::validate_user(user)
            .map_err(|e| ServiceError::Refused(e.to_string()))?;
        // New credentials deserve a fresh try: the login breaker counted the old ones.
        self.breakers
            .success(&breaker::login_key(&credentials.username));
        self.credentials
            .set(Scope::Agent(user.to_string()), credentials);
        if let Ok(mut agents) = self.agents.write() {
            agents.insert(user.to_string());
        }
        // The Scheduler takes the agent's kinds on from now.
        self.refresh_schedule();
        Ok(())
    }

    /// An agent closed their session: forget their credentials. True if there were some.
    pub fn close_session(&self, user: &str) -> bool {
        self.credentials.remove(&Scope::Agent(user.to_string()))
    }

    /// The worse of the ERP's breaker and the breaker of the account `scope` logs in with.
    pub fn breaker_state(&self, scope: &Scope) -> BreakerState {
        let erp = self.breakers.state(breaker::ERP);
        let login = self
            .credentials
            .get(scope)
            .map_or(BreakerState::Closed, |c| {
                self.breakers.state(&breaker::login_key(&c.username))
            });
        erp.max(login)
    }

    fn scheduler(&self) -> Result<ActorRef<SchedulerMessage>, ServiceError> {
        self.directory
            .get_ref::<SchedulerMessage>(SCHEDULER)
            .map_err(|e| ServiceError::Unavailable(format!("{SCHEDULER}: {e}")))
    }

    /// Every kind's schedule and the Scheduler's plan for it.
    pub async fn schedules(&self) -> Result<Vec<ScheduleView>, ServiceError> {
        let scheduler = self.scheduler()?;
        ractor::call_t!(scheduler, SchedulerMessage::Get, 10_000)
            .map_err(|e| ServiceError::Unavailable(format!("{SCHEDULER}: {e}")))
    }

    /// Change a kind's schedule (stored in sync.db, in effect at once).
    pub async fn update_schedule(
        &self,
        kind: Kind,
        patch: SchedulePatch,
    ) -> Result<KindSchedule, ServiceError> {
        let scheduler = self.scheduler()?;
        let kind = kind.name().to_string();
        ractor::call_t!(
            scheduler,
            |reply| SchedulerMessage::Update { kind, patch, reply },
            10_000
        )
        .map_err(|e| ServiceError::Unavailable(format!("{SCHEDULER}: {e}")))?
        .map_err(|e| match e {
            SchedulerError::Store(e) => ServiceError::Unavailable(e.to_string()),
            other => ServiceError::Invalid(other.to_string()),
        })
    }

    /// A kind's interval: what EnsureFresh and reconnects call fresh. The Scheduler's current
    /// schedule when it runs, else the default.
    pub async fn interval(&self, kind: Kind) -> Duration {
        match self.schedules().await {
            Ok(views) => views
                .into_iter()
                .find(|v| v.schedule.kind == kind.name())
                .map_or(default_max_age(kind), |v| v.schedule.interval),
            Err(_) => default_max_age(kind),
        }
    }

    /// Tell the Scheduler to look again now (an agent's session opened).
    pub fn refresh_schedule(&self) {
        if let Ok(scheduler) = self.scheduler() {
            let _ = scheduler.cast(SchedulerMessage::Refresh);
        }
    }

    /// Run-history metrics per kind (durations, runs, failures, joined requests).
    pub async fn run_metrics(&self) -> Result<Vec<KindMetrics>, ServiceError> {
        let path = self.data.sync_db();
        tokio::task::spawn_blocking(move || -> Result<Vec<KindMetrics>, String> {
            if !path.exists() {
                return Ok(Vec::new());
            }
            let conn = blackant_actors::db_writer::open_reader(&path).map_err(|e| e.to_string())?;
            crate::store::ledger::run_metrics(&conn).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| ServiceError::Unavailable(format!("reading run metrics: {e}")))?
        .map_err(|e| ServiceError::Unavailable(format!("reading run metrics: {e}")))
    }

    /// Pause every sync at its next page boundary (through the Priority actor); they stay
    /// paused until [`Service::resume_syncs`]. Pauses are serialized.
    pub async fn pause_syncs(&self) -> Result<PauseReport, ServiceError> {
        let priority = self.priority()?;
        // A queued pause waits for the one before to be resumed: no deadline but the caller's.
        ractor::call!(priority, PriorityMessage::Pause)
            .map_err(|e| ServiceError::Unavailable(format!("{PRIORITY}: {e}")))
    }

    /// End the current pause.
    pub fn resume_syncs(&self) -> Result<(), ServiceError> {
        self.priority()?
            .cast(PriorityMessage::Resume)
            .map_err(|e| ServiceError::Unavailable(format!("{PRIORITY}: {e}")))
    }

    /// Pause metrics since start.
    pub async fn pause_metrics(&self) -> Result<PauseMetrics, ServiceError> {
        let priority = self.priority()?;
        ractor::call_t!(priority, PriorityMessage::Metrics, 5_000)
            .map_err(|e| ServiceError::Unavailable(format!("{PRIORITY}: {e}")))
    }

    fn priority(&self) -> Result<ractor::ActorRef<PriorityMessage>, ServiceError> {
        self.directory
            .get_ref::<PriorityMessage>(PRIORITY)
            .map_err(|e| ServiceError::Unavailable(format!("{PRIORITY}: {e}")))
    }

    /// The kinds this build syncs.
    pub fn kinds(&self) -> Vec<Kind> {
        self.syncs.iter().map(|(k, _)| *k).collect()
    }

    /// Stop the tree (children are stopped by the supervisor, then it exits).
    pub async fn shutdown(self) {
        if let Err(e) = self
            .root
            .stop_and_wait(
                Some("service shutdown".into()),
                Some(Duration::from_secs(30)),
            )
            .await
        {
            tracing::warn!(cause = %e, "stopping the supervision tree");
        }
    }
}
