//! The order-entry form (`/ordini/nuovo`) and the order search (`/ordini?q=`), driven the way
//! an agent would (ERP.md, "Pages"): fields found by their labels, the customer and each
//! product picked from the search-as-you-type suggestions the page fetches, lines added one
//! by one, "Rif. cliente" and notes typed, then "Conferma ordine". Reading the answer: the new
//! order number, or the validation messages the page shows.
//!
//! `fill_order` does everything up to the click and `submit_order` clicks, so that the caller
//! can record "submitting" durably in between. What the click led to is judged strictly: only
//! an order number on the answer page is "placed", only the page's validation messages are
//! "rejected"; anything else (an error page, a dropped connection, a timeout, the login page)
//! is unknown — the order may exist. Never logs credentials; does not decide what to retry.

use super::browser_ops::{self, Landing};
use super::{ErpError, ErpTab};
use blackant_actors::order_placer::OrderDraft;
use serde::Deserialize;
use std::time::Duration;

/// Why the form could not be filled.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    /// The ERP (or the browser) failed: see the error's `is_transient`.
    #[error(transparent)]
    Erp(#[from] ErpError),
    /// The page refused part of the order (a customer or product it does not offer, a
    /// message after "Aggiungi riga").
    #[error("{0}")]
    Rejected(String),
}

/// What the click led to when it did not show an order number.
#[derive(Debug, thiserror::Error)]
pub enum SubmitFailure {
    /// The page shows validation messages: nothing was created.
    #[error("{0}")]
    Rejected(String),
    /// No clear answer: the order may or may not exist.
    #[error("{0}")]
    Unknown(String),
}

/// The visible texts the page uses for its form (ERP.md's Italian UI).
const CUSTOMER: &str = "Cliente";
const PRODUCT: &str = "Articolo";
const QUANTITY: &str = "Quantità";
const NOTES: &str = "Note";
const REFERENCE: &str = "Rif. cliente";
const ADD_LINE: &str = "Aggiungi riga";
const SUBMIT: &str = "Conferma ordine";
const CLICKABLE: &str = "button, input[type=button], input[type=submit], a, [role=button]";
const ERRORS: &str = ".validation-summary-errors li, .validation-summary-errors, .field-validation-error, [role=alert]";

/// How long suggestions may take to appear after typing.
const SUGGESTIONS_WAIT: Duration = Duration::from_secs(15);

/// Marks the control a visible `<label>` names (by `for`, nesting, or the next control) with
/// `data-blackant-field`; true if found.
const MARK_FIELD_JS: &str = r#"(label) => {
  const norm = s => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  document.querySelectorAll('[data-blackant-field]').forEach(e => e.removeAttribute('data-blackant-field'));
  const want = norm(label);
  for (const l of document.querySelectorAll('label')) {
    if (norm(l.innerText).replace(/:$/, '') !== want) continue;
    let c = l.htmlFor ? document.getElementById(l.htmlFor) : null;
    if (!c) c = l.querySelector('input, textarea, select');
    if (!c) { let n = l.nextElementSibling; while (n && !n.matches('input, textarea, select')) n = n.nextElementSibling; c = n; }
    if (c) { c.setAttribute('data-blackant-field', '1'); return true; }
  }
  return false;
}"#;

/// Waits (in the page) for a visible suggestion whose text starts with `code - ` (or is the
/// code), marks it, and says what happened.
const PICK_JS: &str = r#"async (code, ms) => {
  const norm = s => (s || '').replace(/\s+/g, ' ').trim();
  const visible = e => e.offsetParent !== null || e.getClientRects().length > 0;
  document.querySelectorAll('[data-blackant-pick]').forEach(e => e.removeAttribute('data-blackant-pick'));
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (document.querySelector('input[type=password]')) return 'login';
    let none = false;
    for (const e of document.querySelectorAll('body *')) {
      if (e.children.length || !visible(e) || e.matches('input, textarea, option, script, style')) continue;
      const t = norm(e.innerText);
      if (t === code || t.startsWith(code + ' - ')) { e.setAttribute('data-blackant-pick', '1'); return 'found'; }
      if (/^nessun (risultato|dato)/i.test(t)) none = true;
    }
    if (none) return 'none';
    await new Promise(r => setTimeout(r, 50));
  }
  return 'timeout';
}"#;

/// Rows of the table whose header holds "Codice articolo" and "Quantità" (the lines table).
const COUNT_LINES_JS: &str = r#"(() => {
  const norm = s => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  for (const t of document.querySelectorAll('table')) {
    const head = t.tHead ? t.tHead.rows[0] : t.rows[0];
    if (!head) continue;
    const titles = Array.from(head.cells).map(c => norm(c.innerText));
    if (!titles.includes('codice articolo') || !titles.some(h => h.startsWith('quantit'))) continue;
    const body = t.tBodies.length ? Array.from(t.tBodies).flatMap(b => Array.from(b.rows)) : Array.from(t.rows).slice(1);
    return body.filter(r => r.cells.length === head.cells.length).length;
  }
  return -1;
})()"#;

/// The visible validation messages of the page, joined.
fn errors_js() -> String {
    format!(
        r#"(() => {{
  const seen = new Set(); const out = [];
  for (const e of document.querySelectorAll({sel})) {{
    const t = (e.innerText || '').replace(/\s+/g, ' ').trim();
    if (t && !seen.has(t) && (e.offsetParent !== null || e.getClientRects().length)) {{ seen.add(t); out.push(t); }}
  }}
  return out.filter(t => !out.some(o => o !== t && o.includes(t) && o.length > t.length)).join('; ');
}})()"#,
        sel = serde_json::Value::from(ERRORS)
    )
}

/// Reads the order number off the answer page: "Ordine N inserito" in the text, or the value
/// beside a "N. ordine" label; `''` when there is none (chromiumoxide reads `null` as an error).
const NUMBER_JS: &str = r#"(() => {
  const text = document.body ? document.body.innerText : '';
  const m = text.match(/Ordine\s+(\S+)\s+inserit/i);
  if (m) return m[1];
  const norm = s => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  for (const c of document.querySelectorAll('td, th, dt, label, span')) {
    if (norm(c.innerText) === 'n. ordine' && c.nextElementSibling) {
      const v = c.nextElementSibling.innerText.trim();
      if (v) return v;
    }
  }
  return '';
})()"#;

/// The order list's grid once it has rows (or says it has none): the column titles and the
/// cells of each row; `error` when the grid says it could not load.
const GRID_JS: &str = r#"async (ms) => {
  const norm = s => (s || '').replace(/\s+/g, ' ').trim();
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (document.querySelector('input[type=password]')) return { login: true };
    for (const t of document.querySelectorAll('table')) {
      const head = t.tHead && t.tHead.rows[0];
      if (!head) continue;
      const titles = Array.from(head.cells).map(c => norm(c.innerText));
      if (!titles.some(x => x.toLowerCase() === 'n. ordine')) continue;
      const rows = Array.from(t.tBodies[0] ? t.tBodies[0].rows : [])
        .filter(r => r.cells.length === titles.length)
        .map(r => Array.from(r.cells).map(c => norm(c.innerText)));
      return { titles, rows };
    }
    const err = Array.from(document.querySelectorAll('td')).find(td => /^errore/i.test(norm(td.innerText)));
    if (err) return { error: norm(err.innerText) };
    await new Promise(r => setTimeout(r, 50));
  }
  return { timeout: true };
}"#;

#[derive(Debug, Deserialize, Default)]
struct Grid {
    #[serde(default)]
    titles: Vec<String>,
    #[serde(default)]
    rows: Vec<Vec<String>>,
    #[serde(default)]
    login: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    timeout: bool,
}

/// The call of the function `js` with `args` (JSON), as a page expression.
fn call_of(js: &str, args: &[serde_json::Value]) -> String {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    format!("({js})({})", args.join(", "))
}

impl ErpTab {
    fn layout(&self, path: &str, what: impl Into<String>) -> ErpError {
        ErpError::Layout {
            url: self.config.url(path),
            what: what.into(),
        }
    }

    /// Evaluate `js` (a function) with `args` in the page.
    async fn call_js<T: serde::de::DeserializeOwned>(
        &self,
        js: &str,
        args: &[serde_json::Value],
        doing: &str,
    ) -> Result<T, ErpError> {
        self.eval_js(&call_of(js, args), doing).await
    }

    /// Evaluate the expression `expr` in the page.
    async fn eval_js<T: serde::de::DeserializeOwned>(
        &self,
        expr: &str,
        doing: &str,
    ) -> Result<T, ErpError> {
        self.page
            .evaluate(expr)
            .await
            .map_err(ErpError::browser(doing))?
            .into_value()
            .map_err(|e| ErpError::Layout {
                url: String::new(),
                what: format!("{doing}: unexpected answer from the page: {e}"),
            })
    }

    /// Evaluate `js` (a function) with `args` in the page again every 100 ms until its answer
    /// satisfies `accept` (a JS predicate) or the element wait has passed; the last answer.
    /// For the steps that look for something a page's script may still be drawing.
    async fn call_js_until<T: serde::de::DeserializeOwned>(
        &self,
        js: &str,
        args: &[serde_json::Value],
        accept: &str,
        doing: &str,
    ) -> Result<T, ErpError> {
        let poll = browser_ops::polled("", &call_of(js, args), accept, self.wait_ms());
        self.eval_js(&poll, doing).await
    }

    /// The control a label names, filled with `text`.
    async fn fill_field(&self, label: &str, text: &str) -> Result<(), ErpError> {
        let doing = format!("filling \"{label}\"");
        let found: bool = self
            .call_js_until(MARK_FIELD_JS, &[label.into()], "r => r === true", &doing)
            .await?;
        if !found {
            return Err(self
                .page_changed(format!("field labelled \"{label}\" on the order form"))
                .await);
        }
        let field = self
            .page
            .find_element("[data-blackant-field]")
            .await
            .map_err(ErpError::browser(doing.as_str()))?;
        browser_ops::fill(&self.page, &field, text, &doing).await
    }

    /// Type `code` into the field labelled `label` and click the suggestion the page shows
    /// for it.
    async fn pick(&self, label: &str, code: &str, what: &str) -> Result<(), FillError> {
        self.fill_field(label, code).await?;
        let doing = format!("picking {what} {code}");
        let wait = SUGGESTIONS_WAIT.min(self.config.page_timeout).as_millis() as u64;
        let outcome: String = self
            .call_js(PICK_JS, &[code.into(), wait.into()], &doing)
            .await?;
        match outcome.as_str() {
            "found" => {}
            "login" => {
                return Err(ErpError::SessionExpired {
                    doing: doing.clone(),
                }
                .into());
            }
            "none" => {
                return Err(FillError::Rejected(format!(
                    "Archibald does not offer {what} {code} in the order form"
                )));
            }
            _ => {
                return Err(ErpError::Timeout {
                    doing,
                    after: Duration::from_millis(wait),
                }
                .into());
            }
        }
        let pick = self
            .page
            .find_element("[data-blackant-pick]")
            .await
            .map_err(ErpError::browser(doing.as_str()))?;
        pick.click()
            .await
            .map_err(ErpError::browser(doing.as_str()))?;
        Ok(())
    }

    /// The lines the form's table shows; -1 when the form has no lines table (after the
    /// element wait).
    async fn lines_shown(&self) -> Result<i64, ErpError> {
        let count = format!("function() {{ return {COUNT_LINES_JS}; }}");
        self.call_js_until(&count, &[], "r => r >= 0", "counting the order's lines")
            .await
    }

    async fn page_errors(&self) -> Result<String, ErpError> {
        self.page
            .evaluate(errors_js())
            .await
            .map_err(ErpError::browser("reading the page's messages"))?
            .into_value::<String>()
            .map_err(|e| self.layout("/ordini/nuovo", format!("the page's messages: {e}")))
    }

    async fn click_label(&self, label: &str) -> Result<chromiumoxide::Element, ErpError> {
        let doing = format!("clicking \"{label}\"");
        let found =
            browser_ops::find_by_label(&self.page, CLICKABLE, label, self.wait_ms(), &doing)
                .await?;
        match found {
            Some(e) => Ok(e),
            None => Err(self
                .page_changed(format!("\"{label}\" button on the order form"))
                .await),
        }
    }

    /// Open the order form and look for everything [`Self::fill_order`] uses — its fields,
    /// its buttons, its lines table — without typing or clicking anything: what is there and
    /// what is not (for `blackant doctor`).
    pub async fn check_order_form(&self) -> Result<Vec<(String, bool)>, ErpError> {
        self.visit("/ordini/nuovo").await?;
        let mut found = Vec::new();
        for label in [CUSTOMER, PRODUCT, QUANTITY, NOTES, REFERENCE] {
            let doing = format!("looking for \"{label}\"");
            let there: bool = self
                .call_js_until(MARK_FIELD_JS, &[label.into()], "r => r === true", &doing)
                .await?;
            found.push((format!("field labelled \"{label}\""), there));
        }
        for label in [ADD_LINE, SUBMIT] {
            let doing = format!("looking for \"{label}\"");
            let there =
                browser_ops::point_of_label(&self.page, CLICKABLE, label, self.wait_ms(), &doing)
                    .await?
                    .is_some();
            found.push((format!("\"{label}\" button"), there));
        }
        found.push((
            "lines table (Codice articolo, Quantità)".into(),
            self.lines_shown().await? >= 0,
        ));
        Ok(found)
    }

    /// Open the order form and fill it with `order`, everything but the final click.
    pub async fn fill_order(&self, order: &OrderDraft) -> Result<(), FillError> {
        let path = "/ordini/nuovo";
        self.visit(path).await?;
        self.pick(CUSTOMER, &order.customer_code, "customer")
            .await?;
        for (i, line) in order.lines.iter().enumerate() {
            let before = self.lines_shown().await?;
            if before < 0 {
                return Err(self
                    .page_changed("lines table (Codice articolo, Quantità) on the order form")
                    .await
                    .into());
            }
            self.pick(PRODUCT, &line.code, "product").await?;
            self.fill_field(QUANTITY, &line.quantity.to_string())
                .await?;
            let add = self.click_label(ADD_LINE).await?;
            add.click()
                .await
                .map_err(ErpError::browser("adding a line"))?;
            if self.lines_shown().await? != before + 1 {
                let said = self.page_errors().await.unwrap_or_default();
                let said = if said.is_empty() {
                    "the line was not added".to_string()
                } else {
                    said
                };
                return Err(FillError::Rejected(format!(
                    "line {} ({} × {}): {said}",
                    i + 1,
                    line.code,
                    line.quantity
                )));
            }
        }
        if !order.notes.is_empty() {
            self.fill_field(NOTES, &order.notes).await?;
        }
        self.fill_field(REFERENCE, &order.reference).await?;
        // The page may have lost its session while being filled: its script then shows the
        // login page, and the click would go nowhere.
        let here = browser_ops::landing(&self.page).await?;
        if here.is_login() {
            return Err(ErpError::SessionExpired {
                doing: "filling the order form".into(),
            }
            .into());
        }
        Ok(())
    }

    /// Click "Conferma ordine" on the filled form and read the answer.
    pub async fn submit_order(&self) -> Result<String, SubmitFailure> {
        let unknown = |why: String| SubmitFailure::Unknown(why);
        let button = self
            .click_label(SUBMIT)
            .await
            .map_err(|e| unknown(e.to_string()))?;
        let landing: Landing = browser_ops::click_and_wait(
            &self.page,
            &button,
            "submitting the order",
            self.config.page_timeout,
        )
        .await
        .map_err(|e| unknown(format!("after the click: {e}")))?;
        if landing.is_login() {
            return Err(unknown(
                "the session expired at the click: the login page answered".into(),
            ));
        }
        if landing.status >= 400 || landing.status == 0 {
            return Err(unknown(format!(
                "Archibald answered HTTP {} to the submission",
                landing.status
            )));
        }
        let number: String = self
            .page
            .evaluate(NUMBER_JS)
            .await
            .map_err(|e| unknown(format!("reading the answer: {e}")))?
            .into_value()
            .map_err(|e| unknown(format!("reading the answer: {e}")))?;
        if !number.is_empty() {
            return Ok(number);
        }
        let said = self
            .page_errors()
            .await
            .map_err(|e| unknown(e.to_string()))?;
        if said.is_empty() {
            Err(unknown("the answer shows no order number".into()))
        } else {
            Err(SubmitFailure::Rejected(said))
        }
    }

    /// The numbers of the orders whose "Rif. cliente" holds `reference` as a word, from the
    /// order list's search (`/ordini?q=`).
    pub async fn find_orders(&self, reference: &str) -> Result<Vec<String>, ErpError> {
        let path = format!("/ordini?q={}", super::path_segment(reference));
        self.visit(&path).await?;
        let wait = self.config.page_timeout.as_millis() as u64;
        let grid: Grid = self
            .call_js(GRID_JS, &[wait.into()], "searching the orders")
            .await?;
        if grid.login {
            return Err(ErpError::SessionExpired {
                doing: "searching the orders".into(),
            });
        }
        if let Some(error) = grid.error {
            return Err(ErpError::Http {
                status: 500,
                url: format!("{} ({error})", self.config.url(&path)),
            });
        }
        if grid.timeout {
            return Err(ErpError::Timeout {
                doing: "waiting for the order list".into(),
                after: self.config.page_timeout,
            });
        }
        let col = |title: &str| {
            grid.titles
                .iter()
                .position(|t| t.eq_ignore_ascii_case(title))
                .ok_or_else(|| {
                    self.layout(&path, format!("the order list has no \"{title}\" column"))
                })
        };
        let (number, rif) = (col("N. ordine")?, col("Rif. cliente")?);
        Ok(grid
            .rows
            .iter()
            .filter(|r| {
                r.get(rif)
                    .is_some_and(|v| v.split_whitespace().any(|w| w == reference))
            })
            .filter_map(|r| r.get(number).cloned())
            .collect())
    }
}
