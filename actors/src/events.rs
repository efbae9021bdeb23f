//! The EventBus: what sync runs tell the world (gRPC event streams, waiters, logs).
//!
//! Every sync actor publishes [`SyncEvent`]s (queued, started, progress, paused, resumed,
//! retrying, completed, failed) on one [`EventBus`], a `tokio::sync::broadcast` channel:
//! publishing never waits, and a subscriber that falls behind loses the oldest events (and is
//! told so) instead of slowing the syncs down.
//!
//! To wait for a run's result without a race, subscribe BEFORE requesting the run:
//! `let mut events = bus.subscribe(); let ack = request(...).await?;
//! let end = events.wait_for_run(ack.run_id).await?;` — the subscription buffers everything
//! published after it was created, so the terminal event cannot slip by.
//!
//! This module owns the sync events and the [`Bus`] (generic: the OrderPlacer publishes its
//! placements' events on one too). It must NOT decide anything about runs (that is the sync
//! actor) nor know about gRPC (the root crate maps events to proto).

use std::time::{Duration, SystemTime};

use tokio::sync::broadcast;

use crate::run::{Counts, Mode, RunId, RunNotes, RunOutcome, Scope, Trigger};

/// What happened to a run.
#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    /// The run was opened (a request that joined a running run publishes nothing).
    Queued {
        /// Why it was requested.
        trigger: Trigger,
    },
    /// The run started working (or, `resumed`, picked up again after a restart).
    Started {
        /// Full or delta.
        mode: Mode,
        /// True when the run was reopened from the ledger after the actor restarted.
        resumed: bool,
    },
    /// A page was applied.
    Progress {
        /// Pages applied so far (1-based: the page just applied).
        page: usize,
        /// Pages in the export.
        pages: usize,
        /// Records in the export, when the report says.
        items: Option<u64>,
    },
    /// The run stopped at a page boundary (or its preparation was cancelled) on request.
    Paused,
    /// The run was allowed to continue.
    Resumed,
    /// A transient error; the run retries after `after`.
    Retrying {
        /// The attempt about to be made (2 = first retry).
        attempt: u32,
        /// The backoff delay.
        after: Duration,
        /// The error that caused the retry.
        reason: String,
    },
    /// The run finished.
    Completed {
        /// Totals of the run (including pages applied before a restart).
        counts: Counts,
        /// Delta run on a byte-identical export: nothing was applied.
        unchanged_export: bool,
        /// Wall time from the first start of the run (in this process) to its end.
        duration: Duration,
        /// Unknown columns, held deletions.
        notes: RunNotes,
    },
    /// The run failed for good.
    Failed {
        /// Why, with context.
        reason: String,
        /// True for errors retrying cannot fix; false when the retries ran out.
        permanent: bool,
        /// The evidence of a page that changed, unknown columns seen before the failure.
        notes: RunNotes,
    },
}

impl EventBody {
    /// `Completed` and `Failed` end a run; nothing follows them for that run id.
    pub fn is_terminal(&self) -> bool {
        matches!(self, EventBody::Completed { .. } | EventBody::Failed { .. })
    }

    /// The outcome a terminal event publishes (`None` for the others). A failure's event
    /// carries no counts or duration: they read as zero.
    pub fn outcome(&self) -> Option<RunOutcome> {
        match self {
            EventBody::Completed {
                counts,
                unchanged_export,
                duration,
                notes,
            } => Some(RunOutcome::Completed {
                counts: *counts,
                unchanged_export: *unchanged_export,
                duration: *duration,
                notes: notes.clone(),
            }),
            EventBody::Failed {
                reason,
                permanent,
                notes,
            } => Some(RunOutcome::Failed {
                reason: reason.clone(),
                permanent: *permanent,
                counts: Counts::default(),
                duration: Duration::ZERO,
                notes: notes.clone(),
            }),
            _ => None,
        }
    }
}

impl From<&RunOutcome> for EventBody {
    /// The terminal event that publishes an outcome.
    fn from(outcome: &RunOutcome) -> EventBody {
        match outcome {
            RunOutcome::Completed {
                counts,
                unchanged_export,
                duration,
                notes,
            } => EventBody::Completed {
                counts: *counts,
                unchanged_export: *unchanged_export,
                duration: *duration,
                notes: notes.clone(),
            },
            RunOutcome::Failed {
                reason,
                permanent,
                notes,
                ..
            } => EventBody::Failed {
                reason: reason.clone(),
                permanent: *permanent,
                notes: notes.clone(),
            },
        }
    }
}

/// One event of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncEvent {
    /// The run.
    pub run_id: RunId,
    /// The sync kind (`customers`, `products`, ...).
    pub kind: String,
    /// Catalogue or agent.
    pub scope: Scope,
    /// When it was published.
    pub at: SystemTime,
    /// What happened.
    pub body: EventBody,
}

/// Why waiting on the bus ended without the expected event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The subscriber fell behind and `missed` events were dropped for it; the awaited event
    /// may be among them (ask the actor's status instead).
    #[error("event subscriber lagged and missed {missed} events")]
    Lagged {
        /// How many events were dropped.
        missed: u64,
    },
    /// Every publisher is gone (the service is shutting down).
    #[error("the event bus is closed")]
    Closed,
}

/// A broadcast bus of events of type `E`. Clones send to and subscribe from the same
/// channel. Sending never waits; a subscriber that falls behind loses the oldest events (and
/// is told so) instead of slowing the senders down.
#[derive(Debug)]
pub struct Bus<E> {
    tx: broadcast::Sender<E>,
}

impl<E> Clone for Bus<E> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<E: Clone> Default for Bus<E> {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

/// Events buffered per subscriber before it starts losing the oldest ones.
pub const DEFAULT_CAPACITY: usize = 1024;

impl<E: Clone> Bus<E> {
    /// A bus buffering `capacity` events per subscriber (at least 1).
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// Send an event to every subscriber; an event nobody listens to is simply dropped.
    pub fn send(&self, event: E) {
        let _ = self.tx.send(event);
    }

    /// Start receiving every event sent from now on.
    pub fn subscribe(&self) -> Subscription<E> {
        Subscription {
            rx: self.tx.subscribe(),
        }
    }
}

/// The bus of sync runs' events.
pub type EventBus = Bus<SyncEvent>;

impl Bus<SyncEvent> {
    /// Publish a sync event (logged at debug level).
    pub fn publish(&self, event: SyncEvent) {
        tracing::debug!(run = %event.run_id, kind = %event.kind, scope = %event.scope, body = ?event.body, "sync event");
        self.send(event);
    }

    /// Build and publish an event stamped now.
    pub fn emit(&self, run_id: RunId, kind: &str, scope: &Scope, body: EventBody) {
        self.publish(SyncEvent {
            run_id,
            kind: kind.to_string(),
            scope: scope.clone(),
            at: SystemTime::now(),
            body,
        });
    }
}

/// A subscriber's end of a bus.
#[derive(Debug)]
pub struct Subscription<E> {
    rx: broadcast::Receiver<E>,
}

/// A subscriber's end of the sync events' bus.
pub type EventSubscription = Subscription<SyncEvent>;

impl<E: Clone> Subscription<E> {
    /// The next event.
    pub async fn recv(&mut self) -> Result<E, EventError> {
        self.rx.recv().await.map_err(|e| match e {
            broadcast::error::RecvError::Lagged(missed) => EventError::Lagged { missed },
            broadcast::error::RecvError::Closed => EventError::Closed,
        })
    }

    /// The raw receiver (e.g. to wrap in a `tokio_stream::wrappers::BroadcastStream`).
    pub fn into_inner(self) -> broadcast::Receiver<E> {
        self.rx
    }
}

impl Subscription<SyncEvent> {
    /// Wait for the terminal event (`Completed` or `Failed`) of `run_id`, skipping the rest.
    /// Subscribe before requesting the run, or the event may already be gone.
    pub async fn wait_for_run(&mut self, run_id: RunId) -> Result<SyncEvent, EventError> {
        loop {
            let event = self.recv().await?;
            if event.run_id == run_id && event.body.is_terminal() {
                return Ok(event);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(run: i64, body: EventBody) -> SyncEvent {
        SyncEvent {
            run_id: RunId(run),
            kind: "customers".into(),
            scope: Scope::Agent("a1".into()),
            at: SystemTime::now(),
            body,
        }
    }

    #[tokio::test]
    async fn wait_for_run_skips_other_runs_and_non_terminal_events() {
        let bus = EventBus::new(16);
        let mut sub = bus.subscribe();
        bus.publish(event(
            1,
            EventBody::Queued {
                trigger: Trigger::Manual,
            },
        ));
        bus.publish(event(
            2,
            EventBody::Failed {
                reason: "x".into(),
                permanent: true,
                notes: RunNotes::default(),
            },
        ));
        bus.publish(event(
            1,
            EventBody::Progress {
                page: 1,
                pages: 2,
                items: None,
            },
        ));
        let done = EventBody::Completed {
            counts: Counts {
                inserted: 3,
                ..Counts::default()
            },
            unchanged_export: false,
            duration: Duration::from_secs(1),
            notes: RunNotes {
                unknown_columns: vec!["Agente".into()],
                ..RunNotes::default()
            },
        };
        bus.publish(event(1, done.clone()));
        let got = sub.wait_for_run(RunId(1)).await.unwrap();
        assert_eq!(got.body, done);
    }

    #[tokio::test]
    async fn a_lagging_subscriber_does_not_block_publishers_and_is_told() {
        let bus = EventBus::new(4);
        let mut slow = bus.subscribe();
        for i in 0..100 {
            bus.publish(event(
                i,
                EventBody::Queued {
                    trigger: Trigger::Manual,
                },
            )); // never waits
        }
        assert_eq!(slow.recv().await, Err(EventError::Lagged { missed: 96 }));
        assert_eq!(slow.recv().await.unwrap().run_id, RunId(96));
        drop(bus);
        // The remaining events are not run 0's end; then the bus is gone.
        assert_eq!(slow.wait_for_run(RunId(0)).await, Err(EventError::Closed));
    }
}
