//! `blackant` as processes: `blackant sim` standing in for Archibald, `blackant serve` killed or
//! stopped by signals, and gRPC clients of a served address.

use super::PATIENCE;
use blackant::grpc::pb;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A child process killed when dropped, so a failing test leaves no simulator or service behind.
/// Its output lines after the marker `start` waited for, until it exits.
pub struct Proc(pub Child, pub std::sync::mpsc::Receiver<String>);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `blackant ARGS`; return the child and the first line of its output (stderr when
/// `stderr`, else stdout) that starts with `marker`, after the marker. The rest of
/// the output is drained in the background so the child never blocks on a full pipe.
pub fn start(args: &[&str], marker: &str, stderr: bool) -> (Proc, String, Vec<String>) {
    start_env(args, marker, stderr, &[])
}

/// [`start`] with these environment variables set in the child.
pub fn start_env(
    args: &[&str],
    marker: &str,
    stderr: bool,
    env: &[(&str, &str)],
) -> (Proc, String, Vec<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blackant"));
    cmd.args(args)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied());
    if stderr {
        cmd.stderr(Stdio::piped()).stdout(Stdio::null());
    } else {
        cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    }
    let mut child = cmd.spawn().expect("start blackant");
    let out: Box<dyn std::io::Read + Send> = if stderr {
        Box::new(child.stderr.take().unwrap())
    } else {
        Box::new(child.stdout.take().unwrap())
    };
    let mut lines = BufReader::new(out).lines();
    let mut before = Vec::new();
    let found = loop {
        let line = lines
            .next()
            .expect("the process says where it is")
            .expect("output");
        if let Some(rest) = line.strip_prefix(marker) {
            break rest.trim().to_string();
        }
        before.push(line);
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (Proc(child, rx), found, before)
}

/// `blackant sim` (seed 42) on a free port: the child and its URL.
pub fn sim() -> (Proc, String) {
    let (child, url, _) = start(
        &["sim", "--listen", "127.0.0.1:0", "--seed", "42"],
        "Archibald simulator at ",
        false,
    );
    (child, url)
}

pub fn serve(config: &std::path::Path, data: &std::path::Path) -> (Proc, String) {
    serve_env(config, data, &[])
}

/// `blackant serve` on `config` and `data` with these environment variables; its address.
pub fn serve_env(
    config: &std::path::Path,
    data: &std::path::Path,
    env: &[(&str, &str)],
) -> (Proc, String) {
    let (child, addr, _) = serve_with(&["--config", config.to_str().unwrap()], data, env);
    (child, addr)
}

/// `blackant serve FIRST… --listen 127.0.0.1:0 --http-listen 127.0.0.1:0 --data DATA
/// --no-first-sync` (e.g. FIRST = `--sim`): the child, its gRPC address and the rest of the
/// line announcing it.
pub fn serve_with(
    first: &[&str],
    data: &std::path::Path,
    env: &[(&str, &str)],
) -> (Proc, String, String) {
    let mut args = vec!["serve"];
    args.extend_from_slice(first);
    args.extend([
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
        "--no-first-sync",
    ]);
    let (child, rest, _) = start_env(&args, "blackant serving gRPC on ", true, env);
    let addr = rest.split_whitespace().next().expect("address").to_string();
    (child, addr, rest)
}

/// `blackant serve --sim --listen 127.0.0.1:0 --http-listen HTTP --data DATA --no-first-sync`
/// with these environment variables, expected to refuse to start: run to its end (bounded),
/// its exit status and stderr.
pub async fn serve_refused(
    http: &str,
    data: &std::path::Path,
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blackant"));
    cmd.args([
        "serve",
        "--sim",
        "--listen",
        "127.0.0.1:0",
        "--http-listen",
        http,
    ])
    .arg("--data")
    .arg(data)
    .arg("--no-first-sync")
    .env("RUST_LOG", "warn")
    .envs(env.iter().copied())
    .stdin(Stdio::null());
    let run = tokio::task::spawn_blocking(move || cmd.output().expect("run blackant serve"));
    let out = tokio::time::timeout(PATIENCE, run)
        .await
        .expect("the refused start ends by itself")
        .expect("the blocking task");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `GET {sim}/_sim/{path}` as JSON (the simulator's controls; the engine never calls them).
pub async fn sim_json<T: serde::de::DeserializeOwned>(sim: &str, path: &str) -> T {
    let text = reqwest::get(format!("{sim}/_sim/{path}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// `user`'s password among the simulator's accounts (`GET /_sim/accounts`).
pub fn password_of(accounts: &[serde_json::Value], user: &str) -> String {
    accounts
        .iter()
        .find(|a| a["username"] == user)
        .and_then(|a| a["password"].as_str())
        .unwrap_or_else(|| panic!("{user}'s password"))
        .to_string()
}

pub async fn client(
    addr: &str,
) -> pb::sync_service_client::SyncServiceClient<tonic::transport::Channel> {
    pb::sync_service_client::SyncServiceClient::new(super::channel(addr).await)
}

impl Proc {
    /// Every line it prints until it exits (its pipe closes), then its exit status. Bounded:
    /// a process that stays silent longer than the patience fails the test.
    pub fn until_exit(&mut self) -> (Vec<String>, std::process::ExitStatus) {
        let mut out = Vec::new();
        loop {
            match self.1.recv_timeout(PATIENCE) {
                Ok(line) => out.push(line),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the process neither exits nor speaks; so far: {out:?}")
                }
            }
        }
        (out, self.0.wait().expect("exit status"))
    }
}

/// A full sync of `kind` for `user` ("" for the catalogue) requested of a served address
/// (no token), waited for: its result.
pub async fn full_sync(addr: &str, kind: pb::SyncKind, user: &str) -> pb::RunResult {
    super::full_sync_on(&super::channel(addr).await, None, kind, user).await
}

/// An admin client of a served address.
pub async fn admin(
    addr: &str,
) -> pb::admin_service_client::AdminServiceClient<tonic::transport::Channel> {
    pb::admin_service_client::AdminServiceClient::new(super::channel(addr).await)
}

/// An order-service client of a served address.
pub async fn orders(
    addr: &str,
) -> pb::order_service_client::OrderServiceClient<tonic::transport::Channel> {
    pb::order_service_client::OrderServiceClient::new(super::channel(addr).await)
}

/// The placement submitted with idempotency key `key`; a placement the service does not know
/// fails the test (it was lost).
pub async fn placement_by_key(
    client: &mut pb::order_service_client::OrderServiceClient<tonic::transport::Channel>,
    key: &str,
) -> pb::Placement {
    client
        .get_placement(pb::GetPlacementRequest {
            by: Some(pb::get_placement_request::By::IdempotencyKey(
                key.to_string(),
            )),
        })
        .await
        .unwrap_or_else(|e| panic!("placement {key} was lost: {e}"))
        .into_inner()
}

/// `POST {sim}/_sim/{path}` with a JSON body (the simulator's controls).
pub async fn sim_post(sim: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    let text = reqwest::Client::new()
        .post(format!("{sim}/_sim/{path}"))
        .body(body.to_string())
        .send()
        .await
        .expect("simulator control")
        .text()
        .await
        .expect("answer");
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

/// Wait (bounded) on a served event stream until a run reports page `page` or later.
pub async fn wait_page(events: &mut tonic::Streaming<pb::SyncEvent>, page: u32) {
    loop {
        let e = tokio::time::timeout(PATIENCE, events.message())
            .await
            .expect("in time")
            .expect("stream")
            .expect("open");
        if matches!(e.event, Some(pb::sync_event::Event::Progress(p)) if p.page >= page) {
            return;
        }
    }
}

/// Processes whose command line mentions `needle` and are not dead yet (zombies count as
/// dead: they only wait to be reaped), as (pid, command line).
pub fn processes_with(needle: &str) -> Vec<(i32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        let zombie = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| {
                s.rsplit_once(')')
                    .map(|(_, r)| r.trim_start().starts_with('Z'))
            })
            .unwrap_or(true);
        if cmdline.contains(needle) && !zombie {
            out.push((pid, cmdline));
        }
    }
    out
}

/// Every event of a served address, from now on.
pub async fn all_events(addr: &str) -> tonic::Streaming<pb::SyncEvent> {
    client(addr)
        .await
        .watch_sync_events(pb::WatchSyncEventsRequest::default())
        .await
        .expect("WatchSyncEvents")
        .into_inner()
}
