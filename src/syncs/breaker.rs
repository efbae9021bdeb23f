//! Circuit breakers: stop hammering an Archibald that keeps failing, and stop retrying an
//! agent's login that the ERP keeps refusing (which could lock the agent's account).
//!
//! One breaker for the ERP (HTTP 5xx, timeouts, network trouble, a crashed browser) and one
//! per account login (rejected credentials, sessions that expire right after logging in).
//! `failures_to_open` consecutive failures open a breaker: calls fail at once, without
//! touching the ERP, for `cool_down`; then it is half-open and lets ONE call through as a
//! probe — success closes it, failure opens it again. Errors that say nothing about the ERP's
//! health (a malformed report, no credentials) do not count.
//!
//! Owns the bookkeeping only: `ErpSource` asks it before each ERP call and reports the outcome.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    pub failures_to_open: u32,
    pub cool_down: Duration,
}

impl Default for BreakerPolicy {
    /// Three consecutive failures; 60 s before a probe.
    fn default() -> Self {
        Self {
            failures_to_open: 3,
            cool_down: Duration::from_secs(60),
        }
    }
}

/// A breaker's state, as status shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BreakerState {
    Closed,
    HalfOpen,
    Open,
}

/// The call may not go through: the breaker `key` is open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "circuit breaker {key} is open after {failures} consecutive failures; next probe in {retry_in:?}"
)]
pub struct BreakerOpen {
    pub key: String,
    pub failures: u32,
    pub retry_in: Duration,
}

#[derive(Debug, Default)]
struct Breaker {
    consecutive: u32,
    opened_at: Option<Instant>,
    probing: bool,
}

/// Every breaker of the service, by key (`erp`, `login:{account}`).
#[derive(Debug, Default)]
pub struct Breakers {
    policy: BreakerPolicy,
    inner: Mutex<HashMap<String, Breaker>>,
}

/// Counter: times a breaker opened (label `breaker`).
pub const OPENINGS_TOTAL: &str = "blackant_breaker_openings_total";

/// The ERP's breaker key.
pub const ERP: &str = "erp";

/// The breaker key of an account's logins.
pub fn login_key(account: &str) -> String {
    format!("login:{account}")
}

impl Breakers {
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            inner: Mutex::default(),
        }
    }

    fn with<T>(&self, key: &str, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut map = self
            .inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(map.entry(key.to_string()).or_default())
    }

    /// May a call go through `key` now? A half-open breaker lets one probe through at a time.
    pub fn check(&self, key: &str) -> Result<(), BreakerOpen> {
        let policy = self.policy;
        self.with(key, |b| {
            let Some(opened) = b.opened_at else {
                return Ok(());
            };
            let elapsed = opened.elapsed();
            if elapsed >= policy.cool_down && !b.probing {
                b.probing = true;
                return Ok(());
            }
            Err(BreakerOpen {
                key: key.to_string(),
                failures: b.consecutive,
                retry_in: policy.cool_down.saturating_sub(elapsed),
            })
        })
    }

    /// The call through `key` succeeded: close it.
    pub fn success(&self, key: &str) {
        self.with(key, |b| {
            if b.opened_at.is_some() {
                tracing::info!(breaker = key, "circuit breaker closed");
            }
            *b = Breaker::default();
        });
    }

    /// The call through `key` failed in a way that counts.
    pub fn failure(&self, key: &str) {
        let policy = self.policy;
        self.with(key, |b| {
            b.consecutive += 1;
            let reopen = b.probing;
            b.probing = false;
            if reopen || (b.opened_at.is_none() && b.consecutive >= policy.failures_to_open) {
                tracing::warn!(breaker = key, failures = b.consecutive, cool_down = ?policy.cool_down, "circuit breaker open");
                metrics::counter!(OPENINGS_TOTAL, "breaker" => key.to_string()).increment(1);
                b.opened_at = Some(Instant::now());
            }
        });
    }

    /// Every breaker that has seen a call, with its state.
    pub fn all(&self) -> Vec<(String, BreakerState)> {
        let keys: Vec<String> = {
            let map = self
                .inner
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            map.keys().cloned().collect()
        };
        keys.into_iter()
            .map(|k| {
                let state = self.state(&k);
                (k, state)
            })
            .collect()
    }

    /// The state of `key`.
    pub fn state(&self, key: &str) -> BreakerState {
        let policy = self.policy;
        self.with(key, |b| match b.opened_at {
            None => BreakerState::Closed,
            Some(t) if t.elapsed() >= policy.cool_down => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn three_failures_open_it_a_probe_after_the_cool_down_closes_it() {
        let b = Breakers::new(BreakerPolicy {
            failures_to_open: 3,
            cool_down: Duration::from_secs(30),
        });
        for _ in 0..2 {
            b.check(ERP).unwrap();
            b.failure(ERP);
        }
        assert_eq!(
            b.state(ERP),
            BreakerState::Closed,
            "two failures are not enough"
        );
        b.check(ERP).unwrap();
        b.failure(ERP);
        assert_eq!(b.state(ERP), BreakerState::Open);
        let open = b.check(ERP).unwrap_err();
        assert_eq!((open.failures, open.retry_in), (3, Duration::from_secs(30)));
        assert!(open.to_string().contains("erp"), "{open}");

        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(b.state(ERP), BreakerState::HalfOpen);
        b.check(ERP).expect("one probe goes through");
        assert!(b.check(ERP).is_err(), "only one probe at a time");
        b.success(ERP);
        assert_eq!(b.state(ERP), BreakerState::Closed);
        b.check(ERP).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_opens_it_again_and_breakers_are_independent() {
        let b = Breakers::new(BreakerPolicy {
            failures_to_open: 1,
            cool_down: Duration::from_secs(10),
        });
        b.failure(&login_key("agent1"));
        assert_eq!(b.state(&login_key("agent1")), BreakerState::Open);
        assert_eq!(b.state(ERP), BreakerState::Closed);
        b.check(&login_key("agent2"))
            .expect("another agent is not affected");
        tokio::time::advance(Duration::from_secs(10)).await;
        b.check(&login_key("agent1")).expect("probe");
        b.failure(&login_key("agent1"));
        assert_eq!(
            b.state(&login_key("agent1")),
            BreakerState::Open,
            "the probe failed: open again"
        );
        assert_eq!(
            b.check(&login_key("agent1")).unwrap_err().retry_in,
            Duration::from_secs(10)
        );
    }
}
