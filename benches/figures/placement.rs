//! Figure 6: placing orders through the real service (outbox in `sync.db`, OrderPlacer under
//! Priority, Chromium driving the simulator's order form at zero latency): the placer's own
//! overhead per step beyond the ERP's time (from the placer's step metrics), placements per
//! minute, and the time from PlaceOrder to the order being readable in `orders.db`.

use crate::setup;
use crate::table::{Table, median, ms, percentile};
use archibald_sim::ReportKind;
use blackant::records::Kind;
use blackant::service::{OrderRequest, Service};
use blackant_actors::db_writer::open_reader;
use blackant_actors::events::EventBody;
use blackant_actors::order_placer::{PlacementState, metric};
use blackant_actors::run::{Mode, Scope};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const AGENTS: [&str; 3] = ["agent1", "agent2", "agent3"];

/// `samples` placements one by one, each followed into `orders.db`; then `placements` placed
/// all at once.
pub async fn run(placements: usize, samples: usize) {
    let (tx, mut steps) = mpsc::unbounded_channel();
    if metrics::set_global_recorder(StepRecorder(tx)).is_err() {
        println!("\n== 6. Placing orders: skipped (a metrics recorder is already installed)");
        return;
    }
    let sim = setup::simulator().await;
    let lag = sim.faults().index_lag;
    let (service, data) = setup::service_with(&sim, 2, |c| {
        // Comfortably above the simulator's own lag, as the configuration asks.
        c.orders.index_lag = lag + Duration::from_secs(1);
    })
    .await;
    let customer = |agent: &str| {
        sim.truth(ReportKind::Customers, Some(agent))[0]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let customers: Vec<(String, String)> = AGENTS
        .iter()
        .map(|a| (a.to_string(), customer(a)))
        .collect();
    let lines = sim.orderable(8);
    let order = |n: usize| {
        let (agent, customer_code) = customers[n % customers.len()].clone();
        OrderRequest {
            key: format!("bench-{n}"),
            agent,
            customer_code,
            lines: vec![
                lines[n % lines.len()].clone(),
                lines[(n + 3) % lines.len()].clone(),
            ],
            notes: format!("ordine di prova {n}"),
        }
    };
    // The replicas the validation judges on and each agent's orders, then one placement per
    // agent followed into orders.db (Chromium contexts opened, first order syncs done): what
    // follows is the steady state.
    let mut warm: Vec<(Kind, Scope)> = AGENTS
        .iter()
        .flat_map(|a| [Kind::Customers, Kind::Orders].map(|k| (k, Scope::Agent(a.to_string()))))
        .collect();
    warm.push((Kind::Products, Scope::Catalogue));
    setup::run_all(&service, &warm, Mode::Delta).await;
    let mut next = 0;
    for _ in AGENTS {
        until_in_orders_db(&service, data.path(), order(next)).await;
        next += 1;
    }
    Steps::take(&mut steps, AGENTS.len()).await; // the warm-up's steps are not counted

    // PlaceOrder → readable in orders.db, one at a time (the simulator's indexing lag included).
    let mut to_db = Vec::new();
    for n in next..next + samples {
        to_db.push(until_in_orders_db(&service, data.path(), order(n)).await);
    }
    next += samples;

    // Throughput: all at once, serialized by the placer (each placed in one step).
    let batch: Vec<OrderRequest> = (next..next + placements).map(order).collect();
    let t = Instant::now();
    let outcomes = place_all(&service, &batch).await;
    let wall = t.elapsed();
    let placed = outcomes
        .iter()
        .filter(|s| **s == PlacementState::Placed)
        .count();
    let steps = Steps::take(&mut steps, samples + placements).await;

    let sorted = |mut v: Vec<Duration>| {
        v.sort();
        v
    };
    let overhead = sorted(steps.overhead);
    let erp = sorted(steps.erp);
    let step = sorted(steps.step);
    let pause = sorted(steps.pause);
    let mut t = Table::new(
        "6. Placing orders (real Chromium, simulator at zero latency, 2 browsers)",
        &["", "p50", "p99", "max", "n"],
    );
    for (name, v) in [
        ("placer overhead per step", &overhead),
        ("  of which pause handshake", &pause),
        ("ERP time per step (form)", &erp),
        ("step wall time", &step),
    ] {
        t.row([
            name.to_string(),
            ms(percentile(v, 0.5)),
            ms(percentile(v, 0.99)),
            ms(v.last().copied().unwrap_or_default()),
            v.len().to_string(),
        ]);
    }
    let to_db_sorted = sorted(to_db.clone());
    t.row([
        "PlaceOrder → in orders.db".to_string(),
        ms(median(to_db)),
        ms(percentile(&to_db_sorted, 0.99)),
        ms(to_db_sorted.last().copied().unwrap_or_default()),
        to_db_sorted.len().to_string(),
    ]);
    t.note(format!(
        "throughput: {placed}/{placements} placed in {:.1} s = {:.1} placements/min \
         (all sent at once; the placer serializes them, syncs paused during each)",
        wall.as_secs_f64(),
        placed as f64 * 60.0 / wall.as_secs_f64().max(1e-9)
    ));
    t.note(
        "overhead = step wall time − time inside the ERP's form: pause handshake, outbox \
         writes (fsynced), recording, resume; goal p99 ≤ 100 ms",
    );
    t.note(format!(
        "PlaceOrder → orders.db includes the simulator's indexing lag ({} ms): the order \
         sync that follows a placement finds the order only once Archibald lists it",
        lag.as_millis()
    ));
    t.print();
    service.shutdown().await;
}

/// Place `orders` at once; their final states.
async fn place_all(service: &Service, orders: &[OrderRequest]) -> Vec<PlacementState> {
    let mut waits = Vec::new();
    for req in orders {
        let events = service.subscribe_placements();
        let (p, _) = service.place_order(req.clone()).await.expect("PlaceOrder");
        waits.push(service.wait_settled(p.id, events));
    }
    let mut states = Vec::new();
    for w in waits {
        states.push(w.await.expect("settled").state);
    }
    states
}

/// Place `req` and wait until `orders.db` holds it (on the agent's order-sync completions).
async fn until_in_orders_db(
    service: &Service,
    data: &std::path::Path,
    req: OrderRequest,
) -> Duration {
    let mut syncs = service.subscribe();
    let agent = req.agent.clone();
    let t = Instant::now();
    let p = place_all(service, std::slice::from_ref(&req)).await;
    assert_eq!(p, [PlacementState::Placed], "the sample placement");
    let placement = service
        .placement(blackant::service::PlacementRef::Key(req.key))
        .await
        .expect("placement");
    let number = placement.placement.order_number.expect("an order number");
    let db = data.join("orders.db");
    let has = || {
        open_reader(&db)
            .ok()
            .and_then(|c| blackant::store::lookups::has_order(&c, &agent, &number).ok())
            .unwrap_or(false)
    };
    while !has() {
        loop {
            let e = syncs.recv().await.expect("events");
            if e.kind == "orders"
                && e.scope.agent() == Some(agent.as_str())
                && matches!(e.body, EventBody::Completed { .. })
            {
                break;
            }
        }
    }
    t.elapsed()
}

/// The placer's step timings, as recorded.
#[derive(Default)]
struct Steps {
    step: Vec<Duration>,
    erp: Vec<Duration>,
    overhead: Vec<Duration>,
    pause: Vec<Duration>,
}

impl Steps {
    /// The timings of the next `n` steps (a step's overhead is its last value recorded).
    async fn take(rx: &mut mpsc::UnboundedReceiver<(&'static str, f64)>, n: usize) -> Steps {
        let mut out = Steps::default();
        while out.overhead.len() < n {
            let (name, v) = rx.recv().await.expect("the placer's metrics");
            let d = Duration::from_secs_f64(v.max(0.0));
            match name {
                metric::STEP_SECONDS => out.step.push(d),
                metric::ERP_SECONDS => out.erp.push(d),
                metric::OVERHEAD_SECONDS => out.overhead.push(d),
                metric::PAUSE_SECONDS => out.pause.push(d),
                _ => {}
            }
        }
        out
    }
}

/// A metrics recorder that hands the placer's histogram values to the bench as they are
/// recorded (so it waits for the steps it counts, instead of sampling), and drops the rest.
struct StepRecorder(mpsc::UnboundedSender<(&'static str, f64)>);

struct Values(&'static str, mpsc::UnboundedSender<(&'static str, f64)>);

impl metrics::HistogramFn for Values {
    fn record(&self, value: f64) {
        let _ = self.1.send((self.0, value));
    }
}

impl metrics::Recorder for StepRecorder {
    fn describe_counter(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_gauge(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn describe_histogram(
        &self,
        _: metrics::KeyName,
        _: Option<metrics::Unit>,
        _: metrics::SharedString,
    ) {
    }
    fn register_counter(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Counter {
        metrics::Counter::noop()
    }
    fn register_gauge(&self, _: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }
    fn register_histogram(
        &self,
        key: &metrics::Key,
        _: &metrics::Metadata<'_>,
    ) -> metrics::Histogram {
        let name = [
            metric::STEP_SECONDS,
            metric::ERP_SECONDS,
            metric::OVERHEAD_SECONDS,
            metric::PAUSE_SECONDS,
        ]
        .into_iter()
        .find(|n| *n == key.name());
        match name {
            Some(name) => metrics::Histogram::from_arc(Arc::new(Values(name, self.0.clone()))),
            None => metrics::Histogram::noop(),
        }
    }
}
