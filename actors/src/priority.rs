//! Priority: pauses and resumes every sync, so that a priority operation (placing an order)
//! has the ERP and the browsers to itself.
//!
//! [`PriorityMessage::Pause`] sends `Pause` to every sync actor at once and answers when all
//! have acknowledged — a sync answers once it is at a page boundary with its checkpoint
//! written (a page is applied inside its actor's handler, so the `Pause` waits in the mailbox
//! for at most that one page; a preparation in progress is cancelled). A sync that does not
//! answer within `ack_timeout` is named in the report and restarted by its supervisor (then
//! paused again), so a priority operation never waits for ever. [`PriorityMessage::Resume`]
//! lets them continue from their checkpoints.
//!
//! Priority operations are serialized: a `Pause` that arrives while an earlier one holds the
//! syncs is answered only after that one's `Resume` (the syncs stay paused in between, the
//! hand-over costs nothing). Each pause is a *hold* with an id; [`PauseHold`] is a guard that
//! releases its hold when dropped, so a placement that fails, panics or whose actor is killed
//! never leaves the syncs paused, and a new Priority incarnation resumes every sync at start
//! (a crashed one may have left them paused). Metrics: pauses, wait p50/p95/max, and which
//! sync made a pause wait longest.
//!
//! This module must NOT know what a priority operation does; the caller does it between
//! `Pause` and `Resume`.

use std::collections::VecDeque;
use std::time::Duration;

use futures::future::join_all;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::time::Instant;
use tracing::{info, warn};

use crate::root::SupervisorHandle;
use crate::sync::{PausedRun, SyncHandle};

/// One sync as Priority sees it: its actor name (for restarts) and its handle.
#[derive(Clone)]
pub struct PrioritySync {
    pub name: String,
    pub handle: SyncHandle,
}

/// What the parent hands over.
#[derive(Clone)]
pub struct PriorityArguments {
    pub syncs: Vec<PrioritySync>,
    /// Longest wait for one sync's acknowledgement.
    pub ack_timeout: Duration,
    /// Restarts a sync that did not acknowledge (None: only report it).
    pub supervisor: Option<SupervisorHandle>,
}

/// One sync's answer to a pause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncAck {
    pub name: String,
    /// How long it took to answer.
    pub waited: Duration,
    /// Its runs that were working and are now stopped.
    pub paused: Vec<PausedRun>,
}

/// The outcome of a pause.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PauseReport {
    /// From the request to the moment every sync had answered or timed out.
    pub waited: Duration,
    /// Syncs that acknowledged.
    pub acked: Vec<SyncAck>,
    /// Syncs that did not answer within the timeout (restarted, then paused again).
    pub timed_out: Vec<String>,
    /// The sync that answered last (the one the pause waited for).
    pub slowest: Option<String>,
    /// The hold this pause is: release it with [`PriorityMessage::Release`].
    pub hold: u64,
}

/// Pause metrics since start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PauseMetrics {
    pub pauses: u64,
    pub wait_p50: Duration,
    pub wait_p95: Duration,
    pub wait_max: Duration,
    /// The sync that made the longest pause wait.
    pub slowest: Option<String>,
    /// Syncs that ever timed out, with how often.
    pub timeouts: Vec<(String, u64)>,
    /// The syncs are paused now (by an operator or a placement), and pauses waiting behind.
    pub paused: bool,
    pub waiting: usize,
}

/// Messages of [`Priority`].
pub enum PriorityMessage {
    /// Pause every sync; answered once all acknowledged (or timed out). They stay paused
    /// until `Resume`.
    Pause(RpcReplyPort<PauseReport>),
    /// End the current priority operation: the next queued `Pause` takes over, or the syncs
    /// continue.
    Resume,
    /// End hold `hold` (the current one, or a queued one that no longer wants the syncs);
    /// another hold is left alone.
    Release(u64),
    /// Metrics since start.
    Metrics(RpcReplyPort<PauseMetrics>),
}

/// The actor.
pub struct Priority;

/// Its state.
pub struct PriorityState {
    args: PriorityArguments,
    /// The hold that has the syncs paused, if any.
    held: Option<u64>,
    /// The id of the next hold.
    next_hold: u64,
    waiting: VecDeque<(Instant, u64, RpcReplyPort<PauseReport>)>,
    waits: Vec<Duration>,
    longest: Option<(Duration, String)>,
    timeouts: Vec<(String, u64)>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Histogram: from asking for a pause until every sync acknowledged it.
pub const PAUSE_WAIT_SECONDS: &str = "blackant_pause_wait_seconds";
/// Counter: syncs that did not acknowledge a pause in time (and were restarted).
pub const PAUSE_TIMEOUTS_TOTAL: &str = "blackant_pause_ack_timeouts_total";

impl Priority {
    async fn pause_all(state: &mut PriorityState) -> PauseReport {
        let started = Instant::now();
        let timeout = state.args.ack_timeout;
        let asks = state.args.syncs.iter().map(|s| async move {
            let t = Instant::now();
            let answer = tokio::time::timeout(timeout, s.handle.pause()).await;
            (s, t.elapsed(), answer)
        });
        let mut report = PauseReport::default();
        let mut last: Option<(Duration, String)> = None;
        for (sync, waited, answer) in join_all(asks).await {
            match answer {
                Ok(Ok(ack)) => {
                    if last.as_ref().is_none_or(|(w, _)| waited > *w) {
                        last = Some((waited, sync.name.clone()));
                    }
                    report.acked.push(SyncAck {
                        name: sync.name.clone(),
                        waited,
                        paused: ack.paused,
                    });
                }
                Ok(Err(e)) => {
                    // Not running (restarting, stopped): nothing of it runs, nothing to wait for.
                    warn!(sync = %sync.name, cause = %e, "cannot pause a sync that is not running");
                }
                Err(_) => {
                    warn!(sync = %sync.name, ?timeout, "sync did not acknowledge the pause; restarting it");
                    report.timed_out.push(sync.name.clone());
                    Self::restart_and_pause(state.args.supervisor.clone(), sync.clone());
                }
            }
        }
        report.waited = started.elapsed();
        report.slowest = match report.timed_out.first() {
            Some(name) => Some(name.clone()),
            None => last.map(|(_, n)| n),
        };
        report
    }

    /// A sync that did not answer: its supervisor restarts it; the new incarnation is paused.
    fn restart_and_pause(supervisor: Option<SupervisorHandle>, sync: PrioritySync) {
        let Some(supervisor) = supervisor else { return };
        tokio::spawn(async move {
            match supervisor.restart(&sync.name).await {
                Ok(Ok(())) => {
                    if let Err(e) = sync.handle.pause().await {
                        warn!(sync = %sync.name, cause = %e, "cannot pause the restarted sync");
                    }
                }
                Ok(Err(e)) => warn!(sync = %sync.name, cause = %e, "cannot restart the sync"),
                Err(e) => warn!(sync = %sync.name, cause = %e, "supervisor unavailable"),
            }
        });
    }

    /// End the current hold: hand the paused syncs to the next live waiter, or resume them.
    fn release_current(state: &mut PriorityState) {
        if state.held.is_none() {
            return;
        }
        while let Some((since, hold, reply)) = state.waiting.pop_front() {
            if reply.is_closed() {
                continue; // gave up waiting
            }
            // Hand over: the syncs are paused already.
            let report = PauseReport {
                waited: since.elapsed(),
                hold,
                ..PauseReport::default()
            };
            if reply.send(report).is_ok() {
                state.held = Some(hold);
                return;
            }
        }
        state.held = None;
        Self::resume_all(state);
        info!("syncs resumed");
    }

    fn resume_all(state: &PriorityState) {
        for sync in &state.args.syncs {
            if let Err(e) = sync.handle.resume() {
                warn!(sync = %sync.name, cause = %e, "cannot resume a sync");
            }
        }
    }

    fn record(state: &mut PriorityState, report: &PauseReport) {
        state.waits.push(report.waited);
        metrics::histogram!(PAUSE_WAIT_SECONDS).record(report.waited.as_secs_f64());
        if !report.timed_out.is_empty() {
            metrics::counter!(PAUSE_TIMEOUTS_TOTAL).increment(report.timed_out.len() as u64);
        }
        if let Some(slowest) = &report.slowest
            && state
                .longest
                .as_ref()
                .is_none_or(|(w, _)| report.waited > *w)
        {
            state.longest = Some((report.waited, slowest.clone()));
        }
        for name in &report.timed_out {
            match state.timeouts.iter_mut().find(|(n, _)| n == name) {
                Some((_, count)) => *count += 1,
                None => state.timeouts.push((name.clone(), 1)),
            }
        }
        info!(waited = ?report.waited, slowest = ?report.slowest, timed_out = ?report.timed_out, "syncs paused");
    }
}

impl Actor for Priority {
    type Msg = PriorityMessage;
    type State = PriorityState;
    type Arguments = PriorityArguments;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: PriorityArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(PriorityState {
            args,
            held: None,
            next_hold: 1,
            waiting: VecDeque::new(),
            waits: Vec::new(),
            longest: None,
            timeouts: Vec::new(),
        })
    }

    async fn post_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // A previous incarnation may have died holding the syncs: nothing stays paused.
        Self::resume_all(state);
        Ok(())
    }

    async fn handle(
        &self,
        _myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            PriorityMessage::Pause(reply) => {
                let hold = state.next_hold;
                state.next_hold += 1;
                if state.held.is_some() {
                    state.waiting.push_back((Instant::now(), hold, reply));
                    return Ok(());
                }
                let mut report = Self::pause_all(state).await;
                report.hold = hold;
                Self::record(state, &report);
                state.held = Some(hold);
                let _ = reply.send(report);
            }
            PriorityMessage::Resume => Self::release_current(state),
            PriorityMessage::Release(hold) => {
                if state.held == Some(hold) {
                    Self::release_current(state);
                } else {
                    // A queued hold gives up before it got the syncs.
                    state.waiting.retain(|(_, h, _)| *h != hold);
                }
            }
            PriorityMessage::Metrics(reply) => {
                let mut sorted = state.waits.clone();
                sorted.sort();
                let _ = reply.send(PauseMetrics {
                    pauses: sorted.len() as u64,
                    wait_p50: percentile(&sorted, 0.50),
                    wait_p95: percentile(&sorted, 0.95),
                    wait_max: sorted.last().copied().unwrap_or_default(),
                    slowest: state.longest.as_ref().map(|(_, n)| n.clone()),
                    timeouts: state.timeouts.clone(),
                    paused: state.held.is_some(),
                    waiting: state.waiting.len(),
                });
            }
        }
        Ok(())
    }
}

/// Every sync paused while this lives: dropping it releases its hold (the syncs continue, or
/// the next queued pause takes them) — on success, error, panic, or when its holder's actor
/// is killed.
pub struct PauseHold {
    priority: ActorRef<PriorityMessage>,
    report: PauseReport,
}

impl PauseHold {
    /// Pause every sync through `priority` (waiting behind the holds before this one).
    pub async fn take(
        priority: &ActorRef<PriorityMessage>,
    ) -> Result<PauseHold, crate::directory::CallError> {
        let report = crate::directory::call(priority, PriorityMessage::Pause, None).await?;
        Ok(PauseHold {
            priority: priority.clone(),
            report,
        })
    }

    /// How the pause went.
    pub fn report(&self) -> &PauseReport {
        &self.report
    }
}

/// The Priority actor registered as `name`, resolved at each pause (it survives restarts): the
/// OrderPlacer's way to pause every sync.
#[derive(Clone)]
pub struct NamedPriority {
    pub directory: crate::directory::Directory,
    pub name: String,
}

impl crate::order_placer::SyncPause for NamedPriority {
    fn pause(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<crate::order_placer::PauseGuard, String>> {
        Box::pin(async move {
            let priority = self
                .directory
                .get_ref::<PriorityMessage>(&self.name)
                .map_err(|e| e.to_string())?;
            let hold = PauseHold::take(&priority)
                .await
                .map_err(|e| format!("{}: {e}", self.name))?;
            Ok(Box::new(hold) as crate::order_placer::PauseGuard)
        })
    }
}

impl Drop for PauseHold {
    fn drop(&mut self) {
        // A Priority already gone has resumed every sync at its restart.
        let _ = self
            .priority
            .cast(PriorityMessage::Release(self.report.hold));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Directory;
    use crate::events::EventBus;
    use crate::root::{ChildSpec, RootSupervisor, RootSupervisorArguments};
    use crate::supervision::RestartPolicy;
    use crate::sync::{PauseAck, SyncMessage};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A sync stand-in: answers Pause after `delay`, or never when `deaf`; counts starts (and
    /// adds a permit to `started` at each, for the test to wait on).
    struct Fake {
        delay: Duration,
        deaf: bool,
        starts: Arc<AtomicUsize>,
        started: Arc<tokio::sync::Semaphore>,
    }

    impl Actor for Fake {
        type Msg = SyncMessage;
        type State = usize;
        type Arguments = ();
        async fn pre_start(
            &self,
            _: ActorRef<SyncMessage>,
            _: (),
        ) -> Result<usize, ActorProcessingErr> {
            self.started.add_permits(1);
            Ok(self.starts.fetch_add(1, Ordering::SeqCst))
        }
        async fn handle(
            &self,
            _: ActorRef<SyncMessage>,
            msg: SyncMessage,
            incarnation: &mut usize,
        ) -> Result<(), ActorProcessingErr> {
            if let SyncMessage::Pause { reply } = msg {
                // Only the first incarnation of a deaf sync is deaf: the restart cures it.
                if self.deaf && *incarnation == 0 {
                    std::mem::forget(reply);
                } else {
                    tokio::time::sleep(self.delay).await;
                    let _ = reply.send(PauseAck::default());
                }
            }
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_waits_for_every_ack_names_the_slowest_and_restarts_a_sync_that_never_answers()
    {
        let directory = Directory::new();
        let bus = EventBus::new(16);
        let starts: Vec<Arc<AtomicUsize>> = (0..3).map(|_| Arc::default()).collect();
        let deaf_started = Arc::new(tokio::sync::Semaphore::new(0));
        let specs = [
            ("Quick", 10, false),
            ("Slow", 200, false),
            ("Deaf", 0, true),
        ]
        .iter()
        .zip(&starts)
        .map(|((name, ms, deaf), starts)| {
            let (delay, deaf, starts) = (Duration::from_millis(*ms), *deaf, starts.clone());
            let started = if deaf {
                deaf_started.clone()
            } else {
                Arc::new(tokio::sync::Semaphore::new(0))
            };
            ChildSpec::for_actor(*name, RestartPolicy::default(), move || {
                (
                    Fake {
                        delay,
                        deaf,
                        starts: starts.clone(),
                        started: started.clone(),
                    },
                    (),
                )
            })
        })
        .collect();
        let (root, _) = Actor::spawn(
            None,
            RootSupervisor,
            RootSupervisorArguments::new(directory.clone(), specs),
        )
        .await
        .unwrap();
        let supervisor = SupervisorHandle::new(root, Duration::from_secs(5));
        let syncs = ["Quick", "Slow", "Deaf"]
            .iter()
            .map(|n| PrioritySync {
                name: n.to_string(),
                handle: SyncHandle::named(directory.clone(), *n, bus.clone()),
            })
            .collect();
        let args = PriorityArguments {
            syncs,
            ack_timeout: Duration::from_secs(1),
            supervisor: Some(supervisor),
        };
        let (priority, _) = Actor::spawn(None, Priority, args).await.unwrap();

        let report = ractor::call!(priority, PriorityMessage::Pause).unwrap();
        assert_eq!(report.timed_out, ["Deaf"], "{report:?}");
        assert_eq!(
            report.slowest.as_deref(),
            Some("Deaf"),
            "the sync that made us wait is named"
        );
        let mut acked: Vec<&str> = report.acked.iter().map(|a| a.name.as_str()).collect();
        acked.sort();
        assert_eq!(acked, ["Quick", "Slow"]);
        assert!(
            report.waited >= Duration::from_secs(1) && report.waited < Duration::from_secs(2),
            "{report:?}"
        );

        // A second pause while the first holds the syncs is answered at the first's Resume
        // (sent in this order to the same mailbox), without pausing anything again.
        let (tx, rx) = ractor::concurrency::oneshot();
        priority.cast(PriorityMessage::Pause(tx.into())).unwrap();
        priority.cast(PriorityMessage::Resume).unwrap();
        let handed_over = rx.await.unwrap();
        assert!(
            handed_over.acked.is_empty() && handed_over.timed_out.is_empty(),
            "{handed_over:?}"
        );
        priority.cast(PriorityMessage::Resume).unwrap();

        // The deaf sync was restarted by its supervisor; the next pause needs no timeout.
        let _restarted = deaf_started.acquire_many(2).await.unwrap();
        assert_eq!(starts[2].load(Ordering::SeqCst), 2);
        let report = ractor::call!(priority, PriorityMessage::Pause).unwrap();
        assert!(report.timed_out.is_empty(), "{report:?}");
        assert_eq!(report.slowest.as_deref(), Some("Slow"));
        let metrics = ractor::call!(priority, PriorityMessage::Metrics).unwrap();
        assert_eq!(metrics.pauses, 2);
        assert_eq!(metrics.slowest.as_deref(), Some("Deaf"));
        assert_eq!(metrics.timeouts, [("Deaf".to_string(), 1)]);
        assert!(
            metrics.wait_max >= Duration::from_secs(1) && metrics.wait_p50 < Duration::from_secs(1),
            "{metrics:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_is_released_when_its_guard_drops_and_a_new_priority_resumes_everything() {
        let bus = EventBus::new(16);
        let resumes = Arc::new(AtomicUsize::new(0));
        /// A sync that answers pauses at once and counts resumes.
        struct Counting(Arc<AtomicUsize>);
        impl Actor for Counting {
            type Msg = SyncMessage;
            type State = ();
            type Arguments = ();
            async fn pre_start(
                &self,
                _: ActorRef<SyncMessage>,
                _: (),
            ) -> Result<(), ActorProcessingErr> {
                Ok(())
            }
            async fn handle(
                &self,
                _: ActorRef<SyncMessage>,
                msg: SyncMessage,
                _: &mut (),
            ) -> Result<(), ActorProcessingErr> {
                match msg {
                    SyncMessage::Pause { reply } => {
                        let _ = reply.send(PauseAck::default());
                    }
                    SyncMessage::Resume => {
                        self.0.fetch_add(1, Ordering::SeqCst);
                    }
                    _ => {}
                }
                Ok(())
            }
        }
        let (sync, _) = Actor::spawn(None, Counting(resumes.clone()), ())
            .await
            .unwrap();
        let args = PriorityArguments {
            syncs: vec![PrioritySync {
                name: "S".into(),
                handle: SyncHandle::new(sync.clone(), bus.clone()),
            }],
            ack_timeout: Duration::from_secs(1),
            supervisor: None,
        };
        let (priority, _) = Actor::spawn(None, Priority, args.clone()).await.unwrap();
        // Ask something in mailbox order after each cast, so its effect has happened.
        let settle = async |p: &ActorRef<PriorityMessage>| {
            ractor::call!(p, PriorityMessage::Metrics).unwrap();
            ractor::call!(sync, |reply| SyncMessage::Status { reply }).ok();
        };
        settle(&priority).await;
        let at_start = resumes.load(Ordering::SeqCst);
        assert_eq!(at_start, 1, "a starting Priority resumes every sync");

        let first = PauseHold::take(&priority).await.unwrap();
        // A second hold queues behind the first; giving it up before it is granted is fine.
        let queued = tokio::spawn({
            let priority = priority.clone();
            async move { PauseHold::take(&priority).await }
        });
        tokio::task::yield_now().await;
        settle(&priority).await;
        queued.abort();
        let _ = queued.await;
        drop(first);
        settle(&priority).await;
        assert_eq!(
            resumes.load(Ordering::SeqCst),
            at_start + 1,
            "the dropped guard resumed the syncs (the abandoned waiter did not keep them)"
        );

        // A holder that dies (its guard dropped while unwinding) leaves nothing paused.
        let p2 = priority.clone();
        let holder = tokio::spawn(async move {
            let _hold = PauseHold::take(&p2).await.unwrap();
            panic!("the placement broke");
        });
        assert!(holder.await.is_err());
        settle(&priority).await;
        assert_eq!(resumes.load(Ordering::SeqCst), at_start + 2);

        // A Priority that dies holding the syncs: its successor resumes them.
        let _lost = PauseHold::take(&priority).await.unwrap();
        priority.kill();
        priority.wait(None).await.unwrap();
        let (successor, _) = Actor::spawn(None, Priority, args).await.unwrap();
        settle(&successor).await;
        assert_eq!(resumes.load(Ordering::SeqCst), at_start + 3);
    }
}
