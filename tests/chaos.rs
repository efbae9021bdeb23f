//! Chaos: everything at once, as processes. `blackant sim` stands in for Archibald and injects
//! faults (HTTP 500s, truncated, cut and malformed exports, sessions dying mid-export and
//! mid-form, slow pages, lost confirmations, refused submissions) while `blackant serve` runs
//! every kind for three agents on compressed schedules and orders are placed; its browsers are
//! killed, and the service itself is SIGKILLed at random moments and started again on the same
//! data. Then, faults off, one more life and one more round of syncs, and the invariants: every
//! database equals the ERP field by field, nothing the ERP holds is marked deleted, every
//! placement is placed exactly once or ended with a reason, no actor is escalated, `exports/`
//! keeps no orphan. A broken invariant names the record or placement that broke it.
//!
//! Seeded and reproducible in what it does (faults, batches, kill points):
//! `BLACKANT_CHAOS_SEED` (default 11) and `BLACKANT_CHAOS_LIVES` (lives killed; 3 inside
//! `make test`, 12 in `make chaos`).

use crate::util::fleet::*;
use crate::util::order_world::OrderWorld;
use crate::util::process::*;
use crate::util::*;
use blackant::grpc::pb::{self, PlacementState};
use blackant::records::Kind;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The faults a life draws from: a name for the figures and the `/_sim/faults` fields.
fn fault_menu(rng: &mut impl Rng) -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    vec![
        ("http 500 (1 in 10)", json!({ "http_500_rate": 0.1 })),
        ("truncated exports", json!({ "truncate_export_pages": 1 })),
        ("cut exports", json!({ "corrupt_export": true })),
        (
            "malformed values",
            json!({ "malformed_export_value": true }),
        ),
        (
            "session expiry mid-export",
            json!({ "session_expiry_after_requests": rng.random_range(4..12) }),
        ),
        ("session expiry mid-form", json!({ "expire_next_forms": 2 })),
        (
            "slow pages",
            json!({ "latency_ms": rng.random_range(20..120) }),
        ),
        ("slow exports", json!({ "export_delay_ms": 1500 })),
        (
            "lost confirmations",
            json!({ "lose_next_confirmations": 2 }),
        ),
        ("refused submissions", json!({ "fail_next_submits": 2 })),
    ]
}

/// What the simulator counted of each injected fault (`/_sim/stats` fields).
const FAULT_STATS: [(&str, &str); 10] = [
    ("HTTP 500", "http_500_injected"),
    ("truncated exports", "truncated_exports"),
    ("cut exports", "corrupt_exports"),
    ("malformed exports", "malformed_exports"),
    ("sessions killed mid-work", "sessions_killed"),
    ("forms expired", "forms_expired"),
    ("slowed responses", "latency_injected"),
    ("delayed exports", "exports_delayed"),
    ("confirmations lost", "confirmations_lost"),
    ("submissions refused", "submits_failed"),
];

/// What one life counted on the event stream.
#[derive(Default)]
struct Tally {
    retries: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_faults_kills_and_load_every_database_converges_and_every_order_is_placed_once() {
    let seed = env_or("BLACKANT_CHAOS_SEED", 11);
    let lives = env_or("BLACKANT_CHAOS_LIVES", 3) as usize;
    let mut rng = StdRng::seed_from_u64(seed);
    // Breakers cool down fast, retries are quick: many rounds fit in a short run.
    let world = OrderWorld::start_with(
        &AGENTS,
        3,
        "[schedule]\nenabled = true\n[breaker]\nfailures_to_open = 3\ncool_down_secs = 2\n",
    )
    .await;
    let profiles = world.data.join("browsers").to_string_lossy().to_string();
    let tally = Arc::new(Tally::default());
    let mut keys: Vec<String> = Vec::new();
    let mut drawn: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut serve_kills, mut browser_kills, mut breaker_openings) = (0usize, 0usize, 0u64);

    for life in 1..=lives {
        let (mut serve, addr) = world.serve();
        let http = http_address(&serve);
        watch_tally(&addr, Arc::clone(&tally)).await;
        if life == 1 {
            // Orders are checked against the replica (the agent's customers, the catalogue):
            // one clean sync of those first, so that orders are placed under the faults.
            world.open_sessions(&addr).await;
            for (kind, agent) in scopes() {
                if matches!(kind, Kind::Customers | Kind::Products | Kind::Prices) {
                    clean_sync(&addr, kind, agent).await;
                }
            }
            compress_schedules(&addr, &mut rng, 4..12).await;
        }
        // This life's faults: the next few of the (shuffled) menu, so that every fault is
        // drawn within the first lives.
        let mut menu = fault_menu(&mut rng);
        menu.shuffle(&mut StdRng::seed_from_u64(seed));
        let per_life = menu.len().div_ceil(lives).clamp(2, 4);
        let mut faults = serde_json::Map::new();
        for i in 0..per_life {
            let (name, fields) = &menu[((life - 1) * per_life + i) % menu.len()];
            *drawn.entry(name).or_default() += 1;
            faults.extend(fields.as_object().cloned().unwrap_or_default());
        }
        sim_post(&world.sim, "faults", faults.into()).await;
        world.open_sessions(&addr).await;
        // New orders, and again every key so far (idempotent: a key the outbox holds
        // answers its placement; one that never reached it is accepted now).
        let fresh = rng.random_range(3..=6);
        let from = keys.len();
        keys.extend((from..from + fresh).map(|n| format!("chaos-{seed}-{n}")));
        place(&world, &addr, &keys).await;

        // The service works under faults for a random while; its browser may die meanwhile.
        let life_ms = rng.random_range(8_000..20_000);
        let browser_at = rng.random_range(2_000..life_ms);
        tokio::time::sleep(Duration::from_millis(browser_at)).await;
        browser_kills += kill_a_browser(&profiles);
        tokio::time::sleep(Duration::from_millis(life_ms - browser_at)).await;
        breaker_openings += scrape(&http, blackant::syncs::breaker::OPENINGS_TOTAL).await;
        serve.0.kill().expect("SIGKILL");
        serve.0.wait().expect("reaped");
        serve_kills += 1;
    }

    // The last life: faults off, orders shown at once, the scheduler off so that the final
    // round is the last word.
    sim_post(
        &world.sim,
        "faults",
        serde_json::json!({ "index_lag_ms": 0 }),
    )
    .await;
    let (serve, addr) = world.serve();
    let http = http_address(&serve);
    watch_tally(&addr, Arc::clone(&tally)).await;
    disable_schedules(&addr).await;
    world.open_sessions(&addr).await;
    place(&world, &addr, &keys).await;
    world.settle(&addr).await;
    for (kind, agent) in scopes() {
        clean_sync(&addr, kind, agent).await;
    }
    // An order sync asks for its agent's DDT and invoices after it: let those end too.
    for (kind, agent) in scopes() {
        if matches!(kind, Kind::Ddt | Kind::Invoices) {
            clean_sync(&addr, kind, agent).await;
        }
    }
    breaker_openings += scrape(&http, blackant::syncs::breaker::OPENINGS_TOTAL).await;

    let checked = invariants(&world, &addr, &keys).await;
    let stats: serde_json::Value = sim_json(&world.sim, "stats").await;
    let faults: Vec<String> = FAULT_STATS
        .iter()
        .map(|(name, field)| format!("{name} {}", stats[field].as_u64().unwrap_or(0)))
        .collect();
    eprintln!(
        "chaos (seed {seed}): {} lives, {serve_kills} SIGKILLs of the service, {browser_kills} browsers killed; \
         faults drawn per life: {drawn:?}; injected: {}; {} runs completed, {} failed, {} retries, \
         {breaker_openings} breaker openings; {} placements, {checked}; 0 duplicates, 0 lost",
        lives + 1,
        faults.join(", "),
        tally.completed.load(Ordering::Relaxed),
        tally.failed.load(Ordering::Relaxed),
        tally.retries.load(Ordering::Relaxed),
        keys.len(),
    );
    drop(serve);
}

/// The HTTP address `blackant serve` announces right after its gRPC one.
fn http_address(serve: &Proc) -> String {
    loop {
        let line = serve
            .1
            .recv_timeout(PATIENCE)
            .expect("the service announces its HTTP port");
        if let Some(rest) = line.strip_prefix("metrics at ") {
            let url = rest.split_whitespace().next().expect("an address");
            return url
                .trim_end_matches(',')
                .trim_end_matches("/metrics")
                .into();
        }
    }
}

/// The sum of a Prometheus counter over its labels, as served now.
async fn scrape(http: &str, counter: &str) -> u64 {
    let text = reqwest::get(format!("{http}/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with(counter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Count this life's retries and run ends in the background (until the life is killed).
async fn watch_tally(addr: &str, tally: Arc<Tally>) {
    let mut events = all_events(addr).await;
    tokio::spawn(async move {
        while let Ok(Some(e)) = events.message().await {
            let counter = match e.event {
                Some(pb::sync_event::Event::Retrying(_)) => &tally.retries,
                Some(pb::sync_event::Event::Completed(_)) => &tally.completed,
                Some(pb::sync_event::Event::Failed(_)) => &tally.failed,
                _ => continue,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// Send every key's order (the `n`th key is the world's `n`th request). A refusal is fine
/// here: the service may be busy dying; the last life sends them all again.
async fn place(world: &OrderWorld, addr: &str, keys: &[String]) {
    let mut c = orders(addr).await;
    for (n, key) in keys.iter().enumerate() {
        let _ = c.place_order(world.request(key, n)).await;
    }
}

/// SIGKILL one browser of the service (a main Chromium process, its profile under `profiles`);
/// how many were killed (0 when none ran at that moment).
fn kill_a_browser(profiles: &str) -> usize {
    let browser = processes_with(profiles)
        .into_iter()
        .find(|(_, cmdline)| !cmdline.contains("--type="));
    match browser {
        // SAFETY: kill(2) on a pid just read from /proc, a browser of this test's service.
        Some((pid, _)) => usize::from(unsafe { libc::kill(pid, libc::SIGKILL) } == 0),
        None => 0,
    }
}

/// Check every invariant; a summary of what was checked.
async fn invariants(world: &OrderWorld, addr: &str, keys: &[String]) -> String {
    // Every database equals the ERP, and nothing the ERP holds is marked deleted.
    let mut records = 0usize;
    for (kind, agent) in scopes() {
        let user = (!agent.is_empty()).then_some(agent);
        let query = user.map(|a| format!("?agent={a}")).unwrap_or_default();
        let truth: Vec<serde_json::Map<String, serde_json::Value>> =
            sim_json(&world.sim, &format!("truth/{}{query}", kind.name())).await;
        let db = world.data.join(kind.spec().file.file_name(user));
        let label = format!("chaos: {kind} {agent}");
        let in_erp: BTreeSet<String> = truth.iter().map(|r| record_key(kind, r)).collect();
        for gone in deleted_rows(&db, kind, user) {
            let key = record_key(kind, &gone);
            assert!(
                !in_erp.contains(&key),
                "{label}: {key} is marked deleted but Archibald holds it"
            );
        }
        records += truth.len();
        assert_equals_truth(&label, kind, truth, live_rows(&db, kind, user));
        if kind == Kind::Orders {
            let want: BTreeMap<String, Vec<serde_json::Map<String, serde_json::Value>>> =
                sim_json(&world.sim, &format!("order-lines/{agent}")).await;
            let got = stored_lines(&db, agent);
            for (number, lines) in &want {
                assert_eq!(
                    got.get(number),
                    Some(lines),
                    "{label}: the lines of order {number}"
                );
            }
            assert_eq!(got.len(), want.len(), "{label}: orders with lines");
        }
    }

    // Every placement placed exactly once, or ended with a reason and nothing in Archibald.
    let mut c = orders(addr).await;
    let mut placed = 0;
    for key in keys {
        let p = placement_by_key(&mut c, key).await;
        let found = world.orders_with_reference(&p.reference).await;
        match PlacementState::try_from(p.state) {
            Ok(PlacementState::Placed) => {
                assert_eq!(
                    found,
                    std::slice::from_ref(&p.order_number),
                    "placement {key} (#{}): exactly its one order in Archibald",
                    p.id
                );
                placed += 1;
            }
            Ok(PlacementState::Rejected | PlacementState::Failed) => {
                assert!(
                    !p.reason.is_empty(),
                    "placement {key} ended without a reason"
                );
                assert!(
                    found.is_empty(),
                    "placement {key} ended ({}) yet Archibald holds {found:?}",
                    p.reason
                );
            }
            other => panic!("placement {key} did not end: {other:?} ({})", p.reason),
        }
    }

    // No actor left escalated.
    let actors = admin(addr)
        .await
        .list_actors(pb::ListActorsRequest {})
        .await
        .expect("ListActors")
        .into_inner()
        .actors;
    for a in &actors {
        assert_ne!(
            a.state,
            pb::actor::State::Escalated as i32,
            "{} is escalated: {}",
            a.name,
            a.last_failure
        );
    }

    // No run left open, and so no export kept for one.
    let sync_db = rusqlite::Connection::open_with_flags(
        world.data.join("sync.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("sync.db");
    let open: Vec<String> = sync_db
        .prepare("SELECT kind || ' ' || scope || ' run ' || id FROM runs WHERE state = 'open'")
        .and_then(|mut s| {
            s.query_map([], |r| r.get(0))?
                .collect::<Result<Vec<String>, _>>()
        })
        .expect("open runs");
    assert!(open.is_empty(), "runs left open: {open:?}");
    let orphans: Vec<String> = std::fs::read_dir(world.data.join("exports"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    assert!(orphans.is_empty(), "orphaned exports: {orphans:?}");

    format!(
        "{placed} placed exactly once, {} ended with a reason; {records} records equal to the ERP; \
         {} actors, none escalated; 0 open runs, 0 orphaned exports",
        keys.len() - placed,
        actors.len()
    )
}
