//! The follow-up reactors: after each completed run, what the kind table says follows it —
//! the agent's DDT and invoice syncs after an order sync that changed something
//! (`followed_by`; their own timers cover the rest), the download of
//! product images after a product sync (`fetches_images`); after each placed order, the
//! agent's order sync until `orders.db` holds the new order (the ERP shows it after its
//! indexing lag); and, once a day, ended placements older than the retention pruned.
//!
//! Tasks on the buses, ended by dropping their handles. A sync follow-up that cannot be
//! requested is logged, not retried: the Scheduler catches it up. Must NOT run syncs itself.

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

use crate::store::lookups;
use crate::store::outbox;
use blackant_actors::db_writer::{DbHandle, open_reader};
use blackant_actors::order_placer::{PlacementBus, PlacementState};
use blackant_actors::run::Scope;
use std::time::{Duration, SystemTime};

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
    let EventBody::Completed { counts, .. } = &event.body else {
        return;
    };
    let Some(kind) = Kind::from_name(&event.kind) else {
        return;
    };
    let spec = kind.spec();
    if spec.fetches_images {
        enqueue_images(directory, data).await;
    }
    for follow in spec.follow_ups(counts) {
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

/// Follow placed orders into `orders.db`, and prune old placements daily.
pub(super) fn spawn_for_placements(
    placements: &PlacementBus,
    orders: SyncHandle,
    data: DataDir,
    sync_db: DbHandle,
    index_lag: Duration,
    retention: Duration,
) -> AbortOnDropHandle<()> {
    let mut sub = placements.subscribe();
    AbortOnDropHandle::new(tokio::spawn(async move {
        let mut following = tokio::task::JoinSet::new();
        let mut daily = tokio::time::interval(Duration::from_secs(24 * 3600));
        loop {
            tokio::select! {
                _ = daily.tick() => prune(&sync_db, retention).await,
                Some(_) = following.join_next(), if !following.is_empty() => {}
                event = sub.recv() => match event {
                    Ok(e) if e.placement.state == PlacementState::Placed && e.from != PlacementState::Placed => {
                        let Some(number) = e.placement.order_number.clone() else { continue };
                        following.spawn(into_orders_db(
                            orders.clone(),
                            data.clone(),
                            e.placement.agent.clone(),
                            number,
                            index_lag,
                        ));
                    }
                    Ok(_) => {}
                    Err(EventError::Lagged { missed }) => {
                        tracing::warn!(missed, "placement follow-ups fell behind; the schedule brings those orders in");
                    }
                    Err(EventError::Closed) => return,
                },
            }
        }
    }))
}

/// Run `agent`'s order sync until `orders.db` holds order `number`, for at most the indexing
/// lag and a margin (the ERP shows a new order in its export only after its lag).
async fn into_orders_db(
    orders: SyncHandle,
    data: DataDir,
    agent: String,
    number: String,
    index_lag: Duration,
) {
    let started = tokio::time::Instant::now();
    let patience = index_lag + Duration::from_secs(60);
    let mut delay = Duration::from_millis(500);
    loop {
        let scope = Scope::Agent(agent.clone());
        if let Err(e) = orders
            .request_and_wait(scope, Mode::Delta, Trigger::FollowUp)
            .await
        {
            tracing::warn!(%agent, order = %number, cause = %e, "order sync after a placement");
        }
        let path = data.orders_db();
        let (a, n) = (agent.clone(), number.clone());
        let there = tokio::task::spawn_blocking(move || {
            let conn = open_reader(&path).ok()?;
            lookups::has_order(&conn, &a, &n).ok()
        })
        .await
        .ok()
        .flatten()
        .unwrap_or(false);
        if there {
            tracing::info!(%agent, order = %number, after = ?started.elapsed(), "placed order is in orders.db");
            return;
        }
        if started.elapsed() > patience {
            tracing::warn!(%agent, order = %number, "placed order not in the order export yet; the schedule brings it in");
            return;
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Delete ended placements older than the retention (their keys go with them).
async fn prune(sync_db: &DbHandle, retention: Duration) {
    let cutoff = SystemTime::now() - retention;
    match sync_db.write(move |tx| outbox::prune(tx, cutoff)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            pruned = n,
            "ended placements older than the retention deleted"
        ),
        Err(e) => tracing::warn!(cause = %e, "pruning old placements"),
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
