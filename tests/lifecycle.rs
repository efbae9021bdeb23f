//! `blackant serve` as a process, stopped the way operators and init systems stop it: SIGTERM
//! or SIGINT runs the service's real shutdown — every actor of the tree stops, and the process
//! says so and exits 0, within its bound even with syncs running, and the next start ends
//! equal to the ERP; a SIGKILL (the OOM killer) leaves no browser of it running. One service per
//! data folder: a second start on a folder in use is refused, and a killed holder frees it.

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
    let (mut serve, addr, _) = serve_with(&["--sim"], &data, &[]);
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
    let named: Vec<&str> = names.split(", ").collect();
    // The Scheduler's first syncs may add file writers after the listing: those stop too.
    for actor in &actors {
        assert!(
            named.contains(&actor.as_str()),
            "{actor} stopped: {named:?}"
        );
    }
    assert_eq!(count.parse::<usize>().unwrap(), named.len(), "all stopped");
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

/// Wait (bounded) until process `pid` has terminated: on its pidfd, no polling.
async fn terminated(pid: i32) {
    // SAFETY: pidfd_open(2) with no flags; a negative answer means the process is gone.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return;
    }
    // SAFETY: the fd was just opened and is owned here.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    // SAFETY: the OwnedFd stays open, and the same descriptor, while the AsyncFd owns it.
    let fd = unsafe { tokio::io::unix::AsyncFd::register(fd) }.expect("pidfd");
    let _ready = tokio::time::timeout(crate::util::PATIENCE, fd.readable())
        .await
        .expect("the process dies in time")
        .expect("pidfd readable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_service_leaves_no_browser_and_the_next_start_reaps_what_was_left() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let profiles = data.join("browsers");
    let needle = profiles.to_string_lossy().to_string();
    let (mut serve, addr, _) = serve_with(&["--sim"], &data, &[]);
    // A sync launches a browser (with its helper processes).
    let done = client(&addr)
        .await
        .request_sync(pb::RequestSyncRequest {
            kind: pb::SyncKind::Customers as i32,
            user: "agent3".into(),
            wait: true,
            ..Default::default()
        })
        .await
        .expect("RequestSync")
        .into_inner();
    assert!(done.result.is_some_and(|r| r.ok));
    let browsers = processes_with(&needle);
    assert!(
        browsers.iter().any(|(_, c)| !c.contains("--type=")),
        "a browser runs, its profile in the data folder: {browsers:?}"
    );

    // SIGKILL: nothing runs the service's shutdown, yet every browser process dies with it.
    serve.0.kill().expect("SIGKILL");
    serve.0.wait().unwrap();
    for (pid, _) in &browsers {
        terminated(*pid).await;
    }
    assert!(
        processes_with(&needle).is_empty(),
        "{:?}",
        processes_with(&needle)
    );

    // What a previous life could still leave (a process holding a profile of ours) is killed
    // by the next start, and its profile folder removed.
    let leftover_profile = profiles.join("blackant-chromium-leftover");
    std::fs::create_dir_all(&leftover_profile).unwrap();
    let mut leftover = std::process::Command::new("sh")
        .args(["-c", "while :; do sleep 1; done", "sh"])
        .arg(format!("--user-data-dir={}", leftover_profile.display()))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let (again, _, _) = serve_with(&["--sim"], &data, &[]);
    let status = leftover.wait().unwrap();
    assert!(!status.success(), "killed: {status:?}");
    assert!(!leftover_profile.exists(), "its profile folder removed");
    drop(again);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_syncs_exits_within_the_bound_and_the_next_start_ends_equal_to_the_erp() {
    use crate::util::{assert_equals_truth, live_rows};
    use blackant::records::Kind;
    let (sim, url) = sim();
    let customers: Vec<serde_json::Map<String, serde_json::Value>> =
        sim_json(&url, "truth/customers?agent=agent1").await;
    let orders: Vec<serde_json::Map<String, serde_json::Value>> =
        sim_json(&url, "truth/orders?agent=agent1").await;
    let accounts: Vec<serde_json::Value> = sim_json(&url, "accounts").await;
    let open = pb::OpenSessionRequest {
        user: "agent1".into(),
        erp_username: "agent1".into(),
        erp_password: password_of(&accounts, "agent1"),
    };
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("blackant.toml");
    let bound_secs = 10;
    std::fs::write(
        &config,
        format!(
            "agents = [\"agent1\"]\n[erp]\nbase_url = \"{url}\"\n\
             [tuning]\nshutdown_timeout_secs = {bound_secs}\n"
        ),
    )
    .unwrap();
    let data = dir.path().join("data");

    // First life: the login starts the customer and order syncs; SIGTERM once pages flow.
    let (mut first, addr) = serve(&config, &data);
    let mut c = client(&addr).await;
    let mut events = c
        .watch_sync_events(pb::WatchSyncEventsRequest {
            kind: pb::SyncKind::Customers as i32,
            user: "agent1".into(),
            run_id: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let login = c.open_session(open.clone()).await.unwrap().into_inner();
    assert_eq!(login.syncs.len(), 2, "customers and orders start");
    wait_page(&mut events, 2).await;
    let asked = std::time::Instant::now();
    signal(first.0.id(), "TERM");
    let (lines, status) = first.until_exit();
    let took = asked.elapsed();
    assert!(status.success(), "exit {status:?}; output {lines:?}");
    assert!(
        took < std::time::Duration::from_secs(bound_secs + 5),
        "exited {took:?} after SIGTERM with a {bound_secs} s bound: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("stopped in ")),
        "an orderly stop, not the bound cutting it: {lines:?}"
    );

    // The databases are consistent as the shutdown left them.
    for file in ["sync.db", "customers-agent1.db", "orders.db"] {
        let path = data.join(file);
        if !path.exists() {
            continue;
        }
        let conn = rusqlite::Connection::open(&path).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "{file}");
    }

    // Second life: the login's syncs resume or run; both end equal to the ERP.
    let (second, addr) = serve(&config, &data);
    let mut c = client(&addr).await;
    c.open_session(open).await.unwrap();
    for kind in [pb::SyncKind::Customers, pb::SyncKind::Orders] {
        let done = c
            .request_sync(pb::RequestSyncRequest {
                kind: kind as i32,
                user: "agent1".into(),
                wait: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(done.result.is_some_and(|r| r.ok), "{kind:?}");
    }
    assert_equals_truth(
        "after SIGTERM",
        Kind::Customers,
        customers,
        live_rows(&data.join("customers-agent1.db"), Kind::Customers, None),
    );
    assert_equals_truth(
        "after SIGTERM",
        Kind::Orders,
        orders,
        live_rows(&data.join("orders.db"), Kind::Orders, Some("agent1")),
    );
    drop(second);
    drop(sim);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_example_config_serves_and_tls_from_the_config_is_spoken() {
    // config.example.toml as shipped, with the simulator: it starts and stops cleanly.
    let dir = tempfile::tempdir().unwrap();
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config.example.toml");
    let data = dir.path().join("data");
    let (mut serve, _, _) = serve_with(&["--sim", "--config", example], &data, &[]);
    signal(serve.0.id(), "TERM");
    let (lines, status) = serve.until_exit();
    assert!(status.success(), "{lines:?}");

    // TLS: a self-signed certificate for localhost, named in the config.
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert_pem = cert.cert.pem();
    let cert_file = dir.path().join("cert.pem");
    let key_file = dir.path().join("key.pem");
    std::fs::write(&cert_file, &cert_pem).unwrap();
    std::fs::write(&key_file, cert.signing_key.serialize_pem()).unwrap();
    let config = dir.path().join("tls.toml");
    std::fs::write(
        &config,
        format!(
            "[tls]\ncert_file = {:?}\nkey_file = {:?}\n",
            cert_file.to_str().unwrap(),
            key_file.to_str().unwrap()
        ),
    )
    .unwrap();
    let (serve, addr, rest) =
        serve_with(&["--sim", "--config", config.to_str().unwrap()], &data, &[]);
    assert!(rest.contains("over TLS"), "{rest}");
    let port = addr.rsplit_once(':').unwrap().1;
    let tls = tonic::transport::ClientTlsConfig::new()
        .ca_certificate(tonic::transport::Certificate::from_pem(&cert_pem))
        .domain_name("localhost");
    let channel = tonic::transport::Channel::from_shared(format!("https://localhost:{port}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .expect("a TLS client connects");
    let actors = pb::admin_service_client::AdminServiceClient::new(channel)
        .list_actors(pb::ListActorsRequest {})
        .await
        .expect("ListActors over TLS")
        .into_inner()
        .actors;
    assert!(!actors.is_empty());
    // A plaintext client gets nothing from a TLS port.
    let plain = async {
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await?;
        pb::admin_service_client::AdminServiceClient::new(channel)
            .list_actors(pb::ListActorsRequest {})
            .await
            .map_err(|s| Box::new(s) as Box<dyn std::error::Error + Send + Sync>)?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    };
    assert!(
        tokio::time::timeout(crate::util::PATIENCE, plain)
            .await
            .expect("answers in time")
            .is_err(),
        "plaintext must fail against TLS"
    );
    drop(serve);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_service_on_a_data_folder_in_use_is_refused_and_a_killed_holder_frees_it_at_once()
{
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (mut first, addr, _) = serve_with(&["--sim"], &data, &[]);
    let holder = first.0.id();

    // Other ports, same folder: refused before it binds or starts anything.
    let started = std::time::Instant::now();
    let (status, stderr) = serve_refused("127.0.0.1:0", &data, &[]).await;
    assert!(
        !status.success(),
        "the second service exits non-zero: {status:?}"
    );
    assert!(
        stderr.contains(&data.display().to_string()) && stderr.contains(&format!("PID {holder}")),
        "the refusal names the folder and the holder's PID: {stderr}"
    );
    assert!(
        !stderr.contains("blackant serving gRPC"),
        "it never served: {stderr}"
    );
    eprintln!("second start refused in {:?}", started.elapsed());
    // The first one never noticed: it still answers.
    let status = client(&addr)
        .await
        .get_sync_status(pb::GetSyncStatusRequest::default())
        .await;
    assert!(status.is_ok(), "the holder keeps serving: {status:?}");

    // SIGKILL the holder: its lock goes with it, and a new start takes the folder at once.
    first.0.kill().expect("SIGKILL");
    first.0.wait().unwrap();
    let (again, addr, _) = serve_with(&["--sim"], &data, &[]);
    let answered = client(&addr)
        .await
        .get_sync_status(pb::GetSyncStatusRequest::default())
        .await;
    assert!(answered.is_ok(), "the new service serves: {answered:?}");
    drop(again);
}
