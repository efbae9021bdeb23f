//! The follow-up reactor: after each completed run, what the kind table says follows it —
//! the agent's DDT and invoice syncs after its order sync (`followed_by`), the download of
//! product images after a product sync (`fetches_images`).
//!
//! A task on the event bus, ended by dropping its handle. A follow-up that cannot be requested
//! is logged, not retried: the Scheduler catches it up. Must NOT run syncs itself.

use super::tree::IMAGE_FETCHER;
use crate::records::Kind;
use crate::store::DataDir;
use crate::syncs::images::products_without_image;
use blackant_actors::directory::Directory;
use blackant_actors::events::{EventBody, EventBus, EventError, SyncEvent};
use blackant_actors::image_fetcher::ImageFetcherMessage;
use blackant_actors::run::{Mode, Trigger};
use blackant_actors::sync::SyncHandle;
use tokio_util::task::AbortOnDropHandle;

/// Start the reactor; it runs until the bus closes or the handle is dropped.
pub(super) fn spawn(
    events: &EventBus,
    syncs: Vec<(Kind, SyncHandle)>,
    directory: Directory,
    data: DataDir,
) -> AbortOnDropHandle<()> {
    let mut sub = events.subscribe();
    AbortOnDropHandle::new(tokio::spawn(async move {
        loop {
            let event = match sub.recv().await {
                Ok(e) => e,
                Err(EventError::Lagged { missed }) => {
                    tracing::warn!(
                        missed,
                        "follow-ups fell behind the event bus; some follow-up syncs may wait for the schedule"
                    );
                    continue;
                }
                Err(EventError::Closed) => return,
            };
            follow(&event, &syncs, &directory, &data).await;
        }
    }))
}

/// What follows one event (nothing but for a completed run).
async fn follow(
    event: &SyncEvent,
    syncs: &[(Kind, SyncHandle)],
    directory: &Directory,
    data: &DataDir,
) {
    if !matches!(event.body, EventBody::Completed { .. }) {
        return;
    }
    let Some(kind) = Kind::from_name(&event.kind) else {
        return;
    };
    let spec = kind.spec();
    if spec.fetches_images {
        enqueue_images(directory, data).await;
    }
    for follow in spec.followed_by {
        let Some((_, handle)) = syncs.iter().find(|(k, _)| k == follow) else {
            continue;
        };
        match handle
            .request(event.scope.clone(), Mode::Delta, Trigger::FollowUp)
            .await
        {
            Ok(ack) => {
                tracing::info!(kind = %follow, scope = %event.scope, run = %ack.run_id, after = %event.run_id, "follow-up sync requested")
            }
            Err(e) => {
                tracing::warn!(kind = %follow, scope = %event.scope, cause = %e, "cannot request a follow-up sync")
            }
        }
    }
}

/// After a product sync: hand the products that have no image yet to the ImageFetcher, which
/// downloads them in the background (the sync is already over and never waits for it).
async fn enqueue_images(directory: &Directory, data: &DataDir) {
    let Ok(fetcher) = directory.get_ref::<ImageFetcherMessage>(IMAGE_FETCHER) else {
        return; // no ERP to fetch from (tests with a custom source)
    };
    let path = data.products_db();
    match tokio::task::spawn_blocking(move || products_without_image(&path)).await {
        Ok(Ok(codes)) if codes.is_empty() => {}
        Ok(Ok(codes)) => {
            tracing::info!(images = codes.len(), "product images queued for download");
            if let Err(e) = fetcher.cast(ImageFetcherMessage::Enqueue(codes)) {
                tracing::warn!(cause = %e, "cannot queue product images");
            }
        }
        Ok(Err(e)) => tracing::warn!(cause = %e, "cannot list the products without an image"),
        Err(e) => tracing::warn!(cause = %e, "listing the products without an image"),
    }
}
