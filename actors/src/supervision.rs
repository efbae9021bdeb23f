//! Restart bookkeeping: backoff delays and the restart-intensity window (OTP style).
//!
//! A plain struct, no actor: [`RestartTracker`] is fed the failures of ONE child and answers
//! "restart after this delay" or "escalate" (more than `max_restarts` failures within
//! `within`). The RootSupervisor keeps one per child; the OrderSyncRegistry (later) keeps one
//! per agent's sync actor. [`exponential_backoff`] is also what sync runs use between retries.
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
