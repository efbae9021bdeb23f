//! Building the supervision tree from the kind table (each kind's writes are routed to the
//! DbWriter of its file by `routing.rs`).
//!
//! ```text
//! RootSupervisor
//! ├── DbWriter:sync.db        run history, freshness, schedules
//! ├── DbWriter:customers-{u}  added the first time agent u syncs customers
//! ├── DbWriter:products.db    products AND prices: their writes are serialized by construction
//! ├── DbWriter:orders.db      every agent's orders, DDT, invoices (rows carry user_id)
//! ├── BrowserPool             Chromium processes, per-agent contexts
//! ├── ImageFetcher            product images in the background, after each product sync
//! ├── CustomerSync, ProductSync, PriceSync, DdtSync, InvoiceSync   one SyncActor per kind
//! ├── OrderSyncRegistry       one OrderSync(agent) actor per agent, on demand
//! ├── Priority                pauses / resumes every sync, serializes priority operations
//! ├── OrderPlacer             the order outbox, placed in Archibald exactly once
//! └── Scheduler               per-kind timers and the stale-data trigger (when enabled)
//! ```
//! Names are the Directory keys operators see; each sync actor's name comes from the kind
//! table. Must NOT hold domain operations (the facade) nor react to events (follow-ups).

use super::ServiceError;
use super::agents::Agents;
use super::config::{ScheduleSettings, ServiceConfig, SourceConfig, default_schedule};
use super::routing::{Router, db_writer_name, writer_spec};
use crate::erp::EvidenceStore;
use crate::kinds::{DataFile, KINDS};
use crate::records::Kind;
use crate::store::ledger::SyncDbLedger;
use crate::store::outbox::SyncDbOutbox;
use crate::store::schedules::SyncDbSchedules;
use crate::store::schema;
use crate::syncs::CredentialSource;
use crate::syncs::images::{HttpImageSource, ProductImageSink};
use crate::syncs::{ErpSource, ExportSource, ExportSync};
use blackant_actors::browser_pool::{
    BrowserPool, BrowserPoolArguments, ChromiumLauncher, reap_leftovers,
};
use blackant_actors::db_writer::{DbHandle, Durability};
use blackant_actors::directory::Directory;
use blackant_actors::events::EventBus;
use blackant_actors::health::Health;
use blackant_actors::image_fetcher::{ImageFetcher, ImageFetcherArguments};
use blackant_actors::order_placer::{
    OrderPlacer, OrderPlacerArguments, PlacementBus, PlacerTiming,
};
use blackant_actors::priority::{NamedPriority, Priority, PriorityArguments, PrioritySync};
use blackant_actors::root::{
    ChildSpec, RootSupervisor, RootSupervisorArguments, RootSupervisorMessage, SupervisorHandle,
};
use blackant_actors::run::Scope;
use blackant_actors::scheduler::{ScheduledKind, Scheduler, SchedulerArguments, SystemClock};
use blackant_actors::sync::{
    SyncActor, SyncArguments, SyncHandle, SyncRegistry, SyncRegistryArguments,
};
use ractor::{Actor, ActorRef};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Name of the BrowserPool in the Directory and the operators' tree.
pub const BROWSER_POOL: &str = "BrowserPool";
/// Name of the Priority actor.
pub const PRIORITY: &str = "Priority";
/// Name of the Scheduler.
pub const SCHEDULER: &str = "Scheduler";
/// Name of the ImageFetcher.
pub const IMAGE_FETCHER: &str = "ImageFetcher";
/// Name of the OrderPlacer.
pub const ORDER_PLACER: &str = "OrderPlacer";

/// Longest the Scheduler sleeps between two looks (new agents are seen at the latest then).
const SCHEDULER_MAX_SLEEP: Duration = Duration::from_secs(60);

/// The running tree and the handles the facade uses.
pub(super) struct Tree {
    pub root: ActorRef<RootSupervisorMessage>,
    pub supervisor: SupervisorHandle,
    pub directory: Directory,
    /// Every kind's sync actor, in kind-table order.
    pub syncs: Vec<(Kind, SyncHandle)>,
    /// Where the OrderPlacer publishes its placements' transitions.
    pub placements: PlacementBus,
    /// Whether orders can be placed (the source is the ERP, so there is an OrderPlacer).
    pub places_orders: bool,
    /// Escalations, browsers, shutdown: what the health service reports.
    pub health: Health,
    /// Each kind's DbWriter (operators' decisions on held deletions write through it).
    pub router: Arc<Router>,
}

impl Tree {
    /// Start the tree: writers, browsers, one sync actor per kind, then Priority and the
    /// Scheduler (they talk to the supervisor, so they join once it runs).
    pub async fn start(
        config: &ServiceConfig,
        agents: &Agents,
        events: &EventBus,
    ) -> Result<Tree, ServiceError> {
        let directory = Directory::new();
        let health = Health::new();
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
        // sync.db holds the order outbox and the id mapping: every commit is fsynced.
        let mut children = vec![writer_spec(
            config.restart,
            sync_db,
            config.data.sync_db(),
            schema::SYNC_DB,
            Durability::Fsync,
        )];
        let (source, erp) = source_children(config, agents, &directory, &health, &mut children)?;
        // Before any run: what a killed or failed run of a previous life left in exports/.
        crate::syncs::sweep_exports(&config.data);
        for spec in &KINDS {
            let mut sync = ExportSync::new(
                spec.kind,
                config.data.clone(),
                router.clone(),
                source.clone(),
            )
            .deletion_guard(config.deletes);
            if let Some(first) = spec.waits_for {
                sync = sync.after(SyncHandle::named(
                    directory.clone(),
                    first.spec().actor,
                    events.clone(),
                ));
            }
            let sync = Arc::new(sync);
            let args = SyncArguments {
                ledger: ledger.clone(),
                events: events.clone(),
                retry: config.retry,
                jitter_seed: None,
                only: None,
            };
            children.push(if spec.kind == Kind::Orders {
                // One OrderSync actor per agent, spawned on demand and supervised here.
                let registry = SyncRegistryArguments {
                    sync: args,
                    restart: config.restart,
                    idle_after: config.tuning.order_sync_idle,
                    label: "OrderSync".into(),
                };
                ChildSpec::for_actor(spec.actor, config.restart, move || {
                    (SyncRegistry::new(sync.clone()), registry.clone())
                })
            } else {
                ChildSpec::for_actor(spec.actor, config.restart, move || {
                    (SyncActor::new(sync.clone()), args.clone())
                })
            });
        }

        let mut root_args = RootSupervisorArguments::new(directory.clone(), children);
        root_args.shutdown_timeout = config.tuning.shutdown_timeout;
        root_args.health = health.clone();
        let (root, _) = RootSupervisor::spawn(None, RootSupervisor, root_args)
            .await
            .map_err(|e| ServiceError::Start(format!("starting the supervision tree: {e}")))?;
        let supervisor = SupervisorHandle::new(root.clone(), config.tuning.supervisor_timeout);
        let _ = router.supervisor.set(supervisor.clone());
        let syncs: Vec<(Kind, SyncHandle)> = KINDS
            .iter()
            .map(|spec| {
                let handle = SyncHandle::named(directory.clone(), spec.actor, events.clone())
                    .with_timeout(config.tuning.call_timeout);
                (spec.kind, handle)
            })
            .collect();
        let tree = Tree {
            root,
            supervisor,
            directory,
            syncs,
            placements: PlacementBus::default(),
            places_orders: erp.is_some(),
            health,
            router,
        };
        tree.add_priority(config).await?;
        if let Some(erp) = erp {
            tree.add_order_placer(config, agents, erp).await?;
        }
        if let Some(settings) = config.schedule {
            tree.add_scheduler(config, settings, agents).await?;
        }
        Ok(tree)
    }

    async fn add(&self, spec: ChildSpec, name: &str) -> Result<(), ServiceError> {
        let failed = |e: String| ServiceError::Start(format!("starting {name}: {e}"));
        self.supervisor
            .add_child(spec)
            .await
            .map_err(|e| failed(e.to_string()))?
            .map_err(|e| failed(e.to_string()))?;
        Ok(())
    }

    /// Priority pauses every sync; it restarts one that does not acknowledge.
    async fn add_priority(&self, config: &ServiceConfig) -> Result<(), ServiceError> {
        let priority = PriorityArguments {
            syncs: self
                .syncs
                .iter()
                .map(|(k, h)| PrioritySync {
                    name: k.spec().actor.to_string(),
                    handle: h.clone(),
                })
                .collect(),
            ack_timeout: config.tuning.pause_ack_timeout,
            supervisor: Some(self.supervisor.clone()),
        };
        let spec = ChildSpec::for_actor(PRIORITY, config.restart, move || {
            (Priority, priority.clone())
        });
        self.add(spec, PRIORITY).await
    }

    /// The OrderPlacer: the outbox in sync.db, the pause through Priority, the ERP's form.
    async fn add_order_placer(
        &self,
        config: &ServiceConfig,
        agents: &Agents,
        erp: Arc<ErpSource>,
    ) -> Result<(), ServiceError> {
        let sessions = agents.clone();
        let args = OrderPlacerArguments {
            outbox: Arc::new(SyncDbOutbox::new(DbHandle::named(
                self.directory.clone(),
                db_writer_name("sync.db"),
            ))),
            pause: Arc::new(NamedPriority {
                directory: self.directory.clone(),
                name: PRIORITY.to_string(),
            }),
            events: self.placements.clone(),
            timing: PlacerTiming {
                index_lag: config.orders.index_lag,
                step_timeout: config.orders.step_timeout,
                retry_base: config.retry.base,
                retry_max: config.retry.max,
            },
            has_session: Arc::new(move |agent: &str| {
                sessions
                    .credentials(&Scope::Agent(agent.to_string()))
                    .is_some()
            }),
            clock: Arc::new(SystemClock),
        };
        let spec = ChildSpec::for_actor(ORDER_PLACER, config.restart, move || {
            (OrderPlacer::new(erp.clone()), args.clone())
        });
        self.add(spec, ORDER_PLACER).await
    }

    async fn add_scheduler(
        &self,
        config: &ServiceConfig,
        settings: ScheduleSettings,
        agents: &Agents,
    ) -> Result<(), ServiceError> {
        let agents = agents.clone();
        let args = SchedulerArguments {
            kinds: self
                .syncs
                .iter()
                .map(|(k, h)| ScheduledKind {
                    default: default_schedule(*k),
                    per_agent: k.spec().per_agent,
                    after: k
                        .spec()
                        .after
                        .iter()
                        .map(|a| a.name().to_string())
                        .collect(),
                    runner: Arc::new(h.clone()),
                })
                .collect(),
            scopes: Arc::new(move || agents.with_session()),
            store: Arc::new(SyncDbSchedules::new(DbHandle::named(
                self.directory.clone(),
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
        self.add(spec, SCHEDULER).await
    }
}

/// Where exports come from, and the ERP itself when orders can be placed in it.
type Sources = (Arc<dyn ExportSource>, Option<Arc<ErpSource>>);

/// The export source, and the actors it needs (the BrowserPool and the ImageFetcher when the
/// source is the ERP, which orders are placed in too).
fn source_children(
    config: &ServiceConfig,
    agents: &Agents,
    directory: &Directory,
    health: &Health,
    children: &mut Vec<ChildSpec>,
) -> Result<Sources, ServiceError> {
    let (erp, chromium, browsers, warm, recycle_after) = match &config.source {
        SourceConfig::Custom(source) => return Ok((source.clone(), None)),
        SourceConfig::Erp {
            erp,
            chromium,
            browsers,
            launch_at_start,
            recycle_after_leases,
        } => (
            erp,
            chromium,
            browsers,
            *launch_at_start,
            *recycle_after_leases,
        ),
    };
    // Profiles live in the data folder, and what a killed previous life left there goes.
    let mut chromium = chromium.as_ref().clone();
    let profiles = chromium
        .temp_root
        .get_or_insert_with(|| config.data.browsers_dir())
        .clone();
    std::fs::create_dir_all(&profiles)
        .map_err(|e| ServiceError::Start(format!("creating {}: {e}", profiles.display())))?;
    reap_leftovers(&profiles);
    let args = BrowserPoolArguments {
        size: (*browsers).max(1),
        launcher: Arc::new(ChromiumLauncher::new(chromium)),
        health: health.clone(),
        recycle_after,
        warm,
    };
    children.push(ChildSpec::for_actor(
        BROWSER_POOL,
        config.restart,
        move || (BrowserPool::<ChromiumLauncher>::new(), args.clone()),
    ));
    let images = HttpImageSource::new(&erp.base_url, erp.page_timeout)
        .map_err(|e| ServiceError::Start(format!("building the image client: {e}")))?;
    let fetcher = ImageFetcherArguments {
        source: Arc::new(images),
        sink: Arc::new(ProductImageSink::new(DbHandle::named(
            directory.clone(),
            db_writer_name(&DataFile::Products.file_name(None)),
        ))),
        dir: config.data.images_dir(),
        concurrency: config.tuning.image_downloads,
        retry: config.retry,
    };
    children.push(ChildSpec::for_actor(
        IMAGE_FETCHER,
        config.restart,
        move || (ImageFetcher, fetcher.clone()),
    ));
    // What a changed page showed is kept for the operator, bounded.
    let mut erp = erp.clone();
    erp.evidence = Some(Arc::new(EvidenceStore::new(
        config.data.evidence_dir(),
        config.evidence,
    )));
    let source = Arc::new(ErpSource::new(
        directory.clone(),
        BROWSER_POOL,
        erp.clone(),
        Arc::new(agents.clone()),
        agents.breakers().clone(),
    ));
    Ok((source.clone(), Some(source)))
}

impl Tree {
    /// Stop the whole tree (children newest first, each given the shutdown timeout) and report
    /// which actors were running before and whether each has stopped.
    pub async fn shutdown(&self, timeout: Duration) -> Vec<(String, bool)> {
        let running: Vec<(String, ractor::ActorCell)> = self
            .directory
            .names()
            .into_iter()
            .filter_map(|n| self.directory.get(&n).map(|c| (n, c)))
            .collect();
        if let Err(e) = self
            .root
            .stop_and_wait(Some("service shutdown".into()), Some(timeout))
            .await
        {
            tracing::warn!(cause = %e, "stopping the supervision tree");
        }
        running
            .into_iter()
            .map(|(name, cell)| {
                let stopped = cell.get_status() == ractor::ActorStatus::Stopped;
                (name, stopped)
            })
            .collect()
    }
}
