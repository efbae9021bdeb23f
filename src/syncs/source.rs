//! Where exports come from. `ExportSource` is the seam between a sync kind and the ERP:
//! production uses `ErpSource` (a leased browser context, logged in as the agent or the
//! service account, pressing "Esporta PDF"); tests may hand fixture bytes.
//!
//! Credentials come from a [`CredentialSource`] at each call (agents' ERP passwords never touch
//! disk or logs). Does not parse, store or retry: the caller's run decides what an error means.

use super::breaker::{self, BreakerOpen, Breakers, login_key};
use super::idle_tabs::IdleTabs;
use crate::erp::{Credentials, ErpConfig, ErpError, ErpTab, FetchedLines};
use crate::records::Kind;
use crate::records::order_lines::{self, LinesError, OrderLine};
use blackant_actors::browser_pool::{
    BrowserPoolHandle, BrowserPoolMessage, ChromiumLauncher, Lease,
};
use blackant_actors::directory::Directory;
use blackant_actors::run::Scope;
use futures::FutureExt;
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio_util::sync::CancellationToken;

/// Why an export could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Erp(#[from] ErpError),
    /// No credentials are known for the scope (the agent never opened a session).
    #[error("no ERP credentials for {0}: open a session for this agent first")]
    NoCredentials(String),
    /// No browser could be leased (pool stopped, launch failed).
    #[error("no browser available: {0}")]
    NoBrowser(String),
    /// An order's detail page does not hold a lines table we can read.
    #[error("order {order}: {source}")]
    Lines {
        order: String,
        #[source]
        source: LinesError,
    },
    /// A circuit breaker is open: the call was not made.
    #[error(transparent)]
    BreakerOpen(#[from] BreakerOpen),
    #[error("cancelled")]
    Cancelled,
}

impl SourceError {
    pub fn is_transient(&self) -> bool {
        match self {
            SourceError::Erp(e) => e.is_transient(),
            SourceError::NoCredentials(_) | SourceError::Lines { .. } => false,
            SourceError::NoBrowser(_) | SourceError::Cancelled | SourceError::BreakerOpen(_) => {
                true
            }
        }
    }
}

/// Gets the PDF export of a kind for a scope.
pub trait ExportSource: Send + Sync + 'static {
    fn export<'a>(
        &'a self,
        kind: Kind,
        scope: &'a Scope,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<u8>, SourceError>>;

    /// The lines of each order in `numbers`, read from its detail page (an order the ERP no
    /// longer has is left out of the answer).
    fn order_lines<'a>(
        &'a self,
        scope: &'a Scope,
        numbers: Vec<String>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<HashMap<String, Vec<OrderLine>>, SourceError>>;
}

/// The browser-pool key of the service account's context (agents use their own id).
const SERVICE_CONTEXT: &str = "@service";

/// Counter: ERP tabs a sync got, by `how`: `opened` (a new tab) or `reused` (kept open since
/// an earlier sync of the same context).
pub const TABS_TOTAL: &str = "blackant_erp_tabs_total";

/// Counter: order detail pages read, by `how`: `fetched` (read from its HTML without being
/// rendered) or `rendered` (opened in a tab).
pub const DETAIL_PAGES_TOTAL: &str = "blackant_erp_detail_pages_total";

/// Exports from the real ERP: lease a browser context for the scope's account from the
/// BrowserPool (found by name, so a restarted pool is picked up), log in if needed, press
/// "Esporta PDF", return the bytes. A browser that failed is handed back marked broken.
pub struct ErpSource {
    directory: Directory,
    pool_name: String,
    erp: ErpConfig,
    credentials: Arc<dyn CredentialSource>,
    breakers: Arc<Breakers>,
    idle: IdleTabs,
}

impl ErpSource {
    pub fn new(
        directory: Directory,
        pool_name: impl Into<String>,
        erp: ErpConfig,
        credentials: Arc<dyn CredentialSource>,
        breakers: Arc<Breakers>,
    ) -> Self {
        Self {
            directory,
            pool_name: pool_name.into(),
            idle: IdleTabs::new(erp.idle_tabs),
            erp,
            credentials,
            breakers,
        }
    }

    /// The breakers an ERP call for `credentials`' account goes through.
    fn breaker_keys(credentials: &Credentials) -> [String; 2] {
        [breaker::ERP.to_string(), login_key(&credentials.username)]
    }

    /// Record a call's outcome in the ERP's and the account's breakers.
    fn record<T>(&self, credentials: &Credentials, result: &Result<T, ErpError>) {
        let [erp, login] = Self::breaker_keys(credentials);
        match result {
            Ok(_) => {
                self.breakers.success(&erp);
                self.breakers.success(&login);
            }
            Err(e) if e.counts_against_erp() => self.breakers.failure(&erp),
            Err(e) if e.counts_against_login() => self.breakers.failure(&login),
            Err(_) => {}
        }
    }

    /// Lease the browser context of `scope`'s account with `kind`'s priority.
    async fn lease(
        &self,
        kind: Kind,
        scope: &Scope,
    ) -> Result<(Lease<ChromiumLauncher>, Credentials), SourceError> {
        self.lease_at(scope, kind.spec().priority).await
    }

    /// Lease the browser context of `scope`'s account at `priority` (higher is served first).
    pub(super) async fn lease_at(
        &self,
        scope: &Scope,
        priority: u8,
    ) -> Result<(Lease<ChromiumLauncher>, Credentials), SourceError> {
        let credentials = self
            .credentials
            .credentials(scope)
            .ok_or_else(|| SourceError::NoCredentials(scope.to_string()))?;
        let pool = self
            .directory
            .get_ref::<BrowserPoolMessage<ChromiumLauncher>>(&self.pool_name)
            .map_err(|e| SourceError::NoBrowser(e.to_string()))?;
        let context_key = match scope {
            Scope::Agent(a) => a.as_str(),
            Scope::Catalogue => SERVICE_CONTEXT,
        };
        // A tripped breaker fails the call before it takes a browser or touches the ERP.
        for key in Self::breaker_keys(&credentials) {
            self.breakers.check(&key)?;
        }
        let lease = BrowserPoolHandle::new(pool)
            .lease(context_key, priority)
            .await
            .map_err(|e| SourceError::NoBrowser(e.to_string()))?;
        Ok((lease, credentials))
    }

    /// Settle an ERP call: record its outcome in the breakers, and hand a failed lease back
    /// marked broken when the browser itself is suspect.
    pub(super) fn settle<T>(
        &self,
        lease: &mut Lease<ChromiumLauncher>,
        credentials: &Credentials,
        result: Result<T, ErpError>,
    ) -> Result<T, SourceError> {
        self.record(credentials, &result);
        if let Err(e) = &result
            && e.browser_broken()
        {
            lease.mark_broken(e.to_string());
        }
        Ok(result?)
    }

    /// A new tab in the leased context for `credentials` (it logs in when a visit needs it),
    /// opened at the ERP page `at` when given.
    pub(super) async fn open_tab(
        &self,
        lease: &Lease<ChromiumLauncher>,
        credentials: &Credentials,
        at: Option<&str>,
    ) -> Result<ErpTab, ErpError> {
        ErpTab::open(
            lease.browser().clone(),
            lease.context().id(),
            &self.erp,
            credentials,
            at,
        )
        .await
    }

    /// A tab in the leased context for `credentials`: one kept open since an earlier sync of
    /// this context if there is one, else a new one (opened at `at` when given). Shelve it
    /// again (`self.idle.keep`) when the work went well; a failed call's tab is dropped
    /// instead, and closes.
    async fn tab_for(
        &self,
        lease: &Lease<ChromiumLauncher>,
        credentials: &Credentials,
        at: Option<&str>,
    ) -> Result<ErpTab, ErpError> {
        if let Some(tab) = self
            .idle
            .take(lease.browser(), lease.context().id(), credentials)
        {
            metrics::counter!(TABS_TOTAL, "how" => "reused").increment(1);
            return Ok(tab);
        }
        let tab = self.open_tab(lease, credentials, at).await?;
        metrics::counter!(TABS_TOTAL, "how" => "opened").increment(1);
        Ok(tab)
    }

    async fn export_inner(&self, kind: Kind, scope: &Scope) -> Result<Vec<u8>, SourceError> {
        let (mut lease, credentials) = self.lease(kind, scope).await?;
        let result = async {
            let list = kind.spec().list_page;
            let tab = self.tab_for(&lease, &credentials, Some(list)).await?;
            let bytes = tab.export_pdf(list).await?;
            Ok((tab, bytes))
        }
        .await;
        let (tab, bytes) = self.settle(&mut lease, &credentials, result)?;
        self.idle.keep(tab);
        Ok(bytes)
    }

    /// Detail pages, at most `detail_pages_at_once` being read at any time. The first page
    /// is opened alone in the context's tab, so a context that must log in does it once. Then,
    /// unless `erp.render_detail_pages`, that page is fetched once more and read from its HTML:
    /// if both readings agree, every other page is fetched by that tab and read from its HTML,
    /// several at once, and only a page that is not plainly its order's lines is opened in a
    /// tab of the worker's own. If they differ (a script draws the rows, a style sheet hides
    /// text), or with `erp.render_detail_pages`, every page is opened, each worker in its own
    /// tab. The first error stops them all (their tabs close); a cancelled sync drops every
    /// tab at once.
    async fn order_lines_inner(
        &self,
        scope: &Scope,
        numbers: &[String],
    ) -> Result<HashMap<String, Vec<OrderLine>>, SourceError> {
        let (mut lease, credentials) = self.lease(Kind::Orders, scope).await?;
        let result = async {
            let first = self.tab_for(&lease, &credentials, None).await?;
            let next = AtomicUsize::new(0);
            let take = || numbers.get(next.fetch_add(1, Ordering::Relaxed));
            let mut tables = Vec::with_capacity(numbers.len());
            let mut fetching = !self.erp.render_detail_pages;
            // Opened one by one until a page has lines to compare (an order gone since the
            // export, or one without lines, tells nothing).
            while let Some(number) = take() {
                let shown = first.order_lines(number).await?;
                metrics::counter!(DETAIL_PAGES_TOTAL, "how" => "rendered").increment(1);
                let Some(shown) = shown else { continue };
                let rows = !shown.rows.is_empty();
                let more = next.load(Ordering::Relaxed) < numbers.len();
                if fetching && rows && more {
                    let fetched = first.order_lines_fetched(number).await?;
                    if !matches!(&fetched, FetchedLines::Lines(t) if t.reads_like(&shown)) {
                        tracing::info!(
                            order = %number,
                            "a detail page's HTML does not read as the page shows: every detail \
                             page of this sync is opened in a tab"
                        );
                        fetching = false;
                    }
                }
                tables.push((number.clone(), shown));
                if rows || !fetching {
                    break;
                }
            }
            let left = numbers.len().saturating_sub(next.load(Ordering::Relaxed));
            let workers = self.erp.detail_pages_at_once.clamp(1, left.max(1));
            let worker = |index: usize| {
                let (first, lease, credentials, take) = (&first, &lease, &credentials, &take);
                async move {
                    // While fetching, the first tab serves every worker's fetches and must not
                    // navigate: a page to open goes to a tab of the worker's own.
                    let mut own: Option<ErpTab> = None;
                    let mut read = Vec::new();
                    while let Some(number) = take() {
                        if fetching {
                            match first.order_lines_fetched(number).await? {
                                FetchedLines::Lines(table) => {
                                    metrics::counter!(DETAIL_PAGES_TOTAL, "how" => "fetched")
                                        .increment(1);
                                    read.push((number.clone(), table));
                                    continue;
                                }
                                FetchedLines::Gone => {
                                    metrics::counter!(DETAIL_PAGES_TOTAL, "how" => "fetched")
                                        .increment(1);
                                    continue;
                                }
                                FetchedLines::Render(why) => {
                                    tracing::debug!(order = %number, %why, "detail page opened in a tab");
                                }
                            }
                        }
                        if own.is_none() && (fetching || index > 0) {
                            own = Some(self.open_tab(lease, credentials, None).await?);
                        }
                        let tab = own.as_ref().unwrap_or(first);
                        let lines = tab.order_lines(number).await?;
                        metrics::counter!(DETAIL_PAGES_TOTAL, "how" => "rendered").increment(1);
                        if let Some(lines) = lines {
                            read.push((number.clone(), lines));
                        }
                    }
                    Ok::<_, ErpError>(read)
                }
            };
            for read in futures::future::try_join_all((0..workers).map(worker)).await? {
                tables.extend(read);
            }
            Ok((first, tables))
        }
        .await;
        let (first, tables) = self.settle(&mut lease, &credentials, result)?;
        // The first tab is kept; the others close (one idle tab per context is enough).
        self.idle.keep(first);
        drop(lease);
        tables
            .into_iter()
            .map(
                |(order, t)| match order_lines::from_table(&t.headers, &t.rows) {
                    Ok(lines) => Ok((order, lines)),
                    Err(source) => Err(SourceError::Lines { order, source }),
                },
            )
            .collect()
    }
}

impl ExportSource for ErpSource {
    fn export<'a>(
        &'a self,
        kind: Kind,
        scope: &'a Scope,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<Vec<u8>, SourceError>> {
        async move {
            tokio::select! {
                _ = cancel.cancelled() => Err(SourceError::Cancelled),
                got = self.export_inner(kind, scope) => got,
            }
        }
        .boxed()
    }

    fn order_lines<'a>(
        &'a self,
        scope: &'a Scope,
        numbers: Vec<String>,
        cancel: CancellationToken,
    ) -> BoxFuture<'a, Result<HashMap<String, Vec<OrderLine>>, SourceError>> {
        async move {
            tokio::select! {
                _ = cancel.cancelled() => Err(SourceError::Cancelled),
                got = self.order_lines_inner(scope, &numbers) => got,
            }
        }
        .boxed()
    }
}

/// Where the ERP account of a scope comes from: the service account for the catalogue, each
/// agent's own (held in memory while its session is open). The service's agent registry
/// implements it; credentials are asked for at each call and never kept longer.
pub trait CredentialSource: Send + Sync + 'static {
    /// The account `scope` logs in with, if one is known.
    fn credentials(&self, scope: &Scope) -> Option<Credentials>;
}
