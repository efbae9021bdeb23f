//! The soak: `blackant serve` in its own process keeping three agents fresh on compressed
//! schedules (every kind every 15–40 s) while an order is placed every ~20 s, for
//! `BLACKANT_SOAK_SECS` (90 inside `make test`, 1800 in `make soak`). Sampled on a fixed cadence:
//! the service's RSS and open files, its Chromium processes and their RSS, the data folder's
//! SQLite bytes and `exports/`. Printed as start (after a warm-up), end and peak; asserted:
//! open files and Chromium processes do not grow, `exports/` holds only the runs in flight and
//! is empty once the schedules stop, the SQLite files grow by no more than their history, and
//! every placement is placed.

use crate::util::fleet::*;
use crate::util::order_world::OrderWorld;
use crate::util::process::*;
use blackant::grpc::pb::PlacementState;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::time::{Duration, Instant};

/// One reading of the service and what it owns.
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    at: Duration,
    rss_mib: f64,
    open_files: usize,
    browsers: usize,
    browsers_rss_mib: f64,
    sqlite_mib: f64,
    exports: usize,
}

fn rss_mib_of(pid: i32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn sample(at: Duration, pid: i32, world: &OrderWorld, profiles: &str) -> Sample {
    let open_files = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0);
    let browsers = processes_with(profiles);
    let sqlite_bytes: u64 = std::fs::read_dir(&world.data)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains(".db"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    let exports = std::fs::read_dir(world.data.join("exports"))
        .map(|d| d.count())
        .unwrap_or(0);
    Sample {
        at,
        rss_mib: rss_mib_of(pid),
        open_files,
        browsers: browsers.len(),
        browsers_rss_mib: browsers.iter().map(|(p, _)| rss_mib_of(*p)).sum(),
        sqlite_mib: sqlite_bytes as f64 / (1024.0 * 1024.0),
        exports,
    }
}

fn row(label: &str, s: &Sample) -> String {
    format!(
        "{label:<14} {:>7.0}s {:>9.1} {:>6} {:>9} {:>12.0} {:>10.2} {:>8}",
        s.at.as_secs_f64(),
        s.rss_mib,
        s.open_files,
        s.browsers,
        s.browsers_rss_mib,
        s.sqlite_mib,
        s.exports
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_run_on_compressed_schedules_keeps_memory_files_and_the_data_folder_flat() {
    let secs = std::env::var("BLACKANT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(90u64);
    let cadence = Duration::from_secs((secs / 60).clamp(5, 30));
    let warm_up = Duration::from_secs((secs / 6).clamp(30, 300));
    let world = OrderWorld::start_with(&AGENTS, 3, "[schedule]\nenabled = true\n").await;
    let profiles = world.data.join("browsers").to_string_lossy().to_string();
    let (serve, addr) = world.serve();
    let pid = serve.0.id() as i32;
    world.open_sessions(&addr).await;
    for (kind, agent) in scopes() {
        clean_sync(&addr, kind, agent).await;
    }
    compress_schedules(&addr, &mut StdRng::seed_from_u64(7), 15..40).await;

    let started = Instant::now();
    let mut ticks = tokio::time::interval(cadence);
    let mut samples: Vec<Sample> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    let mut placements = orders(&addr).await;
    let mut next_order = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(secs) {
        ticks.tick().await;
        let at = started.elapsed();
        if at >= next_order {
            let key = format!("soak-{}", keys.len());
            placements
                .place_order(world.request(&key, keys.len()))
                .await
                .unwrap_or_else(|e| panic!("placing {key}: {e}"));
            keys.push(key);
            next_order = at + Duration::from_secs(20);
        }
        samples.push(sample(at, pid, &world, &profiles));
    }
    disable_schedules(&addr).await;
    world.settle(&addr).await;
    // The runs in flight end (each kind's last sync asked for again waits for them).
    for (kind, agent) in scopes() {
        clean_sync(&addr, kind, agent).await;
    }
    let last = sample(started.elapsed(), pid, &world, &profiles);

    let start = samples
        .iter()
        .find(|s| s.at >= warm_up)
        .copied()
        .unwrap_or(samples[0]);
    let peak = |f: fn(&Sample) -> f64| samples.iter().map(f).fold(0.0, f64::max);
    println!(
        "\nsoak: {secs} s, {} samples every {} s, {} orders placed",
        samples.len(),
        cadence.as_secs(),
        keys.len()
    );
    println!(
        "{:<14} {:>8} {:>9} {:>6} {:>9} {:>12} {:>10} {:>8}",
        "", "at", "RSS MiB", "files", "browsers", "browsers MiB", "SQLite MiB", "exports"
    );
    println!("{}", row("first", &samples[0]));
    println!("{}", row("after warm-up", &start));
    println!("{}", row("end", &last));
    println!(
        "{:<14} {:>8} {:>9.1} {:>6} {:>9} {:>12.0} {:>10.2} {:>8}",
        "peak",
        "",
        peak(|s| s.rss_mib),
        peak(|s| s.open_files as f64),
        peak(|s| s.browsers as f64),
        peak(|s| s.browsers_rss_mib),
        peak(|s| s.sqlite_mib),
        peak(|s| s.exports as f64)
    );

    // Open files and browsers do not accumulate; exports are only those of runs in flight.
    assert!(
        last.open_files <= start.open_files + 16,
        "open files grew: {} after the warm-up, {} at the end",
        start.open_files,
        last.open_files
    );
    // Tabs come and go with the runs, so the count moves; growth is the end above what the
    // first half of the run ever reached (the unrecycled browsers went 22 → 33 in 30 min).
    let early_peak = samples[..samples.len().div_ceil(2)]
        .iter()
        .map(|s| s.browsers)
        .max()
        .unwrap_or(0);
    assert!(
        last.browsers <= early_peak + 2,
        "Chromium processes grew: at most {early_peak} in the first half of the run, {} at the end",
        last.browsers
    );
    assert!(
        samples.iter().all(|s| s.exports <= scopes().len()),
        "more exports kept than runs can be in flight"
    );
    assert_eq!(last.exports, 0, "exports/ empty once nothing runs");
    // The SQLite files hold the same data; only the run history grows (a few KiB a run).
    assert!(
        last.sqlite_mib <= start.sqlite_mib + 16.0,
        "the SQLite files grew from {:.1} to {:.1} MiB",
        start.sqlite_mib,
        last.sqlite_mib
    );
    for key in &keys {
        let p = placement_by_key(&mut placements, key).await;
        assert_eq!(
            PlacementState::try_from(p.state),
            Ok(PlacementState::Placed),
            "placement {key}: {}",
            p.reason
        );
    }
    drop(serve);
}
