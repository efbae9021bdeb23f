//! The vocabulary every actor shares about a sync run: its id, what it covers ([`Scope`]), how
//! thoroughly ([`Mode`]), why it was started ([`Trigger`]), what it did ([`Counts`]) and how it
//! ended ([`RunOutcome`] — the one type that says so, stored by the ledger, published on the
//! bus, awaited by the Scheduler).
//!
//! A leaf: this module imports nothing of the crate, so every other module may use it without
//! tying itself to the actors. It must NOT hold behaviour beyond parsing and printing these
//! values.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Identifier of one sync run, allocated by the run ledger (a row id of the runs table in
/// `sync.db`). A resumed run keeps its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a run covers: the shared catalogue (products, prices) or one agent's data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Data shared by every agent.
    Catalogue,
    /// One agent's data (customers, orders, DDT, invoices), by agent id.
    Agent(String),
}

impl Scope {
    /// The agent of a per-agent scope; `None` for the catalogue.
    pub fn agent(&self) -> Option<&str> {
        match self {
            Scope::Agent(a) => Some(a),
            Scope::Catalogue => None,
        }
    }
}

impl fmt::Display for Scope {
    /// `catalogue` or `agent:{id}` — also the form stored in the ledger (see [`FromStr`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Catalogue => f.write_str("catalogue"),
            Scope::Agent(id) => write!(f, "agent:{id}"),
        }
    }
}

/// A stored scope, mode or trigger string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what}")]
pub struct ParseError {
    /// What was being parsed (`scope`, `mode`, `trigger`).
    pub what: &'static str,
    /// The offending text.
    pub value: String,
}

impl FromStr for Scope {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "catalogue" => Ok(Scope::Catalogue),
            _ => match s.strip_prefix("agent:") {
                Some(id) if !id.is_empty() => Ok(Scope::Agent(id.to_string())),
                _ => Err(ParseError {
                    what: "scope",
                    value: s.to_string(),
                }),
            },
        }
    }
}

/// Full re-read, or delta (skip everything when the export is byte-identical, write only
/// changed records otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Re-read and re-check everything.
    Full,
    /// Skip work that the change detection proves unnecessary.
    Delta,
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Full => "full",
            Mode::Delta => "delta",
        })
    }
}

impl FromStr for Mode {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "full" => Ok(Mode::Full),
            "delta" => Ok(Mode::Delta),
            _ => Err(ParseError {
                what: "mode",
                value: s.to_string(),
            }),
        }
    }
}

/// Record counts of a page, of a finish step, or of a whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    /// Records seen for the first time.
    pub inserted: u64,
    /// Records whose hash changed.
    pub updated: u64,
    /// Records seen with the same hash (nothing written).
    pub unchanged: u64,
    /// Records missing from a complete export, marked deleted.
    pub deleted: u64,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.deleted += other.deleted;
    }
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(mut self, other: Counts) -> Counts {
        self += other;
        self
    }
}

/// What a run noticed besides its counts, for the operator: columns of the export the
/// contract does not know (ignored), deletions held back (a complete export that would have
/// removed a large share of a table), and the evidence kept of a page that did not look as
/// expected. Empty for an ordinary run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RunNotes {
    /// Titles of the export's columns the contract does not list (their text was ignored).
    pub unknown_columns: Vec<String>,
    /// Deletions held for an operator instead of applied (0: none held).
    pub held_deletions: u64,
    /// Why they were held (empty when none were).
    pub held_reason: String,
    /// The id of the evidence kept of the page a step failed on (HTML and screenshot).
    pub evidence: Option<String>,
}

impl RunNotes {
    /// Nothing to say.
    pub fn is_empty(&self) -> bool {
        *self == RunNotes::default()
    }

    /// These notes with `later`'s said as well (a later step of the same run).
    pub fn merged(mut self, later: RunNotes) -> RunNotes {
        for title in later.unknown_columns {
            if !self.unknown_columns.contains(&title) {
                self.unknown_columns.push(title);
            }
        }
        if later.held_deletions > 0 || !later.held_reason.is_empty() {
            self.held_deletions = later.held_deletions;
            self.held_reason = later.held_reason;
        }
        self.evidence = later.evidence.or(self.evidence);
        self
    }
}

/// Why a run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// The scheduler's timer for this kind.
    Scheduled,
    /// An agent logged in to the PWA.
    Login,
    /// An agent's PWA reconnected.
    Reconnect,
    /// The data is older than the staleness limit.
    Stale,
    /// A read asked for fresh data (`EnsureFresh`).
    EnsureFresh,
    /// An agent pressed refresh.
    Manual,
    /// An operator forced it (ignores freshness thresholds).
    Operator,
    /// Follows another kind's run (DDT and invoices after orders, price re-match after
    /// products).
    FollowUp,
    /// Reopened from the ledger after the actor restarted.
    Resume,
}

impl Trigger {
    /// Every trigger, for parsers and tests.
    pub const ALL: [Trigger; 9] = [
        Trigger::Scheduled,
        Trigger::Login,
        Trigger::Reconnect,
        Trigger::Stale,
        Trigger::EnsureFresh,
        Trigger::Manual,
        Trigger::Operator,
        Trigger::FollowUp,
        Trigger::Resume,
    ];

    /// The stable lowercase name (stored in the ledger, shown in status).
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Scheduled => "scheduled",
            Trigger::Login => "login",
            Trigger::Reconnect => "reconnect",
            Trigger::Stale => "stale",
            Trigger::EnsureFresh => "ensure_fresh",
            Trigger::Manual => "manual",
            Trigger::Operator => "operator",
            Trigger::FollowUp => "follow_up",
            Trigger::Resume => "resume",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Trigger {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Trigger::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| ParseError {
                what: "trigger",
                value: s.to_string(),
            })
    }
}

/// How a run ended: the one answer the ledger stores, the bus publishes (as its terminal
/// event), status shows and the Scheduler waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOutcome {
    /// Every page applied and finished.
    Completed {
        /// Totals.
        counts: Counts,
        /// Delta run on a byte-identical export.
        unchanged_export: bool,
        /// From first start to the end (in this process).
        duration: Duration,
        /// What the run noticed (unknown columns, held deletions).
        notes: RunNotes,
    },
    /// Given up.
    Failed {
        /// Why, with context.
        reason: String,
        /// True when the error was permanent; false when transient retries ran out.
        permanent: bool,
        /// What had been applied before the failure.
        counts: Counts,
        /// From first start to the failure (in this process).
        duration: Duration,
        /// What the run noticed before it failed (the evidence of a page that changed).
        notes: RunNotes,
    },
}

impl RunOutcome {
    /// A run that could not even be asked for (the actor is down, the request was refused):
    /// failed, nothing applied.
    pub fn not_run(reason: impl Into<String>) -> RunOutcome {
        RunOutcome::Failed {
            reason: reason.into(),
            permanent: false,
            counts: Counts::default(),
            duration: Duration::ZERO,
            notes: RunNotes::default(),
        }
    }

    /// The notes, whichever the outcome.
    pub fn notes(&self) -> &RunNotes {
        match self {
            RunOutcome::Completed { notes, .. } | RunOutcome::Failed { notes, .. } => notes,
        }
    }

    /// The counts, whichever the outcome.
    pub fn counts(&self) -> Counts {
        match self {
            RunOutcome::Completed { counts, .. } | RunOutcome::Failed { counts, .. } => *counts,
        }
    }

    /// The duration, whichever the outcome.
    pub fn duration(&self) -> Duration {
        match self {
            RunOutcome::Completed { duration, .. } | RunOutcome::Failed { duration, .. } => {
                *duration
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_mode_round_trip_through_strings() {
        for scope in [Scope::Catalogue, Scope::Agent("agent7".into())] {
            assert_eq!(scope.to_string().parse::<Scope>().unwrap(), scope);
        }
        assert!("agent:".parse::<Scope>().is_err());
        assert!("shop".parse::<Scope>().is_err());
        for mode in [Mode::Full, Mode::Delta] {
            assert_eq!(mode.to_string().parse::<Mode>().unwrap(), mode);
        }
    }

    #[test]
    fn triggers_round_trip_through_strings() {
        for t in Trigger::ALL {
            assert_eq!(t.as_str().parse::<Trigger>().unwrap(), t);
        }
        assert!("cron".parse::<Trigger>().is_err());
    }
}
