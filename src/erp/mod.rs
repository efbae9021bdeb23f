//! The Archibald ERP as a user with a browser sees it: log in, open a list view, press
//! "Esporta PDF" and receive the PDF, read the lines table of an order's detail page, fill
//! and submit the order form, search the order list.
//!
//! Everything goes through a real Chromium tab in the agent's own browser context (leased from
//! the BrowserPool by the caller), exactly as ERP.md describes the pages: elements are found by
//! what a user sees (a form with a password field, a button labelled "Esporta PDF", column
//! titles), never by ids only our simulator would have. This module does not parse PDFs, does
//! not touch SQLite and does not decide when to sync; it never logs credentials.

mod browser_ops;
pub mod evidence;
mod export;
mod order_detail;
mod order_form;
mod session;

pub use evidence::{EvidenceBounds, EvidenceStore};
pub use order_detail::{FetchedLines, LinesTable};
pub use order_form::{FillError, SubmitFailure};
pub use session::{Credentials, ErpTab};

use std::sync::Arc;
use std::time::Duration;

/// Where Archibald is and how long its pages may take.
#[derive(Debug, Clone)]
pub struct ErpConfig {
    /// Base URL, e.g. `http://127.0.0.1:8080` (no trailing slash needed).
    pub base_url: String,
    /// Longest wait for one page load or form submission.
    pub page_timeout: Duration,
    /// Longest wait for an export, from the click to the last byte of the PDF (the ERP may
    /// spend a while "preparing" big reports).
    pub export_timeout: Duration,
    /// Order detail pages read at once for one agent (tabs of its context); at least 1.
    pub detail_pages_at_once: usize,
    /// Logged-in tabs kept open between syncs (a full shelf takes no more); 0 keeps none.
    pub idle_tabs: usize,
    /// Open every order detail page in a tab, never reading its HTML without rendering it
    /// (the `order_detail` module says how); off by default.
    pub render_detail_pages: bool,
    /// Longest wait for something a step looks for on a loaded page (a button, a field, a
    /// table a script draws): past it, the page changed — a permanent failure, long before the
    /// page timeout.
    pub element_wait: Duration,
    /// Where the pages a step found changed are kept for the operator (`None`: not kept).
    pub evidence: Option<Arc<EvidenceStore>>,
}

/// [`ErpConfig::element_wait`] by default: a list view's toolbar, a form's fields and a
/// detail page's table are there at the load event or drawn within a few hundred milliseconds
/// by the page's script; 3 s leaves room for a loaded machine and keeps a missing button's
/// failure within 5 s, evidence included.
pub const ELEMENT_WAIT: Duration = Duration::from_secs(3);

/// [`ErpConfig::detail_pages_at_once`] by default. Measured here (`make bench`, 2 browsers, 2
/// cores), every page opened in a tab: all six kinds of one agent's first sync 15.1 s one page
/// at a time → 10.9 s four at once, twenty agents' first order syncs 151 → 100 s; fetched from
/// their HTML after the first (the default since): 11.6–12.4 s → 4.8–5.8 s and 99.5 → 27.3 s.
/// With the bound ignored, 24 tabs reached 6 requests at once (Chromium's limit of connections
/// per host), so more than 6 likely buys nothing; the ERP sees at most this many detail
/// requests per agent being synced.
pub const DETAIL_PAGES_AT_ONCE: usize = 4;

/// [`ErpConfig::idle_tabs`] by default: none. Measured here (`make bench`, figures 3 and 10): a
/// kept tab makes its context's next customer sync ~2× faster (no tab to open, no list view to
/// load). With 40 agents and 4 browsers, an agent's browser time per 10-minute interval (its
/// unchanged order sync, DDT and invoices on their own schedule) was 1.4–1.6 s with none kept,
/// 1.28 s with 8 places and 0.60 s with a place for each; but each kept tab is a renderer of
/// ~70 MiB that uses ~0.5 % of a core while idle, and the first round after start cost more
/// with tabs kept (1.32 against 0.79 Chromium CPU-s per agent). (An earlier figure had a
/// partial shelf slower than none: it ended its rounds while DDT and invoice syncs were still
/// running into the next one.) So tabs are kept only when the operator sizes the shelf for the
/// agents and the memory.
pub const IDLE_TABS: usize = 0;

impl ErpConfig {
    /// Defaults suited to a LAN ERP: 30 s per page, 5 min per export, 4 detail pages at once,
    /// no idle tab kept.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            page_timeout: Duration::from_secs(30),
            export_timeout: Duration::from_secs(300),
            detail_pages_at_once: DETAIL_PAGES_AT_ONCE,
            idle_tabs: IDLE_TABS,
            render_detail_pages: false,
            element_wait: ELEMENT_WAIT,
            evidence: None,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }
}

/// One URL path segment for an ERP key (`ORD/2026/00123` → `ORD%2F2026%2F00123`, a product
/// code with spaces or slashes alike): everything but unreserved ASCII is percent-encoded.
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// What can go wrong talking to Archibald. `is_transient` tells a retry from a dead end.
#[derive(Debug, thiserror::Error)]
pub enum ErpError {
    /// The ERP refused the agent's username or password (shown on the login page).
    #[error("Archibald rejected the credentials of {user}: {message}")]
    BadCredentials { user: String, message: String },
    /// The session ended (redirect to /login) and logging in again did not help.
    #[error("Archibald session expired while {doing}")]
    SessionExpired { doing: String },
    /// The ERP answered with an HTTP error status.
    #[error("Archibald answered HTTP {status} for {url}")]
    Http { status: u16, url: String },
    /// A page or an export took longer than allowed.
    #[error("timed out after {after:?} while {doing}")]
    Timeout { doing: String, after: Duration },
    /// A page does not look like ERP.md says, in a way no step looked for (an answer the page
    /// gave that cannot be read...).
    #[error("unexpected Archibald page at {url}: {what}")]
    Layout { url: String, what: String },
    /// A step did not find what it looks for on a loaded page within the element wait (a
    /// button, a field, a table renamed or moved): the ERP's page changed. The page is kept
    /// as evidence when it could be.
    #[error("Archibald's page changed: no {looked_for} at {url} (page title {title:?}){}",
        evidence.as_ref().map(|e| format!("; the page is kept as evidence {e}")).unwrap_or_default())]
    PageChanged {
        looked_for: String,
        url: String,
        title: String,
        evidence: Option<String>,
    },
    /// The export did not deliver a PDF.
    #[error("the {list} export is not a PDF ({detail})")]
    NotAPdf { list: String, detail: String },
    /// Chromium failed (crashed, connection lost, protocol error).
    #[error("browser error while {doing}: {source}")]
    Browser {
        doing: String,
        #[source]
        source: chromiumoxide::error::CdpError,
    },
    /// Reading the downloaded file failed.
    #[error("reading the downloaded export {path}: {source}")]
    Download {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl ErpError {
    /// Worth retrying: network trouble, 5xx, timeouts, a crashed browser, an expired session.
    /// Not worth it: bad credentials, a page that does not look like Archibald, a non-PDF export.
    pub fn is_transient(&self) -> bool {
        match self {
            ErpError::BadCredentials { .. }
            | ErpError::Layout { .. }
            | ErpError::PageChanged { .. } => false,
            ErpError::NotAPdf { .. } => false,
            ErpError::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            ErpError::SessionExpired { .. }
            | ErpError::Timeout { .. }
            | ErpError::Browser { .. }
            | ErpError::Download { .. } => true,
        }
    }

    /// Says the ERP is unwell (circuit breaker of the ERP): 5xx, 429, timeouts.
    pub fn counts_against_erp(&self) -> bool {
        match self {
            ErpError::Http { status, .. } => *status >= 500 || *status == 429,
            ErpError::Timeout { .. } => true,
            _ => false,
        }
    }

    /// Says the account's logins fail (circuit breaker of the login): refused credentials, a
    /// session that dies right after logging in.
    pub fn counts_against_login(&self) -> bool {
        matches!(
            self,
            ErpError::BadCredentials { .. } | ErpError::SessionExpired { .. }
        )
    }

    /// The browser itself is suspect: the lease should be marked broken so the pool replaces it.
    pub fn browser_broken(&self) -> bool {
        matches!(self, ErpError::Browser { .. })
    }

    /// The evidence kept of the page a step found changed.
    pub fn evidence(&self) -> Option<&str> {
        match self {
            ErpError::PageChanged { evidence, .. } => evidence.as_deref(),
            _ => None,
        }
    }

    pub(crate) fn browser(
        doing: impl Into<String>,
    ) -> impl FnOnce(chromiumoxide::error::CdpError) -> Self {
        let doing = doing.into();
        move |source| ErpError::Browser { doing, source }
    }
}

#[cfg(test)]
mod tests {
    use super::path_segment;

    #[test]
    fn keys_are_one_path_segment() {
        assert_eq!(path_segment("ORD/2026/00123"), "ORD%2F2026%2F00123");
        assert_eq!(path_segment("KX 1234.001&à"), "KX%201234.001%26%C3%A0");
    }
}
