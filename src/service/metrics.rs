//! The service's metrics in Prometheus terms (names end in `_total` or `_seconds` as the
//! conventions say). Two sources:
//! - the event bus: every run's outcome, duration and records, per kind (a reactor task);
//! - scrape time: what is a state rather than an event — placements per state and the age of
//!   the oldest in doubt (from the outbox), breaker states — refreshed just before `/metrics`
//!   renders, so they are never stale.
//!
//! Actors publish their own (browser leases, DbWriter queues and commits, pause waits,
//! placement steps and outcomes, joined requests) where they happen. This module must NOT
//! change anything: it only observes.

use super::Service;
use crate::store::outbox;
use crate::syncs::breaker::BreakerState;
use blackant_actors::events::{EventBody, EventBus, EventError};
use blackant_actors::order_placer::{PlacementFilter, PlacementState};
use blackant_actors::run::RunId;
use std::collections::HashMap;
use std::time::{Instant, SystemTime};
use tokio_util::task::AbortOnDropHandle;

/// Histogram: a run's wall time, by `kind` and `outcome`.
pub const RUN_SECONDS: &str = "blackant_sync_run_duration_seconds";
/// Counter: runs ended, by `kind` and `outcome` (`completed`, `failed`).
pub const RUNS_TOTAL: &str = "blackant_sync_runs_total";
/// Counter: records written by runs, by `kind` and `change` (`inserted`, `updated`,
/// `deleted`).
pub const RECORDS_TOTAL: &str = "blackant_sync_records_total";
/// Gauge: placements per `state` (every state, zeros included).
pub const PLACEMENTS: &str = "blackant_placements";
/// Gauge: seconds since the oldest placement in doubt (or found submitting) last moved; 0
/// when there is none.
pub const OLDEST_IN_DOUBT_SECONDS: &str = "blackant_placement_oldest_in_doubt_age_seconds";
/// Gauge: each breaker's state (`breaker` label): 0 closed, 1 half-open, 2 open.
pub const BREAKER_STATE: &str = "blackant_breaker_state";

/// Count runs as they end. Runs until the bus closes or the handle is dropped.
pub(super) fn spawn_run_metrics(events: &EventBus) -> AbortOnDropHandle<()> {
    let mut sub = events.subscribe();
    AbortOnDropHandle::new(tokio::spawn(async move {
        // Failed runs carry no duration: their start is remembered.
        let mut started: HashMap<RunId, Instant> = HashMap::new();
        loop {
            let e = match sub.recv().await {
                Ok(e) => e,
                Err(EventError::Lagged { .. }) => continue,
                Err(EventError::Closed) => return,
            };
            let kind = e.kind.clone();
            match &e.body {
                EventBody::Started { .. } => {
                    started.entry(e.run_id).or_insert_with(Instant::now);
                }
                EventBody::Completed {
                    counts, duration, ..
                } => {
                    started.remove(&e.run_id);
                    let labels = [("kind", kind.clone()), ("outcome", "completed".to_string())];
                    metrics::histogram!(RUN_SECONDS, &labels).record(duration.as_secs_f64());
                    metrics::counter!(RUNS_TOTAL, &labels).increment(1);
                    for (change, n) in [
                        ("inserted", counts.inserted),
                        ("updated", counts.updated),
                        ("deleted", counts.deleted),
                    ] {
                        metrics::counter!(RECORDS_TOTAL, "kind" => kind.clone(), "change" => change)
                            .increment(n);
                    }
                }
                EventBody::Failed { .. } => {
                    let labels = [("kind", kind.clone()), ("outcome", "failed".to_string())];
                    if let Some(t) = started.remove(&e.run_id) {
                        metrics::histogram!(RUN_SECONDS, &labels).record(t.elapsed().as_secs_f64());
                    }
                    metrics::counter!(RUNS_TOTAL, &labels).increment(1);
                }
                _ => {}
            }
        }
    }))
}

impl Service {
    /// Set the gauges that describe a state (placements, breakers) from their source, just
    /// before they are read. A missing outbox (nothing placed yet) reads as zeros.
    pub async fn refresh_state_metrics(&self) {
        for (key, state) in self.agents.breakers().all() {
            let value = match state {
                BreakerState::Closed => 0.0,
                BreakerState::HalfOpen => 1.0,
                BreakerState::Open => 2.0,
            };
            metrics::gauge!(BREAKER_STATE, "breaker" => key).set(value);
        }
        let read = self
            .reads
            .read("the placement gauges", |conn| {
                let counts = outbox::counts(conn)?;
                let doubtful = outbox::list(
                    conn,
                    &PlacementFilter {
                        states: vec![PlacementState::InDoubt, PlacementState::Submitting],
                        limit: 10_000,
                        ..Default::default()
                    },
                )?;
                let oldest = doubtful.iter().map(|p| p.updated_at).min();
                Ok((counts, oldest))
            })
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(cause = %e, "metrics: cannot read the placements");
                None
            });
        let (counts, oldest) = read.unwrap_or_default();
        set_placement_gauges(&counts);
        let age = oldest
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        metrics::gauge!(OLDEST_IN_DOUBT_SECONDS).set(age.as_secs_f64());
        self.refresh_held_gauge().await;
    }
}

/// The placement gauges from per-agent counts: every state, summed over agents.
fn set_placement_gauges(counts: &[(String, PlacementState, u64)]) {
    for state in PlacementState::ALL {
        let n: u64 = counts
            .iter()
            .filter(|(_, s, _)| *s == state)
            .map(|(_, _, n)| n)
            .sum();
        metrics::gauge!(PLACEMENTS, "state" => state.as_str()).set(n as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    #[test]
    fn placement_gauges_cover_every_state_and_fall_back_to_zero() {
        let recorder = DebuggingRecorder::new();
        let snapshots = recorder.snapshotter();
        let gauge = |snapshot: &[(metrics_util::CompositeKey, _, _, DebugValue)], state: &str| {
            snapshot
                .iter()
                .find(|(k, ..)| {
                    k.key().name() == PLACEMENTS
                        && k.key()
                            .labels()
                            .any(|l| l.key() == "state" && l.value() == state)
                })
                .and_then(|(.., v)| match v {
                    DebugValue::Gauge(g) => Some(g.into_inner()),
                    _ => None,
                })
        };
        metrics::with_local_recorder(&recorder, || {
            set_placement_gauges(&[
                ("agent1".into(), PlacementState::NeedsOperator, 1),
                ("agent2".into(), PlacementState::NeedsOperator, 2),
                ("agent2".into(), PlacementState::Placed, 5),
            ])
        });
        let snap = snapshots.snapshot().into_vec();
        assert_eq!(gauge(&snap, "needs_operator"), Some(3.0));
        assert_eq!(gauge(&snap, "in_doubt"), Some(0.0));
        // Then an operator resolved them: the gauge goes back to zero, it does not stay stale.
        metrics::with_local_recorder(&recorder, || {
            set_placement_gauges(&[
                ("agent1".into(), PlacementState::NeedsOperator, 4),
                ("agent2".into(), PlacementState::Placed, 5),
            ]);
            set_placement_gauges(&[("agent2".into(), PlacementState::Placed, 8)]);
        });
        let snap = snapshots.snapshot().into_vec();
        assert_eq!(gauge(&snap, "needs_operator"), Some(0.0));
        assert_eq!(gauge(&snap, "placed"), Some(8.0));
    }
}
