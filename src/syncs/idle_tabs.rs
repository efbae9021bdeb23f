//! Logged-in tabs kept open between syncs, so an agent's next export or detail page does not
//! open a tab again (~75–110 ms of Chromium work here, measured in `erp::session`'s debug log).
//!
//! A kept tab is handed out only under a lease of the same browser and the same context (ids
//! compared, so a recycled browser or a re-created context never gets a stale tab) and for the
//! same credentials; the session cookie lives in the context, so the ERP still decides when a
//! login is needed. At most `max` tabs are kept: each is a renderer process Chromium keeps
//! alive. A full shelf takes no more (the new tab closes, as it did before tabs were kept)
//! rather than evicting the oldest, so the tabs kept are those of the contexts that come back;
//! a tab unused for [`IDLE_TAB_TTL`] closes (its agent left). It must NOT lease browsers nor
//! talk to the ERP.

use crate::erp::{Credentials, ErpTab};
use blackant_actors::browser_pool::ChromiumBrowser;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A kept tab unused this long closes (the ERP's own sessions expire after 20 minutes idle).
const IDLE_TAB_TTL: Duration = Duration::from_secs(30 * 60);

/// The shelf of idle tabs, each with when it was shelved, oldest first.
pub(super) struct IdleTabs {
    max: usize,
    tabs: Mutex<VecDeque<(ErpTab, Instant)>>,
}

impl IdleTabs {
    /// Keeps at most `max` tabs (0: none, every sync opens its own tab).
    pub(super) fn new(max: usize) -> Self {
        Self {
            max,
            tabs: Mutex::new(VecDeque::new()),
        }
    }

    /// An idle tab of exactly this browser and context, logged in as `credentials`, if one is
    /// kept; it leaves the shelf.
    pub(super) fn take(
        &self,
        browser: &Arc<ChromiumBrowser>,
        context: &BrowserContextId,
        credentials: &Credentials,
    ) -> Option<ErpTab> {
        let mut tabs = self.tabs.lock().unwrap_or_else(|p| p.into_inner());
        let at = tabs.iter().position(|(t, _)| {
            Arc::ptr_eq(&t.browser, browser) && t.context == *context && t.is_for(credentials)
        })?;
        tabs.remove(at).map(|(t, _)| t)
    }

    /// Shelves `tab` for its context's next lease, if there is room once the tabs of browsers
    /// the pool has let go of (only the shelf still holds them) and the tabs unused for
    /// [`IDLE_TAB_TTL`] are closed; otherwise `tab` closes.
    pub(super) fn keep(&self, tab: ErpTab) {
        if self.max == 0 {
            return;
        }
        let closing: Vec<ErpTab> = {
            let mut tabs = self.tabs.lock().unwrap_or_else(|p| p.into_inner());
            // A browser held only by the shelf's own tabs is one the pool let go of.
            let keep: Vec<bool> = tabs
                .iter()
                .map(|(t, at)| {
                    let on_shelf = tabs
                        .iter()
                        .filter(|(o, _)| Arc::ptr_eq(&o.browser, &t.browser))
                        .count();
                    Arc::strong_count(&t.browser) > on_shelf && at.elapsed() < IDLE_TAB_TTL
                })
                .collect();
            let mut gone = Vec::new();
            let mut live = VecDeque::with_capacity(tabs.len() + 1);
            for ((tab, at), kept) in tabs.drain(..).zip(keep) {
                if kept {
                    live.push_back((tab, at));
                } else {
                    gone.push(tab);
                }
            }
            if live.len() < self.max {
                live.push_back((tab, Instant::now()));
            } else {
                gone.push(tab);
            }
            *tabs = live;
            gone
        };
        // Dropped outside the lock: each drop spawns the tab's close.
        drop(closing);
    }
}
