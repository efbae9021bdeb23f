//! The OrderPlacer actor: one placement at a time, each step in a spawned task (so the mailbox
//! stays responsive), timers for retries and the indexing lag, and the agents whose session
//! it waits for. The rules of one step are in `step()`; see the module docs for the states.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;
use tracing::{info, warn};

use super::{
    FormError, OrderForm, Outbox, OutboxError, Placement, PlacementBus, PlacementEvent,
    PlacementId, PlacementState, PlacerTiming, SubmitError, SyncPause, Transition,
};
use crate::supervision::exponential_backoff;

/// The actor (its form driver is fixed for its life).
pub struct OrderPlacer<F: OrderForm> {
    form: Arc<F>,
}

impl<F: OrderForm> OrderPlacer<F> {
    /// A placer driving `form`.
    pub fn new(form: Arc<F>) -> Self {
        Self { form }
    }
}

/// What the supervisor hands over at every (re)start.
#[derive(Clone)]
pub struct OrderPlacerArguments {
    pub outbox: Arc<dyn Outbox>,
    pub pause: Arc<dyn SyncPause>,
    pub events: PlacementBus,
    pub timing: PlacerTiming,
    /// Whether `agent`'s session is open (its ERP credentials are held).
    pub has_session: Arc<dyn Fn(&str) -> bool + Send + Sync>,
    /// Wall-clock time (deadlines, the indexing lag since a click).
    pub clock: Arc<dyn crate::clock::Clock>,
}

/// What the placer is doing, for operators.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlacerStatus {
    /// The placement being worked on.
    pub current: Option<PlacementId>,
    /// Placements waiting for their agent's session, with the agent.
    pub waiting_for_session: Vec<(PlacementId, String)>,
    /// Placements waiting for a retry or for the indexing lag, with how long.
    pub scheduled: Vec<(PlacementId, Duration)>,
}

/// Messages of [`OrderPlacer`].
pub enum OrderPlacerMessage {
    /// Placements were accepted or resolved: look at the outbox.
    Wake,
    /// `agent`'s session opened: its waiting placements go on.
    SessionOpened(String),
    /// What it is doing.
    Status(RpcReplyPort<PlacerStatus>),
    #[doc(hidden)]
    Done { id: PlacementId, next: Next },
    #[doc(hidden)]
    Due(PlacementId),
}

/// What to do next about a placement after a step.
#[doc(hidden)]
pub enum Next {
    /// Nothing: it ended, waits for an operator, or someone else moved it.
    Settled,
    /// Look at it again at this instant (the indexing lag).
    At(Instant),
    /// A transient failure: look again after the backoff.
    Retry(String),
    /// It waits for its agent's session.
    Session(String),
}

/// A pending `Due` message (aborted when dropped).
type Timer = AbortOnDropHandle<Result<(), ractor::MessagingErr<OrderPlacerMessage>>>;

/// Placements and timers.
pub struct OrderPlacerState {
    args: OrderPlacerArguments,
    current: Option<(PlacementId, AbortOnDropHandle<()>)>,
    later: HashMap<PlacementId, (Instant, Timer)>,
    sessionless: HashMap<PlacementId, String>,
    /// Consecutive failures per placement (the backoff).
    failures: HashMap<PlacementId, u32>,
}

impl<F: OrderForm> Actor for OrderPlacer<F> {
    type Msg = OrderPlacerMessage;
    type State = OrderPlacerState;
    type Arguments = OrderPlacerArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: OrderPlacerArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        // Placements left `submitting` or in doubt by a previous life are looked up first.
        myself.cast(OrderPlacerMessage::Wake)?;
        Ok(OrderPlacerState {
            args,
            current: None,
            later: HashMap::new(),
            sessionless: HashMap::new(),
            failures: HashMap::new(),
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            OrderPlacerMessage::Wake => {}
            OrderPlacerMessage::SessionOpened(agent) => {
                state.sessionless.retain(|_, a| *a != agent);
            }
            OrderPlacerMessage::Status(reply) => {
                let now = Instant::now();
                let _ = reply.send(PlacerStatus {
                    current: state.current.as_ref().map(|(id, _)| *id),
                    waiting_for_session: state
                        .sessionless
                        .iter()
                        .map(|(id, a)| (*id, a.clone()))
                        .collect(),
                    scheduled: state
                        .later
                        .iter()
                        .map(|(id, (at, _))| (*id, at.saturating_duration_since(now)))
                        .collect(),
                });
                return Ok(());
            }
            OrderPlacerMessage::Done { id, next } => {
                state.current = None;
                self.after_step(&myself, state, id, next);
            }
            OrderPlacerMessage::Due(id) => {
                state.later.remove(&id);
            }
        }
        self.look(&myself, state).await;
        Ok(())
    }
}

impl<F: OrderForm> OrderPlacer<F> {
    fn after_step(
        &self,
        myself: &ActorRef<OrderPlacerMessage>,
        state: &mut OrderPlacerState,
        id: PlacementId,
        next: Next,
    ) {
        let at = match next {
            Next::Settled => {
                state.failures.remove(&id);
                return;
            }
            Next::Session(agent) => {
                info!(placement = id, %agent, "placement waits for the agent's session");
                state.sessionless.insert(id, agent);
                return;
            }
            Next::At(at) => at,
            Next::Retry(why) => {
                let n = state.failures.entry(id).or_insert(0);
                *n += 1;
                let t = &state.args.timing;
                let delay = exponential_backoff(t.retry_base, t.retry_max, *n);
                warn!(placement = id, attempt = *n, ?delay, cause = %why, "placement step failed; retrying");
                Instant::now() + delay
            }
        };
        let delay = at.saturating_duration_since(Instant::now());
        let timer = myself.send_after(delay, move || OrderPlacerMessage::Due(id));
        state.later.insert(id, (at, AbortOnDropHandle::new(timer)));
    }

    /// Start the oldest placement that has work now, unless one is running.
    async fn look(&self, myself: &ActorRef<OrderPlacerMessage>, state: &mut OrderPlacerState) {
        if state.current.is_some() {
            return;
        }
        let pending = match state.args.outbox.unfinished().await {
            Ok(p) => p,
            Err(e) => {
                warn!(cause = %e, "cannot read the order outbox; looking again shortly");
                myself.send_after(state.args.timing.retry_base, || OrderPlacerMessage::Wake);
                return;
            }
        };
        let has_session = state.args.has_session.clone();
        state.sessionless.retain(|_, agent| !has_session(agent));
        let Some(p) = pending
            .into_iter()
            .find(|p| !state.later.contains_key(&p.id) && !state.sessionless.contains_key(&p.id))
        else {
            return;
        };
        let id = p.id;
        let ctx = Ctx {
            form: self.form.clone(),
            args: state.args.clone(),
            in_erp: std::sync::Mutex::new(Duration::ZERO),
        };
        let me = myself.clone();
        let task = tokio::spawn(async move {
            let started = Instant::now();
            // A step that panics drops its pause hold while unwinding, and is retried.
            let next = std::panic::AssertUnwindSafe(ctx.step(p))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Next::Retry("the placement step panicked".into()));
            ctx.record_timing(started.elapsed());
            let _ = me.cast(OrderPlacerMessage::Done { id, next });
        });
        state.current = Some((id, AbortOnDropHandle::new(task)));
    }
}

/// What one step works with.
struct Ctx<F> {
    form: Arc<F>,
    args: OrderPlacerArguments,
    /// Time spent in the ERP's form so far in this step.
    in_erp: std::sync::Mutex<Duration>,
}

impl<F: OrderForm> Ctx<F> {
    /// Run a call of the ERP's form, within the step timeout, counting its time as the ERP's.
    async fn erp<T>(
        &self,
        call: impl std::future::Future<Output = T>,
    ) -> Result<T, tokio::time::error::Elapsed> {
        let started = Instant::now();
        let out = tokio::time::timeout(self.args.timing.step_timeout, call).await;
        if let Ok(mut t) = self.in_erp.lock() {
            *t += started.elapsed();
        }
        out
    }

    /// Pause every sync (measured: the handshake is part of the placer's overhead).
    async fn pause(&self) -> Result<super::PauseGuard, Next> {
        let asked = Instant::now();
        let guard = self
            .args
            .pause
            .pause()
            .await
            .map_err(|e| Next::Retry(format!("pausing the syncs: {e}")))?;
        metrics::histogram!(super::metric::PAUSE_SECONDS).record(asked.elapsed().as_secs_f64());
        Ok(guard)
    }

    /// Publish a finished step's timing (see [`super::metric`]).
    fn record_timing(&self, total: Duration) {
        let erp = self.in_erp.lock().map(|t| *t).unwrap_or_default();
        metrics::histogram!(super::metric::STEP_SECONDS).record(total.as_secs_f64());
        metrics::histogram!(super::metric::ERP_SECONDS).record(erp.as_secs_f64());
        metrics::histogram!(super::metric::OVERHEAD_SECONDS)
            .record(total.saturating_sub(erp).as_secs_f64());
    }

    /// Record a transition and publish it; `Err` says what to do when it could not be.
    async fn move_to(&self, p: &Placement, t: Transition) -> Result<Placement, Next> {
        let cause = t.cause.clone();
        let at = self.args.clock.now();
        match self.args.outbox.transition(p.id, p.state, t, at).await {
            Ok(next) => {
                info!(placement = next.id, key = %next.key, agent = %next.agent, from = %p.state, to = %next.state, %cause, "placement");
                if next.state.is_settled() {
                    metrics::counter!(super::metric::SETTLED_TOTAL, "outcome" => next.state.as_str())
                        .increment(1);
                }
                self.args.events.send(PlacementEvent {
                    placement: next.clone(),
                    from: p.state,
                    cause,
                });
                Ok(next)
            }
            Err(OutboxError::Moved { actual, .. }) => {
                info!(placement = p.id, %actual, "placement moved meanwhile (an operator resolved it)");
                Err(Next::Settled)
            }
            Err(OutboxError::Store(e)) => Err(Next::Retry(format!("recording the placement: {e}"))),
        }
    }

    /// Move to `to` and stop there.
    async fn settle(&self, p: &Placement, to: PlacementState, cause: String) -> Next {
        match self.move_to(p, Transition::to(to, cause)).await {
            Ok(_) => Next::Settled,
            Err(next) => next,
        }
    }

    async fn step(&self, p: Placement) -> Next {
        match p.state {
            PlacementState::Accepted => self.place(p).await,
            PlacementState::Submitting => {
                let cause = "found submitting: the service stopped between the click and \
                             the confirmation; looking it up before anything else";
                match self
                    .move_to(&p, Transition::to(PlacementState::InDoubt, cause))
                    .await
                {
                    Ok(p) => self.recover(p).await,
                    Err(next) => next,
                }
            }
            PlacementState::InDoubt => self.recover(p).await,
            _ => Next::Settled,
        }
    }

    /// Fill the form, record `submitting`, click, read the number.
    async fn place(&self, p: Placement) -> Next {
        if self.args.clock.now() >= p.deadline {
            let why = "the deadline passed before Archibald took the order: it was not placed";
            return self.settle(&p, PlacementState::Failed, why.into()).await;
        }
        if !(self.args.has_session)(&p.agent) {
            return Next::Session(p.agent.clone());
        }
        let guard = match self.pause().await {
            Ok(g) => g,
            Err(next) => return next,
        };
        let timeout = self.args.timing.step_timeout;
        let filled = match self.erp(self.form.fill(&p.agent, &p.order)).await {
            Err(_) => return Next::Retry(format!("filling the order form took over {timeout:?}")),
            Ok(Err(FormError::Rejected(m))) => {
                return self.settle(&p, PlacementState::Rejected, m).await;
            }
            Ok(Err(FormError::Permanent(m))) => {
                return self.settle(&p, PlacementState::Failed, m).await;
            }
            Ok(Err(FormError::NoSession(_))) => return Next::Session(p.agent.clone()),
            Ok(Err(FormError::Retry(m))) => return Next::Retry(m),
            Ok(Ok(filled)) => filled,
        };
        // Durable BEFORE the click: from here on, a crash is looked up, never resubmitted blind.
        let submit = Transition {
            submit: true,
            ..Transition::to(PlacementState::Submitting, "submitting the order form")
        };
        let p = match self.move_to(&p, submit).await {
            Ok(p) => p,
            Err(next) => return next,
        };
        let why = match self.erp(self.form.submit(filled)).await {
            Ok(Ok(number)) => {
                let t = Transition {
                    order_number: Some(number.clone()),
                    ..Transition::to(
                        PlacementState::Placed,
                        format!("Archibald confirmed order {number}"),
                    )
                };
                return match self.move_to(&p, t).await {
                    Ok(_) => Next::Settled,
                    Err(next) => next,
                };
            }
            Ok(Err(SubmitError::Rejected(m))) => {
                return self.settle(&p, PlacementState::Rejected, m).await;
            }
            Ok(Err(SubmitError::Unknown(m))) => m,
            Err(_) => format!("no confirmation within {timeout:?}"),
        };
        drop(guard);
        let cause = format!("outcome unknown after the click ({why}): to be looked up");
        match self
            .move_to(&p, Transition::to(PlacementState::InDoubt, cause))
            .await
        {
            Ok(p) => Next::At(self.searchable_at(&p)),
            Err(next) => next,
        }
    }

    /// When a search that finds nothing means "not placed": the indexing lag after the click.
    fn searchable_at(&self, p: &Placement) -> Instant {
        let since = p.submitted_at.unwrap_or(p.accepted_at);
        let ready = since + self.args.timing.index_lag;
        let wait = ready
            .duration_since(self.args.clock.now())
            .unwrap_or(Duration::ZERO);
        Instant::now() + wait
    }

    /// Look an in-doubt placement up by its reference.
    async fn recover(&self, p: Placement) -> Next {
        if !(self.args.has_session)(&p.agent) {
            return Next::Session(p.agent.clone());
        }
        let guard = match self.pause().await {
            Ok(g) => g,
            Err(next) => return next,
        };
        let timeout = self.args.timing.step_timeout;
        let found = match self.erp(self.form.find(&p.agent, &p.order.reference)).await {
            Err(_) => return Next::Retry(format!("the order search took over {timeout:?}")),
            Ok(Err(FormError::NoSession(_))) => return Next::Session(p.agent.clone()),
            Ok(Err(e)) => return Next::Retry(format!("looking the order up: {e}")),
            Ok(Ok(found)) => found,
        };
        match found.as_slice() {
            [number] => {
                let t = Transition {
                    order_number: Some(number.clone()),
                    ..Transition::to(
                        PlacementState::Placed,
                        format!("found in Archibald by its reference: order {number}"),
                    )
                };
                match self.move_to(&p, t).await {
                    Ok(_) => Next::Settled,
                    Err(next) => next,
                }
            }
            [] => {
                let ready = self.searchable_at(&p);
                if Instant::now() < ready {
                    // Not indexed yet, maybe: look again once the lag has surely passed.
                    return Next::At(ready);
                }
                if self.args.clock.now() >= p.deadline {
                    let why = "not in Archibald after the indexing lag, and the deadline \
                               passed: it was not placed";
                    return self.settle(&p, PlacementState::Failed, why.into()).await;
                }
                drop(guard);
                let cause = "not in Archibald after the indexing lag: submitting it again";
                match self
                    .move_to(&p, Transition::to(PlacementState::Accepted, cause))
                    .await
                {
                    Ok(p) => Box::pin(self.place(p)).await,
                    Err(next) => next,
                }
            }
            many => {
                let why = format!(
                    "Archibald holds {} orders with reference {}: {}",
                    many.len(),
                    p.order.reference,
                    many.join(", ")
                );
                self.settle(&p, PlacementState::NeedsOperator, why).await
            }
        }
    }
}
