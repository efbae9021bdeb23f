//! Prices and products share `products.db` and its one DbWriter: matching (code → normalised
//! code → name → normalised name), unmatched rows kept and matched again after a product
//! sync, every repricing audited in `price_changes`, and a price sync that waits for a
//! running product sync.

use crate::util::*;
use blackant::grpc::pb::{SyncKind, SyncMode};
use blackant::records::Kind;
use blackant_actors::events::EventBody;
use blackant_actors::run::Trigger;
use blackant_actors::run::{Mode, Scope};
use std::collections::BTreeMap;

fn products_db(h: &Harness) -> rusqlite::Connection {
    let path = db_of(h, Kind::Prices, "");
    rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .expect("open products.db")
}

/// product code as written in the price list → the catalogue code it was matched to.
fn matches(h: &Harness) -> BTreeMap<String, Option<String>> {
    let conn = products_db(h);
    let mut stmt = conn
        .prepare("SELECT product_code, matched_code FROM prices_live")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prices_synced_before_the_catalogue_match_once_products_arrive_and_unmatched_ones_are_kept()
{
    let h = Harness::start().await;
    let truth = h.sim.price_matches_truth();
    assert!(
        truth.values().any(Option::is_none),
        "the ERP has prices that match no product"
    );
    assert!(
        truth
            .iter()
            .any(|(written, real)| real.as_ref().is_some_and(|r| r != written)),
        "and codes written differently"
    );

    // No catalogue yet: every price is kept, none is matched.
    ok_result(&h.sync(SyncKind::Prices, "", SyncMode::Full).await);
    let before = matches(&h);
    assert_eq!(before.len(), truth.len());
    assert!(before.values().all(Option::is_none));

    // The product sync matches them again: exactly the ERP's own mapping, unmatched kept.
    ok_result(&h.sync(SyncKind::Products, "", SyncMode::Full).await);
    assert_eq!(matches(&h), truth);
    let conn = products_db(&h);
    let unmatched: i64 = conn
        .query_row("SELECT count(*) FROM unmatched_prices", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        unmatched as usize,
        truth.values().filter(|v| v.is_none()).count()
    );
    let methods: Vec<String> = conn
        .prepare("SELECT DISTINCT match_method FROM prices_live WHERE match_method IS NOT NULL ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert!(
        methods.contains(&"code".to_string()) && methods.len() > 1,
        "{methods:?}"
    );

    // Syncing prices again with the catalogue present changes no match and writes nothing.
    let again = ok_result(&h.sync(SyncKind::Prices, "", SyncMode::Full).await);
    assert_eq!((counts(&again).0, counts(&again).1), (0, 0));
    assert_eq!(matches(&h), truth);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_and_price_syncs_at_the_same_instant_both_complete_and_every_repricing_is_audited()
{
    let h = Harness::start_with(Options {
        browsers: 2,
        ..Options::default()
    })
    .await;
    ok_result(&h.sync(SyncKind::Products, "", SyncMode::Full).await);
    ok_result(&h.sync(SyncKind::Prices, "", SyncMode::Full).await);
    let repriced = h.sim.reprice_products(40);
    let added = h.sim.add_products(5);
    assert_eq!((repriced.len(), added.len()), (40, 5));

    // Both at once, through the same DbWriter of products.db.
    let (products, prices) = tokio::join!(
        h.sync(SyncKind::Products, "", SyncMode::Delta),
        h.sync(SyncKind::Prices, "", SyncMode::Delta)
    );
    let (products, prices) = (ok_result(&products), ok_result(&prices));
    assert_eq!(counts(&products).0, 5, "the new products");
    assert_eq!(
        counts(&prices).1,
        40,
        "exactly the repriced rows are written"
    );
    let db = live_rows(&db_of(&h, Kind::Prices, ""), Kind::Prices, None);
    assert_equals_truth(
        "prices after repricing",
        Kind::Prices,
        truth(&h.sim, archibald_sim::ReportKind::Prices, None),
        db,
    );

    // price_changes holds exactly the ERP's repricings: product, list, old, new, when.
    let conn = products_db(&h);
    let mut audited: Vec<(String, String, String, String)> = conn
        .prepare("SELECT product_code, price_list, old_price, new_price FROM price_changes")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut want: Vec<(String, String, String, String)> = repriced
        .iter()
        .map(|r| {
            (
                r.product_code.clone(),
                r.price_list.clone(),
                r.old.clone(),
                r.new.clone(),
            )
        })
        .collect();
    audited.sort();
    want.sort();
    assert_eq!(audited, want);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_sync_requested_while_a_product_sync_runs_waits_for_it() {
    // Two browsers: the pool is not what serializes them, the dependency is.
    let h = Harness::start_with(Options {
        browsers: 2,
        ..Options::default()
    })
    .await;
    let mut events = h.service.subscribe();
    let products = h
        .service
        .request_sync(
            Kind::Products,
            Scope::Catalogue,
            Mode::Full,
            Trigger::Manual,
        )
        .await
        .unwrap();
    wait_event(&mut events, |e| {
        e.run_id == products.run_id && matches!(e.body, EventBody::Started { .. })
    })
    .await;
    let prices = h
        .service
        .request_sync(Kind::Prices, Scope::Catalogue, Mode::Full, Trigger::Manual)
        .await
        .unwrap();

    // The first price page lands only after the product run has ended.
    let mut products_done = false;
    loop {
        let e = wait_event(&mut events, |e| {
            e.run_id == products.run_id || e.run_id == prices.run_id
        })
        .await;
        if e.run_id == products.run_id && e.body.is_terminal() {
            assert!(
                matches!(e.body, EventBody::Completed { .. }),
                "{:?}",
                e.body
            );
            products_done = true;
        }
        if e.run_id == prices.run_id && matches!(e.body, EventBody::Progress { .. }) {
            assert!(
                products_done,
                "a price page was applied while the product sync was running"
            );
        }
        if e.run_id == prices.run_id && e.body.is_terminal() {
            assert!(
                matches!(e.body, EventBody::Completed { .. }),
                "{:?}",
                e.body
            );
            break;
        }
    }
    assert_eq!(matches(&h), h.sim.price_matches_truth());
    h.shutdown().await;
}
