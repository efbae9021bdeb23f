//! `blackant serve` as a process, stopped the way operators and init systems stop it: SIGTERM
//! or SIGINT runs the service's real shutdown — every actor of the tree stops, and the process
//! says so and exits 0.

use crate::util::process::*;
use blackant::grpc::pb;

/// Send `signal` (a `kill` signal name) to `pid`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Start `blackant serve --sim`, read its actor tree over gRPC, stop it with `sig`, and check
/// that it stopped exactly those actors, all of them, and exited 0.
async fn stops_every_actor_on(sig: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = [
        "serve",
        "--sim",
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
        "--no-first-sync",
    ];
    let (mut serve, rest, _) = start(&args, "blackant serving gRPC on ", true);
    let addr = rest.split_whitespace().next().expect("address").to_string();
    let actors: Vec<String> = admin(&addr)
        .await
        .list_actors(pb::ListActorsRequest {})
        .await
        .expect("ListActors")
        .into_inner()
        .actors
        .into_iter()
        .map(|a| a.name)
        .collect();
    for name in [
        "Priority",
        "Scheduler",
        "BrowserPool",
        "DbWriter:sync.db",
        "CustomerSync",
        "OrderSyncRegistry",
    ] {
        assert!(actors.iter().any(|a| a == name), "{name} runs: {actors:?}");
    }

    signal(serve.0.id(), sig);
    let (lines, status) = serve.until_exit();
    assert!(status.success(), "exit {status:?}; output {lines:?}");
    let stopped = lines
        .iter()
        .find_map(|l| l.strip_prefix("stopped "))
        .unwrap_or_else(|| panic!("the shutdown reports the actors it stopped: {lines:?}"));
    let (count, names) = stopped.split_once(" actors: ").expect("count and names");
    let mut named: Vec<&str> = names.split(", ").collect();
    named.sort_unstable();
    let mut expected: Vec<&str> = actors.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(named, expected, "every actor of the tree, and only those");
    assert_eq!(count.parse::<usize>().unwrap(), actors.len(), "all stopped");
    assert!(
        !lines.iter().any(|l| l.starts_with("did not stop")),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_runs_the_real_shutdown_and_every_actor_stops() {
    stops_every_actor_on("TERM").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_runs_the_real_shutdown_and_every_actor_stops() {
    stops_every_actor_on("INT").await;
}
