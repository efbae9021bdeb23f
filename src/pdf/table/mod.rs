//! Layer 3: lines of every page → the rows of a report table, given its column titles.
//!
//! Owns the report layout of ERP.md, one concern per file:
//! - `footer.rs`: "Pagina N di M", "Totale record: K" and the [`Completeness`] they declare;
//! - `header.rs`: the header row found on each page by its titles (case- and
//!   whitespace-insensitive, titles may wrap onto lines stacked under each other);
//! - `columns.rs`: the body lines between header and footer, and phrases assigned to columns by
//!   their anchors (left edge of left-aligned titles, right edge of right-aligned ones);
//! - `vertical.rs`: the document's vertical cell alignment (top, middle or bottom), detected;
//! - `rows.rs`: rows — a row starts where the first column has text, other lines continue a
//!   row according to the alignment;
//! - `cells.rs`: cell text cleaned (whitespace collapsed, separate accents composed).
//!
//! It must NOT parse values (dates, amounts: that is `records`) nor touch PDF objects.

mod cells;
mod columns;
mod footer;
mod header;
mod rows;
mod vertical;

pub use footer::Completeness;
pub(crate) use footer::{find_page_number, find_total};

use super::layout::Line;
use columns::{assign_columns, body_lines};
use footer::mentions_footer_word;
use header::{find_header, normalize};
use rows::build_rows;
use vertical::detect_vertical_align;

/// How a column's cells are aligned horizontally (ERP.md: numbers right, the rest left).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// One expected column: its title as printed in the header, and its alignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableColumn<'a> {
    pub title: &'a str,
    pub align: Align,
}

/// Vertical alignment of cells within a row, detected per document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerticalAlign {
    Top,
    Middle,
    Bottom,
}

/// A table row: the physical page its first column is on, and its raw cells (whitespace
/// collapsed, wrapped lines joined by one space, `""` for an empty cell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    pub page: u32,
    pub cells: Vec<String>,
}

/// A whole table read from a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    pub rows: Vec<TableRow>,
    pub completeness: Completeness,
    /// Physical pages on which the header row was found.
    pub header_pages: Vec<u32>,
    pub vertical_align: VerticalAlign,
}

/// A body line with its phrases assigned to columns.
#[derive(Debug, Clone)]
struct BodyLine {
    pub(super) y: f32,
    pub(super) size: f32,
    pub(super) cells: Vec<Option<String>>,
}

impl BodyLine {
    pub(super) fn is_row_start(&self) -> bool {
        self.cells.first().is_some_and(Option::is_some)
    }
}

/// The body of one page.
#[derive(Debug, Clone)]
struct PageBody {
    pub(super) page: u32,
    pub(super) lines: Vec<BodyLine>,
}

/// The column titles, normalised once for every page's header search.
pub struct Titles(Vec<Vec<char>>);

impl Titles {
    pub fn new(columns: &[TableColumn<'_>]) -> Titles {
        Titles(columns.iter().map(|c| normalize(c.title)).collect())
    }
}

/// What one page contributes to the table, read from that page alone (so pages can be read on
/// several threads): its footer marks and, when it carries the header, its body lines with
/// phrases assigned to columns.
#[derive(Debug, Clone)]
pub struct PageTable {
    /// The first "Pagina N di M" of the page.
    page_number: Option<(u32, u32)>,
    /// The last "Totale record: K" of the page.
    total: Option<u64>,
    body: Option<PageBody>,
}

/// Reads physical page `page` (1-based) from its lines.
pub fn read_page(
    lines: &[Line],
    page: u32,
    titles: &Titles,
    columns: &[TableColumn<'_>],
) -> PageTable {
    let mut page_number = None;
    let mut total = None;
    let mut stop_lines = vec![false; lines.len()];
    for (k, line) in lines.iter().enumerate() {
        // Cheap filter first: the full patterns lowercase the whole line.
        if !(0..line.words.len()).any(|w| mentions_footer_word(line.word(w))) {
            continue;
        }
        let text = line.text();
        if let Some(n_of_m) = find_page_number(&text) {
            page_number = page_number.or(Some(n_of_m));
            stop_lines[k] = true;
        }
        if let Some(k_total) = find_total(&text) {
            total = Some(k_total);
            stop_lines[k] = true;
        }
    }
    let body = find_header(lines, &titles.0).map(|(header, last_header_line)| {
        let body = body_lines(lines, last_header_line, &stop_lines, &header);
        PageBody {
            page,
            lines: assign_columns(lines, &body, &header, columns),
        }
    });
    PageTable {
        page_number,
        total,
        body,
    }
}

/// Assembles the table from every page's [`read_page`], in page order (`pages[i]` is physical
/// page i + 1): completeness from the footers, the document's vertical alignment, rows joined
/// across pages. Returns `None` when no page has the header row.
pub fn assemble(pages: Vec<PageTable>, ncols: usize) -> Option<Table> {
    let mut completeness = Completeness {
        physical_pages: pages.len() as u32,
        ..Completeness::default()
    };
    let mut bodies = Vec::new();
    let mut header_pages = Vec::new();
    for page in pages {
        if let Some((_, m)) = page.page_number
            && !completeness.declared_pages.contains(&m)
        {
            completeness.declared_pages.push(m);
        }
        completeness
            .page_numbers
            .push(page.page_number.map(|(n, _)| n));
        if page.total.is_some() {
            completeness.declared_total = page.total;
        }
        if let Some(body) = page.body {
            header_pages.push(body.page);
            bodies.push(body);
        }
    }
    completeness.declared_pages.sort_unstable();
    if header_pages.is_empty() {
        return None;
    }
    let vertical_align = detect_vertical_align(&bodies, ncols);
    let rows = build_rows(bodies, ncols, vertical_align);
    completeness.rows = rows.len();
    Some(Table {
        rows,
        completeness,
        header_pages,
        vertical_align,
    })
}
