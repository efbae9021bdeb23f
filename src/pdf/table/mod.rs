//! Layer 3: lines of every page → the rows of a report table, given its column titles.
//!
//! Owns the report layout of ERP.md, one concern per file:
//! - `footer.rs`: "Pagina N di M", "Totale record: K" and the [`Completeness`] they declare;
//! - `header.rs`: the header row found on each page by its titles wherever they stand (case-
//!   and whitespace-insensitive, titles may wrap onto lines stacked under each other), and the
//!   titles of the columns the contract does not know;
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
use header::{TitleSet, find_header, header_threshold};
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
    /// Titles of the columns the contract does not know, as printed, in the order they first
    /// appear (left to right on the first page holding them): their text was left out.
    pub unknown_columns: Vec<String>,
}

/// Why a document's table cannot be read with the expected columns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ColumnsError {
    /// No page has a row holding enough of the expected titles to be the header.
    #[error("no page has the table header (expected columns: {}{})", expected.join(" | "),
        if found.is_empty() { String::new() } else { format!("; the closest row holds: {}", found.join(" | ")) })]
    NoHeader {
        expected: Vec<String>,
        /// The titles of the row that came closest, left to right (empty when none did).
        found: Vec<String>,
    },
    /// The header lacks some expected titles (a column removed or renamed): reading it would
    /// rewrite a field of every record.
    #[error("page {page}: the report's columns changed: missing {} (expected columns: {}; found: {})",
        missing.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", "),
        expected.join(" | "), found.join(" | "))]
    Missing {
        page: u32,
        missing: Vec<String>,
        expected: Vec<String>,
        /// Every title of the page's header, left to right, as printed.
        found: Vec<String>,
    },
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
pub struct Titles(TitleSet);

impl Titles {
    pub fn new(columns: &[TableColumn<'_>]) -> Titles {
        Titles(TitleSet::new(columns.iter().map(|c| c.title)))
    }
}

/// What a page's header row holds.
#[derive(Debug, Clone)]
struct PageHeader {
    /// Every title, left to right, as printed, with the expected column it is.
    titles: Vec<(String, Option<usize>)>,
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
    /// The row holding the most expected titles, when it holds any.
    header: Option<PageHeader>,
    /// The body, when the page's header holds enough expected titles to be one.
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
    let found = find_header(lines, &titles.0);
    let header = found.as_ref().map(|(h, _)| PageHeader {
        titles: h.titles.iter().map(|t| (t.text.clone(), t.known)).collect(),
    });
    let body = found
        .filter(|(h, _)| h.known_count() >= header_threshold(columns.len()))
        .map(|(header, last_header_line)| {
            let body = body_lines(lines, last_header_line, &stop_lines, &header);
            PageBody {
                page,
                lines: assign_columns(lines, &body, &header, columns),
            }
        });
    PageTable {
        page_number,
        total,
        header,
        body,
    }
}

/// Assembles the table from every page's [`read_page`], in page order (`pages[i]` is physical
/// page i + 1): completeness from the footers, the document's vertical alignment, rows joined
/// across pages, the unknown columns. Fails when no page has the header row, or when a page's
/// header lacks an expected title (`columns`, the titles in contract order).
pub fn assemble(pages: Vec<PageTable>, columns: &[TableColumn<'_>]) -> Result<Table, ColumnsError> {
    let ncols = columns.len();
    let expected = || {
        columns
            .iter()
            .map(|c| c.title.to_string())
            .collect::<Vec<_>>()
    };
    let mut unknown_columns: Vec<String> = Vec::new();
    let mut closest: Option<&PageHeader> = None;
    for (i, page) in pages.iter().enumerate() {
        let Some(header) = &page.header else { continue };
        let known = |h: &PageHeader| h.titles.iter().filter(|t| t.1.is_some()).count();
        if closest.is_none_or(|c| known(c) < known(header)) {
            closest = Some(header);
        }
        if page.body.is_none() {
            continue;
        }
        let missing: Vec<String> = (0..ncols)
            .filter(|k| !header.titles.iter().any(|t| t.1 == Some(*k)))
            .map(|k| columns[k].title.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(ColumnsError::Missing {
                page: i as u32 + 1,
                missing,
                expected: expected(),
                found: header.titles.iter().map(|t| t.0.clone()).collect(),
            });
        }
        for (text, known) in &header.titles {
            if known.is_none() && !unknown_columns.contains(text) {
                unknown_columns.push(text.clone());
            }
        }
    }
    let no_header = ColumnsError::NoHeader {
        expected: expected(),
        found: closest
            .map(|h| h.titles.iter().map(|t| t.0.clone()).collect())
            .unwrap_or_default(),
    };
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
        return Err(no_header);
    }
    let vertical_align = detect_vertical_align(&bodies, ncols);
    let rows = build_rows(bodies, ncols, vertical_align);
    completeness.rows = rows.len();
    Ok(Table {
        rows,
        completeness,
        header_pages,
        vertical_align,
        unknown_columns,
    })
}
