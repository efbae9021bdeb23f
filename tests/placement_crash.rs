//! Placing orders while the whole service is killed, as processes: `blackant sim` stands in
//! for Archibald, `blackant serve` is SIGKILLed at random moments — and, every third life,
//! exactly between a click and its confirmation (the simulator holds the confirmation back and
//! says when the order was created) — then started again on the same data folder. Agents'
//! credentials live in memory only, so each life opens their sessions again, as the PWA would.
//! At the end every key is placed, exactly once in Archibald, and nothing is left in flight.

use crate::util::order_world::OrderWorld;
use crate::util::process::*;
use blackant::grpc::pb::PlacementState;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// How many orders are placed, and over how many lives at least.
const PLACEMENTS: usize = 100;
const MIN_KILLS: usize = 10;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_is_placed_exactly_once_through_a_hundred_placements_and_random_kills() {
    let seed: u64 = std::env::var("BLACKANT_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let world = OrderWorld::start(&["agent2", "agent3"], 3).await;
    let keys: Vec<String> = (0..PLACEMENTS)
        .map(|n| format!("crash-{seed}-{n}"))
        .collect();
    let mut sent = 0usize;
    let mut kills = 0usize;
    let mut aimed = 0usize;
    let mut life = 0usize;

    // Lives: each opens the sessions, sends more keys (and again those that may not have
    // reached the outbox), and is killed — at random, or between a click and its answer.
    loop {
        life += 1;
        let (mut serve, addr) = world.serve();
        world.open_sessions(&addr).await;
        let batch = rng.random_range(6..=14).min(keys.len() - sent);
        let upto = if kills < MIN_KILLS {
            sent + batch
        } else {
            keys.len()
        };
        let mut c = orders(&addr).await;
        for (n, key) in keys.iter().enumerate().take(upto) {
            // Idempotent: a key already accepted answers its placement.
            let _ = c.place_order(world.request(key, n)).await;
        }
        let fresh = upto > sent;
        sent = upto;
        if kills >= MIN_KILLS {
            // The last life: let everything settle, then check.
            let lives = life;
            finish(&world, &addr, &keys, kills, aimed, lives).await;
            drop(serve);
            return;
        }
        if life.is_multiple_of(3) && fresh {
            // Aim: hold the next confirmation back, wait for the ERP to create that order, kill.
            // The fault goes in first, so the order counted next is one whose answer is held.
            sim_post(
                &world.sim,
                "faults",
                serde_json::json!({ "slow_order_confirmation_ms": 5000 }),
            )
            .await;
            let created: serde_json::Value = sim_json(&world.sim, "stats").await;
            let before = created["orders_created"].as_u64().unwrap_or(0);
            let answer: serde_json::Value =
                sim_json(&world.sim, &format!("orders/created?after={before}")).await;
            assert!(
                answer.get("created").is_some(),
                "an order was created: {answer}"
            );
            aimed += 1;
        } else {
            // A random kill point: the service works undisturbed for a random while.
            let ms = rng.random_range(100..3000);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        serve.0.kill().expect("SIGKILL");
        serve.0.wait().unwrap();
        kills += 1;
        // Back to the default faults (none but the indexing lag).
        sim_post(&world.sim, "faults", serde_json::json!({})).await;
    }
}

/// Wait until no placement is in flight, then check every key.
async fn finish(
    world: &OrderWorld,
    addr: &str,
    keys: &[String],
    kills: usize,
    aimed: usize,
    lives: usize,
) {
    let mut c = orders(addr).await;
    world.settle(addr).await;
    let mut in_doubt = 0;
    let mut resubmitted = 0;
    for key in keys {
        let p = placement_by_key(&mut c, key).await;
        assert_eq!(
            PlacementState::try_from(p.state),
            Ok(PlacementState::Placed),
            "{key}: {}",
            p.reason
        );
        let found: Vec<String> = sim_json(
            &world.sim,
            &format!("orders/with-reference?ref={}", p.reference),
        )
        .await;
        assert_eq!(
            found,
            std::slice::from_ref(&p.order_number),
            "{key} (placement {}): exactly one order in Archibald",
            p.id
        );
        in_doubt += p
            .transitions
            .iter()
            .filter(|t| t.to == PlacementState::InDoubt as i32)
            .count();
        resubmitted += p.attempts.saturating_sub(1) as usize;
    }
    eprintln!(
        "placement crash test: {} placements, {lives} lives, {kills} SIGKILLs ({aimed} between a click and its confirmation), \
         {in_doubt} in-doubt recoveries, {resubmitted} resubmissions, 0 duplicates, 0 lost",
        keys.len()
    );
}
