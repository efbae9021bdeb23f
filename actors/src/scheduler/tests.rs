//! Scheduler tests on tokio's paused clock: each test receives the runs the scheduler starts
//! (their kind, scope, trigger and time) from a fake runner and checks them against the
//! configured grid. Time only moves when every task waits, so the times are exact.

use super::*;
use crate::run::Counts;
use std::sync::Mutex;
use tokio::sync::mpsc;

const MIN: Duration = Duration::from_secs(60);

#[derive(Default)]
struct MemoryStore {
    stored: Mutex<StoredSchedules>,
    successes: Mutex<Vec<(String, Scope, SystemTime)>>,
    skipped: Mutex<Vec<(String, Scope, Trigger, String)>>,
}

impl ScheduleStore for MemoryStore {
    fn load(&self) -> BoxFuture<'_, Result<StoredSchedules, LedgerError>> {
        let s = self.stored.lock().unwrap().clone();
        async move { Ok(s) }.boxed()
    }
    fn save_anchor(&self, anchor: SystemTime) -> BoxFuture<'_, Result<(), LedgerError>> {
        self.stored.lock().unwrap().anchor = Some(anchor);
        async { Ok(()) }.boxed()
    }
    fn save_schedule(&self, schedule: KindSchedule) -> BoxFuture<'_, Result<(), LedgerError>> {
        let mut s = self.stored.lock().unwrap();
        s.schedules.retain(|x| x.kind != schedule.kind);
        s.schedules.push(schedule);
        async { Ok(()) }.boxed()
    }
    fn record_dispatch(
        &self,
        kind: String,
        scope: Scope,
        at: SystemTime,
    ) -> BoxFuture<'_, Result<(), LedgerError>> {
        let mut s = self.stored.lock().unwrap();
        s.dispatched
            .retain(|(k, sc, _)| !(k == &kind && sc == &scope));
        s.dispatched.push((kind, scope, at));
        async { Ok(()) }.boxed()
    }
    fn last_successes(&self) -> BoxFuture<'_, Result<ScopeTimes, LedgerError>> {
        let s = self.successes.lock().unwrap().clone();
        async move { Ok(s) }.boxed()
    }
    fn record_skip(
        &self,
        kind: String,
        scope: Scope,
        trigger: Trigger,
        reason: String,
    ) -> BoxFuture<'_, Result<(), LedgerError>> {
        self.skipped
            .lock()
            .unwrap()
            .push((kind, scope, trigger, reason));
        async { Ok(()) }.boxed()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Started {
    kind: String,
    scope: Scope,
    trigger: Trigger,
    /// Minutes (and seconds) since the test's time zero.
    at: Duration,
}

struct FakeRunner {
    kind: String,
    clock: Arc<dyn Clock>,
    zero: SystemTime,
    started: mpsc::UnboundedSender<Started>,
}

impl Runner for FakeRunner {
    fn run(&self, scope: Scope, trigger: Trigger) -> BoxFuture<'static, RunOutcome> {
        let at = self
            .clock
            .now()
            .duration_since(self.zero)
            .unwrap_or_default();
        let _ = self.started.send(Started {
            kind: self.kind.clone(),
            scope,
            trigger,
            at,
        });
        async {
            RunOutcome::Completed {
                counts: Counts::default(),
                unchanged_export: false,
                duration: Duration::ZERO,
                notes: Default::default(),
            }
        }
        .boxed()
    }
}

fn schedule(kind: &str, interval_min: u32, stagger_min: u32, priority: u8) -> KindSchedule {
    KindSchedule {
        kind: kind.into(),
        interval: interval_min * MIN,
        stagger: stagger_min * MIN,
        jitter: Duration::ZERO,
        priority,
        enabled: true,
    }
}

struct Bench {
    zero: SystemTime,
    clock: Arc<dyn Clock>,
    store: Arc<MemoryStore>,
    tx: mpsc::UnboundedSender<Started>,
    rx: mpsc::UnboundedReceiver<Started>,
    agents: Arc<Mutex<Vec<String>>>,
}

impl Bench {
    fn new() -> Self {
        let zero = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            zero,
            clock: Arc::new(TokioClock::starting_at(zero)),
            store: Arc::new(MemoryStore::default()),
            tx,
            rx,
            agents: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// A store as a previous run left it: anchored at zero, every kind dispatched two hours
    /// before, so nothing is stale and every kind's first grid point is due.
    fn seeded(self, kinds: &[&str]) -> Self {
        {
            let mut s = self.store.stored.lock().unwrap();
            s.anchor = Some(self.zero);
            for k in kinds {
                s.dispatched
                    .push((k.to_string(), Scope::Catalogue, self.zero - 120 * MIN));
            }
        }
        self
    }

    fn kind(&self, s: KindSchedule, after: &[&str], per_agent: bool) -> ScheduledKind {
        ScheduledKind {
            runner: Arc::new(FakeRunner {
                kind: s.kind.clone(),
                clock: self.clock.clone(),
                zero: self.zero,
                started: self.tx.clone(),
            }),
            default: s,
            per_agent,
            after: after.iter().map(|a| a.to_string()).collect(),
        }
    }

    async fn start(
        &self,
        kinds: Vec<ScheduledKind>,
        max_running: usize,
    ) -> ActorRef<SchedulerMessage> {
        let agents = self.agents.clone();
        let args = SchedulerArguments {
            kinds,
            scopes: Arc::new(move || agents.lock().unwrap().clone()),
            store: self.store.clone(),
            clock: self.clock.clone(),
            max_running,
            stale_after: DEFAULT_STALE_AFTER,
            max_sleep: 10 * MIN,
        };
        let (actor, _) = Actor::spawn(None, Scheduler, args)
            .await
            .expect("spawn scheduler");
        actor
    }

    async fn next(&mut self) -> Started {
        self.rx.recv().await.expect("a run")
    }

    async fn take(&mut self, n: usize) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for _ in 0..n {
            let s = self.next().await;
            out.push((s.kind, s.at.as_secs() / 60));
        }
        out
    }
}

fn runs(list: &[(&str, u64)]) -> Vec<(String, u64)> {
    list.iter().map(|(k, m)| (k.to_string(), *m)).collect()
}

async fn update(
    actor: &ActorRef<SchedulerMessage>,
    kind: &str,
    patch: SchedulePatch,
) -> Result<KindSchedule, SchedulerError> {
    ractor::call!(actor, |reply| SchedulerMessage::Update {
        kind: kind.into(),
        patch,
        reply
    })
    .expect("scheduler answers")
}

#[tokio::test(start_paused = true)]
async fn kinds_fire_at_their_stagger_then_every_interval() {
    let mut b = Bench::new().seeded(&["orders", "customers", "products"]);
    let kinds = vec![
        b.kind(schedule("orders", 10, 0, 4), &[], false),
        b.kind(schedule("customers", 30, 5, 3), &[], false),
        b.kind(schedule("products", 90, 30, 2), &[], false),
    ];
    let _s = b.start(kinds, 2).await;
    let got = b.take(15).await;
    assert_eq!(
        got,
        runs(&[
            ("orders", 0),
            ("customers", 5),
            ("orders", 10),
            ("orders", 20),
            ("orders", 30),
            ("products", 30),
            ("customers", 35),
            ("orders", 40),
            ("orders", 50),
            ("orders", 60),
            ("customers", 65),
            ("orders", 70),
            ("orders", 80),
            ("orders", 90),
            ("customers", 95),
        ]),
        "each kind at anchor + stagger + n × interval"
    );
    // products again at 30 + 90 = 120, not before.
    let later = b.take(4).await;
    assert!(later.contains(&("products".into(), 120)), "{later:?}");
}

#[tokio::test(start_paused = true)]
async fn a_scheduled_run_is_a_scheduled_trigger_and_jitter_stays_within_its_bound() {
    let mut b = Bench::new().seeded(&[]);
    *b.agents.lock().unwrap() = vec!["a1".into(), "a2".into(), "a3".into()];
    {
        let mut s = b.store.stored.lock().unwrap();
        for a in ["a1", "a2", "a3"] {
            s.dispatched
                .push(("orders".into(), Scope::Agent(a.into()), b.zero - 120 * MIN));
        }
    }
    let mut orders = schedule("orders", 10, 0, 4);
    orders.jitter = MIN;
    let _s = b.start(vec![b.kind(orders, &[], true)], 3).await;
    let mut seen = Vec::new();
    for _ in 0..9 {
        let s = b.next().await;
        assert_eq!(s.trigger, Trigger::Scheduled);
        let slot = s.at.as_secs() / 600;
        let offset = s.at.as_secs() % 600;
        assert!(offset <= 60, "jitter beyond its bound: {s:?}");
        seen.push((slot, s.scope));
    }
    for slot in 0..3 {
        for a in ["a1", "a2", "a3"] {
            assert!(
                seen.contains(&(slot, Scope::Agent(a.into()))),
                "agent {a} missed slot {slot}: {seen:?}"
            );
        }
    }
}

#[tokio::test(start_paused = true)]
async fn an_update_takes_effect_at_once_and_is_stored() {
    let mut b = Bench::new().seeded(&["orders"]);
    let s = b
        .start(vec![b.kind(schedule("orders", 10, 0, 4), &[], false)], 1)
        .await;
    assert_eq!(b.take(1).await, runs(&[("orders", 0)]));
    let changed = update(
        &s,
        "orders",
        SchedulePatch {
            interval: Some(2 * MIN),
            ..SchedulePatch::default()
        },
    )
    .await
    .expect("valid update");
    assert_eq!(changed.interval, 2 * MIN);
    assert_eq!(
        b.take(3).await,
        runs(&[("orders", 2), ("orders", 4), ("orders", 6)])
    );
    let stored = b.store.stored.lock().unwrap().schedules.clone();
    assert_eq!(stored, vec![changed]);

    // Disabled: nothing more runs, the plan is empty; enabled again: the grid resumes.
    update(
        &s,
        "orders",
        SchedulePatch {
            enabled: Some(false),
            ..Default::default()
        },
    )
    .await
    .expect("disable");
    let view = ractor::call!(s, SchedulerMessage::Get).expect("views");
    assert!(view[0].next.is_empty() && !view[0].schedule.enabled);
    tokio::time::advance(30 * MIN).await;
    assert!(b.rx.try_recv().is_err(), "a disabled kind ran");
    update(
        &s,
        "orders",
        SchedulePatch {
            enabled: Some(true),
            ..Default::default()
        },
    )
    .await
    .expect("enable");
    // Missed grid points while disabled: one catch-up run now (minute 36), then every 2 min.
    assert_eq!(b.take(2).await, runs(&[("orders", 36), ("orders", 38)]));
}

#[tokio::test(start_paused = true)]
async fn invalid_updates_are_refused_with_the_reason() {
    let b = Bench::new().seeded(&["orders"]);
    let s = b
        .start(vec![b.kind(schedule("orders", 10, 0, 4), &[], false)], 1)
        .await;
    let too_much_jitter = update(
        &s,
        "orders",
        SchedulePatch {
            jitter: Some(6 * MIN),
            ..Default::default()
        },
    )
    .await;
    assert!(
        matches!(too_much_jitter, Err(SchedulerError::Invalid { .. })),
        "{too_much_jitter:?}"
    );
    let unknown = update(&s, "nope", SchedulePatch::default()).await;
    assert_eq!(unknown, Err(SchedulerError::UnknownKind("nope".into())));
    let zero = update(
        &s,
        "orders",
        SchedulePatch {
            interval: Some(Duration::ZERO),
            ..Default::default()
        },
    )
    .await;
    assert!(matches!(zero, Err(SchedulerError::Invalid { .. })));
    assert!(
        b.store.stored.lock().unwrap().schedules.is_empty(),
        "a refused update was stored"
    );
}

#[tokio::test(start_paused = true)]
async fn a_restart_keeps_the_schedule_and_catches_up_each_overdue_kind_once() {
    let mut b = Bench::new().seeded(&["orders", "customers"]);
    let kinds = |b: &Bench| {
        vec![
            b.kind(schedule("orders", 10, 0, 4), &[], false),
            b.kind(schedule("customers", 30, 5, 3), &[], false),
        ]
    };
    let s = b.start(kinds(&b), 2).await;
    assert_eq!(b.take(2).await, runs(&[("orders", 0), ("customers", 5)]));
    update(
        &s,
        "orders",
        SchedulePatch {
            interval: Some(15 * MIN),
            ..Default::default()
        },
    )
    .await
    .expect("update");
    s.stop_and_wait(None, None).await.expect("stop");

    // Down from minute 5 to minute 123: 7 orders and 3 customers grid points missed.
    tokio::time::advance(118 * MIN).await;
    let s = b.start(kinds(&b), 2).await;
    let mut catch_up = b.take(2).await;
    catch_up.sort();
    assert_eq!(
        catch_up,
        runs(&[("customers", 123), ("orders", 123)]),
        "each overdue kind once"
    );
    // Then the stored grid: orders every 15 min (the update survived); customers skip 125,
    // two minutes after their catch-up, and run at 155.
    assert_eq!(
        b.take(3).await,
        runs(&[("orders", 135), ("orders", 150), ("customers", 155)])
    );
    let view = ractor::call!(s, SchedulerMessage::Get).expect("views");
    assert_eq!(view[0].schedule.interval, 15 * MIN);
}

#[tokio::test(start_paused = true)]
async fn never_synced_or_stale_data_runs_at_once_fresh_data_waits() {
    let mut b = Bench::new();
    {
        let mut s = b.store.stored.lock().unwrap();
        s.anchor = Some(b.zero - Duration::from_secs(3600));
        // products: dispatched 4 days ago (stale); customers: 1 minute ago (fresh).
        s.dispatched.push((
            "products".into(),
            Scope::Catalogue,
            b.zero - 4 * 24 * 60 * MIN,
        ));
        s.dispatched
            .push(("customers".into(), Scope::Catalogue, b.zero - MIN));
    }
    // prices: never synced.
    let kinds = vec![
        b.kind(schedule("products", 90 * 24 * 60, 0, 2), &[], false),
        b.kind(schedule("customers", 30, 5, 3), &[], false),
        b.kind(schedule("prices", 30 * 24 * 60, 0, 5), &[], false),
    ];
    let _s = b.start(kinds, 3).await;
    let mut first = [b.next().await, b.next().await];
    first.sort_by(|a, b| a.kind.cmp(&b.kind));
    assert_eq!(first[0].kind, "prices");
    assert_eq!(
        (first[0].trigger, first[0].at),
        (Trigger::Stale, Duration::ZERO)
    );
    assert_eq!(first[1].kind, "products");
    assert_eq!(
        (first[1].trigger, first[1].at),
        (Trigger::Stale, Duration::ZERO)
    );
    // customers ran a minute ago: its grid point at minute 5 (anchor − 1 h + 5 + 30n) comes
    // too soon after (less than half an interval) and is skipped; it runs at minute 35.
    let c = b.next().await;
    assert_eq!(
        (c.kind.as_str(), c.trigger, c.at),
        ("customers", Trigger::Scheduled, 35 * MIN)
    );
}

#[tokio::test(start_paused = true)]
async fn due_work_runs_by_priority_and_dependencies_first() {
    let mut b = Bench::new();
    // All never synced: due at once, one slot.
    let kinds = vec![
        b.kind(schedule("ddt", 45, 20, 2), &["orders"], false),
        b.kind(schedule("customers", 30, 5, 3), &[], false),
        b.kind(schedule("prices", 30, 10, 5), &["products"], false),
        b.kind(schedule("orders", 10, 0, 4), &[], false),
        b.kind(schedule("products", 90, 30, 2), &[], false),
    ];
    let _s = b.start(kinds, 1).await;
    let order: Vec<String> = b.take(5).await.into_iter().map(|(k, _)| k).collect();
    // products lends prices' 5 and goes first; orders (4) before ddt (2, and after orders);
    // customers (3) before ddt.
    assert_eq!(order, ["products", "prices", "orders", "customers", "ddt"]);
}

#[tokio::test(start_paused = true)]
async fn at_most_max_running_runs_are_in_flight() {
    struct Gate {
        started: mpsc::UnboundedSender<Scope>,
        release: Arc<tokio::sync::Semaphore>,
    }
    impl Runner for Gate {
        fn run(&self, scope: Scope, _t: Trigger) -> BoxFuture<'static, RunOutcome> {
            let _ = self.started.send(scope);
            let release = self.release.clone();
            async move {
                let _permit = release.acquire().await;
                RunOutcome::Completed {
                    counts: Counts::default(),
                    unchanged_export: false,
                    duration: Duration::ZERO,
                    notes: Default::default(),
                }
            }
            .boxed()
        }
    }
    let b = Bench::new();
    *b.agents.lock().unwrap() = (1..=5).map(|i| format!("a{i}")).collect();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let kind = ScheduledKind {
        default: schedule("orders", 10, 0, 4),
        per_agent: true,
        after: vec![],
        runner: Arc::new(Gate {
            started: tx,
            release: release.clone(),
        }),
    };
    let s = b.start(vec![kind], 2).await;
    let first = [rx.recv().await.unwrap(), rx.recv().await.unwrap()];
    let view = ractor::call!(s, SchedulerMessage::Get).expect("views");
    assert_eq!(view[0].running.len(), 2);
    assert_eq!(view[0].queued.len(), 3, "the others wait for a slot");
    assert!(rx.try_recv().is_err());
    release.add_permits(1);
    let third = rx.recv().await.unwrap();
    assert!(!first.contains(&third));
    release.add_permits(4);
    for _ in 0..2 {
        rx.recv().await.unwrap();
    }
}

/// A runner whose runs end only when the test opens the gate.
struct GatedRunner {
    inner: FakeRunner,
    gate: Arc<tokio::sync::Notify>,
}

impl Runner for GatedRunner {
    fn run(&self, scope: Scope, trigger: Trigger) -> BoxFuture<'static, RunOutcome> {
        let run = self.inner.run(scope, trigger);
        let gate = self.gate.clone();
        async move {
            gate.notified().await;
            run.await
        }
        .boxed()
    }
}

#[tokio::test(start_paused = true)]
async fn a_queued_run_refreshed_by_another_run_meanwhile_is_skipped_with_a_reason() {
    let mut b = Bench::new();
    let gate = Arc::new(tokio::sync::Notify::new());
    let gated = |b: &Bench, s: KindSchedule| {
        let mut kind = b.kind(s.clone(), &[], false);
        kind.runner = Arc::new(GatedRunner {
            inner: FakeRunner {
                kind: s.kind.clone(),
                clock: b.clock.clone(),
                zero: b.zero,
                started: b.tx.clone(),
            },
            gate: gate.clone(),
        });
        kind
    };
    // Never synced, one slot: prices first (higher priority), customers queued behind it.
    let kinds = vec![
        gated(&b, schedule("prices", 30, 10, 5)),
        gated(&b, schedule("customers", 30, 5, 3)),
    ];
    let _s = b.start(kinds, 1).await;
    let first = b.next().await;
    assert_eq!((first.kind.as_str(), first.at), ("prices", Duration::ZERO));
    // Meanwhile a login's run refreshes the customers.
    b.store
        .successes
        .lock()
        .unwrap()
        .push(("customers".into(), Scope::Catalogue, b.zero));
    gate.notify_one();
    // Not started again at once: next at its first grid point half an interval later.
    let next = b.next().await;
    assert_eq!(
        (next.kind.as_str(), next.trigger, next.at),
        ("customers", Trigger::Scheduled, 35 * MIN)
    );
    let skipped = b.store.skipped.lock().unwrap().clone();
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    let (kind, scope, trigger, reason) = &skipped[0];
    assert_eq!(
        (kind.as_str(), scope, *trigger),
        ("customers", &Scope::Catalogue, Trigger::Stale)
    );
    assert!(reason.contains("no longer due"), "{reason}");
}
