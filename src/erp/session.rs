//! A tab logged into Archibald as one account: visiting a page logs in first when the ERP
//! sends us to `/login` (first visit, or an expired session), once per visit.
//!
//! Owns credentials handling: they live in memory only and never reach a log line (`Debug`
//! redacts the password). Knows nothing of exports or PDFs.

use super::browser_ops::{self, Landing};
use super::{ErpConfig, ErpError};
use blackant_actors::browser_pool::ChromiumBrowser;
use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use std::fmt;
use std::sync::Arc;

/// An ERP account: an agent's or the service account. Held in memory only.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    password: String,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    pub(crate) fn password(&self) -> &str {
        &self.password
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// One Chromium tab in an account's browser context. Cookies (the ERP session) belong to the
/// context, so a later tab in the same context reuses the session without logging in again.
pub struct ErpTab {
    /// The browser the tab lives in (shared with the lease that holds it).
    pub(crate) browser: Arc<ChromiumBrowser>,
    pub(crate) context: BrowserContextId,
    pub(crate) page: Page,
    pub(crate) config: ErpConfig,
    credentials: Credentials,
    /// The path [`Self::visit`] last showed, while the tab still shows it (cleared when a visit
    /// starts and when an export navigates away): a kept tab on a list view presses its button
    /// without loading the view again.
    showing: std::sync::Mutex<Option<String>>,
    /// The path the tab was opened at, until the first visit takes its landing (where the ERP
    /// sent the tab: the page, or the login form).
    opened_at: std::sync::Mutex<Option<String>>,
}

/// Waits (at most `wait_ms`) for the login form and marks its password field, its username
/// field and its submit button; answers `ok`, `no_password`, `no_user` or `no_submit`.
fn login_form_js(wait_ms: u64) -> String {
    let password = super::browser_ops::polled(
        "",
        "document.querySelector('input[type=password]')",
        "r => r !== null",
        wait_ms,
    );
    LOGIN_FORM_JS.replace("WAIT_FOR_PASSWORD", &password)
}

/// [`login_form_js`]'s body; `WAIT_FOR_PASSWORD` is the polled lookup of the password field.
const LOGIN_FORM_JS: &str = r#"(async () => {
  for (const a of ['data-blackant-user', 'data-blackant-submit', 'data-blackant-password']) {
    document.querySelectorAll('[' + a + ']').forEach(e => e.removeAttribute(a));
  }
  const pw = await WAIT_FOR_PASSWORD;
  if (!pw) return 'no_password';
  const scope = pw.form || document;
  const inputs = Array.from(scope.querySelectorAll('input'));
  const user = inputs.find(i => ['text', 'email', ''].includes((i.getAttribute('type') || '').toLowerCase())
      && i.offsetParent !== null && (i.compareDocumentPosition(pw) & Node.DOCUMENT_POSITION_FOLLOWING));
  const submit = scope.querySelector('button[type=submit], input[type=submit]') || scope.querySelector('button');
  if (!user) return 'no_user';
  if (!submit) return 'no_submit';
  pw.setAttribute('data-blackant-password', '1');
  user.setAttribute('data-blackant-user', '1');
  submit.setAttribute('data-blackant-submit', '1');
  return 'ok';
})()"#;

const ERROR_SELECTORS: &str =
    ".validation-summary-errors, .field-validation-error, .error, .errore, .alert, [role=alert]";

impl ErpTab {
    /// Open a tab in `context` (leased by the caller for this account), at the ERP page `at`
    /// when given (the first [`Self::visit`] of that path then loads nothing again).
    pub async fn open(
        browser: Arc<ChromiumBrowser>,
        context: &BrowserContextId,
        config: &ErpConfig,
        credentials: &Credentials,
        at: Option<&str>,
    ) -> Result<ErpTab, ErpError> {
        let opening = std::time::Instant::now();
        let url = at.map(|path| config.url(path));
        let (page, arrived) =
            browser_ops::open_tab(&browser, context, url.as_deref(), config.page_timeout).await?;
        tracing::debug!(
            ms = opening.elapsed().as_millis() as u64,
            at,
            arrived,
            "tab opened"
        );
        Ok(ErpTab {
            browser,
            context: context.clone(),
            page,
            config: config.clone(),
            credentials: credentials.clone(),
            showing: std::sync::Mutex::new(None),
            opened_at: std::sync::Mutex::new(at.filter(|_| arrived).map(str::to_string)),
        })
    }

    /// Whether the tab logs in as `credentials` (a kept tab is reused only for the same
    /// account and password).
    pub(crate) fn is_for(&self, credentials: &Credentials) -> bool {
        self.credentials == *credentials
    }

    /// Whether the tab still shows `path`, as its last visit left it.
    pub(crate) fn is_showing(&self, path: &str) -> bool {
        self.showing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_deref()
            == Some(path)
    }

    /// Records what the tab shows now (`None`: something else than a visited path).
    pub(crate) fn set_showing(&self, path: Option<&str>) {
        *self.showing.lock().unwrap_or_else(|p| p.into_inner()) = path.map(str::to_string);
    }

    /// Show the ERP page at `path` (e.g. `/clienti`), logging in first if the ERP asks.
    pub(crate) async fn visit(&self, path: &str) -> Result<Landing, ErpError> {
        self.set_showing(None);
        let landing = self.visit_inner(path).await?;
        self.set_showing(Some(path));
        Ok(landing)
    }

    async fn visit_inner(&self, path: &str) -> Result<Landing, ErpError> {
        let url = self.config.url(path);
        let landing = match self.arrival(path).await? {
            Some(landing) => landing,
            None => browser_ops::navigate(&self.page, &url, self.config.page_timeout).await?,
        };
        if !landing.is_login() {
            return check_status(landing);
        }
        let after = self.login(&landing).await?;
        // The ERP sends a user back where the login interrupted them: that page, loaded with
        // the new session, is what a second visit would load again.
        if after.url == url {
            return Ok(after);
        }
        let landing = browser_ops::navigate(&self.page, &url, self.config.page_timeout).await?;
        if landing.is_login() {
            return Err(ErpError::SessionExpired {
                doing: format!("opening {path} right after logging in"),
            });
        }
        check_status(landing)
    }

    /// Where the tab landed when it was opened at `path` and not used since (taken once). A
    /// load that got no HTTP answer (an error page: the ERP unreachable) gives `None`, so the
    /// visit navigates and reports the error as any navigation does.
    async fn arrival(&self, path: &str) -> Result<Option<Landing>, ErpError> {
        let opened_at = self
            .opened_at
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if opened_at.as_deref() != Some(path) {
            return Ok(None);
        }
        let landing = browser_ops::landing(&self.page).await?;
        Ok((landing.status != 0).then_some(landing))
    }

    /// Fill and submit the login form the tab shows; where the ERP sent the tab after it.
    async fn login(&self, at: &Landing) -> Result<Landing, ErpError> {
        // An HTTP error on the login page is reported as such, not as a changed page.
        check_status(at.clone())?;
        let doing = "logging in";
        let page = &self.page;
        // One call to the page, waiting at most the element wait for the form: its password
        // field, the visible text-like input before it in the same form (the username), and
        // the form's own submit button, each marked for the clicks and the typing.
        let found: String = page
            .evaluate(login_form_js(self.wait_ms()))
            .await
            .map_err(ErpError::browser(doing))?
            .into_value()
            .unwrap_or_default();
        let missing = match found.as_str() {
            "ok" => None,
            "no_user" => Some("visible username field before the password on the login page"),
            "no_submit" => Some("submit button in the login form"),
            _ => Some("password field on the login page"),
        };
        if let Some(what) = missing {
            return Err(self.page_changed(what).await);
        }
        let password = page
            .find_element("[data-blackant-password]")
            .await
            .map_err(ErpError::browser(doing))?;
        let user_field = page
            .find_element("[data-blackant-user]")
            .await
            .map_err(ErpError::browser(doing))?;
        let submit = page
            .find_element("[data-blackant-submit]")
            .await
            .map_err(ErpError::browser(doing))?;
        browser_ops::fill(page, &user_field, &self.credentials.username, doing).await?;
        browser_ops::fill(page, &password, self.credentials.password(), doing).await?;
        let after =
            browser_ops::click_and_wait(page, &submit, doing, self.config.page_timeout).await?;
        let after = check_status(after)?;
        if after.is_login() {
            let message: String = page
                .evaluate(format!(
                    "(() => {{ const e = document.querySelector({sel}); return e ? e.innerText.trim() : ''; }})()",
                    sel = serde_json::Value::from(ERROR_SELECTORS)
                ))
                .await
                .ok()
                .and_then(|r| r.into_value::<String>().ok())
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| "the login page was shown again".into());
            return Err(ErpError::BadCredentials {
                user: self.credentials.username.clone(),
                message,
            });
        }
        tracing::debug!(user = %self.credentials.username, "logged into Archibald");
        Ok(after)
    }
}

/// Where a tab is and what it shows, for a [`ErpError::PageChanged`].
#[derive(Debug, Default, serde::Deserialize)]
struct Whereabouts {
    url: String,
    title: String,
}

impl ErpTab {
    /// The error of a step that did not find `looked_for` on the page the tab shows: the
    /// page's address and title, and the page kept as evidence (HTML and screenshot).
    pub(crate) async fn page_changed(&self, looked_for: impl Into<String>) -> ErpError {
        let looked_for = looked_for.into();
        let here: Whereabouts = match tokio::time::timeout(
            std::time::Duration::from_secs(5),
            self.page
                .evaluate("({ url: location.href, title: document.title || '' })"),
        )
        .await
        {
            Ok(Ok(v)) => v.into_value().unwrap_or_default(),
            _ => Whereabouts::default(),
        };
        let evidence = match &self.config.evidence {
            Some(store) => {
                store
                    .keep(&self.page, &looked_for, &here.url, &here.title)
                    .await
            }
            None => None,
        };
        tracing::warn!(looked_for = %looked_for, url = %here.url, title = %here.title,
            evidence = evidence.as_deref().unwrap_or("-"), "Archibald's page changed");
        ErpError::PageChanged {
            looked_for,
            url: here.url,
            title: here.title,
            evidence,
        }
    }

    /// The element wait in milliseconds, for the page's scripts.
    pub(crate) fn wait_ms(&self) -> u64 {
        self.config.element_wait.as_millis() as u64
    }
}

impl Drop for ErpTab {
    /// Close the tab (the context and its session stay with the lease), also when the work was
    /// abandoned half-way (a cancelled sync drops its future).
    fn drop(&mut self) {
        let page = self.page.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Err(e) = page.close().await {
                    tracing::debug!(cause = %e, "closing an ERP tab");
                }
            });
        }
    }
}

fn check_status(landing: Landing) -> Result<Landing, ErpError> {
    if landing.status >= 400 {
        return Err(ErpError::Http {
            status: landing.status,
            url: landing.url,
        });
    }
    Ok(landing)
}
