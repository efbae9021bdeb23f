//! Small browser moves the ERP client is made of: open a tab in a context, navigate and learn
//! where we landed (path and HTTP status), find an element by the text a user reads, type
//! into a field, click and wait for the next page.
//!
//! Owns the Chromium pitfalls measured in PROBES.md (subscribe to the load event before
//! clicking; type non-ASCII with `Input.insertText`). Knows nothing of Archibald's pages.

use super::ErpError;
use blackant_actors::browser_pool::ChromiumBrowser;
use chromiumoxide::cdp::browser_protocol::browser::BrowserContextId;
use chromiumoxide::cdp::browser_protocol::input::InsertTextParams;
use chromiumoxide::cdp::browser_protocol::page::{EventFrameStoppedLoading, EventLoadEventFired};
use chromiumoxide::cdp::browser_protocol::target::CreateTargetParams;
use chromiumoxide::layout::Point;
use chromiumoxide::{Element, Page};
use futures::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

/// Where a navigation ended: the page's path and the HTTP status of its document.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Landing {
    pub path: String,
    pub url: String,
    /// 0 when the browser does not know (e.g. `about:blank`).
    pub status: u16,
    /// The page shows a password field: a login form.
    pub login_form: bool,
}

impl Landing {
    /// ERP.md: an expired session redirects any page to `/login`.
    pub fn is_login(&self) -> bool {
        self.path.to_ascii_lowercase().starts_with("/login") || self.login_form
    }
}

const LANDING_JS: &str = r#"(() => {
  const nav = performance.getEntriesByType('navigation')[0];
  return {
    path: location.pathname,
    url: location.href,
    status: (nav && nav.responseStatus) ? nav.responseStatus : 0,
    login_form: !!document.querySelector('input[type=password]'),
  };
})()"#;

/// A new tab in the given browser context (the agent's cookies live there): the blank tab the
/// context came with when the pool had it ready, else a new one — opened at `url` when given
/// (one load instead of a blank page and then a navigation), waiting at most `timeout` for that
/// load. True when the tab is at `url`, false when it is blank. A tab whose load outlives the
/// wait is closed when it ends: it is not left open in the context.
pub(crate) async fn open_tab(
    browser: &Arc<ChromiumBrowser>,
    context: &BrowserContextId,
    url: Option<&str>,
    timeout: Duration,
) -> Result<(Page, bool), ErpError> {
    if let Some(page) = browser.take_blank_tab(context) {
        return Ok((page, false));
    }
    let target = url.unwrap_or("about:blank");
    let params = CreateTargetParams::builder()
        .url(target)
        .browser_context_id(context.clone())
        .build()
        .map_err(|what| ErpError::Layout {
            url: target.into(),
            what,
        })?;
    let doing = format!("opening a tab at {target}");
    let mut opening = Box::pin({
        let browser = browser.clone();
        async move { browser.browser().new_page(params).await }
    });
    match tokio::time::timeout(timeout, &mut opening).await {
        Err(_) => {
            // The opening goes on in the background, only to close the tab it gives.
            tokio::spawn(async move {
                if let Ok(page) = opening.await {
                    let _ = page.close().await;
                }
            });
            Err(ErpError::Timeout {
                doing,
                after: timeout,
            })
        }
        Ok(Err(source)) => Err(ErpError::Browser { doing, source }),
        Ok(Ok(page)) => Ok((page, url.is_some())),
    }
}

/// Where the tab is now.
pub(crate) async fn landing(page: &Page) -> Result<Landing, ErpError> {
    page.evaluate(LANDING_JS)
        .await
        .map_err(ErpError::browser("reading the page location"))?
        .into_value::<Landing>()
        .map_err(|e| ErpError::Layout {
            url: String::new(),
            what: format!("location probe: {e}"),
        })
}

/// Navigate and wait for the load, then report where we landed.
pub(crate) async fn navigate(
    page: &Page,
    url: &str,
    timeout: Duration,
) -> Result<Landing, ErpError> {
    let doing = format!("loading {url}");
    match tokio::time::timeout(timeout, page.goto(url)).await {
        Err(_) => {
            return Err(ErpError::Timeout {
                doing,
                after: timeout,
            });
        }
        Ok(Err(e)) => return Err(ErpError::Browser { doing, source: e }),
        Ok(Ok(_)) => {}
    }
    landing(page).await
}

/// Click `element` and wait for the page it leads to (the events are subscribed to before the
/// click, so a fast server cannot slip them past us). The wait ends at the load event, or when
/// the frame stops loading without one (an answer cut in the middle never "loads").
pub(crate) async fn click_and_wait(
    page: &Page,
    element: &Element,
    doing: &str,
    timeout: Duration,
) -> Result<Landing, ErpError> {
    let mut loads = page
        .event_listener::<EventLoadEventFired>()
        .await
        .map_err(ErpError::browser(doing))?;
    let mut stopped = page
        .event_listener::<EventFrameStoppedLoading>()
        .await
        .map_err(ErpError::browser(doing))?;
    let main = page.mainframe().await.map_err(ErpError::browser(doing))?;
    element.click().await.map_err(ErpError::browser(doing))?;
    let settled = async {
        loop {
            tokio::select! {
                load = loads.next() => return load.map(|_| ()),
                stop = stopped.next() => match stop {
                    Some(e) if main.as_ref().is_none_or(|m| *m == e.frame_id) => return Some(()),
                    Some(_) => {}
                    None => return None,
                },
            }
        }
    };
    match tokio::time::timeout(timeout, settled).await {
        Err(_) => Err(ErpError::Timeout {
            doing: doing.to_string(),
            after: timeout,
        }),
        Ok(None) => Err(ErpError::Layout {
            url: String::new(),
            what: format!("the tab closed while {doing}"),
        }),
        Ok(Some(_)) => landing(page).await,
    }
}

/// Replace a field's content with `text` the way a keyboard would (focus, select all, insert):
/// `Input.insertText` handles à, €, apostrophes where per-key typing fails.
pub(crate) async fn fill(
    page: &Page,
    element: &Element,
    text: &str,
    doing: &str,
) -> Result<(), ErpError> {
    element.focus().await.map_err(ErpError::browser(doing))?;
    element
        .call_js_fn("function() { this.select && this.select(); }", false)
        .await
        .map_err(ErpError::browser(doing))?;
    page.execute(InsertTextParams::new(text))
        .await
        .map_err(ErpError::browser(doing))?;
    Ok(())
}

/// The first visible element among `selector` whose label (text, value or title) is `label`,
/// compared case-insensitively with collapsed whitespace, looked for again until it shows or
/// `wait_ms` have passed. Marks it and returns it, or `None`.
pub(crate) async fn find_by_label(
    page: &Page,
    selector: &str,
    label: &str,
    wait_ms: u64,
    doing: &str,
) -> Result<Option<Element>, ErpError> {
    if point_of_label(page, selector, label, wait_ms, doing)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    page.find_element(format!("[{LABEL_MARKER}]"))
        .await
        .map(Some)
        .map_err(ErpError::browser(doing))
}

/// A page expression (a promise) that evaluates `expr` again every 100 ms until `accept` (a
/// JS predicate) holds for its answer or `wait_ms` have passed, and answers the last answer;
/// `setup` (declarations) runs once first. How every step waits for something a page's script
/// may still be drawing: within the element wait, never the page timeout.
pub(crate) fn polled(setup: &str, expr: &str, accept: &str, wait_ms: u64) -> String {
    format!(
        "(async () => {{ {setup}\n const until = Date.now() + {wait_ms}; for (;;) {{ \
           const r = ({expr}); \
           if (({accept})(r) || Date.now() >= until) return r; \
           await new Promise(res => setTimeout(res, 100)); }} }})()"
    )
}

/// Attribute [`point_of_label`] sets on the element it found (and removes from any other).
const LABEL_MARKER: &str = "data-blackant-target";

/// Like [`find_by_label`], in one call to the page: the element is also scrolled into view
/// (when it is not wholly in it) and the centre of its box, in the viewport's CSS pixels, is
/// returned: where [`press`] clicks. Element handles cost five more calls and a frame.
/// The element is looked for again every 100 ms until `wait_ms` have passed (a page's script
/// may still be drawing it); `None` then: the page does not have it.
pub(crate) async fn point_of_label(
    page: &Page,
    selector: &str,
    label: &str,
    wait_ms: u64,
    doing: &str,
) -> Result<Option<Point>, ErpError> {
    let find = format!(
        r#"const norm = s => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  const want = norm({label});
  const find = () => {{
    document.querySelectorAll('[{LABEL_MARKER}]').forEach(e => e.removeAttribute('{LABEL_MARKER}'));
    for (const e of document.querySelectorAll({selector})) {{
      let r = e.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if ([e.innerText, e.value, e.title, e.getAttribute('aria-label')].some(t => norm(t) === want)) {{
        e.setAttribute('{LABEL_MARKER}', '1');
        if (r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight) {{
          e.scrollIntoView({{ block: 'center', inline: 'center', behavior: 'instant' }});
          r = e.getBoundingClientRect();
        }}
        return {{ x: r.left + r.width / 2, y: r.top + r.height / 2 }};
      }}
    }}
    return null;
  }};"#,
        label = serde_json::Value::from(label),
        selector = serde_json::Value::from(selector),
    );
    let js = polled(&find, "find()", "r => r !== null", wait_ms);
    /// What the script answers for a found element.
    #[derive(Deserialize)]
    struct Centre {
        x: f64,
        y: f64,
    }
    let found = page
        .evaluate(js)
        .await
        .map_err(ErpError::browser(doing))?
        .into_value::<Option<Centre>>()
        .ok()
        .flatten();
    Ok(found.map(|Centre { x, y }| Point { x, y }))
}

/// A left click at `point` (viewport CSS pixels) as a mouse gives it: moved there, pressed,
/// released — trusted input events, as a user's.
pub(crate) async fn press(page: &Page, point: Point, doing: &str) -> Result<(), ErpError> {
    page.click(point).await.map_err(ErpError::browser(doing))?;
    Ok(())
}
