//! Rows from the body lines of every page: a row starts where the first column has text; the
//! other lines join the row the alignment gives them (a row split across pages included).

use super::cells::{clean_cell, needs_cleaning};
use super::vertical::attach;
use super::{BodyLine, PageBody, TableRow, VerticalAlign};

pub(super) fn build_rows(
    bodies: Vec<PageBody>,
    ncols: usize,
    align: VerticalAlign,
) -> Vec<TableRow> {
    let mut rows: Vec<TableRow> = Vec::new();
    for body in bodies {
        let owner = attach(&body.lines, align);
        let starts: Vec<bool> = body.lines.iter().map(BodyLine::is_row_start).collect();
        let first_row_here = rows.len();
        let mut index_of_start = vec![usize::MAX; starts.len()];
        for (i, _) in starts.iter().enumerate().filter(|(_, s)| **s) {
            index_of_start[i] = rows.len();
            rows.push(TableRow {
                page: body.page,
                cells: vec![String::new(); ncols],
            });
        }
        for (i, line) in body.lines.into_iter().enumerate() {
            let row = match owner[i] {
                Some(s) => index_of_start[s],
                // A line no row on this page takes: before the page's first row it is the tail
                // of the previous page's last row (a row split across pages); otherwise the
                // nearest row of this page.
                None => {
                    let before_first = !starts[..i].iter().any(|s| *s);
                    if before_first && first_row_here > 0 {
                        first_row_here - 1
                    } else if rows.len() > first_row_here {
                        if before_first {
                            first_row_here
                        } else {
                            rows.len() - 1
                        }
                    } else if first_row_here > 0 {
                        first_row_here - 1
                    } else {
                        continue;
                    }
                }
            };
            for (c, cell) in line.cells.into_iter().enumerate() {
                if let Some(text) = cell {
                    let target = &mut rows[row].cells[c];
                    if target.is_empty() {
                        *target = text;
                    } else {
                        target.push(' ');
                        target.push_str(&text);
                    }
                }
            }
        }
    }
    for row in &mut rows {
        for cell in &mut row.cells {
            if needs_cleaning(cell) {
                *cell = clean_cell(cell);
            }
        }
    }
    rows
}
