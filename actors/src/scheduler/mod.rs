//! The Scheduler: decides *when* each sync kind runs for each scope, and in which order when
//! several are due at once. It owns the per-kind schedules (interval, stagger, jitter,
//! priority, enabled), the time each (kind, scope) was last dispatched, and a queue of due
//! work it hands to the syncs no faster than the browser pool can serve.
//!
//! Timing is a grid: kind `k` fires at `anchor + stagger(k) + n × interval(k) + jitter`, where
//! `anchor` is the scheduler's first start, persisted with everything else through
//! [`ScheduleStore`] (`sync.db` in production). So offsets between kinds stay as configured
//! across restarts, and after downtime a kind that missed one or many grid points runs once
//! (catch-up, not a burst). Data older than the stale limit (or never synced) runs at once.
//! A grid point is skipped when the data was refreshed after it (a manual sync did the work).
//!
//! Due work runs in order of priority (a kind's own, raised to that of a queued kind waiting
//! for it), one dependency after the other: a kind whose `after` kind (same scope) is queued
//! or running waits for it. At most `max_running` scheduled runs are in flight.
//!
//! It must not sync anything itself, nor know what a kind is: it asks a [`Runner`] (the sync
//! actor's [`SyncHandle`]) for delta runs and learns their end from it. Time comes from a
//! [`Clock`], so tests drive it with tokio's paused clock.

pub use crate::clock::{Clock, SystemClock, TokioClock};
use crate::run::{Mode, RunOutcome, Scope, Trigger};
use crate::sync::{LedgerError, SyncHandle};
use futures::FutureExt;
use futures::future::BoxFuture;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tracing::{info, warn};

#[cfg(test)]
mod tests;

/// A kind's schedule, as stored and as operators change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindSchedule {
    /// The sync kind (`orders`, `customers`, ...).
    pub kind: String,
    /// Time between two runs.
    pub interval: Duration,
    /// Offset of this kind's grid from the anchor, so kinds do not all fire together.
    pub stagger: Duration,
    /// Upper bound of a per-(scope, grid point) random delay, spreading agents apart.
    pub jitter: Duration,
    /// Higher runs first when several kinds are due at once.
    pub priority: u8,
    /// False: the scheduler never starts this kind (other triggers still do).
    pub enabled: bool,
}

/// A change to a kind's schedule; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedulePatch {
    pub interval: Option<Duration>,
    pub stagger: Option<Duration>,
    pub jitter: Option<Duration>,
    pub priority: Option<u8>,
    pub enabled: Option<bool>,
}

/// Bounds of a schedule.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Longest interval (the stale limit makes anything longer pointless anyway).
pub const MAX_INTERVAL: Duration = Duration::from_secs(30 * 24 * 3600);
/// Highest priority.
pub const MAX_PRIORITY: u8 = 9;

impl KindSchedule {
    /// Apply `patch`, checking the result.
    pub fn patched(&self, patch: &SchedulePatch) -> Result<KindSchedule, SchedulerError> {
        let next = KindSchedule {
            kind: self.kind.clone(),
            interval: patch.interval.unwrap_or(self.interval),
            stagger: patch.stagger.unwrap_or(self.stagger),
            jitter: patch.jitter.unwrap_or(self.jitter),
            priority: patch.priority.unwrap_or(self.priority),
            enabled: patch.enabled.unwrap_or(self.enabled),
        };
        next.validate()?;
        Ok(next)
    }

    /// Interval within bounds, stagger below a day, jitter at most half the interval (so two
    /// grid points never swap), priority at most [`MAX_PRIORITY`].
    pub fn validate(&self) -> Result<(), SchedulerError> {
        let invalid = |why: String| SchedulerError::Invalid {
            kind: self.kind.clone(),
            why,
        };
        if self.interval < MIN_INTERVAL || self.interval > MAX_INTERVAL {
            return Err(invalid(format!(
                "interval {:?} is outside {:?}..={:?}",
                self.interval, MIN_INTERVAL, MAX_INTERVAL
            )));
        }
        if self.stagger > Duration::from_secs(24 * 3600) {
            return Err(invalid(format!(
                "stagger {:?} is longer than a day",
                self.stagger
            )));
        }
        if self.jitter > self.interval / 2 {
            return Err(invalid(format!(
                "jitter {:?} is more than half the interval {:?}",
                self.jitter, self.interval
            )));
        }
        if self.priority > MAX_PRIORITY {
            return Err(invalid(format!(
                "priority {} is above {MAX_PRIORITY}",
                self.priority
            )));
        }
        Ok(())
    }
}

/// Why a schedule operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedulerError {
    #[error("no schedule for sync kind {0:?}")]
    UnknownKind(String),
    #[error("invalid schedule for {kind}: {why}")]
    Invalid { kind: String, why: String },
    #[error(transparent)]
    Store(#[from] LedgerError),
}

/// What the store holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSchedules {
    /// Time of the scheduler's first start (`None`: never started).
    pub anchor: Option<SystemTime>,
    /// Schedules changed from their defaults (or saved once).
    pub schedules: Vec<KindSchedule>,
    /// When each (kind, scope) was last dispatched by the scheduler.
    pub dispatched: ScopeTimes,
}

/// When each (kind, scope) last happened (a dispatch, a success).
pub type ScopeTimes = Vec<(String, Scope, SystemTime)>;

/// Where schedules live (`sync.db` in production).
pub trait ScheduleStore: Send + Sync + 'static {
    /// Everything stored.
    fn load(&self) -> BoxFuture<'_, Result<StoredSchedules, LedgerError>>;
    /// Record the anchor (once, at first start).
    fn save_anchor(&self, anchor: SystemTime) -> BoxFuture<'_, Result<(), LedgerError>>;
    /// Store a kind's schedule.
    fn save_schedule(&self, schedule: KindSchedule) -> BoxFuture<'_, Result<(), LedgerError>>;
    /// Record that (kind, scope) was dispatched at `at`.
    fn record_dispatch(
        &self,
        kind: String,
        scope: Scope,
        at: SystemTime,
    ) -> BoxFuture<'_, Result<(), LedgerError>>;
    /// Last successful run of each (kind, scope), whoever started it.
    fn last_successes(&self) -> BoxFuture<'_, Result<ScopeTimes, LedgerError>>;
    /// Record in the run history that a due run of (kind, scope) was not started, and why.
    fn record_skip(
        &self,
        kind: String,
        scope: Scope,
        trigger: Trigger,
        reason: String,
    ) -> BoxFuture<'_, Result<(), LedgerError>>;
}

/// Starts a run of one kind and resolves with its outcome when it ends.
pub trait Runner: Send + Sync + 'static {
    fn run(&self, scope: Scope, trigger: Trigger) -> BoxFuture<'static, RunOutcome>;
}

impl Runner for SyncHandle {
    /// A delta run: a byte-identical export costs only its download.
    fn run(&self, scope: Scope, trigger: Trigger) -> BoxFuture<'static, RunOutcome> {
        let handle = self.clone();
        async move {
            match handle.request_and_wait(scope, Mode::Delta, trigger).await {
                Ok(event) => event.body.outcome().unwrap_or_else(|| {
                    RunOutcome::not_run("the run ended without a terminal event")
                }),
                Err(e) => RunOutcome::not_run(e.to_string()),
            }
        }
        .boxed()
    }
}

/// One kind the scheduler drives.
#[derive(Clone)]
pub struct ScheduledKind {
    /// Its default schedule (used until one is stored).
    pub default: KindSchedule,
    /// Per agent (one run per scope from `scopes`) or the catalogue.
    pub per_agent: bool,
    /// Kinds that must run before this one for the same scope when both are due.
    pub after: Vec<String>,
    /// Who runs it.
    pub runner: Arc<dyn Runner>,
}

/// The agents to schedule per-agent kinds for (those with credentials), asked at each wake.
pub type Scopes = Arc<dyn Fn() -> Vec<String> + Send + Sync>;

/// What the Scheduler starts with.
#[derive(Clone)]
pub struct SchedulerArguments {
    pub kinds: Vec<ScheduledKind>,
    pub scopes: Scopes,
    pub store: Arc<dyn ScheduleStore>,
    pub clock: Arc<dyn Clock>,
    /// Scheduled runs in flight at once (the browser pool's size).
    pub max_running: usize,
    /// Data older than this runs at once ("stale data" trigger).
    pub stale_after: Duration,
    /// Longest sleep between two looks (new agents are picked up at the latest then).
    pub max_sleep: Duration,
}

/// Default of [`SchedulerArguments::stale_after`] (DESIGN.md: 3 days).
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(3 * 24 * 3600);

/// A kind's schedule and what the scheduler plans for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleView {
    pub schedule: KindSchedule,
    /// Next planned run of each scope (empty when disabled).
    pub next: Vec<(Scope, SystemTime)>,
    /// Scopes due and waiting for a slot or a dependency.
    pub queued: Vec<Scope>,
    /// Scopes the scheduler has a run in flight for.
    pub running: Vec<Scope>,
}

/// Messages of the Scheduler.
pub enum SchedulerMessage {
    /// Every kind's schedule and plan.
    Get(RpcReplyPort<Vec<ScheduleView>>),
    /// Change a kind's schedule: stored, then applied at once.
    Update {
        kind: String,
        patch: SchedulePatch,
        reply: RpcReplyPort<Result<KindSchedule, SchedulerError>>,
    },
    /// Look again now (an agent appeared, data changed).
    Refresh,
    #[doc(hidden)]
    Wake(u64),
    #[doc(hidden)]
    Ended {
        kind: String,
        scope: Scope,
        outcome: RunOutcome,
    },
}

impl fmt::Debug for SchedulerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchedulerMessage::Get(_) => f.write_str("Get"),
            SchedulerMessage::Update { kind, patch, .. } => {
                write!(f, "Update({kind}, {patch:?})")
            }
            SchedulerMessage::Refresh => f.write_str("Refresh"),
            SchedulerMessage::Wake(g) => write!(f, "Wake({g})"),
            SchedulerMessage::Ended {
                kind,
                scope,
                outcome,
            } => {
                write!(f, "Ended({kind}, {scope}, {outcome:?})")
            }
        }
    }
}

/// A due (kind, scope).
#[derive(Debug, Clone)]
struct Due {
    kind: String,
    scope: Scope,
    trigger: Trigger,
    seq: u64,
}

pub struct SchedulerState {
    args: SchedulerArguments,
    schedules: BTreeMap<String, KindSchedule>,
    anchor: SystemTime,
    dispatched: HashMap<(String, Scope), SystemTime>,
    succeeded: HashMap<(String, Scope), SystemTime>,
    queue: Vec<Due>,
    running: Vec<(String, Scope)>,
    seq: u64,
    generation: u64,
    timer: Option<tokio::task::JoinHandle<Result<(), ractor::MessagingErr<SchedulerMessage>>>>,
}

/// The Scheduler actor.
pub struct Scheduler;

fn ms(t: SystemTime) -> i128 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i128,
        Err(e) => -(e.duration().as_millis() as i128),
    }
}

fn at_ms(v: i128) -> SystemTime {
    if v >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_millis(v as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_millis((-v) as u64)
    }
}

/// The grid of one kind for one scope.
struct Grid<'a> {
    base: i128,
    interval: i128,
    jitter: i128,
    schedule: &'a KindSchedule,
    scope: &'a Scope,
}

impl<'a> Grid<'a> {
    fn new(anchor: SystemTime, schedule: &'a KindSchedule, scope: &'a Scope) -> Self {
        Self {
            base: ms(anchor) + schedule.stagger.as_millis() as i128,
            interval: (schedule.interval.as_millis() as i128).max(1),
            jitter: schedule.jitter.as_millis() as i128,
            schedule,
            scope,
        }
    }

    /// The n-th fire time: the grid point plus this scope's jitter for it.
    fn fire(&self, n: i128) -> i128 {
        let mut offset = 0;
        if self.jitter > 0 {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            (&self.schedule.kind, self.scope, n).hash(&mut h);
            offset = (h.finish() % (self.jitter as u64 + 1)) as i128;
        }
        self.base + n * self.interval + offset
    }

    fn index(&self, now: i128) -> i128 {
        if now < self.base {
            -1
        } else {
            (now - self.base) / self.interval
        }
    }

    /// The first fire time at least half an interval after `reference` (the last run): a
    /// catch-up or manual run covers the next grid point when it came less than half an
    /// interval before it. Fire times grow by at least half an interval (jitter ≤ half), so
    /// it is the grid point of `reference + interval / 2` or the next one.
    fn first_due(&self, reference: i128) -> i128 {
        let from = reference + self.interval / 2;
        let n = self.index(from).max(0);
        let t = self.fire(n);
        if t >= from { t } else { self.fire(n + 1) }
    }
}

impl SchedulerState {
    fn scopes_of(&self, kind: &ScheduledKind) -> Vec<Scope> {
        if kind.per_agent {
            let mut agents = (self.args.scopes)();
            agents.sort();
            agents.dedup();
            agents.into_iter().map(Scope::Agent).collect()
        } else {
            vec![Scope::Catalogue]
        }
    }

    fn reference(&self, key: &(String, Scope)) -> Option<i128> {
        let d = self.dispatched.get(key).map(|t| ms(*t));
        let s = self.succeeded.get(key).map(|t| ms(*t));
        d.max(s)
    }

    fn busy(&self, kind: &str, scope: &Scope) -> bool {
        self.running.iter().any(|(k, s)| k == kind && s == scope)
            || self
                .queue
                .iter()
                .any(|d| d.kind == kind && &d.scope == scope)
    }

    /// When (kind, scope) is next due, and why: at once if never run; at `reference + stale`
    /// (stale data) or at its first grid point half an interval after the last run,
    /// whichever comes first — stale winning once both have passed.
    fn due_at(&self, schedule: &KindSchedule, scope: &Scope, now: i128) -> (i128, Trigger) {
        let key = (schedule.kind.clone(), scope.clone());
        let Some(r) = self.reference(&key) else {
            return (now, Trigger::Stale);
        };
        let stale_at = r + self.args.stale_after.as_millis() as i128;
        let scheduled_at = Grid::new(self.anchor, schedule, scope).first_due(r);
        if stale_at <= now || stale_at <= scheduled_at {
            (stale_at, Trigger::Stale)
        } else {
            (scheduled_at, Trigger::Scheduled)
        }
    }

    /// Queue what is due now; answer when to look next.
    fn plan(&mut self, now: i128) -> i128 {
        let mut wake = now + self.args.max_sleep.as_millis().max(1) as i128;
        let mut due = Vec::new();
        for kind in &self.args.kinds {
            let Some(schedule) = self.schedules.get(&kind.default.kind) else {
                continue;
            };
            if !schedule.enabled {
                continue;
            }
            for scope in self.scopes_of(kind) {
                if self.busy(&schedule.kind, &scope) {
                    continue; // looked at again when its run ends
                }
                match self.due_at(schedule, &scope, now) {
                    (at, trigger) if at <= now => due.push((schedule.kind.clone(), scope, trigger)),
                    (at, _) => wake = wake.min(at),
                }
            }
        }
        for (kind, scope, trigger) in due {
            self.seq += 1;
            self.queue.push(Due {
                kind,
                scope,
                trigger,
                seq: self.seq,
            });
        }
        wake
    }

    fn kind(&self, name: &str) -> Option<&ScheduledKind> {
        self.args.kinds.iter().find(|k| k.default.kind == name)
    }

    fn priority_of(&self, kind: &str) -> u8 {
        self.schedules.get(kind).map_or(0, |s| s.priority)
    }

    /// The queued item to run next: the highest effective priority among those whose
    /// dependencies are neither queued nor running; first queued on ties.
    fn next_eligible(&self) -> Option<usize> {
        let effective = |due: &Due| -> u8 {
            // A queued kind waiting for this one lends it its priority.
            self.queue
                .iter()
                .filter(|other| {
                    other.scope == due.scope
                        && self
                            .kind(&other.kind)
                            .is_some_and(|k| k.after.contains(&due.kind))
                })
                .map(|other| self.priority_of(&other.kind))
                .chain([self.priority_of(&due.kind)])
                .max()
                .unwrap_or(0)
        };
        self.queue
            .iter()
            .enumerate()
            .filter(|(_, due)| {
                let deps = self
                    .kind(&due.kind)
                    .map(|k| k.after.clone())
                    .unwrap_or_default();
                !deps.iter().any(|dep| self.busy(dep, &due.scope))
            })
            .max_by(|(_, a), (_, b)| {
                effective(a)
                    .cmp(&effective(b))
                    .then_with(|| b.seq.cmp(&a.seq))
            })
            .map(|(i, _)| i)
    }
}

impl Scheduler {
    /// Learn when each (kind, scope) last succeeded, whoever ran it.
    async fn read_freshness(state: &mut SchedulerState) {
        match state.args.store.last_successes().await {
            Ok(rows) => {
                for (kind, scope, at) in rows {
                    let entry = state.succeeded.entry((kind, scope)).or_insert(at);
                    if *entry < at {
                        *entry = at;
                    }
                }
            }
            Err(e) => warn!(cause = %e, "scheduler: cannot read the data's freshness"),
        }
    }

    async fn look(myself: &ActorRef<SchedulerMessage>, state: &mut SchedulerState) {
        let now = state.args.clock.now();
        Self::read_freshness(state).await;
        let wake = state.plan(ms(now));
        Self::dispatch(myself, state).await;
        Self::arm(myself, state, now, wake);
    }

    /// Start queued work while slots are free.
    async fn dispatch(myself: &ActorRef<SchedulerMessage>, state: &mut SchedulerState) {
        while state.running.len() < state.args.max_running.max(1) {
            let Some(i) = state.next_eligible() else {
                return;
            };
            let due = state.queue.remove(i);
            let Some(kind) = state.kind(&due.kind).cloned() else {
                continue;
            };
            let now = state.args.clock.now();
            // Due when queued, maybe not any more: another run (a login's, a request's) may
            // have refreshed it while this one waited for a slot.
            Self::read_freshness(state).await;
            if let Some(schedule) = state.schedules.get(&due.kind).cloned() {
                let (at, _) = state.due_at(&schedule, &due.scope, ms(now));
                if at > ms(now) {
                    let reason = "no longer due: refreshed by another run while queued".to_string();
                    info!(kind = %due.kind, scope = %due.scope, trigger = %due.trigger, "{reason}");
                    if let Err(e) = state
                        .args
                        .store
                        .record_skip(due.kind.clone(), due.scope.clone(), due.trigger, reason)
                        .await
                    {
                        warn!(kind = %due.kind, scope = %due.scope, cause = %e, "scheduler: cannot record a skipped run");
                    }
                    continue;
                }
            }
            let key = (due.kind.clone(), due.scope.clone());
            state.dispatched.insert(key.clone(), now);
            if let Err(e) = state
                .args
                .store
                .record_dispatch(due.kind.clone(), due.scope.clone(), now)
                .await
            {
                warn!(kind = %due.kind, scope = %due.scope, cause = %e, "scheduler: cannot record a dispatch; it may run again after a restart");
            }
            info!(kind = %due.kind, scope = %due.scope, trigger = %due.trigger, "scheduled sync due");
            state.running.push(key);
            let run = kind.runner.run(due.scope.clone(), due.trigger);
            let me = myself.clone();
            tokio::spawn(async move {
                let outcome = run.await;
                let _ = me.cast(SchedulerMessage::Ended {
                    kind: due.kind,
                    scope: due.scope,
                    outcome,
                });
            });
        }
    }

    fn arm(
        myself: &ActorRef<SchedulerMessage>,
        state: &mut SchedulerState,
        now: SystemTime,
        wake: i128,
    ) {
        if let Some(timer) = state.timer.take() {
            timer.abort();
        }
        state.generation += 1;
        let generation = state.generation;
        let after = Duration::from_millis((wake - ms(now)).max(0) as u64);
        state.timer = Some(myself.send_after(after, move || SchedulerMessage::Wake(generation)));
    }

    fn views(state: &SchedulerState) -> Vec<ScheduleView> {
        let now = ms(state.args.clock.now());
        state
            .args
            .kinds
            .iter()
            .filter_map(|kind| {
                let schedule = state.schedules.get(&kind.default.kind)?.clone();
                let scopes = state.scopes_of(kind);
                let of = |pred: &dyn Fn(&Scope) -> bool| -> Vec<Scope> {
                    scopes.iter().filter(|s| pred(s)).cloned().collect()
                };
                let queued = of(&|s| {
                    state
                        .queue
                        .iter()
                        .any(|d| d.kind == schedule.kind && &d.scope == s)
                });
                let running = of(&|s| {
                    state
                        .running
                        .iter()
                        .any(|(k, r)| k == &schedule.kind && r == s)
                });
                let next = if schedule.enabled {
                    scopes
                        .iter()
                        .map(|scope| {
                            let (at, _) = state.due_at(&schedule, scope, now);
                            (scope.clone(), at_ms(at.max(now)))
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                Some(ScheduleView {
                    schedule,
                    next,
                    queued,
                    running,
                })
            })
            .collect()
    }
}

impl Actor for Scheduler {
    type Msg = SchedulerMessage;
    type State = SchedulerState;
    type Arguments = SchedulerArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: SchedulerArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let stored = args.store.load().await?;
        let anchor = match stored.anchor {
            Some(a) => a,
            None => {
                let now = args.clock.now();
                args.store.save_anchor(now).await?;
                now
            }
        };
        let mut schedules = BTreeMap::new();
        for kind in &args.kinds {
            let schedule = stored
                .schedules
                .iter()
                .find(|s| s.kind == kind.default.kind)
                .cloned()
                .unwrap_or_else(|| kind.default.clone());
            schedules.insert(schedule.kind.clone(), schedule);
        }
        let dispatched = stored
            .dispatched
            .into_iter()
            .map(|(k, s, t)| ((k, s), t))
            .collect();
        info!(kinds = schedules.len(), "scheduler started");
        myself.cast(SchedulerMessage::Refresh)?;
        Ok(SchedulerState {
            args,
            schedules,
            anchor,
            dispatched,
            succeeded: HashMap::new(),
            queue: Vec::new(),
            running: Vec::new(),
            seq: 0,
            generation: 0,
            timer: None,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(timer) = state.timer.take() {
            timer.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            SchedulerMessage::Get(reply) => {
                let _ = reply.send(Self::views(state));
            }
            SchedulerMessage::Update { kind, patch, reply } => {
                let result = match state.schedules.get(&kind) {
                    None => Err(SchedulerError::UnknownKind(kind.clone())),
                    Some(current) => match current.patched(&patch) {
                        Err(e) => Err(e),
                        Ok(next) => match state.args.store.save_schedule(next.clone()).await {
                            Err(e) => Err(SchedulerError::Store(e)),
                            Ok(()) => Ok(next),
                        },
                    },
                };
                if let Ok(next) = &result {
                    info!(kind = %next.kind, interval = ?next.interval, stagger = ?next.stagger, jitter = ?next.jitter, priority = next.priority, enabled = next.enabled, "schedule changed");
                    if !next.enabled {
                        state.queue.retain(|d| d.kind != next.kind);
                    }
                    state.schedules.insert(next.kind.clone(), next.clone());
                }
                let _ = reply.send(result);
                Self::look(&myself, state).await;
            }
            SchedulerMessage::Refresh => Self::look(&myself, state).await,
            SchedulerMessage::Wake(generation) => {
                if generation == state.generation {
                    Self::look(&myself, state).await;
                }
            }
            SchedulerMessage::Ended {
                kind,
                scope,
                outcome,
            } => {
                state.running.retain(|(k, s)| !(k == &kind && s == &scope));
                match &outcome {
                    RunOutcome::Completed { .. } => {
                        state
                            .succeeded
                            .insert((kind.clone(), scope.clone()), state.args.clock.now());
                    }
                    RunOutcome::Failed { reason, .. } => {
                        warn!(kind = %kind, scope = %scope, reason = %reason, "scheduled sync failed; it runs again at its next time")
                    }
                }
                Self::look(&myself, state).await;
            }
        }
        Ok(())
    }
}
