//! Product images: downloaded by the ImageFetcher after a product sync, in the background,
//! content-addressed under `data/images/`, recorded in `products.image_md5` — and never in a
//! product sync's way, however slow the ERP's image server is.

use crate::util::*;
use archibald_sim::Faults;
use blackant::grpc::pb::{SyncKind, SyncMode};
use blackant::records::Kind;
use blackant::service::IMAGE_FETCHER;
use blackant_actors::image_fetcher::{ImageFetcherMessage, ImageFetcherStatus};
use std::time::Duration;

fn fetcher(h: &Harness) -> ractor::ActorRef<ImageFetcherMessage> {
    h.service
        .directory()
        .get_ref::<ImageFetcherMessage>(IMAGE_FETCHER)
        .expect("the ImageFetcher runs")
}

async fn fetcher_status(h: &Harness) -> ImageFetcherStatus {
    ractor::call!(fetcher(h), ImageFetcherMessage::Status).expect("status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_product_image_is_downloaded_once_by_content_and_recorded() {
    let faults = Faults {
        image_latency: Duration::ZERO,
        ..Faults::default()
    };
    let h = Harness::start_with(Options {
        faults,
        ..Options::default()
    })
    .await;
    let synced = ok_result(&h.sync(SyncKind::Products, "", SyncMode::Full).await);
    let products = counts(&synced).0;

    let done = ractor::call_t!(
        fetcher(&h),
        |reply| ImageFetcherMessage::WaitFinished {
            at_least: products,
            reply
        },
        PATIENCE.as_millis() as u64
    )
    .expect("the images arrive in time");
    assert_eq!((done.stored, done.missing, done.failed), (products, 0, 0));

    let conn = rusqlite::Connection::open(db_of(&h, Kind::Products, "")).unwrap();
    let rows: Vec<(String, Option<String>)> = conn
        .prepare("SELECT code, image_md5 FROM products_live")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(rows.len() as u64, products);
    let images = h.data.path().join("images");
    for (code, md5) in &rows {
        let md5 = md5
            .as_ref()
            .unwrap_or_else(|| panic!("{code} has no image recorded"));
        let file = images.join(&md5[..2]).join(format!("{md5}.png"));
        let bytes =
            std::fs::read(&file).unwrap_or_else(|e| panic!("{code}: {}: {e}", file.display()));
        let got = blackant_actors::digest::md5_hex(&bytes);
        assert_eq!(&got, md5, "{code}: the file is named by its content");
    }

    // A second product sync queues nothing: every image is already there.
    ok_result(&h.sync(SyncKind::Products, "", SyncMode::Full).await);
    let after = fetcher_status(&h).await;
    assert_eq!(
        (after.queued, after.in_flight, after.stored),
        (0, 0, products)
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_syncs_do_not_wait_for_images_that_take_two_seconds_each() {
    let faults = Faults {
        image_latency: Duration::from_secs(2),
        ..Faults::default()
    };
    let h = Harness::start_with(Options {
        faults,
        ..Options::default()
    })
    .await;
    let first = ok_result(&h.sync(SyncKind::Products, "", SyncMode::Full).await);
    let products = counts(&first).0;
    // Thousands of 2-second downloads are now queued; the next product sync goes through
    // all the same, and completes while almost all of them are still waiting.
    let again = ok_result(&h.sync(SyncKind::Products, "", SyncMode::Full).await);
    assert_eq!(
        counts(&again).2,
        products,
        "a full re-read of the catalogue"
    );
    let status = fetcher_status(&h).await;
    assert!(status.in_flight > 0, "downloads are going on: {status:?}");
    assert!(
        (status.queued + status.in_flight) as u64 > products / 2,
        "the syncs did not wait for the images: {status:?}"
    );
    h.shutdown().await;
}
