//! SyncActor tests with a fake kind: in-memory pages and checkpoints shared with the test,
//! gates (semaphores) to hold a preparation or a page, probes to see where the actor is.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorRef};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::*;
use crate::directory::Directory;
use crate::events::{EventBody, EventBus, EventSubscription};
use crate::root::{ChildSpec, RootSupervisor, RootSupervisorArguments};
use crate::run::{Counts, Mode, RunId, RunNotes, Scope};
use crate::supervision::RestartPolicy;
use crate::testing::MemoryLedger;

const PAGE: Counts = Counts {
    inserted: 10,
    updated: 0,
    unchanged: 0,
    deleted: 0,
};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    PrepareEntered(Scope),
    PrepareCancelled(Scope),
    PageEntered(Scope, usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    Prepare,
    Page(usize),
}

#[derive(Default)]
struct Store {
    /// Every page application, in order.
    applied: Vec<(Scope, RunId, usize)>,
    /// Per scope: run, next page, counts so far. Written with the page, atomically.
    checkpoints: HashMap<Scope, (RunId, usize, Counts)>,
    finished: Vec<(Scope, RunId)>,
    prepares: Vec<(Scope, RunId, Trigger)>,
}

struct FakeKind {
    pages: usize,
    unchanged: bool,
    store: Arc<Mutex<Store>>,
    probes: mpsc::UnboundedSender<Probe>,
    prepare_gates: HashMap<Scope, Arc<Semaphore>>,
    page_gates: HashMap<Scope, Arc<Semaphore>>,
    /// Scripted errors, consumed in order when their step comes.
    faults: Mutex<VecDeque<(At, SyncError)>>,
    /// Columns `prepare` says the export has that the contract does not know.
    unknown_columns: Vec<String>,
    /// Deletions `finish` says it held.
    held: u64,
}

struct FakePlan {
    run_id: RunId,
}

async fn pass(gates: &HashMap<Scope, Arc<Semaphore>>, scope: &Scope) {
    if let Some(gate) = gates.get(scope) {
        gate.acquire().await.expect("gate open").forget();
    }
}

impl FakeKind {
    fn fault(&self, at: At) -> Option<SyncError> {
        let mut faults = self.faults.lock().unwrap();
        let i = faults.iter().position(|(a, _)| *a == at)?;
        faults.remove(i).map(|(_, e)| e)
    }
}

impl SyncKind for FakeKind {
    type Plan = FakePlan;

    fn name(&self) -> &str {
        "fake"
    }

    async fn prepare(
        &self,
        run: &RunSpec,
        cancel: CancellationToken,
    ) -> Result<Prepared<FakePlan>, SyncError> {
        self.store
            .lock()
            .unwrap()
            .prepares
            .push((run.scope.clone(), run.run_id, run.trigger));
        let _ = self.probes.send(Probe::PrepareEntered(run.scope.clone()));
        tokio::select! {
            _ = cancel.cancelled() => {
                let _ = self.probes.send(Probe::PrepareCancelled(run.scope.clone()));
                return Err(SyncError::Cancelled);
            }
            _ = pass(&self.prepare_gates, &run.scope) => {}
        }
        if let Some(e) = self.fault(At::Prepare) {
            return Err(e);
        }
        let (next_page, counts_so_far) =
            match self.store.lock().unwrap().checkpoints.get(&run.scope) {
                Some((id, next, counts)) if *id == run.run_id => (*next, *counts),
                _ => (0, Counts::default()),
            };
        Ok(Prepared {
            plan: FakePlan { run_id: run.run_id },
            pages: self.pages,
            next_page,
            counts_so_far,
            items: Some(self.pages as u64 * 10),
            unchanged_export: self.unchanged,
            notes: RunNotes {
                unknown_columns: self.unknown_columns.clone(),
                ..RunNotes::default()
            },
        })
    }

    async fn apply_page(
        &self,
        run: &RunSpec,
        plan: &FakePlan,
        index: usize,
    ) -> Result<PageCounts, SyncError> {
        let _ = self
            .probes
            .send(Probe::PageEntered(run.scope.clone(), index));
        pass(&self.page_gates, &run.scope).await;
        if let Some(e) = self.fault(At::Page(index)) {
            return Err(e);
        }
        // One "transaction": the page and its checkpoint together.
        let mut store = self.store.lock().unwrap();
        let (next, counts) = match store.checkpoints.get(&run.scope) {
            Some((id, next, counts)) if *id == plan.run_id => (*next, *counts),
            _ => (0, Counts::default()),
        };
        if next != index {
            return Err(SyncError::permanent(format!(
                "page {index} applied out of order (checkpoint says {next})"
            )));
        }
        store.applied.push((run.scope.clone(), plan.run_id, index));
        store
            .checkpoints
            .insert(run.scope.clone(), (plan.run_id, index + 1, counts + PAGE));
        Ok(PAGE)
    }

    async fn finish(&self, run: &RunSpec, plan: FakePlan) -> Result<Finished, SyncError> {
        let mut store = self.store.lock().unwrap();
        store.checkpoints.remove(&run.scope);
        store.finished.push((run.scope.clone(), plan.run_id));
        Ok(Finished {
            counts: Counts {
                deleted: 1,
                ..Counts::default()
            },
            notes: RunNotes {
                held_deletions: self.held,
                held_reason: if self.held > 0 {
                    "held by the fake".into()
                } else {
                    String::new()
                },
                ..RunNotes::default()
            },
        })
    }
}

struct Fixture {
    store: Arc<Mutex<Store>>,
    probes: mpsc::UnboundedReceiver<Probe>,
    prepare_gates: HashMap<Scope, Arc<Semaphore>>,
    page_gates: HashMap<Scope, Arc<Semaphore>>,
    ledger: MemoryLedger,
    bus: EventBus,
}

fn a() -> Scope {
    Scope::Agent("a".into())
}

fn b() -> Scope {
    Scope::Agent("b".into())
}

/// A kind with `pages` pages whose preparation (resp. pages) are held for the given scopes
/// until the test opens the gate, and the fixture that observes it.
fn fixture(pages: usize, prepare_gated: &[Scope], page_gated: &[Scope]) -> (FakeKind, Fixture) {
    let (tx, probes) = mpsc::unbounded_channel();
    let store = Arc::new(Mutex::new(Store::default()));
    let gates = |scopes: &[Scope]| -> HashMap<Scope, Arc<Semaphore>> {
        scopes
            .iter()
            .map(|s| (s.clone(), Arc::new(Semaphore::new(0))))
            .collect()
    };
    let (prepare_gates, page_gates) = (gates(prepare_gated), gates(page_gated));
    let kind = FakeKind {
        pages,
        unchanged: false,
        store: store.clone(),
        probes: tx,
        prepare_gates: prepare_gates.clone(),
        page_gates: page_gates.clone(),
        faults: Mutex::new(VecDeque::new()),
        unknown_columns: Vec::new(),
        held: 0,
    };
    let fx = Fixture {
        store,
        probes,
        prepare_gates,
        page_gates,
        ledger: MemoryLedger::new(),
        bus: EventBus::new(1024),
    };
    (kind, fx)
}

fn retry(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        base: Duration::from_secs(1),
        max: Duration::from_secs(8),
    }
}

fn args(fx: &Fixture, retry: RetryPolicy) -> SyncArguments {
    SyncArguments {
        ledger: Arc::new(fx.ledger.clone()),
        events: fx.bus.clone(),
        retry,
        jitter_seed: Some(7),
        only: None,
    }
}

async fn start(
    kind: FakeKind,
    fx: &Fixture,
    retry: RetryPolicy,
) -> (ActorRef<SyncMessage>, SyncHandle) {
    let (actor, _) = Actor::spawn(None, SyncActor::new(Arc::new(kind)), args(fx, retry))
        .await
        .unwrap();
    (actor.clone(), SyncHandle::new(actor, fx.bus.clone()))
}

impl Fixture {
    fn open(&self, scope: &Scope) {
        self.prepare_gates[scope].add_permits(1);
    }

    fn allow_pages(&self, scope: &Scope, n: usize) {
        self.page_gates[scope].add_permits(n);
    }

    async fn probe(&mut self) -> Probe {
        self.probes.recv().await.expect("kind alive")
    }

    /// Wait for a specific probe, skipping others.
    async fn until(&mut self, want: Probe) {
        while self.probe().await != want {}
    }

    fn applied(&self, scope: &Scope) -> Vec<usize> {
        self.store
            .lock()
            .unwrap()
            .applied
            .iter()
            .filter(|(s, _, _)| s == scope)
            .map(|(_, _, i)| *i)
            .collect()
    }
}

/// Every event of `run` up to and including its terminal one.
async fn events_of(sub: &mut EventSubscription, run: RunId) -> Vec<EventBody> {
    let mut out = Vec::new();
    loop {
        let e = sub.recv().await.unwrap();
        if e.run_id == run {
            let end = e.body.is_terminal();
            out.push(e.body);
            if end {
                return out;
            }
        }
    }
}

fn completed(counts: Counts) -> impl Fn(&EventBody) -> bool {
    move |body| matches!(body, EventBody::Completed { counts: c, unchanged_export: false, .. } if *c == counts)
}

#[tokio::test]
async fn pages_are_applied_in_order_with_progress_events() {
    let (kind, fx) = fixture(3, &[], &[]);
    let mut sub = fx.bus.subscribe();
    let (_actor, sync) = start(kind, &fx, retry(3)).await;
    let ack = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    assert!(!ack.joined);
    let events = events_of(&mut sub, ack.run_id).await;
    assert_eq!(
        events[0],
        EventBody::Queued {
            trigger: Trigger::Manual
        }
    );
    assert_eq!(
        events[1],
        EventBody::Started {
            mode: Mode::Full,
            resumed: false
        }
    );
    for (i, e) in events[2..5].iter().enumerate() {
        assert_eq!(
            *e,
            EventBody::Progress {
                page: i + 1,
                pages: 3,
                items: Some(30)
            }
        );
    }
    let total = Counts {
        inserted: 30,
        deleted: 1,
        ..Counts::default()
    };
    assert!(completed(total)(&events[5]), "{:?}", events[5]);
    assert_eq!(events.len(), 6);
    assert_eq!(fx.applied(&a()), [0, 1, 2]);
    assert_eq!(fx.store.lock().unwrap().finished, [(a(), ack.run_id)]);

    let row = fx.ledger.row(ack.run_id).unwrap();
    assert!(matches!(row.outcome, Some(RunOutcome::Completed { counts, .. }) if counts == total));
    let status = sync.status().await.unwrap();
    let s = status.scope(&a()).unwrap();
    assert_eq!(s.state, RunState::Idle);
    assert_eq!(s.last.as_ref().unwrap().run_id, ack.run_id);
    assert_eq!(s.last.as_ref().unwrap().outcome.counts(), total);
}

#[tokio::test]
async fn a_second_request_joins_the_running_run() {
    let (kind, mut fx) = fixture(3, &[a()], &[]);
    let mut sub = fx.bus.subscribe();
    let (_actor, sync) = start(kind, &fx, retry(3)).await;
    let first = sync
        .request(a(), Mode::Full, Trigger::Scheduled)
        .await
        .unwrap();
    fx.until(Probe::PrepareEntered(a())).await;
    let second = sync
        .request(a(), Mode::Delta, Trigger::Manual)
        .await
        .unwrap();
    assert_eq!(second.run_id, first.run_id);
    assert!(second.joined);
    assert_eq!(
        sync.status().await.unwrap().scope(&a()).unwrap().state,
        RunState::Preparing
    );
    fx.open(&a());
    let events = events_of(&mut sub, first.run_id).await;
    assert!(matches!(events.last(), Some(EventBody::Completed { .. })));
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, EventBody::Queued { .. }))
            .count(),
        1,
        "the joining request opened nothing"
    );
    assert_eq!(fx.ledger.rows().len(), 1);
    assert_eq!(fx.store.lock().unwrap().prepares.len(), 1);
    assert_eq!(fx.applied(&a()), [0, 1, 2]);
}

#[tokio::test]
async fn pause_stops_within_one_page_and_resume_continues_from_the_next() {
    let (kind, mut fx) = fixture(5, &[], &[a()]);
    let mut sub = fx.bus.subscribe();
    let (actor, sync) = start(kind, &fx, retry(3)).await;
    let ack = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    fx.allow_pages(&a(), 2);
    fx.until(Probe::PageEntered(a(), 2)).await; // pages 0 and 1 applied, page 2 held
    assert_eq!(fx.applied(&a()), [0, 1]);

    // Pause arrives while page 2 is being applied; then every gate opens.
    let (tx, rx) = oneshot::channel();
    actor
        .send_message(SyncMessage::Pause { reply: tx.into() })
        .unwrap();
    fx.allow_pages(&a(), 100);
    let paused = rx.await.unwrap();
    assert_eq!(
        paused.paused,
        [PausedRun {
            run_id: ack.run_id,
            scope: a()
        }]
    );
    assert_eq!(
        fx.applied(&a()),
        [0, 1, 2],
        "at most one page after the pause"
    );
    // Status is answered after any step already queued: still nothing more applied.
    let status = sync.status().await.unwrap();
    assert!(status.paused);
    let s = status.scope(&a()).unwrap();
    assert_eq!((s.state, s.page, s.pages), (RunState::Paused, 3, 5));
    assert_eq!(fx.applied(&a()), [0, 1, 2]);
    assert_eq!(sync.pause().await.unwrap().paused, [], "already paused");

    sync.resume().unwrap();
    let events = events_of(&mut sub, ack.run_id).await;
    assert_eq!(
        fx.applied(&a()),
        [0, 1, 2, 3, 4],
        "every page exactly once, in order"
    );
    let paused_at = events.iter().position(|e| *e == EventBody::Paused).unwrap();
    let resumed_at = events
        .iter()
        .position(|e| *e == EventBody::Resumed)
        .unwrap();
    assert!(paused_at < resumed_at);
    assert!(completed(Counts {
        inserted: 50,
        deleted: 1,
        ..Counts::default()
    })(events.last().unwrap()));
}

#[tokio::test]
async fn pause_during_prepare_cancels_it_and_resume_prepares_again() {
    let (kind, mut fx) = fixture(2, &[a(), b()], &[]);
    let mut sub = fx.bus.subscribe();
    let mut sub_b = fx.bus.subscribe();
    let (_actor, sync) = start(kind, &fx, retry(3)).await;
    let run_a = sync
        .request(a(), Mode::Delta, Trigger::Login)
        .await
        .unwrap();
    fx.until(Probe::PrepareEntered(a())).await;
    let paused = sync.pause().await.unwrap();
    assert_eq!(paused.paused.len(), 1);
    fx.until(Probe::PrepareCancelled(a())).await;
    assert_eq!(
        sync.status().await.unwrap().scope(&a()).unwrap().state,
        RunState::Paused
    );

    // A request while paused is accepted and waits.
    let run_b = sync
        .request(b(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    assert!(!run_b.joined);
    let status = sync.status().await.unwrap();
    assert_eq!(status.scope(&b()).unwrap().state, RunState::Queued);
    assert_eq!(fx.store.lock().unwrap().prepares.len(), 1, "b waits");

    sync.resume().unwrap();
    fx.open(&a());
    fx.open(&b());
    let events_a = events_of(&mut sub, run_a.run_id).await;
    assert!(matches!(events_a.last(), Some(EventBody::Completed { .. })));
    assert!(events_a.contains(&EventBody::Resumed));
    let events_b = events_of(&mut sub_b, run_b.run_id).await;
    assert!(matches!(events_b.last(), Some(EventBody::Completed { .. })));
    assert!(
        !events_b.contains(&EventBody::Resumed),
        "b never ran before the resume: it just starts"
    );
    let prepares = fx.store.lock().unwrap().prepares.clone();
    assert_eq!(prepares.iter().filter(|(s, _, _)| *s == a()).count(), 2);
    assert_eq!(prepares.iter().filter(|(s, _, _)| *s == b()).count(), 1);
    assert_eq!(fx.applied(&a()), [0, 1]);
    assert_eq!(fx.applied(&b()), [0, 1]);
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_with_backoff_then_succeed() {
    let (kind, fx) = fixture(3, &[], &[]);
    kind.faults.lock().unwrap().extend([
        (
            At::Prepare,
            SyncError::transient("ERP answered 503 on /clienti"),
        ),
        (At::Page(1), SyncError::transient("writer restarting")),
    ]);
    let mut sub = fx.bus.subscribe();
    let (_actor, sync) = start(kind, &fx, retry(3)).await;
    let ack = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    let events = events_of(&mut sub, ack.run_id).await;
    let retries: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            EventBody::Retrying {
                attempt,
                after,
                reason,
            } => Some((*attempt, *after, reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(retries.len(), 2);
    assert_eq!(retries[0].0, 2);
    assert!(retries[0].2.contains("503"));
    // Equal jitter around the 1 s base: within [0.5 s, 1 s].
    assert!(retries[0].1 >= Duration::from_millis(500) && retries[0].1 <= Duration::from_secs(1));
    // The page succeeded after a retry of its own (attempts count per step).
    assert_eq!(retries[1].0, 2);
    assert!(retries[1].2.contains("writer restarting"));
    assert!(matches!(events.last(), Some(EventBody::Completed { .. })));
    assert_eq!(fx.applied(&a()), [0, 1, 2]);
    let s = sync.status().await.unwrap();
    assert_eq!(
        s.scope(&a()).unwrap().last_error.as_deref(),
        Some("writer restarting")
    );
}

#[tokio::test(start_paused = true)]
async fn retries_run_out() {
    let (kind, fx) = fixture(3, &[], &[]);
    kind.faults
        .lock()
        .unwrap()
        .extend((0..5).map(|_| (At::Prepare, SyncError::transient("connection refused"))));
    let mut sub = fx.bus.subscribe();
    let (_actor, sync) = start(kind, &fx, retry(3)).await;
    let ack = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    let events = events_of(&mut sub, ack.run_id).await;
    let retrying = events
        .iter()
        .filter(|e| matches!(e, EventBody::Retrying { .. }))
        .count();
    assert_eq!(retrying, 2, "3 attempts = 2 retries");
    match events.last().unwrap() {
        EventBody::Failed {
            reason, permanent, ..
        } => {
            assert!(!permanent);
            assert!(reason.contains("gave up after 3 attempts"), "{reason}");
            assert!(reason.contains("connection refused"));
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_permanent_error_fails_the_run_at_once() {
    let (kind, fx) = fixture(3, &[], &[]);
    kind.faults.lock().unwrap().push_back((
        At::Page(1),
        SyncError::permanent("report page 2: column `P.IVA` missing"),
    ));
    let mut sub = fx.bus.subscribe();
    let (_actor, sync) = start(kind, &fx, retry(5)).await;
    let ack = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    let events = events_of(&mut sub, ack.run_id).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventBody::Retrying { .. }))
    );
    assert_eq!(
        events.last().unwrap(),
        &EventBody::Failed {
            reason: "report page 2: column `P.IVA` missing".into(),
            permanent: true,
            notes: RunNotes::default(),
        }
    );
    assert_eq!(fx.applied(&a()), [0]);
    assert!(matches!(
        fx.ledger.row(ack.run_id).unwrap().outcome,
        Some(RunOutcome::Failed { permanent: true, counts, .. }) if counts == PAGE
    ));
    let status = sync.status().await.unwrap();
    let s = status.scope(&a()).unwrap();
    assert_eq!(s.state, RunState::Idle);
    assert!(s.last_error.as_deref().unwrap().contains("P.IVA"));
    // The scope accepts a new run afterwards.
    let next = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    assert_ne!(next.run_id, ack.run_id);
}

#[tokio::test(start_paused = true)]
async fn a_killed_actor_is_restarted_and_resumes_from_the_checkpoint() {
    let (kind, mut fx) = fixture(5, &[], &[a()]);
    let kind = Arc::new(kind);
    let directory = Directory::new();
    let spec = {
        let args = args(&fx, retry(3));
        ChildSpec::for_actor("sync:fake", RestartPolicy::default(), move || {
            (SyncActor::new(kind.clone()), args.clone())
        })
    };
    let (_root, _) = Actor::spawn(
        None,
        RootSupervisor,
        RootSupervisorArguments::new(directory.clone(), vec![spec]),
    )
    .await
    .unwrap();
    let sync = SyncHandle::named(directory.clone(), "sync:fake", fx.bus.clone());
    let mut sub = fx.bus.subscribe();
    let ack = sync
        .request(a(), Mode::Full, Trigger::Scheduled)
        .await
        .unwrap();
    fx.allow_pages(&a(), 2);
    fx.until(Probe::PageEntered(a(), 2)).await; // page 2 in flight

    let victim = directory.get("sync:fake").unwrap();
    victim.kill();
    victim.wait(None).await.unwrap();
    // The supervisor restarts it; the new incarnation resumes the open run.
    fx.until(Probe::PrepareEntered(a())).await;
    assert_ne!(
        directory.get("sync:fake").unwrap().get_id(),
        victim.get_id()
    );
    fx.allow_pages(&a(), 100);
    let events = events_of(&mut sub, ack.run_id).await;

    assert_eq!(
        fx.applied(&a()),
        [0, 1, 2, 3, 4],
        "no page applied twice, none lost"
    );
    let prepares = fx.store.lock().unwrap().prepares.clone();
    assert_eq!(prepares.len(), 2);
    assert_eq!(prepares[1], (a(), ack.run_id, Trigger::Resume));
    assert!(events.contains(&EventBody::Started {
        mode: Mode::Full,
        resumed: true
    }));
    assert!(
        completed(Counts {
            inserted: 50,
            deleted: 1,
            ..Counts::default()
        })(events.last().unwrap()),
        "counts include the pages applied before the kill"
    );
    assert_eq!(fx.ledger.rows().len(), 1);
    assert!(fx.ledger.row(ack.run_id).unwrap().outcome.is_some());
}

#[tokio::test]
async fn two_scopes_run_concurrently_and_independently() {
    let (kind, mut fx) = fixture(2, &[a(), b()], &[]);
    let mut sub = fx.bus.subscribe();
    let mut sub_a = fx.bus.subscribe();
    let (_actor, sync) = start(kind, &fx, retry(3)).await;
    let run_a = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    let run_b = sync
        .request(b(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    assert_ne!(run_a.run_id, run_b.run_id);
    // Both preparations are in progress at the same time.
    let mut entered = vec![fx.probe().await, fx.probe().await];
    entered.sort_by_key(|p| format!("{p:?}"));
    assert_eq!(
        entered,
        [Probe::PrepareEntered(a()), Probe::PrepareEntered(b())]
    );
    // b finishes while a is still preparing.
    fx.open(&b());
    let events_b = events_of(&mut sub, run_b.run_id).await;
    assert!(matches!(events_b.last(), Some(EventBody::Completed { .. })));
    let status = sync.status().await.unwrap();
    assert_eq!(status.scope(&a()).unwrap().state, RunState::Preparing);
    assert_eq!(status.scope(&b()).unwrap().state, RunState::Idle);
    assert!(fx.applied(&a()).is_empty());

    fx.open(&a());
    let events_a = events_of(&mut sub_a, run_a.run_id).await;
    assert!(matches!(events_a.last(), Some(EventBody::Completed { .. })));
    assert_eq!(fx.applied(&a()), [0, 1]);
    assert_eq!(fx.applied(&b()), [0, 1]);
}

#[tokio::test]
async fn open_runs_in_the_ledger_are_resumed_at_start() {
    let (kind, fx) = fixture(2, &[], &[]);
    let crashed = fx
        .ledger
        .insert_open("fake", Scope::Catalogue, Mode::Delta, Trigger::Scheduled);
    fx.ledger.insert_open(
        "other-kind",
        Scope::Catalogue,
        Mode::Full,
        Trigger::Scheduled,
    );
    let mut sub = fx.bus.subscribe();
    let (_actor, _sync) = start(kind, &fx, retry(3)).await;
    let events = events_of(&mut sub, crashed).await;
    assert_eq!(
        events[0],
        EventBody::Started {
            mode: Mode::Delta,
            resumed: true
        }
    );
    assert!(matches!(events.last(), Some(EventBody::Completed { .. })));
    assert_eq!(
        fx.applied(&Scope::Catalogue),
        [0, 1],
        "no checkpoint: prepared afresh"
    );
    assert!(fx.ledger.row(crashed).unwrap().outcome.is_some());
    assert!(
        fx.ledger.rows()[1].outcome.is_none(),
        "another kind's run is not ours to resume"
    );
}

#[tokio::test]
async fn an_unchanged_export_finishes_without_pages() {
    let (mut kind, fx) = fixture(4, &[], &[]);
    kind.unchanged = true;
    let mut sub = fx.bus.subscribe();
    let (_actor, sync) = start(kind, &fx, retry(3)).await;
    let ack = sync
        .request(Scope::Catalogue, Mode::Delta, Trigger::Scheduled)
        .await
        .unwrap();
    let events = events_of(&mut sub, ack.run_id).await;
    assert!(matches!(
        events.last(),
        Some(EventBody::Completed {
            unchanged_export: true,
            ..
        })
    ));
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventBody::Progress { .. }))
    );
    assert!(fx.applied(&Scope::Catalogue).is_empty());
    assert_eq!(
        fx.store.lock().unwrap().finished.len(),
        1,
        "finish still records the run"
    );
}

#[tokio::test]
async fn a_ledger_failure_refuses_the_request() {
    let (kind, fx) = fixture(1, &[], &[]);
    let (_actor, sync) = start(kind, &fx, retry(3)).await;
    fx.ledger.fail_next_open("sync.db is read-only");
    let err = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("sync.db is read-only"), "{err}");
    assert!(sync.status().await.unwrap().scope(&a()).is_none());
    // The actor is fine and the next request works.
    assert!(sync.request(a(), Mode::Full, Trigger::Manual).await.is_ok());
}

#[test]
fn retry_delays_grow_and_stay_within_the_jitter_band() {
    use rand::SeedableRng;
    let policy = retry(10);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for n in 1..8 {
        let d = policy.delay(n, &mut rng);
        let full = crate::supervision::exponential_backoff(policy.base, policy.max, n);
        assert!(
            d >= full / 2 && d <= full,
            "retry {n}: {d:?} outside [{:?}, {full:?}]",
            full / 2
        );
    }
    let same = |seed| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        (1..5)
            .map(|n| policy.delay(n, &mut rng))
            .collect::<Vec<_>>()
    };
    assert_eq!(same(3), same(3), "seeded jitter is deterministic");
}

// ---- SyncRegistry (the OrderSyncRegistry): one actor per scope ---------------------------

fn registry_args(fx: &Fixture, idle_after: Duration) -> SyncRegistryArguments {
    SyncRegistryArguments {
        sync: args(fx, retry(3)),
        restart: RestartPolicy {
            max_restarts: 3,
            within: Duration::from_secs(60),
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(100),
        },
        idle_after,
        label: "FakeSync".into(),
    }
}

async fn start_registry(
    kind: FakeKind,
    fx: &Fixture,
    idle_after: Duration,
) -> (ActorRef<SyncMessage>, SyncHandle) {
    let (actor, _) = Actor::spawn(
        None,
        SyncRegistry::new(Arc::new(kind)),
        registry_args(fx, idle_after),
    )
    .await
    .unwrap();
    (actor.clone(), SyncHandle::new(actor, fx.bus.clone()))
}

#[tokio::test]
async fn the_registry_runs_each_scope_in_its_own_actor_and_coalesces_requests_per_scope() {
    let (kind, mut fx) = fixture(2, &[a(), b()], &[]);
    let mut sub = fx.bus.subscribe();
    let (registry, sync) = start_registry(kind, &fx, Duration::from_secs(600)).await;
    let first_a = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    let again_a = sync
        .request(a(), Mode::Delta, Trigger::Manual)
        .await
        .unwrap();
    let first_b = sync
        .request(b(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    assert_eq!(
        again_a,
        RequestAck {
            run_id: first_a.run_id,
            joined: true
        },
        "same agent: one run"
    );
    assert!(!first_b.joined);
    assert_ne!(first_b.run_id, first_a.run_id);
    assert_eq!(registry.get_children().len(), 2, "one actor per scope");

    // Both prepare at the same time, each in its own actor.
    let mut entered = vec![fx.probe().await, fx.probe().await];
    entered.sort_by_key(|p| format!("{p:?}"));
    assert_eq!(
        entered,
        [Probe::PrepareEntered(a()), Probe::PrepareEntered(b())]
    );
    let status = sync.status().await.unwrap();
    assert_eq!(status.scopes.len(), 2);
    assert!(status.scopes.iter().all(|s| s.state == RunState::Preparing));

    fx.open(&a());
    fx.open(&b());
    let mut sub_b = fx.bus.subscribe();
    assert!(completed(Counts {
        inserted: 20,
        deleted: 1,
        ..Counts::default()
    })(
        events_of(&mut sub, first_a.run_id).await.last().unwrap()
    ));
    let ended_b = events_of(&mut sub_b, first_b.run_id).await;
    assert!(matches!(ended_b.last(), Some(EventBody::Completed { .. })));
    assert_eq!(
        fx.ledger.rows().len(),
        2,
        "the joined request opened no run"
    );
}

#[tokio::test(start_paused = true)]
async fn a_killed_scope_actor_is_restarted_by_the_registry_and_resumes_its_run() {
    let (kind, mut fx) = fixture(4, &[], &[a()]);
    let mut sub = fx.bus.subscribe();
    let (registry, sync) = start_registry(kind, &fx, Duration::from_secs(600)).await;
    let ack = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    fx.allow_pages(&a(), 1);
    fx.until(Probe::PageEntered(a(), 1)).await;

    let victim = registry.get_children().pop().unwrap();
    victim.kill();
    victim.wait(None).await.unwrap();
    fx.until(Probe::PrepareEntered(a())).await;
    let children = registry.get_children();
    assert_eq!(children.len(), 1);
    assert_ne!(children[0].get_id(), victim.get_id(), "a new incarnation");
    fx.allow_pages(&a(), 100);
    let events = events_of(&mut sub, ack.run_id).await;
    assert!(events.contains(&EventBody::Started {
        mode: Mode::Full,
        resumed: true
    }));
    assert_eq!(
        fx.applied(&a()),
        [0, 1, 2, 3],
        "no page applied twice, none lost"
    );
}

#[tokio::test(start_paused = true)]
async fn an_idle_scope_actor_is_stopped_and_spawned_again_on_the_next_request() {
    let (kind, fx) = fixture(1, &[], &[]);
    let mut sub = fx.bus.subscribe();
    let idle = Duration::from_secs(60);
    let (registry, sync) = start_registry(kind, &fx, idle).await;
    let first = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    events_of(&mut sub, first.run_id).await;
    let child = registry.get_children().pop().expect("the scope's actor");
    // The idle check runs on the (paused, auto-advancing) clock: the child stops by itself.
    tokio::time::timeout(idle * 3, child.wait(None))
        .await
        .expect("retired while idle")
        .unwrap();
    assert!(registry.get_children().is_empty());

    let second = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    assert!(!second.joined);
    assert!(matches!(
        events_of(&mut sub, second.run_id).await.last(),
        Some(EventBody::Completed { .. })
    ));
    assert_eq!(registry.get_children().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_scope_actor_that_keeps_dying_is_escalated_alone_and_refused_with_the_reason() {
    let (kind, mut fx) = fixture(3, &[a()], &[]);
    let (registry, sync) = start_registry(kind, &fx, Duration::from_secs(600)).await;
    sync.request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    // max_restarts is 3: the fourth death within the window escalates.
    for _ in 0..4 {
        fx.until(Probe::PrepareEntered(a())).await;
        let victim = registry
            .get_children()
            .pop()
            .expect("a running incarnation");
        victim.kill();
        victim.wait(None).await.unwrap();
    }
    let refused = sync.request(a(), Mode::Full, Trigger::Manual).await;
    let err = format!("{:?}", refused.expect_err("escalated: refused"));
    assert!(
        err.contains("FakeSync(") && err.contains("repeated failures"),
        "{err}"
    );
    // Another scope is not affected.
    let b_run = sync
        .request(b(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    assert!(!b_run.joined);
    let status = sync.status().await.unwrap();
    let a_status = status.scope(&a()).expect("the escalated scope is reported");
    assert!(
        a_status
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("escalated")),
        "{a_status:?}"
    );
}

#[tokio::test]
async fn what_prepare_and_finish_noticed_ends_in_the_outcome_and_a_page_that_changed_keeps_its_evidence()
 {
    let (mut kind, fx) = fixture(2, &[], &[]);
    kind.unknown_columns = vec!["Agente".into()];
    kind.held = 7;
    let mut sub = fx.bus.subscribe();
    let (_actor, sync) = start(kind, &fx, retry(3)).await;
    let ack = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    let events = events_of(&mut sub, ack.run_id).await;
    match events.last().unwrap() {
        EventBody::Completed { notes, .. } => {
            assert_eq!(notes.unknown_columns, ["Agente"]);
            assert_eq!(notes.held_deletions, 7);
            assert_eq!(notes.held_reason, "held by the fake");
        }
        other => panic!("expected Completed, got {other:?}"),
    }
    assert_eq!(
        fx.ledger
            .row(ack.run_id)
            .unwrap()
            .outcome
            .unwrap()
            .notes()
            .held_deletions,
        7,
        "the ledger keeps them"
    );

    let (kind, fx) = fixture(2, &[], &[]);
    kind.faults.lock().unwrap().push_back((
        At::Prepare,
        SyncError::PageChanged {
            reason: "no \"Esporta PDF\" button".into(),
            evidence: Some("20261207-1".into()),
        },
    ));
    let mut sub = fx.bus.subscribe();
    let (_actor, sync) = start(kind, &fx, retry(5)).await;
    let ack = sync
        .request(a(), Mode::Full, Trigger::Manual)
        .await
        .unwrap();
    let events = events_of(&mut sub, ack.run_id).await;
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, EventBody::Retrying { .. })),
        "a page that changed is not retried"
    );
    match events.last().unwrap() {
        EventBody::Failed {
            permanent, notes, ..
        } => {
            assert!(permanent);
            assert_eq!(notes.evidence.as_deref(), Some("20261207-1"));
        }
        other => panic!("expected Failed, got {other:?}"),
    }
}
