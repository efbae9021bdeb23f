//! Storage faults: a damaged SQLite file is reported by the syncs that write it, with a clear
//! reason, while every other file keeps working and status keeps answering.

use crate::util::*;
use blackant::grpc::pb::{self, SyncKind, SyncMode};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_database_fails_its_syncs_clearly_and_the_other_files_keep_working() {
    let data = Arc::new(tempfile::tempdir().expect("temp dir"));
    // agent2's customer file is not a database any more (a disk error, a bad restore).
    std::fs::write(
        data.path().join("customers-agent2.db"),
        b"this is not an SQLite database, whatever its name says".repeat(100),
    )
    .expect("write");
    let h = Harness::start_with(Options {
        data: Some(data.clone()),
        agents: vec!["agent2".into(), "agent3".into()],
        ..Options::default()
    })
    .await;

    let broken = h.sync(SyncKind::Customers, "agent2", SyncMode::Full).await;
    let result = broken.result.expect("a waited request carries the result");
    assert!(!result.ok, "a damaged file cannot take a sync");
    assert!(
        result.error.contains("customers-agent2.db"),
        "the reason names the file: {}",
        result.error
    );
    // Another agent's file and the catalogue are untouched by it.
    let fine = h.sync(SyncKind::Customers, "agent3", SyncMode::Full).await;
    assert!(ok_result(&fine).ok);
    let products = h.sync(SyncKind::Products, "", SyncMode::Full).await;
    assert!(ok_result(&products).ok);
    // Status keeps answering, naming the problem.
    let status = h.status(SyncKind::Customers, "agent2").await;
    assert!(
        status.last_error.contains("customers-agent2.db"),
        "{}",
        status.last_error
    );
    let mut c = h.client.clone();
    let all = c
        .get_sync_status(pb::GetSyncStatusRequest::default())
        .await
        .expect("status answers")
        .into_inner();
    assert!(all.statuses.len() > 2);
    // The damaged file was left as it was (nothing of it overwritten).
    let bytes = std::fs::read(data.path().join("customers-agent2.db")).expect("read");
    assert!(bytes.starts_with(b"this is not an SQLite database"));
    h.shutdown().await;
}

/// This process's limit on the size of any file it writes (RLIMIT_FSIZE); writes beyond it
/// fail with EFBIG (SIGXFSZ ignored) as on a full disk.
fn limit_file_size(bytes: u64) {
    // SAFETY: plain setrlimit / signal calls on this process; nextest runs each test in its
    // own process, so no other test shares the limit.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        let lim = libc::rlimit {
            rlim_cur: bytes,
            rlim_max: libc::RLIM_INFINITY,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_fails_runs_clearly_status_keeps_answering_and_syncs_succeed_once_space_returns()
 {
    let h = Harness::start_with(Options {
        agents: vec!["agent2".into(), "agent3".into()],
        ..Options::default()
    })
    .await;
    // One sync first: the browser runs (its processes are not this one's files).
    assert!(ok_result(&h.sync(SyncKind::Customers, "agent3", SyncMode::Full).await).ok);

    // The disk fills: no file of this process may grow past 64 KiB.
    limit_file_size(64 << 10);
    // Refused (the run cannot even be recorded) or failed: either way saying why.
    let mut c = h.client.clone();
    let reason = match c
        .request_sync(pb::RequestSyncRequest {
            kind: SyncKind::Customers as i32,
            user: "agent2".into(),
            mode: SyncMode::Full as i32,
            reason: "test".into(),
            wait: true,
        })
        .await
    {
        Err(status) => {
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
            status.message().to_string()
        }
        Ok(resp) => {
            let result = resp.into_inner().result.expect("the result");
            assert!(!result.ok, "nothing fits");
            result.error
        }
    };
    let lower = reason.to_lowercase();
    assert!(
        lower.contains("disk") || lower.contains("full"),
        "the reason says the disk failed: {reason}"
    );
    // Reads and status keep answering.
    h.status(SyncKind::Customers, "agent2").await;
    c.get_sync_status(pb::GetSyncStatusRequest::default())
        .await
        .expect("status answers with the disk full");

    // Space returns: the same sync succeeds and the file equals the ERP (nothing half-written).
    limit_file_size(libc::RLIM_INFINITY);
    assert!(ok_result(&h.sync(SyncKind::Customers, "agent2", SyncMode::Full).await).ok);
    assert_equals_truth(
        "after the disk was full",
        blackant::records::Kind::Customers,
        truth(&h.sim, archibald_sim::ReportKind::Customers, Some("agent2")),
        live_rows(
            &h.customers_db("agent2"),
            blackant::records::Kind::Customers,
            None,
        ),
    );
    h.shutdown().await;
}
