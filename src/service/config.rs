//! What the service needs to start: where the data lives, where exports come from, the agents
//! and accounts known at start, the retry, restart and breaker policies, the Scheduler's
//! settings and the tuning knobs — with the defaults the service always used. Plain data:
//! the configuration file (`crate::config`) and the start-up kit fill it in.

use crate::erp::ErpConfig;
use crate::records::Kind;
use crate::store::DataDir;
use crate::syncs::ExportSource;
use crate::syncs::breaker::BreakerPolicy;
use blackant_actors::browser_pool::ChromiumConfig;
use blackant_actors::run::Scope;
use blackant_actors::scheduler::KindSchedule;
use blackant_actors::supervision::RestartPolicy;
use blackant_actors::sync::RetryPolicy;
use std::sync::Arc;
use std::time::Duration;

/// Where exports come from.
#[derive(Clone)]
pub enum SourceConfig {
    /// The ERP at `erp.base_url`, through a BrowserPool of `browsers` Chromium processes.
    Erp {
        erp: ErpConfig,
        /// Boxed: the largest setting, and the other variant is one pointer.
        chromium: Box<ChromiumConfig>,
        browsers: usize,
        /// Launch the browsers when the service starts rather than when first needed.
        launch_at_start: bool,
        /// Replace a browser after it served this many leases (0: never).
        recycle_after_leases: u32,
    },
    /// Anything else (tests feed fixture PDFs); no BrowserPool is started.
    Custom(Arc<dyn ExportSource>),
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

/// The knobs an operator may need to turn; the defaults are what the service always used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// An agent's OrderSync actor idle this long is stopped (spawned again when needed).
    pub order_sync_idle: Duration,
    /// Image downloads at once (the ERP's image server is slow, not busy).
    pub image_downloads: usize,
    /// How long Priority waits for one sync to acknowledge a pause (it answers at its next
    /// page boundary: a page takes milliseconds, so this only catches a stuck sync).
    pub pause_ack_timeout: Duration,
    /// Longest wait for an actor's answer (status, a request, a schedule change).
    pub call_timeout: Duration,
    /// Longest wait for the supervisor (a restart waits for the child's exit and start).
    pub supervisor_timeout: Duration,
    /// Longest wait for the whole tree to stop at shutdown.
    pub shutdown_timeout: Duration,
}

impl Default for Tuning {
    fn default() -> Self {
        Self {
            order_sync_idle: Duration::from_secs(15 * 60),
            image_downloads: 4,
            pause_ack_timeout: Duration::from_secs(10),
            call_timeout: Duration::from_secs(10),
            supervisor_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// How orders are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSettings {
    /// How long Archibald may take to show a new order in its search. An order whose
    /// confirmation was lost counts as "not placed" only once this has passed since the click,
    /// so set it well above what the ERP really takes.
    pub index_lag: Duration,
    /// A placement not in Archibald by then fails (one that may be there never does).
    pub deadline: Duration,
    /// Ended placements (and their keys) are kept at least this long (30 days at least).
    pub retention: Duration,
    /// Longest wait for one step: filling the form, the confirmation, a search.
    pub step_timeout: Duration,
}

/// Shortest retention of ended placements and their keys.
pub const MIN_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

impl Default for OrderSettings {
    fn default() -> Self {
        Self {
            index_lag: Duration::from_secs(10),
            deadline: Duration::from_secs(600),
            retention: MIN_RETENTION,
            step_timeout: Duration::from_secs(120),
        }
    }
}

/// What the service needs to start.
#[derive(Clone)]
pub struct ServiceConfig {
    pub data: DataDir,
    pub source: SourceConfig,
    /// Agents the service knows from the start (requests for others are refused with NotFound
    /// until their session opens).
    pub agents: Vec<String>,
    /// ERP accounts known from the start: the service account (catalogue), and agents'
    /// sessions opened by the operator's tooling (the simulator's accounts). Memory only.
    pub credentials: Vec<(Scope, crate::erp::Credentials)>,
    pub retry: RetryPolicy,
    pub restart: RestartPolicy,
    /// Circuit breakers of the ERP and of each account's logins.
    pub breaker: BreakerPolicy,
    /// The Scheduler's settings; `None` runs no Scheduler (syncs only on request: tests).
    pub schedule: Option<ScheduleSettings>,
    pub tuning: Tuning,
    pub orders: OrderSettings,
    /// When a complete export's deletions wait for an operator.
    pub deletes: crate::store::tables::DeletionGuard,
    /// How much evidence of changed ERP pages is kept.
    pub evidence: crate::erp::EvidenceBounds,
}

/// A kind's default schedule (DESIGN.md, "Syncs, triggers and schedule", from the kind
/// table); 30 s of jitter spreads agents.
pub fn default_schedule(kind: Kind) -> KindSchedule {
    let spec = kind.spec();
    KindSchedule {
        kind: kind.name().to_string(),
        interval: spec.interval(),
        stagger: spec.stagger(),
        jitter: Duration::from_secs(30),
        priority: spec.priority,
        enabled: true,
    }
}
