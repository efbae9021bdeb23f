//! Storage faults: a damaged SQLite file is reported by the syncs that write it, with a clear
//! reason, while every other file keeps working and status keeps answering; a full disk and a
//! data disk that turns read-only under the service fail runs with a clear reason while reads
//! and status keep answering, and leave nothing half-written.

use crate::util::*;
use blackant::grpc::pb::data_service_client::DataServiceClient;
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

/// A full customers sync of `agent` succeeds and its replica equals the ERP, field by field.
async fn syncs_again_and_equals_the_erp(h: &Harness, agent: &str, label: &str) {
    assert!(ok_result(&h.sync(SyncKind::Customers, agent, SyncMode::Full).await).ok);
    assert_equals_truth(
        label,
        blackant::records::Kind::Customers,
        truth(&h.sim, archibald_sim::ReportKind::Customers, Some(agent)),
        live_rows(
            &h.customers_db(agent),
            blackant::records::Kind::Customers,
            None,
        ),
    );
}

/// A full customers sync of `agent` that cannot be written: refused (the run cannot even be
/// recorded) or failed, either way saying why — the reason it gives.
async fn failed_sync_reason(h: &Harness, agent: &str) -> String {
    let mut c = h.client.clone();
    match c
        .request_sync(pb::RequestSyncRequest {
            kind: SyncKind::Customers as i32,
            user: agent.into(),
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
            assert!(!result.ok, "nothing can be written");
            result.error
        }
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
    let mut c = h.client.clone();
    let reason = failed_sync_reason(&h, "agent2").await;
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
    syncs_again_and_equals_the_erp(&h, "agent2", "after the disk was full").await;
    h.shutdown().await;
}

/// A real ext4 file system in a file, on a loop device, mounted `errors=remount-ro`: what a data
/// disk does after an I/O error (the kernel turns it read-only under its open writers, which a
/// `mount -o remount,ro` cannot do). Needs root, as the rest of the suite on this kind of
/// machine; unmounted when dropped.
struct Ext4Disk {
    _dir: tempfile::TempDir,
    image: std::path::PathBuf,
    mount: std::path::PathBuf,
}

impl Ext4Disk {
    fn new() -> Ext4Disk {
        let dir = tempfile::tempdir().expect("temp dir");
        let image = dir.path().join("data.ext4");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).expect("mount point");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(256 << 20))
            .expect("image file");
        run("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        let disk = Ext4Disk {
            _dir: dir,
            image,
            mount,
        };
        disk.mount();
        disk
    }

    fn mount(&self) {
        run(
            "mount",
            &[
                "-o",
                "loop,errors=remount-ro",
                self.image.to_str().unwrap(),
                self.mount.to_str().unwrap(),
            ],
        );
    }

    fn options(&self) -> String {
        let out = std::process::Command::new("findmnt")
            .args(["-n", "-o", "OPTIONS"])
            .arg(&self.mount)
            .output()
            .expect("findmnt");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// An error of the file system, as the kernel reports a failing disk: ext4 remounts it
    /// read-only at once, under every open file.
    fn fail(&self) {
        let out = std::process::Command::new("findmnt")
            .args(["-n", "-o", "SOURCE"])
            .arg(&self.mount)
            .output()
            .expect("findmnt");
        let source = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let device = source.rsplit('/').next().expect("a device").to_string();
        std::fs::write(
            format!("/sys/fs/ext4/{device}/trigger_fs_error"),
            "blackant storage test\n",
        )
        .expect("trigger an ext4 error");
        assert!(
            std::fs::write(self.mount.join("probe"), b"x").is_err(),
            "the disk is read-only now ({})",
            self.options()
        );
    }

    /// What an operator does next: unmount, check the file system, mount it again.
    fn repair(&self) {
        run("umount", &[self.mount.to_str().unwrap()]);
        // e2fsck exits 1 when it fixed something (the error flag at least): not a failure.
        let status = std::process::Command::new("e2fsck")
            .args(["-f", "-y", self.image.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .expect("e2fsck");
        assert!(matches!(status.code(), Some(0 | 1)), "e2fsck: {status}");
        self.mount();
    }
}

impl Drop for Ext4Disk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.mount)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn run(program: &str, args: &[&str]) {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {} (this test mounts a loop device: it needs root)",
        String::from_utf8_lossy(&out.stderr).trim()
    );
}

/// Every SQLite file of `dir` passes `PRAGMA integrity_check`.
fn assert_every_database_is_whole(dir: &std::path::Path) {
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).expect("data folder") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "db") {
            let conn = rusqlite::Connection::open(&path).expect("open");
            let verdict: String = conn
                .query_row("PRAGMA integrity_check", [], |r| r.get(0))
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(verdict, "ok", "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked >= 2, "databases checked in {}", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_disk_turning_read_only_fails_runs_clearly_reads_keep_answering_nothing_half_written()
 {
    let disk = Ext4Disk::new();
    let data = Arc::new(tempfile::tempdir_in(&disk.mount).expect("data folder on the disk"));
    let h = Harness::start_with(Options {
        data: Some(data.clone()),
        agents: vec!["agent2".into(), "agent3".into()],
        ..Options::default()
    })
    .await;
    assert!(ok_result(&h.sync(SyncKind::Customers, "agent3", SyncMode::Full).await).ok);
    let agent3_before = live_rows(
        &h.customers_db("agent3"),
        blackant::records::Kind::Customers,
        None,
    );
    // What was committed is on the disk; then the disk fails under the running service.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    disk.fail();

    let mut c = h.client.clone();
    let reason = failed_sync_reason(&h, "agent2").await;
    assert!(
        reason.to_lowercase().contains("read-only") || reason.to_lowercase().contains("readonly"),
        "the reason says the disk is read-only: {reason}"
    );
    // Status and the replicas keep answering, from what was written before.
    h.status(SyncKind::Customers, "agent2").await;
    c.get_sync_status(pb::GetSyncStatusRequest::default())
        .await
        .expect("status answers with the disk read-only");
    let mut reads = DataServiceClient::new(channel(h.addr).await);
    let page = reads
        .list_customers(pb::ListCustomersRequest {
            agent: "agent3".into(),
            page_size: 20,
            ..Default::default()
        })
        .await
        .expect("reads answer with the disk read-only")
        .into_inner();
    assert_eq!(page.customers.len(), 20);
    h.shutdown().await;

    // Checked, mounted again: every file whole, the last good sync kept; a new life of the
    // service on the same data syncs again.
    disk.repair();
    assert_every_database_is_whole(data.path());
    assert_eq!(
        live_rows(
            &data.path().join("customers-agent3.db"),
            blackant::records::Kind::Customers,
            None
        ),
        agent3_before,
        "agent3's replica survived the failed disk"
    );
    let h = Harness::start_with(Options {
        data: Some(data.clone()),
        agents: vec!["agent2".into(), "agent3".into()],
        ..Options::default()
    })
    .await;
    syncs_again_and_equals_the_erp(&h, "agent2", "after the disk was repaired").await;
    h.shutdown().await;
    drop(data);
}
