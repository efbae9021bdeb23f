//! An order's detail page (`/ordini/{numero}`, ERP.md "Pages"): the lines table as the user
//! sees it — the table whose header row holds "Codice articolo" and "Quantità" — read as raw
//! cell texts with their column titles. Turning cells into values is `records::order_lines`'
//! job, not this module's.

use super::{ErpError, ErpTab, path_segment};
use serde::Deserialize;

/// The lines table of one detail page, as shown.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct LinesTable {
    /// Column titles, in page order.
    pub headers: Vec<String>,
    /// One entry per line, the cells' visible texts in column order.
    pub rows: Vec<Vec<String>>,
}

/// Finds the lines table by its titles (not by ids only our simulator would have) and returns
/// titles and cell texts; `null` when the page has no such table.
const READ_LINES_JS: &str = r#"(() => {
  const norm = s => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  for (const t of document.querySelectorAll('table')) {
    const head = t.tHead ? t.tHead.rows[0] : t.rows[0];
    if (!head) continue;
    const headers = Array.from(head.cells).map(c => c.innerText.replace(/\s+/g, ' ').trim());
    const titles = headers.map(norm);
    if (!titles.includes('codice articolo') || !titles.some(h => h.startsWith('quantit'))) continue;
    const body = t.tBodies.length ? Array.from(t.tBodies).flatMap(b => Array.from(b.rows))
                                  : Array.from(t.rows).slice(1);
    const rows = body
      .filter(r => r.cells.length === headers.length)
      .map(r => Array.from(r.cells).map(c => c.innerText));
    return { headers, rows };
  }
  return null;
})()"#;

impl ErpTab {
    /// The lines of order `number`, or `None` when the ERP says the order does not exist (any
    /// more: it may have been removed since the export was made).
    pub async fn order_lines(&self, number: &str) -> Result<Option<LinesTable>, ErpError> {
        let path = format!("/ordini/{}", path_segment(number));
        match self.visit(&path).await {
            Ok(_) => {}
            Err(ErpError::Http { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
        let table: Option<LinesTable> = self
            .page
            .evaluate(READ_LINES_JS)
            .await
            .map_err(ErpError::browser(format!(
                "reading the lines of order {number}"
            )))?
            .into_value()
            .map_err(|e| ErpError::Layout {
                url: self.config.url(&path),
                what: format!("the lines table could not be read: {e}"),
            })?;
        table.map(Some).ok_or_else(|| ErpError::Layout {
            url: self.config.url(&path),
            what: "no lines table (a table titled \"Codice articolo\" ... \"Quantità\")".into(),
        })
    }
}
