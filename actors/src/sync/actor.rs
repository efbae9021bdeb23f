//! SyncActor: drives the runs of one sync kind, one state machine per scope.
//!
//! ```text
//!  Request ──► Queued ──► Preparing ──► Running ──(last page)──► finish ──► Completed
//!                ▲  (spawned task,   (one page per  │
//!                │   cancellable)     Step message) │ transient error
//!                │        │               │         ▼
//!                └──── Paused ◄── Pause ──┘     RetryWait ──(backoff)──► Preparing/Running
//!                                                   │ permanent / retries exhausted
//!                                                   ▼
//!                                                 Failed
//! ```
//! - A second request for a scope that has a run joins it (same run id): coalescing.
//! - Nothing long runs inside a handler: `prepare` runs in a spawned task that reports back
//!   with a message; pages are applied one per `Step` message the actor sends itself. Any
//!   other message (Pause, Status, Request) is therefore handled within one page of work.
//! - Every self-message carries the run's *epoch*; pausing or rescheduling bumps it, so a late
//!   message from an abandoned step is recognised and ignored.
//! - Spawned tasks (preparations, retry timers) live in the state behind abort-on-drop
//!   handles: a killed actor leaves nothing running.
//! - `pre_start` (every start and restart) reopens the ledger's open runs of the kind with
//!   trigger `Resume`: the kind's `prepare` finds the checkpoint and the run continues.
//!
//! This actor must NOT touch the ERP, files or SQLite directly: everything goes through the
//! [`SyncKind`] and the [`RunLedger`]. Handler errors (`Err`) are reserved for broken
//! invariants: business failures end a run, not the actor.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::AbortOnDropHandle;
use tracing::{error, info, warn};

use super::contract::{OpenRun, Prepared, RetryPolicy, RunLedger, RunSpec, SyncError, SyncKind};
use super::protocol::{
    Internal, InternalMsg, LastRun, PauseAck, PausedRun, RequestAck, RunState, ScopeStatus,
    SyncMessage, SyncStatus, internal,
};
use crate::events::{EventBody, EventBus};
use crate::run::{Counts, Mode, RunId, RunNotes, RunOutcome, Scope, Trigger};

/// The generic sync actor. Holds the kind (fixed for the actor's life, shared with the
/// preparation tasks).
/// Counter: requests that joined a running run instead of starting one (label `kind`).
pub const JOINED_TOTAL: &str = "blackant_sync_joined_requests_total";

pub struct SyncActor<K: SyncKind> {
    kind: Arc<K>,
}

impl<K: SyncKind> SyncActor<K> {
    /// An actor driving `kind`.
    pub fn new(kind: Arc<K>) -> Self {
        Self { kind }
    }
}

/// What the supervisor hands over at every (re)start.
#[derive(Clone)]
pub struct SyncArguments {
    /// Where runs are opened and closed.
    pub ledger: Arc<dyn RunLedger>,
    /// Where events are published.
    pub events: EventBus,
    /// Retry rules for transient errors.
    pub retry: RetryPolicy,
    /// Seed of the retry jitter (tests); random when `None`.
    pub jitter_seed: Option<u64>,
    /// Serve this scope only (one actor per agent, under a [`super::SyncRegistry`]): resume
    /// only its open runs, refuse requests for any other. `None`: every scope.
    pub only: Option<Scope>,
}

/// A prepared export being applied.
struct Pages<P> {
    plan: P,
    next: usize,
    total: usize,
    unchanged_export: bool,
}

enum Phase<P> {
    /// Not working: just opened, or paused. Keeps the plan if pages were being applied.
    Waiting(Option<Pages<P>>),
    /// A preparation task is running.
    Preparing {
        cancel: CancellationToken,
        task: AbortOnDropHandle<()>,
    },
    /// A `Step` is in flight.
    Stepping(Pages<P>),
    /// A retry timer is running; then prepare again (no plan) or step again (plan).
    RetryWait {
        pages: Option<Pages<P>>,
        _timer: AbortOnDropHandle<()>,
    },
}

struct Run<P> {
    spec: RunSpec,
    epoch: u64,
    phase: Phase<P>,
    /// First time this run started preparing in this incarnation (None: not started yet).
    started: Option<Instant>,
    /// Stopped by a pause (so `Resumed` is published on resume).
    paused: bool,
    counts: Counts,
    /// What its steps noticed so far (unknown columns, held deletions).
    notes: RunNotes,
    page: usize,
    pages: usize,
    items: Option<u64>,
}

impl<P> Run<P> {
    /// A run that has not started yet.
    fn new(spec: RunSpec) -> Self {
        Self {
            spec,
            epoch: 0,
            phase: Phase::Waiting(None),
            started: None,
            paused: false,
            counts: Counts::default(),
            notes: RunNotes::default(),
            page: 0,
            pages: 0,
            items: None,
        }
    }
}

struct Slot<P> {
    run: Option<Run<P>>,
    last: Option<LastRun>,
    last_error: Option<String>,
}

impl<P> Default for Slot<P> {
    fn default() -> Self {
        Self {
            run: None,
            last: None,
            last_error: None,
        }
    }
}

/// The per-scope state machines and the actor's resources.
pub struct SyncState<P> {
    name: String,
    ledger: Arc<dyn RunLedger>,
    events: EventBus,
    retry: RetryPolicy,
    rng: StdRng,
    only: Option<Scope>,
    /// When the last run ended (or the actor started): what "idle for" is measured from.
    last_activity: Instant,
    paused: bool,
    epoch: u64,
    slots: BTreeMap<Scope, Slot<P>>,
    /// Preparations cancelled by a pause that have not reported back yet, by scope (with
    /// their epoch). Dropped (aborted) before the scope prepares again, so two preparations
    /// of one scope never overlap.
    cancelled: HashMap<Scope, (u64, AbortOnDropHandle<()>)>,
}

impl<P> SyncState<P> {
    fn next_epoch(&mut self) -> u64 {
        self.epoch += 1;
        self.epoch
    }

    fn emit(&self, run_id: RunId, scope: &Scope, body: EventBody) {
        self.events.emit(run_id, &self.name, scope, body);
    }
}

impl<K: SyncKind> Actor for SyncActor<K> {
    type Msg = SyncMessage;
    type State = SyncState<K::Plan>;
    type Arguments = SyncArguments;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: SyncArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let name = self.kind.name().to_string();
        // If the ledger cannot be read the actor cannot know what to resume: fail the start,
        // the supervisor retries with backoff.
        let mut open = args.ledger.open_runs(&name).await?;
        if let Some(only) = &args.only {
            open.retain(|r| &r.scope == only);
        }
        let mut state = SyncState {
            name,
            ledger: args.ledger,
            events: args.events,
            retry: args.retry,
            rng: match args.jitter_seed {
                Some(seed) => StdRng::seed_from_u64(seed),
                None => StdRng::from_os_rng(),
            },
            only: args.only,
            last_activity: Instant::now(),
            paused: false,
            epoch: 0,
            slots: BTreeMap::new(),
            cancelled: HashMap::new(),
        };
        for OpenRun {
            run_id,
            scope,
            mode,
            trigger: _,
        } in open
        {
            let slot = state.slots.entry(scope.clone()).or_default();
            if let Some(kept) = &slot.run {
                // Two open runs for one scope cannot both be resumed: keep the first.
                let reason = format!(
                    "superseded: run {} of the same scope was resumed instead",
                    kept.spec.run_id
                );
                warn!(kind = %state.name, %scope, run = %run_id, "{reason}");
                let outcome = RunOutcome::Failed {
                    reason,
                    permanent: true,
                    counts: Counts::default(),
                    duration: Default::default(),
                    notes: RunNotes::default(),
                };
                state.ledger.close_run(run_id, outcome).await?;
                continue;
            }
            info!(kind = %state.name, %scope, run = %run_id, "resuming open run");
            slot.run = Some(Run::new(RunSpec {
                run_id,
                kind: state.name.clone(),
                scope,
                mode,
                trigger: Trigger::Resume,
                attempt: 1,
            }));
        }
        Ok(state)
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let scopes: Vec<Scope> = state.slots.keys().cloned().collect();
        for scope in scopes {
            self.kick(&myself, state, &scope);
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
            SyncMessage::Request {
                scope,
                mode,
                trigger,
                reply,
            } => {
                self.on_request(&myself, state, scope, mode, trigger, reply)
                    .await
            }
            SyncMessage::Pause { reply } => {
                let ack = self.on_pause(state);
                let _ = reply.send(ack);
            }
            SyncMessage::Resume => self.on_resume(&myself, state),
            SyncMessage::Status { reply } => {
                let _ = reply.send(status(state));
            }
            SyncMessage::StopIfIdle { idle_for, reply } => {
                let idle = state.slots.values().all(|slot| slot.run.is_none())
                    && state.last_activity.elapsed() >= idle_for;
                let _ = reply.send(idle);
                if idle {
                    myself.stop(Some("idle".into()));
                }
            }
            SyncMessage::Internal(Internal(msg)) => match msg {
                InternalMsg::Prepared {
                    scope,
                    epoch,
                    result,
                } => {
                    self.on_prepared(&myself, state, scope, epoch, result)
                        .await?
                }
                InternalMsg::Step { scope, epoch } => {
                    self.on_step(&myself, state, scope, epoch).await
                }
                InternalMsg::Registry(_) => {}
                InternalMsg::RetryDue { scope, epoch } => {
                    let due = current(state, &scope, epoch)
                        .is_some_and(|run| matches!(run.phase, Phase::RetryWait { .. }));
                    if due {
                        self.kick(&myself, state, &scope);
                    }
                }
            },
        }
        Ok(())
    }
}

/// The run of `scope`, if its epoch is `epoch` (a message from an abandoned step is stale).
fn current<'s, P>(
    state: &'s mut SyncState<P>,
    scope: &Scope,
    epoch: u64,
) -> Option<&'s mut Run<P>> {
    state
        .slots
        .get_mut(scope)
        .and_then(|slot| slot.run.as_mut())
        .filter(|run| run.epoch == epoch)
}

impl<K: SyncKind> SyncActor<K> {
    async fn on_request(
        &self,
        myself: &ActorRef<SyncMessage>,
        state: &mut SyncState<K::Plan>,
        scope: Scope,
        mode: Mode,
        trigger: Trigger,
        reply: RpcReplyPort<Result<RequestAck, SyncError>>,
    ) {
        if let Some(only) = state.only.as_ref().filter(|only| **only != scope) {
            let why = format!("the {} sync actor of {only} cannot run {scope}", state.name);
            let _ = reply.send(Err(SyncError::permanent(why)));
            return;
        }
        if let Some(run) = state.slots.get(&scope).and_then(|s| s.run.as_ref()) {
            let run_id = run.spec.run_id;
            let _ = reply.send(Ok(RequestAck {
                run_id,
                joined: true,
            }));
            metrics::counter!(JOINED_TOTAL, "kind" => state.name.clone()).increment(1);
            if let Err(e) = state.ledger.note_joined(run_id, trigger).await {
                warn!(kind = %state.name, %scope, run = %run_id, cause = %e, "cannot count a joined request");
            }
            return;
        }
        let run_id = match state
            .ledger
            .open_run(&state.name, &scope, mode, trigger)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                warn!(kind = %state.name, %scope, error = %e, "cannot open a run");
                let _ = reply.send(Err(e.into()));
                return;
            }
        };
        let run = Run::new(RunSpec {
            run_id,
            kind: state.name.clone(),
            scope: scope.clone(),
            mode,
            trigger,
            attempt: 1,
        });
        state.slots.entry(scope.clone()).or_default().run = Some(run);
        state.emit(run_id, &scope, EventBody::Queued { trigger });
        let _ = reply.send(Ok(RequestAck {
            run_id,
            joined: false,
        }));
        self.kick(myself, state, &scope);
    }

    /// Move a waiting run forward, unless the actor is paused: step again if it has a plan,
    /// prepare otherwise.
    fn kick(&self, myself: &ActorRef<SyncMessage>, state: &mut SyncState<K::Plan>, scope: &Scope) {
        let paused = state.paused;
        let Some(run) = state.slots.get_mut(scope).and_then(|s| s.run.as_mut()) else {
            return;
        };
        let pages = match std::mem::replace(&mut run.phase, Phase::Waiting(None)) {
            Phase::Waiting(pages) | Phase::RetryWait { pages, .. } => pages,
            busy @ (Phase::Preparing { .. } | Phase::Stepping(_)) => {
                run.phase = busy;
                return;
            }
        };
        if paused {
            run.phase = Phase::Waiting(pages);
            return;
        }
        match pages {
            Some(pages) => {
                run.phase = Phase::Stepping(pages);
                let epoch = run.epoch;
                send_step(myself, scope, epoch);
            }
            None => self.start_prepare(myself, state, scope),
        }
    }

    fn start_prepare(
        &self,
        myself: &ActorRef<SyncMessage>,
        state: &mut SyncState<K::Plan>,
        scope: &Scope,
    ) {
        // A preparation cancelled by an earlier pause must not overlap this one.
        state.cancelled.remove(scope);
        let epoch = state.next_epoch();
        let name = state.name.clone();
        let events = state.events.clone();
        let Some(run) = state.slots.get_mut(scope).and_then(|s| s.run.as_mut()) else {
            return;
        };
        run.epoch = epoch;
        if run.started.is_none() {
            run.started = Some(Instant::now());
            events.emit(
                run.spec.run_id,
                &name,
                scope,
                EventBody::Started {
                    mode: run.spec.mode,
                    resumed: run.spec.trigger == Trigger::Resume,
                },
            );
        }
        let cancel = CancellationToken::new();
        let kind = self.kind.clone();
        let spec = run.spec.clone();
        let token = cancel.clone();
        let me = myself.clone();
        let task = tokio::spawn(async move {
            let result = kind
                .prepare(&spec, token)
                .await
                .map(|p| Box::new(p) as Box<dyn Any + Send>);
            let _ = me.send_message(internal(InternalMsg::Prepared {
                scope: spec.scope,
                epoch,
                result,
            }));
        });
        run.phase = Phase::Preparing {
            cancel,
            task: AbortOnDropHandle::new(task),
        };
    }

    async fn on_prepared(
        &self,
        myself: &ActorRef<SyncMessage>,
        state: &mut SyncState<K::Plan>,
        scope: Scope,
        epoch: u64,
        result: Result<Box<dyn Any + Send>, SyncError>,
    ) -> Result<(), ActorProcessingErr> {
        if state
            .cancelled
            .get(&scope)
            .is_some_and(|(e, _)| *e == epoch)
        {
            state.cancelled.remove(&scope);
            return Ok(());
        }
        let Some(run) = current(state, &scope, epoch) else {
            return Ok(());
        };
        if !matches!(run.phase, Phase::Preparing { .. }) {
            return Ok(());
        }
        match result {
            Ok(any) => {
                let prepared = any.downcast::<Prepared<K::Plan>>().map_err(|_| {
                    format!(
                        "sync {}: preparation returned a plan of the wrong type",
                        run.spec.kind
                    )
                })?;
                let Prepared {
                    plan,
                    pages,
                    next_page,
                    counts_so_far,
                    items,
                    unchanged_export,
                    notes,
                } = *prepared;
                run.counts = counts_so_far;
                run.notes = notes;
                run.pages = pages;
                run.page = next_page.min(pages);
                run.items = items;
                run.phase = Phase::Stepping(Pages {
                    plan,
                    next: next_page,
                    total: pages,
                    unchanged_export,
                });
                send_step(myself, &scope, epoch);
            }
            Err(e) => {
                run.phase = Phase::Waiting(None);
                self.on_error(myself, state, &scope, e, None).await;
            }
        }
        Ok(())
    }

    async fn on_step(
        &self,
        myself: &ActorRef<SyncMessage>,
        state: &mut SyncState<K::Plan>,
        scope: Scope,
        epoch: u64,
    ) {
        if state.paused {
            return;
        }
        let Some(run) = current(state, &scope, epoch) else {
            return;
        };
        if !matches!(run.phase, Phase::Stepping(_)) {
            return;
        }
        let Phase::Stepping(mut pages) = std::mem::replace(&mut run.phase, Phase::Waiting(None))
        else {
            return;
        };
        if !pages.unchanged_export && pages.next < pages.total {
            let index = pages.next;
            let applying = self.kind.apply_page(&run.spec, &pages.plan, index);
            match applying.await {
                Ok(counts) => {
                    run.counts += counts;
                    pages.next += 1;
                    run.page = pages.next;
                    run.spec.attempt = 1;
                    let body = EventBody::Progress {
                        page: pages.next,
                        pages: pages.total,
                        items: run.items,
                    };
                    let run_id = run.spec.run_id;
                    run.phase = Phase::Stepping(pages);
                    state.emit(run_id, &scope, body);
                    send_step(myself, &scope, epoch);
                }
                Err(e) => {
                    let e = match e {
                        SyncError::Cancelled => SyncError::transient(format!(
                            "applying page {} of {} was cancelled",
                            index + 1,
                            pages.total
                        )),
                        e => e,
                    };
                    self.on_error(myself, state, &scope, e, Some(pages)).await;
                }
            }
        } else {
            let unchanged_export = pages.unchanged_export;
            match self.kind.finish(&run.spec, pages.plan).await {
                Ok(finished) => {
                    run.counts += finished.counts;
                    let outcome = RunOutcome::Completed {
                        counts: run.counts,
                        unchanged_export,
                        duration: run.started.map(|t| t.elapsed()).unwrap_or_default(),
                        notes: std::mem::take(&mut run.notes).merged(finished.notes),
                    };
                    self.close(state, &scope, outcome).await;
                }
                // The plan is consumed: a retry prepares again (the checkpoint says every page
                // is applied, so it goes straight back to finish).
                Err(e) => self.on_error(myself, state, &scope, e, None).await,
            }
        }
    }

    /// A step failed: retry transient errors with backoff while attempts remain, else fail
    /// the run.
    async fn on_error(
        &self,
        myself: &ActorRef<SyncMessage>,
        state: &mut SyncState<K::Plan>,
        scope: &Scope,
        error: SyncError,
        pages: Option<Pages<K::Plan>>,
    ) {
        let max_attempts = state.retry.max_attempts;
        let paused = state.paused;
        let epoch = state.next_epoch();
        let Some(slot) = state.slots.get_mut(scope) else {
            return;
        };
        slot.last_error = Some(error.to_string());
        let Some(run) = slot.run.as_mut() else {
            return;
        };
        if !error.is_transient() || run.spec.attempt >= max_attempts {
            let reason = if error.is_transient() {
                format!("gave up after {} attempts: {error}", run.spec.attempt)
            } else {
                error.to_string()
            };
            let notes = std::mem::take(&mut run.notes).merged(RunNotes {
                evidence: error.evidence().map(str::to_string),
                ..RunNotes::default()
            });
            let outcome = RunOutcome::Failed {
                reason,
                permanent: !error.is_transient(),
                counts: run.counts,
                duration: run.started.map(|t| t.elapsed()).unwrap_or_default(),
                notes,
            };
            let spec = run.spec.clone();
            self.close(state, scope, outcome).await;
            self.kind.abandon(&spec, pages.map(|p| p.plan)).await;
            return;
        }
        run.spec.attempt += 1;
        run.epoch = epoch;
        let attempt = run.spec.attempt;
        let run_id = run.spec.run_id;
        let after = state.retry.delay(attempt - 1, &mut state.rng);
        warn!(kind = %state.name, %scope, run = %run_id, attempt, ?after, %error, "retrying");
        let Some(run) = state.slots.get_mut(scope).and_then(|s| s.run.as_mut()) else {
            return;
        };
        if paused {
            run.phase = Phase::Waiting(pages);
        } else {
            let me = myself.clone();
            let due_scope = scope.clone();
            let timer = tokio::spawn(async move {
                tokio::time::sleep(after).await;
                let _ = me.send_message(internal(InternalMsg::RetryDue {
                    scope: due_scope,
                    epoch,
                }));
            });
            run.phase = Phase::RetryWait {
                pages,
                _timer: AbortOnDropHandle::new(timer),
            };
        }
        state.emit(
            run_id,
            scope,
            EventBody::Retrying {
                attempt,
                after,
                reason: error.to_string(),
            },
        );
    }

    /// End the scope's run: record it in the ledger, publish the terminal event.
    async fn close(&self, state: &mut SyncState<K::Plan>, scope: &Scope, outcome: RunOutcome) {
        let Some(slot) = state.slots.get_mut(scope) else {
            return;
        };
        let Some(run) = slot.run.take() else {
            return;
        };
        let run_id = run.spec.run_id;
        state.last_activity = Instant::now();
        slot.last = Some(LastRun {
            run_id,
            outcome: outcome.clone(),
            finished_at: SystemTime::now(),
        });
        match &outcome {
            RunOutcome::Completed {
                counts, duration, ..
            } => {
                info!(kind = %state.name, %scope, run = %run_id, ?counts, ?duration, "run completed");
            }
            RunOutcome::Failed {
                reason, permanent, ..
            } => {
                error!(kind = %state.name, %scope, run = %run_id, permanent, %reason, "run failed");
            }
        }
        let body = EventBody::from(&outcome);
        if let Err(e) = state.ledger.close_run(run_id, outcome).await {
            // The run stays open in the ledger: the next restart resumes it, and `prepare`
            // (finding no checkpoint) simply runs it again. Harmless, so not fatal.
            error!(kind = %state.name, %scope, run = %run_id, error = %e, "cannot close run");
        }
        state.emit(run_id, scope, body);
    }

    fn on_pause(&self, state: &mut SyncState<K::Plan>) -> PauseAck {
        state.paused = true;
        let mut ack = PauseAck::default();
        let scopes: Vec<Scope> = state.slots.keys().cloned().collect();
        for scope in scopes {
            let epoch = state.next_epoch();
            let Some(run) = state.slots.get_mut(&scope).and_then(|s| s.run.as_mut()) else {
                continue;
            };
            let (pages, winding_down) =
                match std::mem::replace(&mut run.phase, Phase::Waiting(None)) {
                    Phase::Waiting(pages) => {
                        // Queued, or already paused: nothing running to stop.
                        run.phase = Phase::Waiting(pages);
                        continue;
                    }
                    Phase::Preparing { cancel, task } => {
                        // Let it wind down (release its browser lease...) until it reports back.
                        cancel.cancel();
                        (None, Some((run.epoch, task)))
                    }
                    Phase::Stepping(pages) => (Some(pages), None),
                    Phase::RetryWait { pages, .. } => (pages, None),
                };
            run.epoch = epoch;
            run.phase = Phase::Waiting(pages);
            run.paused = true;
            let run_id = run.spec.run_id;
            if let Some(task) = winding_down {
                state.cancelled.insert(scope.clone(), task);
            }
            ack.paused.push(PausedRun {
                run_id,
                scope: scope.clone(),
            });
            state.emit(run_id, &scope, EventBody::Paused);
        }
        info!(kind = %state.name, runs = ack.paused.len(), "paused");
        ack
    }

    fn on_resume(&self, myself: &ActorRef<SyncMessage>, state: &mut SyncState<K::Plan>) {
        if !state.paused {
            return;
        }
        state.paused = false;
        let scopes: Vec<Scope> = state.slots.keys().cloned().collect();
        for scope in scopes {
            let resumed = state
                .slots
                .get_mut(&scope)
                .and_then(|s| s.run.as_mut())
                .filter(|run| run.paused)
                .map(|run| {
                    run.paused = false;
                    run.spec.run_id
                });
            if let Some(run_id) = resumed {
                state.emit(run_id, &scope, EventBody::Resumed);
            }
            self.kick(myself, state, &scope);
        }
        info!(kind = %state.name, "resumed");
    }
}

fn send_step(myself: &ActorRef<SyncMessage>, scope: &Scope, epoch: u64) {
    // Sending to oneself only fails while stopping; nothing to do then.
    let _ = myself.send_message(internal(InternalMsg::Step {
        scope: scope.clone(),
        epoch,
    }));
}

fn status<P>(state: &SyncState<P>) -> SyncStatus {
    let scopes = state
        .slots
        .iter()
        .map(|(scope, slot)| {
            let run = slot.run.as_ref();
            let run_state = match run.map(|r| &r.phase) {
                None => RunState::Idle,
                Some(Phase::Waiting(_)) if run.is_some_and(|r| r.paused) => RunState::Paused,
                Some(Phase::Waiting(_)) => RunState::Queued,
                Some(Phase::Preparing { .. }) => RunState::Preparing,
                Some(Phase::Stepping(_)) => RunState::Running,
                Some(Phase::RetryWait { .. }) => RunState::RetryWait,
            };
            ScopeStatus {
                scope: scope.clone(),
                state: run_state,
                run_id: run.map(|r| r.spec.run_id),
                mode: run.map(|r| r.spec.mode),
                page: run.map_or(0, |r| r.page),
                pages: run.map_or(0, |r| r.pages),
                items: run.and_then(|r| r.items),
                attempt: run.map_or(0, |r| r.spec.attempt),
                counts: run.map(|r| r.counts).unwrap_or_default(),
                last: slot.last.clone(),
                last_error: slot.last_error.clone(),
            }
        })
        .collect();
    SyncStatus {
        kind: state.name.clone(),
        paused: state.paused,
        scopes,
    }
}
