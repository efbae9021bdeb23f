//! OrderPlacer tests with fakes: a memory outbox, a fake ERP (orders by reference, scripted
//! fill and submit outcomes, an indexing lag) and a pause that counts its holds. Time is
//! tokio's paused clock, so the indexing lag and backoffs pass without waiting.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::FutureExt;
use futures::future::BoxFuture;
use ractor::{Actor, ActorRef};

use super::*;
use crate::events::Subscription;

const LAG: Duration = Duration::from_secs(5);

/// What the fake ERP does at a submission.
#[derive(Debug, Clone, PartialEq)]
enum Click {
    /// Creates the order and confirms it.
    Ok,
    /// Creates the order; the confirmation is lost.
    Lost,
    /// Nothing is created, and the answer is an error.
    FailBefore,
    /// Validation errors in the page.
    Reject(&'static str),
    /// The outcome never arrives, and nothing is created (a hung request).
    Hang,
}

#[derive(Default)]
struct Erp {
    /// (agent, reference, number, visible from).
    orders: Vec<(String, String, String, tokio::time::Instant)>,
    clicks: VecDeque<Click>,
    fills: VecDeque<FormError>,
    next: u32,
    /// States of the placement at each click (the outbox must say `submitting` already).
    state_at_click: Vec<PlacementState>,
    /// Whether the syncs were paused at each fill, click and search.
    paused_at: Vec<bool>,
    searches: usize,
}

struct FakeForm {
    erp: Arc<Mutex<Erp>>,
    outbox: Arc<MemoryOutbox>,
    held: Arc<AtomicUsize>,
}

impl OrderForm for FakeForm {
    type Filled = (String, OrderDraft);

    fn fill<'a>(
        &'a self,
        agent: &'a str,
        order: &'a OrderDraft,
    ) -> BoxFuture<'a, Result<Self::Filled, FormError>> {
        async move {
            let mut erp = self.erp.lock().unwrap();
            erp.paused_at.push(self.held.load(Ordering::SeqCst) > 0);
            match erp.fills.pop_front() {
                Some(e) => Err(e),
                None => Ok((agent.to_string(), order.clone())),
            }
        }
        .boxed()
    }

    fn submit(&self, (agent, order): Self::Filled) -> BoxFuture<'_, Result<String, SubmitError>> {
        async move {
            let state = self.outbox.by_reference(&order.reference).state;
            let click = {
                let mut erp = self.erp.lock().unwrap();
                erp.state_at_click.push(state);
                erp.paused_at.push(self.held.load(Ordering::SeqCst) > 0);
                erp.clicks.pop_front().unwrap_or(Click::Ok)
            };
            let create = |erp: &mut Erp| {
                erp.next += 1;
                let number = format!("ORD/{:05}", erp.next);
                let visible = tokio::time::Instant::now() + LAG / 2;
                erp.orders.push((
                    agent.clone(),
                    order.reference.clone(),
                    number.clone(),
                    visible,
                ));
                number
            };
            match click {
                Click::Ok => Ok(create(&mut self.erp.lock().unwrap())),
                Click::Lost => {
                    create(&mut self.erp.lock().unwrap());
                    Err(SubmitError::Unknown("connection dropped".into()))
                }
                Click::FailBefore => Err(SubmitError::Unknown("HTTP 500".into())),
                Click::Reject(m) => Err(SubmitError::Rejected(m.into())),
                Click::Hang => std::future::pending().await,
            }
        }
        .boxed()
    }

    fn find<'a>(
        &'a self,
        agent: &'a str,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, FormError>> {
        async move {
            let mut erp = self.erp.lock().unwrap();
            erp.searches += 1;
            erp.paused_at.push(self.held.load(Ordering::SeqCst) > 0);
            let now = tokio::time::Instant::now();
            Ok(erp
                .orders
                .iter()
                .filter(|(a, r, _, visible)| a == agent && r == reference && *visible <= now)
                .map(|(_, _, n, _)| n.clone())
                .collect())
        }
        .boxed()
    }
}

struct MemoryOutbox {
    clock: crate::clock::TokioClock,
    rows: Mutex<Vec<Placement>>,
    log: Mutex<Vec<(PlacementId, PlacementState, PlacementState, String)>>,
}

impl MemoryOutbox {
    fn add(&self, key: &str, agent: &str, deadline: Duration) -> PlacementId {
        let mut rows = self.rows.lock().unwrap();
        let id = rows.len() as i64 + 1;
        let now = self.clock.now();
        rows.push(Placement {
            id,
            key: key.into(),
            agent: agent.into(),
            order: OrderDraft {
                customer_code: "C1".into(),
                lines: vec![OrderLine {
                    code: "P1".into(),
                    quantity: 6,
                }],
                notes: String::new(),
                reference: format!("REF{id}"),
            },
            state: PlacementState::Accepted,
            attempts: 0,
            order_number: None,
            reason: None,
            accepted_at: now,
            deadline: now + deadline,
            submitted_at: None,
            updated_at: now,
        });
        id
    }

    fn get(&self, id: PlacementId) -> Placement {
        self.rows.lock().unwrap()[id as usize - 1].clone()
    }

    fn by_reference(&self, reference: &str) -> Placement {
        let rows = self.rows.lock().unwrap();
        rows.iter()
            .find(|p| p.order.reference == reference)
            .unwrap()
            .clone()
    }

    fn set_state(&self, id: PlacementId, state: PlacementState) {
        self.rows.lock().unwrap()[id as usize - 1].state = state;
    }
}

impl Outbox for MemoryOutbox {
    fn unfinished(&self) -> BoxFuture<'_, Result<Vec<Placement>, crate::sync::LedgerError>> {
        let rows = self.rows.lock().unwrap();
        let v = rows
            .iter()
            .filter(|p| !p.state.is_settled())
            .cloned()
            .collect();
        async move { Ok(v) }.boxed()
    }

    fn transition(
        &self,
        id: PlacementId,
        from: PlacementState,
        t: Transition,
        at: SystemTime,
    ) -> BoxFuture<'_, Result<Placement, OutboxError>> {
        let mut rows = self.rows.lock().unwrap();
        let p = &mut rows[id as usize - 1];
        let result = if p.state != from {
            Err(OutboxError::Moved {
                id,
                expected: from,
                actual: p.state,
            })
        } else {
            self.log
                .lock()
                .unwrap()
                .push((id, from, t.to, t.cause.clone()));
            p.state = t.to;
            p.reason = Some(t.cause);
            if t.order_number.is_some() {
                p.order_number = t.order_number;
            }
            if t.submit {
                p.attempts += 1;
                p.submitted_at = Some(at);
            }
            Ok(p.clone())
        };
        async move { result }.boxed()
    }
}

/// A pause that counts the holds alive (a guard decrements on drop).
struct CountingPause {
    held: Arc<AtomicUsize>,
    pauses: AtomicUsize,
}

struct Held(Arc<AtomicUsize>);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl SyncPause for CountingPause {
    fn pause(&self) -> BoxFuture<'_, Result<PauseGuard, String>> {
        self.pauses.fetch_add(1, Ordering::SeqCst);
        self.held.fetch_add(1, Ordering::SeqCst);
        let guard: PauseGuard = Box::new(Held(self.held.clone()));
        async move { Ok(guard) }.boxed()
    }
}

struct Fixture {
    erp: Arc<Mutex<Erp>>,
    outbox: Arc<MemoryOutbox>,
    held: Arc<AtomicUsize>,
    sessions: Arc<Mutex<HashMap<String, bool>>>,
    events: PlacementBus,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture {
            erp: Arc::default(),
            outbox: Arc::new(MemoryOutbox {
                clock: crate::clock::TokioClock::starting_at(SystemTime::now()),
                rows: Mutex::default(),
                log: Mutex::default(),
            }),
            held: Arc::default(),
            sessions: Arc::new(Mutex::new(HashMap::from([
                ("a1".to_string(), true),
                ("a2".to_string(), true),
            ]))),
            events: PlacementBus::new(256),
        }
    }

    async fn start(&self) -> ActorRef<OrderPlacerMessage> {
        let form = FakeForm {
            erp: self.erp.clone(),
            outbox: self.outbox.clone(),
            held: self.held.clone(),
        };
        let sessions = self.sessions.clone();
        let args = OrderPlacerArguments {
            outbox: self.outbox.clone(),
            pause: Arc::new(CountingPause {
                held: self.held.clone(),
                pauses: AtomicUsize::new(0),
            }),
            events: self.events.clone(),
            timing: PlacerTiming {
                index_lag: LAG,
                step_timeout: Duration::from_secs(30),
                retry_base: Duration::from_secs(1),
                retry_max: Duration::from_secs(4),
            },
            has_session: Arc::new(move |a: &str| {
                sessions.lock().unwrap().get(a).copied().unwrap_or(false)
            }),
            clock: Arc::new(self.outbox.clock),
        };
        let (actor, _) = Actor::spawn(None, OrderPlacer::new(Arc::new(form)), args)
            .await
            .unwrap();
        actor
    }

    fn numbers_of(&self, reference: &str) -> Vec<String> {
        let erp = self.erp.lock().unwrap();
        erp.orders
            .iter()
            .filter(|(_, r, _, _)| r == reference)
            .map(|(_, _, n, _)| n.clone())
            .collect()
    }

    fn path(&self, id: PlacementId) -> Vec<PlacementState> {
        let log = self.outbox.log.lock().unwrap();
        let mut path = vec![PlacementState::Accepted];
        path.extend(
            log.iter()
                .filter(|(i, ..)| *i == id)
                .map(|(_, _, to, _)| *to),
        );
        path
    }
}

/// Wait for placement `id` to settle (placed, rejected, failed, needs operator).
async fn settled(events: &mut Subscription<PlacementEvent>, id: PlacementId) -> Placement {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(600), events.recv())
            .await
            .expect("the placement settles")
            .expect("bus open");
        if e.placement.id == id && e.placement.state.is_settled() {
            return e.placement;
        }
    }
}

use PlacementState::*;

#[tokio::test(start_paused = true)]
async fn a_placement_is_submitted_once_after_submitting_is_recorded_with_every_sync_paused() {
    let fx = Fixture::new();
    let id = fx.outbox.add("k1", "a1", Duration::from_secs(600));
    let mut events = fx.events.subscribe();
    let _placer = fx.start().await;
    let p = settled(&mut events, id).await;
    assert_eq!(p.state, Placed);
    assert_eq!(p.order_number.as_deref(), Some("ORD/00001"));
    assert_eq!(p.attempts, 1);
    assert_eq!(fx.path(id), [Accepted, Submitting, Placed]);
    let erp = fx.erp.lock().unwrap();
    assert_eq!(erp.state_at_click, [Submitting], "durable before the click");
    assert_eq!(
        erp.paused_at,
        [true, true],
        "fill and click with every sync paused"
    );
    drop(erp);
    assert_eq!(fx.held.load(Ordering::SeqCst), 0, "resumed afterwards");
    assert_eq!(fx.numbers_of("REF1").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_lost_confirmation_is_found_by_its_reference_after_the_lag_and_never_resubmitted() {
    let fx = Fixture::new();
    fx.erp.lock().unwrap().clicks.push_back(Click::Lost);
    let id = fx.outbox.add("k1", "a1", Duration::from_secs(600));
    let mut events = fx.events.subscribe();
    let _placer = fx.start().await;
    let p = settled(&mut events, id).await;
    assert_eq!(p.state, Placed);
    assert_eq!(fx.path(id), [Accepted, Submitting, InDoubt, Placed]);
    assert_eq!(fx.numbers_of("REF1"), [p.order_number.unwrap()]);
    assert_eq!(p.attempts, 1, "one click");
    assert_eq!(fx.held.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_submission_that_created_nothing_is_submitted_again_only_after_the_lag() {
    let fx = Fixture::new();
    fx.erp.lock().unwrap().clicks.push_back(Click::FailBefore);
    let id = fx.outbox.add("k1", "a1", Duration::from_secs(600));
    let mut events = fx.events.subscribe();
    let started = tokio::time::Instant::now();
    let _placer = fx.start().await;
    let p = settled(&mut events, id).await;
    assert_eq!(p.state, Placed);
    assert!(
        started.elapsed() >= LAG,
        "searched again until the lag had passed"
    );
    assert_eq!(
        fx.path(id),
        [Accepted, Submitting, InDoubt, Accepted, Submitting, Placed]
    );
    assert_eq!(p.attempts, 2);
    assert_eq!(fx.numbers_of("REF1").len(), 1, "exactly once");
}

#[tokio::test(start_paused = true)]
async fn a_placement_found_submitting_at_start_is_looked_up_first() {
    let fx = Fixture::new();
    let id = fx.outbox.add("k1", "a1", Duration::from_secs(600));
    // A previous life clicked, the ERP created it, and the service died.
    fx.outbox.set_state(id, Submitting);
    fx.erp.lock().unwrap().orders.push((
        "a1".into(),
        "REF1".into(),
        "ORD/00042".into(),
        tokio::time::Instant::now(),
    ));
    let mut events = fx.events.subscribe();
    let _placer = fx.start().await;
    let p = settled(&mut events, id).await;
    assert_eq!(p.state, Placed);
    assert_eq!(p.order_number.as_deref(), Some("ORD/00042"));
    assert!(fx.erp.lock().unwrap().state_at_click.is_empty(), "no click");
}

#[tokio::test(start_paused = true)]
async fn two_orders_with_the_reference_need_an_operator() {
    let fx = Fixture::new();
    let id = fx.outbox.add("k1", "a1", Duration::from_secs(600));
    fx.outbox.set_state(id, InDoubt);
    let now = tokio::time::Instant::now();
    for n in ["ORD/1", "ORD/2"] {
        fx.erp
            .lock()
            .unwrap()
            .orders
            .push(("a1".into(), "REF1".into(), n.into(), now));
    }
    let mut events = fx.events.subscribe();
    let _placer = fx.start().await;
    let p = settled(&mut events, id).await;
    assert_eq!(p.state, NeedsOperator);
    let reason = p.reason.unwrap();
    assert!(
        reason.contains("ORD/1") && reason.contains("ORD/2"),
        "{reason}"
    );
}

#[tokio::test(start_paused = true)]
async fn rejections_end_at_once_and_transient_errors_retry_until_the_deadline() {
    let fx = Fixture::new();
    fx.erp
        .lock()
        .unwrap()
        .clicks
        .push_back(Click::Reject("Riga 1: quantità non valida."));
    let rejected = fx.outbox.add("k1", "a1", Duration::from_secs(600));
    {
        let mut erp = fx.erp.lock().unwrap();
        for _ in 0..2 {
            erp.fills.push_back(FormError::Retry("HTTP 503".into()));
        }
    }
    let retried = fx.outbox.add("k2", "a1", Duration::from_secs(600));
    let mut events = fx.events.subscribe();
    let placer = fx.start().await;
    let p = settled(&mut events, rejected).await;
    assert_eq!(
        (p.state, p.reason.as_deref()),
        (Rejected, Some("Riga 1: quantità non valida."))
    );
    let p = settled(&mut events, retried).await;
    assert_eq!(p.state, Placed, "placed after two retries");
    assert_eq!(p.attempts, 1);

    // Always failing: given up at the deadline, never clicked.
    {
        let mut erp = fx.erp.lock().unwrap();
        for _ in 0..100 {
            erp.fills.push_back(FormError::Retry("HTTP 503".into()));
        }
    }
    let doomed = fx.outbox.add("k3", "a1", Duration::from_secs(20));
    placer.cast(OrderPlacerMessage::Wake).unwrap();
    let p = settled(&mut events, doomed).await;
    assert_eq!(p.state, Failed);
    assert_eq!(p.attempts, 0);
    assert!(p.reason.unwrap().contains("deadline"));
    assert_eq!(fx.held.load(Ordering::SeqCst), 0);
}

#[tokio::test(start_paused = true)]
async fn a_placement_without_its_agents_session_waits_for_it_then_recovers_at_once() {
    let fx = Fixture::new();
    fx.sessions.lock().unwrap().insert("a1".into(), false);
    let waiting = fx.outbox.add("k1", "a1", Duration::from_secs(600));
    fx.outbox.set_state(waiting, InDoubt);
    let other = fx.outbox.add("k2", "a2", Duration::from_secs(600));
    let mut events = fx.events.subscribe();
    let placer = fx.start().await;
    // The other agent's placement is not held up.
    assert_eq!(settled(&mut events, other).await.state, Placed);
    let status = ractor::call!(placer, OrderPlacerMessage::Status).unwrap();
    assert_eq!(status.waiting_for_session, [(waiting, "a1".to_string())]);
    assert_eq!(fx.outbox.get(waiting).state, InDoubt, "reported in doubt");
    fx.sessions.lock().unwrap().insert("a1".into(), true);
    placer
        .cast(OrderPlacerMessage::SessionOpened("a1".into()))
        .unwrap();
    // Nothing in the ERP: after the lag it is submitted again, once.
    let p = settled(&mut events, waiting).await;
    assert_eq!(p.state, Placed);
    assert_eq!(fx.numbers_of("REF1").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_hung_confirmation_times_out_into_doubt_and_the_pause_ends_whatever_happens() {
    let fx = Fixture::new();
    fx.erp.lock().unwrap().clicks.push_back(Click::Hang);
    let id = fx.outbox.add("k1", "a1", Duration::from_secs(600));
    let mut events = fx.events.subscribe();
    let placer = fx.start().await;
    let p = settled(&mut events, id).await;
    assert_eq!(
        p.state, Placed,
        "nothing found after the lag: submitted again"
    );
    assert_eq!(fx.path(id)[..3], [Accepted, Submitting, InDoubt]);
    assert_eq!(fx.held.load(Ordering::SeqCst), 0);

    // Killed mid-placement: its hold is dropped with it.
    fx.erp.lock().unwrap().clicks.push_back(Click::Hang);
    let id = fx.outbox.add("k2", "a1", Duration::from_secs(600));
    placer.cast(OrderPlacerMessage::Wake).unwrap();
    loop {
        let e = events.recv().await.unwrap();
        if e.placement.id == id && e.placement.state == Submitting {
            break;
        }
    }
    assert_eq!(fx.held.load(Ordering::SeqCst), 1, "paused while it clicks");
    placer.kill();
    placer.wait(None).await.unwrap();
    tokio::task::yield_now().await;
    assert_eq!(fx.held.load(Ordering::SeqCst), 0, "nothing stays paused");
}
