//! Wall-clock time as the actors read it: [`SystemClock`] in production, [`TokioClock`] in
//! tests (it follows tokio's paused clock, so `tokio::time::advance` moves it too). The
//! Scheduler's grid and the OrderPlacer's deadlines and indexing lag read it.
//!
//! A leaf: it imports nothing of the crate.

use std::time::SystemTime;

/// Wall-clock time.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> SystemTime;
}

/// The system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Wall time that follows tokio's clock (so `tokio::time::pause`/`advance` move it): for tests.
#[derive(Debug, Clone, Copy)]
pub struct TokioClock {
    wall: SystemTime,
    instant: tokio::time::Instant,
}

impl TokioClock {
    /// Starting at `wall` now.
    pub fn starting_at(wall: SystemTime) -> Self {
        Self {
            wall,
            instant: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    fn now(&self) -> SystemTime {
        self.wall + self.instant.elapsed()
    }
}
