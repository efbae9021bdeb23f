//! The OrderPlacer: places the orders of an outbox in the ERP, one after the other, each
//! exactly once (DESIGN.md, "Placing an order").
//!
//! A placement is accepted into the [`Outbox`] (durably) before anything happens. The placer
//! then, for each placement in turn and with every sync paused ([`SyncPause`]):
//! ```text
//! accepted ──fill the form──► submitting ──click──► placed (order number)
//!    ▲   │ refused in the page               │     └► rejected (the ERP's own message)
//!    │   └► rejected / failed (deadline)      │ no answer, error after the click
//!    │                                        ▼
//!    └──── none found after the lag ──── in doubt ──search by reference──► placed (1 found)
//!                                                  └─ 2 or more ──► needs operator
//! ```
//! - `submitting` is written (fsynced, by the outbox) BEFORE the click: a crash after it is
//!   always looked up before anything is submitted again. A placement found `submitting` at
//!   start becomes `in doubt` and is searched for.
//! - An in-doubt placement is searched for in the ERP by the reference written into the order
//!   ("Rif. cliente"); "none" counts only once the ERP's indexing lag has surely passed since
//!   the click; only then is it submitted again. Two or more: an operator decides.
//! - Without the agent's session (credentials live in memory only) a placement waits, in
//!   doubt or accepted, until [`OrderPlacerMessage::SessionOpened`] says it may go on.
//! - Errors before the click retry with backoff until the placement's deadline; a placement
//!   that may exist in the ERP (in doubt) never fails by deadline.
//!
//! Every transition is published on the placer's [`PlacementBus`]. The ERP is reached only
//! through the [`OrderForm`] trait (the root crate drives Chromium), the outbox through
//! [`Outbox`] (`sync.db`), the pause through [`SyncPause`] (the Priority actor): this module
//! knows nothing of Archibald, SQLite or syncs, and is tested with fakes.
//!
//! Each step is measured (the `metrics` facade; names in [`metric`]): its wall time, the time
//! spent in the ERP's form, and the difference — the placer's own overhead (pause handshake,
//! outbox writes, recording, resume).

mod actor;
#[cfg(test)]
mod tests;

/// The names of the placer's metrics (histograms in seconds, one value per step; a counter).
pub mod metric {
    /// A step's wall time, from its start to its pause released.
    pub const STEP_SECONDS: &str = "blackant_placement_step_seconds";
    /// The part of a step spent in the ERP's form (filling, submitting, searching).
    pub const ERP_SECONDS: &str = "blackant_placement_erp_seconds";
    /// A step's wall time less its ERP time: pause handshake, outbox writes, resume.
    pub const OVERHEAD_SECONDS: &str = "blackant_placement_overhead_seconds";
    /// The pause handshake alone: from asking Priority until every sync has paused.
    pub const PAUSE_SECONDS: &str = "blackant_placement_pause_seconds";
    /// Counter: placements that ended (or reached needs-operator), by `outcome`.
    pub const SETTLED_TOTAL: &str = "blackant_placements_settled_total";
}

pub use actor::{
    OrderPlacer, OrderPlacerArguments, OrderPlacerMessage, OrderPlacerState, PlacerStatus,
};

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;

pub use crate::clock::Clock;
use crate::events::Bus;
use crate::run::ParseError;
use crate::sync::LedgerError;

/// The outbox's id of a placement.
pub type PlacementId = i64;

/// Where a placement stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PlacementState {
    /// Stored, not submitted (or to be submitted again).
    Accepted,
    /// The click is happening or happened: the outcome is not known yet.
    Submitting,
    /// Submitted, outcome unknown: to be looked up in the ERP by its reference.
    InDoubt,
    /// The ERP has it: the order number is known.
    Placed,
    /// The ERP refused it (its own validation message).
    Rejected,
    /// Given up for a reason; the ERP does not have it.
    Failed,
    /// The ERP holds several orders with its reference: only an operator can decide.
    NeedsOperator,
}

impl PlacementState {
    /// Every state.
    pub const ALL: [PlacementState; 7] = [
        PlacementState::Accepted,
        PlacementState::Submitting,
        PlacementState::InDoubt,
        PlacementState::Placed,
        PlacementState::Rejected,
        PlacementState::Failed,
        PlacementState::NeedsOperator,
    ];

    /// The stable name (stored, shown).
    pub fn as_str(self) -> &'static str {
        match self {
            PlacementState::Accepted => "accepted",
            PlacementState::Submitting => "submitting",
            PlacementState::InDoubt => "in_doubt",
            PlacementState::Placed => "placed",
            PlacementState::Rejected => "rejected",
            PlacementState::Failed => "failed",
            PlacementState::NeedsOperator => "needs_operator",
        }
    }

    /// Placed, rejected or failed: nothing more will happen to it.
    pub fn is_ended(self) -> bool {
        matches!(
            self,
            PlacementState::Placed | PlacementState::Rejected | PlacementState::Failed
        )
    }

    /// Ended, or waiting for an operator: the placer will not touch it again by itself.
    pub fn is_settled(self) -> bool {
        self.is_ended() || self == PlacementState::NeedsOperator
    }
}

impl fmt::Display for PlacementState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PlacementState {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PlacementState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| ParseError {
                what: "placement state",
                value: s.to_string(),
            })
    }
}

/// One line of an order: a catalogue code and a quantity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderLine {
    pub code: String,
    pub quantity: i64,
}

/// What to type into the order form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderDraft {
    pub customer_code: String,
    pub lines: Vec<OrderLine>,
    pub notes: String,
    /// Written into "Rif. cliente": how the order is found again in the ERP.
    pub reference: String,
}

/// A placement as the outbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub id: PlacementId,
    /// The caller's idempotency key.
    pub key: String,
    /// The agent whose order it is (and whose browser context places it).
    pub agent: String,
    pub order: OrderDraft,
    pub state: PlacementState,
    /// Submissions (clicks) so far.
    pub attempts: u32,
    /// The ERP's order number, once placed.
    pub order_number: Option<String>,
    /// Why it is where it is (rejection message, failure, the orders an operator must
    /// choose between, the last transient error).
    pub reason: Option<String>,
    pub accepted_at: SystemTime,
    /// After this, a placement not yet in the ERP fails instead of being tried again.
    pub deadline: SystemTime,
    /// The last click.
    pub submitted_at: Option<SystemTime>,
    pub updated_at: SystemTime,
}

/// A change of state, as the outbox records it (with its time and the attempt).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub to: PlacementState,
    /// Why.
    pub cause: String,
    /// The order number (placed).
    pub order_number: Option<String>,
    /// This transition is the click: count an attempt and remember when.
    pub submit: bool,
}

impl Transition {
    /// A transition to `to` for `cause`.
    pub fn to(to: PlacementState, cause: impl Into<String>) -> Transition {
        Transition {
            to,
            cause: cause.into(),
            order_number: None,
            submit: false,
        }
    }
}

/// The outbox could not record a transition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutboxError {
    /// The placement is no longer in the state the transition starts from (an operator
    /// resolved it meanwhile): nothing was written.
    #[error("placement {id} is {actual}, not {expected}")]
    Moved {
        id: PlacementId,
        expected: PlacementState,
        actual: PlacementState,
    },
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] LedgerError),
}

/// Where placements live (`sync.db` in production). Every transition is one durable
/// (fsynced) transaction, written before the effect it announces.
pub trait Outbox: Send + Sync + 'static {
    /// Placements the placer still has work for (accepted, submitting, in doubt), oldest
    /// first.
    fn unfinished(&self) -> BoxFuture<'_, Result<Vec<Placement>, LedgerError>>;

    /// Move `id` from `from` to `t.to`, recording the transition; answers the placement as
    /// stored afterwards.
    /// `at` is the time the transition is recorded with (the placer's clock).
    fn transition(
        &self,
        id: PlacementId,
        from: PlacementState,
        t: Transition,
        at: SystemTime,
    ) -> BoxFuture<'_, Result<Placement, OutboxError>>;
}

/// Why filling the form or looking an order up did not work (nothing was submitted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The ERP refused the order in the page: its own message.
    #[error("{0}")]
    Rejected(String),
    /// Network, HTTP 5xx, an expired session that logging in again did not cure, a browser
    /// that died: try again later.
    #[error("{0}")]
    Retry(String),
    /// The agent's ERP credentials are not held (its session is not open).
    #[error("{0}")]
    NoSession(String),
    /// It cannot work (refused credentials, a page that does not look like the ERP).
    #[error("{0}")]
    Permanent(String),
}

/// What the click led to, when it did not show an order number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The ERP showed validation errors: nothing was created.
    #[error("{0}")]
    Rejected(String),
    /// No clear answer (dropped connection, error page, timeout): the order may or may not
    /// exist.
    #[error("{0}")]
    Unknown(String),
}

/// The ERP's order form and order search, driven like a user would (the root crate's
/// Chromium driver). `fill` does everything up to the click; `submit` clicks.
pub trait OrderForm: Send + Sync + 'static {
    /// A form filled in and ready to submit (it holds the browser).
    type Filled: Send + 'static;

    /// Open the form in `agent`'s context and fill it with `order`, up to the click.
    fn fill<'a>(
        &'a self,
        agent: &'a str,
        order: &'a OrderDraft,
    ) -> BoxFuture<'a, Result<Self::Filled, FormError>>;

    /// Click "submit" and read the new order number.
    fn submit(&self, filled: Self::Filled) -> BoxFuture<'_, Result<String, SubmitError>>;

    /// The numbers of `agent`'s orders whose reference field holds `reference`.
    fn find<'a>(
        &'a self,
        agent: &'a str,
        reference: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>, FormError>>;
}

/// A guard that keeps every sync paused while it lives.
pub type PauseGuard = Box<dyn Send>;

/// Pauses every sync for a placement (the Priority actor).
pub trait SyncPause: Send + Sync + 'static {
    /// Pause every sync at its page boundary; they stay paused until the guard is dropped.
    fn pause(&self) -> BoxFuture<'_, Result<PauseGuard, String>>;
}

/// One transition as the outbox recorded it (a placement's history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionRecord {
    pub at: SystemTime,
    pub from: Option<PlacementState>,
    pub to: PlacementState,
    pub attempt: u32,
    pub cause: String,
}

/// Which placements an outbox listing returns, newest first.
#[derive(Debug, Clone, Default)]
pub struct PlacementFilter {
    /// One agent's (None: every agent's).
    pub agent: Option<String>,
    /// Only these states (empty: any).
    pub states: Vec<PlacementState>,
    /// Only ids below this (pagination, newest first).
    pub before_id: Option<PlacementId>,
    pub limit: u32,
}

/// One transition of one placement, as published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementEvent {
    /// The placement after the transition.
    pub placement: Placement,
    /// Where it came from.
    pub from: PlacementState,
    /// Why it moved.
    pub cause: String,
}

/// The bus of placements' transitions.
pub type PlacementBus = Bus<PlacementEvent>;

/// Timing rules of the placer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacerTiming {
    /// How long the ERP may take to show a new order in its search (ERP.md: a few seconds).
    /// An in-doubt placement not found counts as "not placed" only after this, since the
    /// click.
    pub index_lag: Duration,
    /// Longest wait for filling the form, for the confirmation after the click, or for a
    /// search.
    pub step_timeout: Duration,
    /// Delay before the first retry of a failed step; doubles for each further one.
    pub retry_base: Duration,
    /// Upper bound of a retry delay.
    pub retry_max: Duration,
}

impl Default for PlacerTiming {
    fn default() -> Self {
        Self {
            index_lag: Duration::from_secs(10),
            step_timeout: Duration::from_secs(120),
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
        }
    }
}
