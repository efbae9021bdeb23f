//! An order's detail page (`/ordini/{numero}`, ERP.md "Pages"): the lines table as the user
//! sees it — the table whose header row holds "Codice articolo" and "Quantità" — read as raw
//! cell texts with their column titles. Turning cells into values is `records::order_lines`'
//! job, not this module's.
//!
//! Two ways to read a page. **Rendered**: the tab opens the page and reads the cells' visible
//! text (`innerText`). **Fetched**: the logged-in tab asks for the page's HTML with the
//! browser's own `fetch` (its cookies, its connection) and reads the table out of the parsed
//! document without opening it — no navigation, script, style or layout, several pages at once
//! in one tab. A fetched page's text is the DOM's text with line breaks where `<br>` and block
//! elements put them and hidden elements left out: what `innerText` gives unless a script or a
//! style sheet changes what is shown. So it is only to be trusted once a rendered page read the
//! same both ways ([`LinesTable::reads_like`]), and a fetched page that is not plainly an
//! order's lines (a login page, an error status, no lines table or no lines) is reported as
//! such, for the caller to render it instead.

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

/// What fetching a detail page without rendering it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchedLines {
    Lines(LinesTable),
    /// The ERP answered 404: the order does not exist (any more).
    Gone,
    /// Not plainly the order's lines: render the page to learn what it is (why, for the log).
    Render(String),
}

impl LinesTable {
    /// Whether `other` holds the same titles and cell texts, whitespace runs aside (values
    /// collapse them anyway).
    pub fn reads_like(&self, other: &LinesTable) -> bool {
        fn words(s: &str) -> impl Iterator<Item = &str> {
            s.split_whitespace()
        }
        let same = |a: &str, b: &str| words(a).eq(words(b));
        self.headers.len() == other.headers.len()
            && self.rows.len() == other.rows.len()
            && self
                .headers
                .iter()
                .zip(&other.headers)
                .all(|(a, b)| same(a, b))
            && self
                .rows
                .iter()
                .zip(&other.rows)
                .all(|(a, b)| a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b)))
    }
}

/// `blackantLines(doc, text)`: finds the lines table by its titles (not by ids only our
/// simulator would have) and returns titles and cell texts (`text(cell)`), or `null`.
/// `blackantPlain(node)`: a node's text as `innerText` gives it on a page without style sheets.
const LINES_FNS: &str = r#"
const blackantLines = (doc, text) => {
  const norm = s => (s || '').replace(/\s+/g, ' ').trim().toLowerCase();
  for (const t of doc.querySelectorAll('table')) {
    const head = t.tHead ? t.tHead.rows[0] : t.rows[0];
    if (!head) continue;
    const headers = Array.from(head.cells).map(c => text(c).replace(/\s+/g, ' ').trim());
    const titles = headers.map(norm);
    if (!titles.includes('codice articolo') || !titles.some(h => h.startsWith('quantit'))) continue;
    const body = t.tBodies.length ? Array.from(t.tBodies).flatMap(b => Array.from(b.rows))
                                  : Array.from(t.rows).slice(1);
    const rows = body
      .filter(r => r.cells.length === headers.length)
      .map(r => Array.from(r.cells).map(text));
    return { headers, rows };
  }
  return null;
};
const blackantPlain = node => {
  const skip = /^(SCRIPT|STYLE|TEMPLATE|NOSCRIPT|HEAD)$/;
  const block = /^(ADDRESS|BLOCKQUOTE|DIV|DL|DT|DD|FIELDSET|FORM|H[1-6]|HR|LI|OL|P|PRE|SECTION|TABLE|TR|UL)$/;
  const hidden = /(^|;)\s*(display\s*:\s*none|visibility\s*:\s*hidden)/i;
  let out = '';
  const walk = n => {
    if (n.nodeType === 3) { out += n.data; return; }
    if (n.nodeType !== 1) return;
    const tag = n.tagName.toUpperCase();
    if (skip.test(tag) || n.hidden || hidden.test(n.getAttribute('style') || '')) return;
    if (tag === 'BR') { out += '\n'; return; }
    const b = block.test(tag);
    if (b) out += '\n';
    for (const c of n.childNodes) walk(c);
    if (b) out += '\n';
  };
  walk(node);
  return out;
};
"#;

/// The rendered page's lines, as shown (`innerText`), looked for again every 100 ms until the
/// table shows or `wait_ms` have passed (`{ table: null }` then: a bare `null` comes back from
/// the DevTools protocol as no value at all).
fn read_rendered_js(wait_ms: u64) -> String {
    super::browser_ops::polled(
        LINES_FNS,
        "{ table: blackantLines(document, c => c.innerText) }",
        "r => !!r.table",
        wait_ms,
    )
}

/// Fetch `url` with the tab's session and read its lines from the parsed HTML.
fn read_fetched_js(url: &str) -> String {
    format!(
        r#"(async () => {{ {LINES_FNS}
  let r;
  try {{ r = await fetch({url}, {{ credentials: 'same-origin', cache: 'no-store' }}); }}
  catch (e) {{ return {{ outcome: 'render', why: 'fetch failed: ' + e }}; }}
  if (r.status === 404) return {{ outcome: 'gone' }};
  const html = await r.text();
  if (r.status !== 200) return {{ outcome: 'render', why: 'HTTP ' + r.status }};
  const doc = new DOMParser().parseFromString(html, 'text/html');
  if (new URL(r.url).pathname.toLowerCase().startsWith('/login') || doc.querySelector('input[type=password]'))
    return {{ outcome: 'render', why: 'a login page (session expired)' }};
  const table = blackantLines(doc, blackantPlain);
  if (!table) return {{ outcome: 'render', why: 'no lines table in the HTML' }};
  if (!table.rows.length) return {{ outcome: 'render', why: 'no lines in the HTML' }};
  return {{ outcome: 'lines', table }};
}})()"#,
        url = serde_json::Value::from(url),
    )
}

#[derive(Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Fetched {
    Lines { table: LinesTable },
    Gone,
    Render { why: String },
}

impl ErpTab {
    /// The lines of order `number` from its rendered page, or `None` when the ERP says the
    /// order does not exist (any more: it may have been removed since the export was made).
    pub async fn order_lines(&self, number: &str) -> Result<Option<LinesTable>, ErpError> {
        let path = format!("/ordini/{}", path_segment(number));
        match self.visit(&path).await {
            Ok(_) => {}
            Err(ErpError::Http { status: 404, .. }) => return Ok(None),
            Err(e) => return Err(e),
        }
        #[derive(Deserialize)]
        struct Rendered {
            table: Option<LinesTable>,
        }
        let read: Rendered = self
            .page
            .evaluate(read_rendered_js(self.wait_ms()))
            .await
            .map_err(ErpError::browser(format!(
                "reading the lines of order {number}"
            )))?
            .into_value()
            .map_err(|e| ErpError::Layout {
                url: self.config.url(&path),
                what: format!("the lines table could not be read: {e}"),
            })?;
        match read.table {
            Some(table) => Ok(Some(table)),
            None => Err(self
                .page_changed(format!(
                    "lines table (a table titled \"Codice articolo\" ... \"Quantità\") on the \
                     detail page of order {number}"
                ))
                .await),
        }
    }

    /// The lines of order `number` from its page's HTML, fetched with this tab's session
    /// without leaving the page the tab shows (which must be an ERP page, so that the request
    /// is same-origin and carries the session). Several calls may run at once on one tab.
    pub async fn order_lines_fetched(&self, number: &str) -> Result<FetchedLines, ErpError> {
        let path = format!("/ordini/{}", path_segment(number));
        let doing = format!("fetching the detail page of order {number}");
        let timeout = self.config.page_timeout;
        // The whole URL, as a visit opens it: the ERP may live under a path of its host.
        let url = self.config.url(&path);
        let answer =
            match tokio::time::timeout(timeout, self.page.evaluate(read_fetched_js(&url))).await {
                Err(_) => {
                    return Err(ErpError::Timeout {
                        doing,
                        after: timeout,
                    });
                }
                Ok(answer) => answer.map_err(ErpError::browser(doing))?,
            };
        let fetched: Fetched = answer.into_value().map_err(|e| ErpError::Layout {
            url,
            what: format!("the fetched lines table could not be read: {e}"),
        })?;
        Ok(match fetched {
            Fetched::Lines { table } => FetchedLines::Lines(table),
            Fetched::Gone => FetchedLines::Gone,
            Fetched::Render { why } => FetchedLines::Render(why),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::LinesTable;

    fn table(headers: &[&str], rows: &[&[&str]]) -> LinesTable {
        LinesTable {
            headers: headers.iter().map(|s| s.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|s| s.to_string()).collect())
                .collect(),
        }
    }

    #[test]
    fn two_readings_agree_whitespace_aside_and_on_nothing_else() {
        let shown = table(
            &["Codice articolo", "Quantità"],
            &[&["VB.1", "Vite testa piana\n4x40"], &["VB.2", "3"]],
        );
        let plain = table(
            &[" Codice  articolo ", "Quantità"],
            &[&["VB.1", "Vite testa piana 4x40 "], &["VB.2", "\n3\n"]],
        );
        assert!(shown.reads_like(&plain));
        // Text the page hides, a missing row, a missing cell: not the same reading.
        let hidden = table(
            &["Codice articolo", "Quantità"],
            &[&["VB.1", "Vite testa piana 4x40~sort"], &["VB.2", "3"]],
        );
        assert!(!shown.reads_like(&hidden));
        let fewer_rows = table(&["Codice articolo", "Quantità"], &[&["VB.1", "Vite"]]);
        assert!(!shown.reads_like(&fewer_rows));
        let fewer_cells = table(
            &["Codice articolo", "Quantità"],
            &[&["VB.1"], &["VB.2", "3"]],
        );
        assert!(!shown.reads_like(&fewer_cells));
        assert!(!shown.reads_like(&table(&["Codice articolo"], &[])));
    }
}
