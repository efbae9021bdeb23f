//! Restart bookkeeping: backoff delays, the restart-intensity window (OTP style) and the state
//! machine of one supervised child.
//!
//! Plain structs, no actor: [`RestartTracker`] is fed the failures of ONE child and answers
//! "restart after this delay" or "escalate" (more than `max_restarts` failures within
//! `within`); [`Supervised`] wraps it with the child's [`ChildState`] and the generation that
//! tells a current timer from a stale one. The RootSupervisor keeps one per child, the
//! OrderSyncRegistry one per agent's sync actor: both supervisors share these rules.
//! [`exponential_backoff`] is also what sync runs use between retries.
//!
//! This module must NOT spawn, stop or message actors, nor read the clock itself (callers pass
//! `now`, so the rules are unit-tested without time passing).

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

/// `base · 2^(n-1)`, capped at `max` (`n` = 1 for the first delay). Saturates instead of
/// overflowing for large `n`.
pub fn exponential_backoff(base: Duration, max: Duration, n: u32) -> Duration {
    let exp = n.saturating_sub(1).min(31);
    base.checked_mul(1u32 << exp).unwrap_or(max).min(max)
}

/// How a supervisor treats one child's failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Failures tolerated within `within`; one more escalates (the child stays down).
    pub max_restarts: u32,
    /// The sliding window over which failures are counted.
    pub within: Duration,
    /// Delay before the first restart of a burst; doubles for each further failure in the
    /// window.
    pub backoff_base: Duration,
    /// Upper bound of the restart delay.
    pub backoff_max: Duration,
}

impl Default for RestartPolicy {
    /// 5 restarts per minute, 500 ms doubling up to 30 s.
    fn default() -> Self {
        Self {
            max_restarts: 5,
            within: Duration::from_secs(60),
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// What to do about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartDecision {
    /// Restart the child after this delay.
    Restart {
        /// Backoff delay.
        after: Duration,
    },
    /// Too many failures in the window: leave the child down and tell an operator.
    Escalate {
        /// Failures counted in the window (including this one).
        failures: u32,
        /// The window.
        within: Duration,
    },
}

/// The failure history of one child.
#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    recent: VecDeque<Instant>,
    restarts: u32,
}

impl RestartTracker {
    /// No failures yet.
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            policy,
            recent: VecDeque::new(),
            restarts: 0,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> &RestartPolicy {
        &self.policy
    }

    /// Record a failure at `now` and decide. Failures older than `within` are forgotten, so
    /// a child that was stable for a while restarts after the shortest delay again.
    pub fn on_failure(&mut self, now: Instant) -> RestartDecision {
        let within = self.policy.within;
        while self
            .recent
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= within)
        {
            self.recent.pop_front();
        }
        self.recent.push_back(now);
        let failures = u32::try_from(self.recent.len()).unwrap_or(u32::MAX);
        if failures > self.policy.max_restarts {
            RestartDecision::Escalate { failures, within }
        } else {
            RestartDecision::Restart {
                after: exponential_backoff(
                    self.policy.backoff_base,
                    self.policy.backoff_max,
                    failures,
                ),
            }
        }
    }

    /// Count a restart that actually happened (what operators see).
    pub fn note_restart(&mut self) {
        self.restarts = self.restarts.saturating_add(1);
    }

    /// Restarts performed so far (automatic and operator-requested).
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Failures currently counted in the window.
    pub fn recent_failures(&self) -> usize {
        self.recent.len()
    }

    /// Forget the failure window (an operator restart clears an escalation). The restart
    /// count is kept: it is history.
    pub fn clear_window(&mut self) {
        self.recent.clear();
    }
}

/// What a supervised child is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildState {
    /// Up.
    Running,
    /// Down, restart scheduled after a backoff.
    Restarting,
    /// Asked to stop (operator stop or restart), not exited yet.
    Stopping,
    /// Down on purpose (operator stop); not restarted.
    Stopped,
    /// Down for good: too many failures within the window. An operator Restart revives it.
    Escalated,
}

/// What a supervisor must do about a child that went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Down {
    /// Restart it after `after`; the restart timer carries `generation`.
    Restart {
        /// Backoff delay.
        after: Duration,
        /// The generation [`Supervised::restart_due`] checks when the timer fires.
        generation: u64,
    },
    /// Leave it down and tell an operator: `failures` within `within`.
    Escalate {
        /// Failures counted in the window (including this one).
        failures: u32,
        /// The window.
        within: Duration,
    },
}

/// The supervision state machine of one child, shared by every supervisor:
///
/// ```text
/// Stopped ──start──► Running ──went_down──► Restarting ──restart_due──► (start again)
///    ▲                  │                        │ too many failures
///    │ stopped          │ stopping               ▼
///    └──────────── Stopping                  Escalated ──revive (operator)──► (start again)
/// ```
/// Every transition that abandons a pending timer bumps the generation, so a late timer of an
/// older incarnation is recognised and ignored.
#[derive(Debug, Clone)]
pub struct Supervised {
    tracker: RestartTracker,
    state: ChildState,
    generation: u64,
    last_failure: Option<String>,
    escalated_at: Option<Instant>,
}

impl Supervised {
    /// A child not started yet.
    pub fn new(policy: RestartPolicy) -> Self {
        Self {
            tracker: RestartTracker::new(policy),
            state: ChildState::Stopped,
            generation: 0,
            last_failure: None,
            escalated_at: None,
        }
    }

    /// What the child is doing.
    pub fn state(&self) -> ChildState {
        self.state
    }

    /// Restarts performed so far (automatic and operator).
    pub fn restarts(&self) -> u32 {
        self.tracker.restarts()
    }

    /// Why it last went down unexpectedly.
    pub fn last_failure(&self) -> Option<&str> {
        self.last_failure.as_deref()
    }

    /// A new incarnation is being started: pending timers become stale.
    pub fn starting(&mut self) {
        self.generation += 1;
    }

    /// The new incarnation runs.
    pub fn running(&mut self) {
        self.state = ChildState::Running;
        self.escalated_at = None;
    }

    /// The child failed, exited when nobody asked, or could not start, at `now`: restart it
    /// after a backoff, or escalate when the restart intensity is exceeded.
    pub fn went_down(&mut self, reason: String, now: Instant) -> Down {
        self.last_failure = Some(reason);
        self.generation += 1;
        match self.tracker.on_failure(now) {
            RestartDecision::Restart { after } => {
                self.state = ChildState::Restarting;
                Down::Restart {
                    after,
                    generation: self.generation,
                }
            }
            RestartDecision::Escalate { failures, within } => {
                self.state = ChildState::Escalated;
                self.escalated_at = Some(now);
                Down::Escalate { failures, within }
            }
        }
    }

    /// Whether the restart timer of `generation` is still the one to act on.
    pub fn restart_due(&self, generation: u64) -> bool {
        self.state == ChildState::Restarting && self.generation == generation
    }

    /// An operator stop (or restart) begins; returns the generation of its kill timer.
    pub fn stopping(&mut self) -> u64 {
        self.state = ChildState::Stopping;
        self.generation += 1;
        self.generation
    }

    /// Whether the kill timer of `generation` still applies (the child has not exited).
    pub fn stop_overdue(&self, generation: u64) -> bool {
        self.state == ChildState::Stopping && self.generation == generation
    }

    /// Down on purpose; any pending timer is abandoned.
    pub fn stopped(&mut self) {
        self.state = ChildState::Stopped;
        self.generation += 1;
    }

    /// An operator brings it back: the failure window is forgotten (an escalation is cleared);
    /// `restart` counts it as a restart.
    pub fn revive(&mut self, restart: bool) {
        self.tracker.clear_window();
        if restart {
            self.tracker.note_restart();
        }
    }

    /// Count a restart that actually happens (a restart timer fired).
    pub fn note_restart(&mut self) {
        self.tracker.note_restart();
    }

    /// The reason of an escalation younger than the policy window at `now` (a per-scope
    /// supervisor refuses work for the child meanwhile, and tries again after it).
    pub fn escalated_recently(&self, now: Instant) -> Option<&str> {
        let within = self.tracker.policy().within;
        match (self.state, self.escalated_at) {
            (ChildState::Escalated, Some(at)) if now.saturating_duration_since(at) < within => {
                Some(self.last_failure.as_deref().unwrap_or("escalated"))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn policy() -> RestartPolicy {
        RestartPolicy {
            max_restarts: 3,
            within: 10 * S,
            backoff_base: S,
            backoff_max: 3 * S,
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let b = |n| exponential_backoff(S, 5 * S, n);
        assert_eq!([b(0), b(1), b(2), b(3), b(4)], [S, S, 2 * S, 4 * S, 5 * S]);
        assert_eq!(b(u32::MAX), 5 * S, "no overflow");
        assert_eq!(exponential_backoff(Duration::MAX, S, 2), S);
    }

    #[test]
    fn restarts_back_off_then_escalate_past_the_intensity() {
        let t0 = Instant::now();
        let mut t = RestartTracker::new(policy());
        assert_eq!(t.on_failure(t0), RestartDecision::Restart { after: S });
        assert_eq!(
            t.on_failure(t0 + S),
            RestartDecision::Restart { after: 2 * S }
        );
        assert_eq!(
            t.on_failure(t0 + 2 * S),
            RestartDecision::Restart { after: 3 * S }
        );
        assert_eq!(
            t.on_failure(t0 + 3 * S),
            RestartDecision::Escalate {
                failures: 4,
                within: 10 * S
            }
        );
    }

    #[test]
    fn old_failures_leave_the_window() {
        let t0 = Instant::now();
        let mut t = RestartTracker::new(policy());
        for i in 0..3 {
            assert!(matches!(
                t.on_failure(t0 + i * S),
                RestartDecision::Restart { .. }
            ));
        }
        // 10 s after the first failure it no longer counts: 3 in the window, not 4.
        assert_eq!(
            t.on_failure(t0 + 10 * S),
            RestartDecision::Restart { after: 3 * S }
        );
        assert_eq!(t.recent_failures(), 3);
        // Long after, a single failure gets the shortest delay again.
        assert_eq!(
            t.on_failure(t0 + 100 * S),
            RestartDecision::Restart { after: S }
        );
    }

    #[test]
    fn a_child_restarts_until_escalated_and_stale_timers_are_ignored() {
        let t0 = Instant::now();
        let mut child = Supervised::new(policy());
        child.starting();
        child.running();
        let Down::Restart { after, generation } = child.went_down("boom".into(), t0) else {
            panic!("first failure restarts");
        };
        assert_eq!((after, child.state()), (S, ChildState::Restarting));
        assert!(child.restart_due(generation));
        // An operator stop while restarting abandons the timer.
        child.stopped();
        assert!(!child.restart_due(generation));
        child.starting();
        child.running();
        for i in 1..3 {
            assert!(matches!(
                child.went_down("boom".into(), t0 + i * S),
                Down::Restart { .. }
            ));
        }
        assert_eq!(
            child.went_down("boom again".into(), t0 + 3 * S),
            Down::Escalate {
                failures: 4,
                within: 10 * S
            }
        );
        assert_eq!(child.state(), ChildState::Escalated);
        assert_eq!(
            child.escalated_recently(t0 + 4 * S),
            Some("boom again"),
            "refused within the window"
        );
        assert_eq!(
            child.escalated_recently(t0 + 14 * S),
            None,
            "tried again after it"
        );
        child.revive(true);
        assert_eq!(child.restarts(), 1);
        assert!(matches!(
            child.went_down("once more".into(), t0 + 5 * S),
            Down::Restart { after, .. } if after == S
        ));
    }

    #[test]
    fn clearing_the_window_keeps_the_restart_count() {
        let t0 = Instant::now();
        let mut t = RestartTracker::new(RestartPolicy {
            max_restarts: 0,
            ..policy()
        });
        assert!(matches!(
            t.on_failure(t0),
            RestartDecision::Escalate { failures: 1, .. }
        ));
        t.note_restart();
        t.clear_window();
        assert_eq!(t.recent_failures(), 0);
        assert_eq!(t.restarts(), 1);
    }
}
