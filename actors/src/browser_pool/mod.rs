//! The browser pool: who may drive a browser, when, and in which user's context.
//!
//! Every ERP interaction needs a real browser and the agent's own session (cookies). The
//! [`BrowserPool`] owns up to `size` browsers and leases them one at a time: a [`Lease`] is
//! one browser plus the user's browser context (created once per user per browser and reused,
//! so an ERP session survives between syncs). At most `size` leases are out at once; waiters
//! are served highest priority first, FIFO within a priority — except that a freed browser
//! goes to a waiter a little behind whose context it holds when the oldest waiter's own
//! browser is busy (no new context, no new login). Dropping the lease returns it;
//! [`Lease::mark_broken`] before dropping makes the pool retire that browser. A browser whose
//! process dies is retired too, and so is one that has served `recycle_after` leases (Chromium
//! grows with every tab it ever opened); a new one is launched lazily when needed. A
//! warm pool launches every browser at start, so the first sync does not wait for one.
//!
//! The pool is generic over a [`Launcher`], so its rules are tested with a fake; the real
//! launcher is [`ChromiumLauncher`] (chromiumoxide).
//!
//! Layout: `mod.rs` (contracts, lease, status), `pool.rs` (the actor), `chromium.rs` (the
//! real launcher), `tests.rs`.
//!
//! This module must NOT know what pages are opened or why (that is the ERP layer), nor which
//! sync gets priority over which (callers pass a priority).

mod chromium;
mod pool;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use ractor::{ActorRef, RpcReplyPort};

pub use chromium::{
    CHROMIUM_ARGS, ChromiumBrowser, ChromiumConfig, ChromiumContext, ChromiumLauncher,
    DEFAULT_CHROMIUM, parent_of, process_ids, reap_leftovers, resolve_executable,
};
pub use pool::{BrowserPool, BrowserPoolArguments, BrowserPoolState, RECYCLE_AFTER_LEASES};

/// Why a browser could not be provided or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrowserError {
    /// No Chromium executable exists where we looked.
    #[error("no Chromium executable found; tried: {tried}")]
    NoExecutable {
        /// Every candidate, in order, with why it was rejected.
        tried: String,
    },
    /// The browser configuration is invalid.
    #[error("browser configuration: {0}")]
    Config(String),
    /// The fresh user-data-dir could not be created.
    #[error("creating a user data dir under {dir}: {reason}")]
    UserDataDir {
        /// The parent directory.
        dir: PathBuf,
        /// The I/O error.
        reason: String,
    },
    /// The browser process did not start or did not open its DevTools endpoint.
    #[error("launching {exe}: {reason}")]
    Launch {
        /// The executable.
        exe: PathBuf,
        /// Why.
        reason: String,
    },
    /// The user's browser context could not be created.
    #[error("creating the browser context of user {user}: {reason}")]
    Context {
        /// The user.
        user: String,
        /// Why.
        reason: String,
    },
    /// A DevTools command failed.
    #[error("{what}: {reason}")]
    Cdp {
        /// What was attempted.
        what: String,
        /// Why it failed.
        reason: String,
    },
    /// The pool is stopping (or gone): no more leases.
    #[error("the browser pool is stopped")]
    PoolStopped,
}

/// What a launcher returns: the browser, and a future that resolves (with the reason) when
/// the browser is gone — its process exited or its DevTools connection ended.
pub struct Launched<B> {
    /// The browser.
    pub browser: B,
    /// Resolves when the browser is gone.
    pub gone: BoxFuture<'static, String>,
}

/// Starts browsers and creates per-user contexts in them. The pool calls these from spawned
/// tasks, never from its handler.
pub trait Launcher: Send + Sync + 'static {
    /// A running browser (shared between the pool and the lease holder).
    type Browser: Send + Sync + 'static;
    /// An isolated cookie jar inside a browser.
    type Context: Send + Sync + 'static;

    /// Start a browser.
    fn launch(&self) -> impl Future<Output = Result<Launched<Self::Browser>, BrowserError>> + Send;

    /// Create the browser context for `user`.
    fn new_context(
        &self,
        browser: &Self::Browser,
        user: &str,
    ) -> impl Future<Output = Result<Self::Context, BrowserError>> + Send;

    /// Get a browser launched at start ready for its first [`Self::new_context`], before it
    /// counts as launched (a warm pool's launches only: no one is waiting for them). Default:
    /// nothing to do.
    fn prepare(&self, browser: &Self::Browser) -> impl Future<Output = ()> + Send {
        let _ = browser;
        async {}
    }

    /// Close the browser and wait (bounded) for it to be gone. Must work while a lease
    /// still holds a reference (it only needs `&Self::Browser`).
    fn close(&self, browser: Arc<Self::Browser>) -> impl Future<Output = ()> + Send;
}

/// One browser and one user's context, borrowed from the pool. Dropping it returns it.
pub struct Lease<L: Launcher> {
    browser: Arc<L::Browser>,
    context: Arc<L::Context>,
    user: String,
    slot: usize,
    lease_id: u64,
    broken: Option<String>,
    pool: ActorRef<BrowserPoolMessage<L>>,
}

impl<L: Launcher> std::fmt::Debug for Lease<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("user", &self.user)
            .field("slot", &self.slot)
            .field("lease_id", &self.lease_id)
            .field("broken", &self.broken)
            .finish()
    }
}

impl<L: Launcher> Lease<L> {
    /// The browser.
    pub fn browser(&self) -> &Arc<L::Browser> {
        &self.browser
    }

    /// The user's context in that browser.
    pub fn context(&self) -> &L::Context {
        &self.context
    }

    /// The user the lease was asked for.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// Which pool slot (browser) this is — stable while the browser lives; for logs.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The browser misbehaved (crashed page, wedged DevTools...): when this lease is dropped
    /// the pool retires the browser instead of reusing it.
    pub fn mark_broken(&mut self, reason: impl Into<String>) {
        self.broken = Some(reason.into());
    }
}

impl<L: Launcher> Drop for Lease<L> {
    fn drop(&mut self) {
        // The pool may be gone already; then there is nothing to return to.
        let _ = self
            .pool
            .send_message(BrowserPoolMessage::Internal(PoolInternal(
                pool::Internal::Release {
                    slot: self.slot,
                    lease_id: self.lease_id,
                    broken: self.broken.take(),
                },
            )));
    }
}

/// The pool's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Maximum browsers (and leases) at once.
    pub size: usize,
    /// Slots committed to a caller (leased, or launching / opening a context for one).
    pub busy: usize,
    /// Callers waiting for a slot.
    pub waiting: usize,
    /// Browsers currently running.
    pub launched: usize,
    /// Browsers retired because they broke or died (a new one is launched when needed).
    pub replaced: u64,
}

/// Messages of [`BrowserPool`].
pub enum BrowserPoolMessage<L: Launcher> {
    /// Borrow a browser with `user`'s context. Answered when one is free (possibly much
    /// later); a caller that stops waiting simply drops its end.
    Lease {
        /// The ERP user whose session (cookies) the context holds.
        user: String,
        /// Higher is served first.
        priority: u8,
        /// The lease, or why none could be made.
        reply: RpcReplyPort<Result<Lease<L>, BrowserError>>,
    },
    /// Counters.
    Status {
        /// The answer.
        reply: RpcReplyPort<PoolStatus>,
    },
    /// The pool's messages to itself and from leases.
    #[doc(hidden)]
    Internal(PoolInternal<L>),
}

/// Internal messages (opaque outside this module).
#[doc(hidden)]
pub struct PoolInternal<L: Launcher>(pool::Internal<L>);

/// Typed client of the pool.
pub struct BrowserPoolHandle<L: Launcher> {
    pool: ActorRef<BrowserPoolMessage<L>>,
}

impl<L: Launcher> Clone for BrowserPoolHandle<L> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
        }
    }
}

impl<L: Launcher> BrowserPoolHandle<L> {
    /// How long a status call may take before the pool counts as unavailable.
    pub const STATUS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

    /// A handle on a pool actor.
    pub fn new(pool: ActorRef<BrowserPoolMessage<L>>) -> Self {
        Self { pool }
    }

    /// Wait for a lease. No timeout: the wait is as long as the queue; wrap it in
    /// `tokio::time::timeout` or `select!` with a cancellation token — dropping this future
    /// withdraws the request without leaking a lease.
    pub async fn lease(&self, user: &str, priority: u8) -> Result<Lease<L>, BrowserError> {
        let user = user.to_string();
        let build = |reply| BrowserPoolMessage::Lease {
            user,
            priority,
            reply,
        };
        crate::directory::call(&self.pool, build, None)
            .await
            .map_err(|_| BrowserError::PoolStopped)?
    }

    /// The pool's counters (answered at once by a running pool).
    pub async fn status(&self) -> Result<PoolStatus, BrowserError> {
        let build = |reply| BrowserPoolMessage::Status { reply };
        crate::directory::call(&self.pool, build, Some(Self::STATUS_TIMEOUT))
            .await
            .map_err(|_| BrowserError::PoolStopped)
    }
}
