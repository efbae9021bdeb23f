//! A data folder written by an earlier release opens under this build: `blackant serve` on a
//! copy of `fixtures/data/release-0.1.0/` (never regenerated) migrates every file forward,
//! serves the replicas and the outbox as they were (the placement and its order, every customer
//! row), syncs on top of them writing nothing new when the ERP has not changed, and starts again
//! on the migrated folder. A folder a later release wrote is refused at start, before any file
//! is touched, naming the file and both schema versions.

use crate::util::process::{full_sync, placement_by_key, serve_refused, serve_with};
use blackant::grpc::pb;

const RELEASE: &str = "fixtures/data/release-0.1.0";

/// The release's data files.
const FILES: [&str; 4] = ["customers-agent3.db", "products.db", "orders.db", "sync.db"];

/// A copy of the release's folder (a user's disk is never the committed fixture): the temp dir
/// holding it and the data folder.
fn release_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data folder");
    let release = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(RELEASE);
    for f in FILES {
        std::fs::copy(release.join(f), data.join(f)).expect("copy the release's file");
    }
    (dir, data)
}

fn user_version(db: &std::path::Path) -> i64 {
    rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open")
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("user_version")
}

fn live_customers(db: &std::path::Path) -> Vec<(String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open");
    let mut stmt = conn
        .prepare("SELECT code, name FROM customers WHERE deleted_at IS NULL ORDER BY code")
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .map(|r| r.expect("row"))
        .collect()
}

/// Every customer of agent3 through ListCustomers, page by page.
async fn listed(addr: &str) -> Vec<(String, String)> {
    let channel = crate::util::channel(addr).await;
    let mut data = pb::data_service_client::DataServiceClient::new(channel);
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = data
            .list_customers(pb::ListCustomersRequest {
                agent: "agent3".into(),
                page_size: 1000,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await
            .expect("ListCustomers")
            .into_inner();
        out.extend(page.customers.into_iter().map(|c| (c.code, c.name)));
        if page.next_page_token.is_empty() {
            return out;
        }
        page_token = page.next_page_token;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_0_1_0_data_folder_migrates_and_serves_what_it_held() {
    let (_dir, data) = release_copy();
    let files = FILES;
    let before: Vec<i64> = files.iter().map(|f| user_version(&data.join(f))).collect();
    let customers = live_customers(&data.join("customers-agent3.db"));
    assert!(customers.len() > 100, "the release held agent3's customers");

    // No schedule: the only sync is the test's own (data older than 3 days would sync at once).
    let quiet = [("BLACKANT_SCHEDULE_ENABLED", "false")];
    let (mut serve, addr, _) = serve_with(&["--sim"], &data, &quiet);
    // Each file is migrated when its writer first opens it: sync.db at start, the others on
    // their first sync (below).
    let migrated = |which: std::ops::Range<usize>| {
        for i in which {
            let (f, was) = (files[i], before[i]);
            let now = user_version(&data.join(f));
            assert!(now > was, "{f}: migrated forward from {was} (now {now})");
        }
    };
    migrated(3..4);
    assert_eq!(
        listed(&addr).await,
        customers,
        "every customer served as it was"
    );
    let mut orders = crate::util::process::orders(&addr).await;
    let placed = placement_by_key(&mut orders, "release-fixture-1").await;
    assert_eq!(
        placed.state,
        pb::PlacementState::Placed as i32,
        "{placed:?}"
    );
    assert_eq!(placed.order_number, "ORD/2026/00286");

    // The same ERP (the simulator's default seed, which wrote the release's folder): a sync on
    // the migrated file finds every row unchanged.
    let r = full_sync(&addr, pb::SyncKind::Customers, "agent3").await;
    assert!(r.ok, "{r:?}");
    let c = r.counts.expect("counts");
    assert_eq!(
        (c.inserted, c.updated, c.deleted, r.held_deletions),
        (0, 0, 0, 0),
        "nothing new: {r:?}"
    );
    assert_eq!(c.unchanged, customers.len() as u64);
    // The catalogue and agent3's orders sync on the migrated files too (the order placed in
    // the release's life is not in this simulator's life: it may go, the rest stays).
    for (kind, user) in [
        (pb::SyncKind::Products, ""),
        (pb::SyncKind::Orders, "agent3"),
    ] {
        let r = full_sync(&addr, kind, user).await;
        assert!(r.ok && r.held_deletions == 0, "{kind:?}: {r:?}");
    }
    migrated(0..files.len());

    // Stopped and started again on the migrated folder: the same.
    serve.0.kill().expect("SIGKILL");
    serve.0.wait().expect("wait");
    let (_again, addr, _) = serve_with(&["--sim"], &data, &quiet);
    assert_eq!(listed(&addr).await, customers);
    let mut orders = crate::util::process::orders(&addr).await;
    let placed = placement_by_key(&mut orders, "release-fixture-1").await;
    assert_eq!(placed.order_number, "ORD/2026/00286");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_folder_from_a_newer_schema_is_refused_at_start_naming_both_versions() {
    let (_dir, data) = release_copy();
    let known = blackant::store::schema::PRODUCTS_DB.len();
    rusqlite::Connection::open(data.join("products.db"))
        .and_then(|c| c.pragma_update(None, "user_version", 99))
        .expect("a later release's products.db");
    let (status, stderr) = serve_refused("127.0.0.1:0", &data, &[]).await;
    assert!(!status.success(), "refused");
    assert!(
        stderr.contains("products.db")
            && stderr.contains("schema version 99")
            && stderr.contains(&format!("({known})")),
        "names the file and both versions: {stderr}"
    );
    assert_eq!(
        user_version(&data.join("products.db")),
        99,
        "left as it was"
    );
    assert_eq!(
        user_version(&data.join("sync.db")),
        3,
        "no other file was migrated before the refusal"
    );
}
