//! The whole service killed with SIGKILL in the middle of a sync, as processes: `blackant sim`
//! stands in for Archibald, `blackant serve` is killed (paused at a page boundary first, so
//! the kill lands mid-run for sure) and started again on the same data folder. The run
//! resumes from its checkpoint in the export it kept, applies no page twice, and the database
//! equals the ERP.

use crate::util::*;
use blackant::grpc::pb::{self, SyncKind, request_sync_response::Outcome};
use blackant::records::Kind;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A child process killed when dropped, so a failing test leaves no simulator or service behind.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `blackant ARGS`; return the child and the first line of its output (stderr when
/// `stderr`, else stdout) that starts with `marker`, after the marker. The rest of
/// the output is drained in the background so the child never blocks on a full pipe.
fn start(args: &[&str], marker: &str, stderr: bool) -> (Proc, String, Vec<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blackant"));
    cmd.args(args).env("RUST_LOG", "warn");
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
    std::thread::spawn(move || for _ in lines {});
    (Proc(child), found, before)
}

fn serve(config: &std::path::Path, data: &std::path::Path) -> (Proc, String) {
    let args = [
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--data",
        data.to_str().unwrap(),
        "--no-first-sync",
    ];
    let (child, rest, _) = start(&args, "blackant serving gRPC on ", true);
    let addr = rest.split_whitespace().next().expect("address").to_string();
    (child, addr)
}

/// `GET {sim}/_sim/{path}` as JSON (the simulator's controls; the engine never calls them).
async fn sim_json<T: serde::de::DeserializeOwned>(sim: &str, path: &str) -> T {
    let text = reqwest::get(format!("{sim}/_sim/{path}"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn client(
    addr: &str,
) -> pb::sync_service_client::SyncServiceClient<tonic::transport::Channel> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    pb::sync_service_client::SyncServiceClient::new(channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_killed_mid_sync_resumes_from_its_checkpoint_and_ends_equal_to_the_erp() {
    let (sim, url, _) = start(
        &["sim", "--listen", "127.0.0.1:0", "--seed", "42"],
        "Archibald simulator at ",
        false,
    );
    let truth: Vec<serde_json::Map<String, serde_json::Value>> =
        sim_json(&url, "truth/customers?agent=agent1").await;
    let passwords: Vec<serde_json::Value> = sim_json(&url, "accounts").await;
    let password = passwords
        .iter()
        .find(|a| a["username"] == "agent1")
        .and_then(|a| a["password"].as_str())
        .expect("agent1's password")
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("blackant.toml");
    std::fs::write(
        &config,
        format!("agents = [\"agent1\"]\n[erp]\nbase_url = \"{url}\"\n"),
    )
    .unwrap();
    let data = dir.path().join("data");

    // First life: log the agent in (its customer sync starts), pause at a page boundary, kill.
    let (mut first, addr) = serve(&config, &data);
    let mut c = client(&addr).await;
    let open = pb::OpenSessionRequest {
        user: "agent1".into(),
        erp_username: "agent1".into(),
        erp_password: password.clone(),
    };
    let mut events = c
        .watch_sync_events(pb::WatchSyncEventsRequest {
            kind: SyncKind::Customers as i32,
            user: "agent1".into(),
            run_id: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let login = c.open_session(open.clone()).await.unwrap().into_inner();
    let run_id = login.syncs[0].response.as_ref().unwrap().run_id;
    assert_ne!(run_id, 0, "the login started the customer sync");
    loop {
        let e = tokio::time::timeout(PATIENCE, events.message())
            .await
            .expect("in time")
            .unwrap()
            .expect("open");
        if matches!(e.event, Some(pb::sync_event::Event::Progress(p)) if p.page >= 5) {
            break;
        }
    }
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let paused = pb::priority_service_client::PriorityServiceClient::new(channel)
        .pause_syncs(pb::PauseSyncsRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(
        paused.acked.iter().any(|a| a.paused_runs.contains(&run_id)),
        "{paused:?}"
    );
    first.0.kill().expect("SIGKILL");
    first.0.wait().unwrap();

    // The run is open in the ledger, its export kept, some pages applied.
    let sync_db = rusqlite::Connection::open(data.join("sync.db")).unwrap();
    let state: String = sync_db
        .query_row(
            "SELECT state FROM runs WHERE id = ?1",
            [run_id as i64],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(state, "open", "killed mid-run");
    drop(sync_db);
    let applied_before = live_rows(&data.join("customers-agent1.db"), Kind::Customers, None).len();
    assert!(
        applied_before > 0 && applied_before < truth.len(),
        "{applied_before} rows before the kill"
    );

    // Second life: the run resumes by itself (from the kept export: no ERP session needed).
    let (second, addr) = serve(&config, &data);
    let mut c = client(&addr).await;
    let again = c.open_session(open).await.unwrap().into_inner();
    let customers = again.syncs[0].response.as_ref().unwrap();
    if customers.outcome != Outcome::SkippedFresh as i32 {
        assert_eq!(
            (customers.outcome, customers.run_id),
            (Outcome::Joined as i32, run_id),
            "the resumed run, not a new one"
        );
        let done = c
            .request_sync(pb::RequestSyncRequest {
                kind: SyncKind::Customers as i32,
                user: "agent1".into(),
                wait: true,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(done.run_id, run_id);
    }
    let sync_db = rusqlite::Connection::open(data.join("sync.db")).unwrap();
    let (state, inserted, updated, unchanged): (String, i64, i64, i64) = sync_db
        .query_row(
            "SELECT state, inserted, updated, unchanged FROM runs WHERE id = ?1",
            [run_id as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap();
    assert_eq!(state, "completed");
    assert_eq!(
        (inserted, updated, unchanged),
        (truth.len() as i64, 0, 0),
        "no page applied twice, none lost"
    );
    assert_equals_truth(
        "after SIGKILL",
        Kind::Customers,
        truth,
        live_rows(&data.join("customers-agent1.db"), Kind::Customers, None),
    );

    drop(second);
    drop(sim);
}
