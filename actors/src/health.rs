//! The service's health as the actors see it, for the standard health service and operators:
//! which top-level children the supervisor has escalated (left down after too many restarts),
//! whether the browser pool can launch browsers, and whether the service is shutting down.
//! A `watch` channel: writers set what they know, readers wait for changes.
//!
//! Owns only the board; it must NOT decide what to do about a problem (the supervisor and
//! the pool keep doing their jobs, the gRPC layer reports).

use std::collections::BTreeSet;
use tokio::sync::watch;

/// What is wrong, if anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthState {
    /// Top-level children escalated by the supervisor, by name.
    pub escalated: BTreeSet<String>,
    /// The browser pool's last launch failed and no browser runs: why.
    pub browsers: Option<String>,
    /// The service is stopping.
    pub shutting_down: bool,
}

impl HealthState {
    /// Whether the service serves: nothing escalated, browsers launchable, not stopping.
    pub fn serving(&self) -> bool {
        self.escalated.is_empty() && self.browsers.is_none() && !self.shutting_down
    }

    /// Why it does not serve, one line (empty when it does).
    pub fn reasons(&self) -> String {
        let mut out = Vec::new();
        if self.shutting_down {
            out.push("shutting down".to_string());
        }
        if !self.escalated.is_empty() {
            let names: Vec<&str> = self.escalated.iter().map(String::as_str).collect();
            out.push(format!("escalated: {}", names.join(", ")));
        }
        if let Some(why) = &self.browsers {
            out.push(format!("browsers cannot launch: {why}"));
        }
        out.join("; ")
    }
}

/// The board (cheap to clone; every clone writes the same state).
#[derive(Debug, Clone)]
pub struct Health {
    tx: watch::Sender<HealthState>,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    pub fn new() -> Self {
        Self {
            tx: watch::Sender::new(HealthState::default()),
        }
    }

    /// The current state, and changes from now on.
    pub fn subscribe(&self) -> watch::Receiver<HealthState> {
        self.tx.subscribe()
    }

    /// The current state.
    pub fn get(&self) -> HealthState {
        self.tx.borrow().clone()
    }

    /// `name` was escalated (`true`) or is back (`false`).
    pub fn set_escalated(&self, name: &str, escalated: bool) {
        self.tx.send_if_modified(|s| {
            if escalated {
                s.escalated.insert(name.to_string())
            } else {
                s.escalated.remove(name)
            }
        });
    }

    /// The browsers cannot launch (`Some(why)`), or can again (`None`).
    pub fn set_browsers(&self, problem: Option<String>) {
        self.tx.send_if_modified(|s| {
            if s.browsers == problem {
                return false;
            }
            s.browsers = problem;
            true
        });
    }

    /// The service is stopping: it serves no more.
    pub fn set_shutting_down(&self) {
        self.tx
            .send_if_modified(|s| !std::mem::replace(&mut s.shutting_down, true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn readers_see_each_change_and_the_reasons() {
        let h = Health::new();
        let mut rx = h.subscribe();
        assert!(rx.borrow().serving());
        h.set_escalated("PriceSync", true);
        rx.changed().await.unwrap();
        assert!(!rx.borrow().serving());
        assert_eq!(rx.borrow().reasons(), "escalated: PriceSync");
        h.set_escalated("PriceSync", false);
        h.set_browsers(Some("no chromium".into()));
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow().reasons(), "browsers cannot launch: no chromium");
        h.set_browsers(None);
        h.set_shutting_down();
        rx.changed().await.unwrap();
        assert_eq!(rx.borrow().reasons(), "shutting down");
    }
}
