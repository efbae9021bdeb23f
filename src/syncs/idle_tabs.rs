//! Logged-in tabs kept open between syncs, so an agent's next export or detail page does not
//! open a tab again (~75–110 ms of Chromium work here, measured in `erp::session`'s debug log).
//!
//! A kept tab is handed out only under a lease of the same browser and the same context (ids
//! compared, so a recycled browser or a re-created context never gets a stale tab) and for the
//! same credentials; the session cookie lives in the context, so the ERP still decides when a
//! login is needed. At most `max` tabs are kept, the oldest closing first: each is a renderer
//! process Chromium keeps alive. It must NOT lease browsers nor talk to the ERP.

use crate::erp::{Credentials, ErpTab};
use blackant_actors::browser_pool::ChromiumBrowser;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The shelf of idle tabs, oldest first.
pub(super) struct IdleTabs {
    max: usize,
    tabs: Mutex<VecDeque<ErpTab>>,
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
        let at = tabs.iter().position(|t| {
            Arc::ptr_eq(&t.browser, browser) && t.context == *context && t.is_for(credentials)
        })?;
        tabs.remove(at)
    }

    /// Shelves `tab` for its context's next lease. Tabs of browsers the pool has let go of
    /// (only the shelf still holds them) close now, then the oldest ones beyond `max`.
    pub(super) fn keep(&self, tab: ErpTab) {
        if self.max == 0 {
            return;
        }
        let closing: Vec<ErpTab> = {
            let mut tabs = self.tabs.lock().unwrap_or_else(|p| p.into_inner());
            tabs.push_back(tab);
            // A browser held only by the shelf's own tabs is one the pool let go of.
            let held_elsewhere: Vec<bool> = tabs
                .iter()
                .map(|t| {
                    let on_shelf = tabs
                        .iter()
                        .filter(|o| Arc::ptr_eq(&o.browser, &t.browser))
                        .count();
                    Arc::strong_count(&t.browser) > on_shelf
                })
                .collect();
            let mut gone = Vec::new();
            let mut live = VecDeque::with_capacity(tabs.len());
            for (tab, held) in tabs.drain(..).zip(held_elsewhere) {
                if held {
                    live.push_back(tab)
                } else {
                    gone.push(tab)
                }
            }
            *tabs = live;
            while tabs.len() > self.max {
                gone.extend(tabs.pop_front());
            }
            gone
        };
        // Dropped outside the lock: each drop spawns the tab's close.
        drop(closing);
    }
}
