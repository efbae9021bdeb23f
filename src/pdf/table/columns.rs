//! The body of a page (below the header, above the footer) and its phrases assigned to
//! columns: by the anchor each piece sits on, pieces straddling columns split at their widest
//! gap, the rest by the boundaries between columns. Must NOT build rows.

use super::super::layout::Line;
use super::header::Header;
use super::{Align, BodyLine, TableColumn};

/// Indices of the body lines: below the header, before the first footer/total line, and
/// before an unusually large vertical gap (footer text without a page number).
pub(super) fn body_lines(
    lines: &[Line],
    last_header_line: usize,
    stop: &[bool],
    header: &Header,
) -> Vec<usize> {
    let mut body = Vec::new();
    for k in last_header_line + 1..lines.len() {
        if stop[k] {
            break;
        }
        if lines[k].y < header.bottom - 0.3 * header.size {
            body.push(k);
        }
    }
    if body.len() >= 3 {
        let mut gaps: Vec<f32> = body
            .windows(2)
            .map(|w| lines[w[0]].y - lines[w[1]].y)
            .collect();
        gaps.sort_by(f32::total_cmp);
        let median = gaps[gaps.len() / 2];
        for i in 1..body.len() {
            let gap = lines[body[i - 1]].y - lines[body[i]].y;
            if gap > 3.0 * median && gap > 2.5 * lines[body[i]].size {
                body.truncate(i);
                break;
            }
        }
    }
    body
}

/// A piece of a phrase: words `words` of line `line`.
#[derive(Debug, Clone)]
struct Piece {
    words: std::ops::Range<usize>,
    x0: f32,
    x1: f32,
}

fn piece(line: &Line, words: std::ops::Range<usize>) -> Piece {
    let x0 = line.words[words.start].x0;
    let x1 = line.words[words.clone()]
        .iter()
        .map(|w| w.x1)
        .fold(f32::MIN, f32::max);
    Piece { words, x0, x1 }
}

pub(super) fn assign_columns(
    lines: &[Line],
    body: &[usize],
    header: &Header,
    columns: &[TableColumn<'_>],
) -> Vec<BodyLine> {
    let n = columns.len();
    let anchor = |c: usize| match columns[c].align {
        Align::Left => header.titles[c].x0,
        Align::Right => header.titles[c].x1,
    };
    // Pass 1: pieces that sit on an anchor; split pieces that straddle columns.
    // (line index, pieces with the column whose anchor they sit on).
    type Placed = (usize, Vec<(Option<usize>, Piece)>);
    let mut per_line: Vec<Placed> = Vec::with_capacity(body.len());
    for &k in body {
        let line = &lines[k];
        let tol = (0.4 * line.size).max(2.5);
        let mut queue: Vec<Piece> = line
            .phrases
            .iter()
            .rev()
            .map(|p| piece(line, p.words.clone()))
            .collect();
        let mut out = Vec::new();
        while let Some(p) = queue.pop() {
            // The column whose anchor the piece sits on (closest), and how many it sits on.
            let mut best: Option<(usize, f32)> = None;
            let mut matched = 0;
            for (c, column) in columns.iter().enumerate() {
                let edge = match column.align {
                    Align::Left => p.x0,
                    Align::Right => p.x1,
                };
                let d = (edge - anchor(c)).abs();
                if d <= tol {
                    matched += 1;
                    if best.is_none_or(|b| d < b.1) {
                        best = Some((c, d));
                    }
                }
            }
            let interior = (0..n).any(|c| {
                let a = anchor(c);
                a > p.x0 + tol && a < p.x1 - tol
            });
            if p.words.len() > 1 && (interior || matched > 1) {
                // Split at the widest gap between words.
                let w = &line.words;
                let cut = (p.words.start + 1..p.words.end)
                    .max_by(|&a, &b| (w[a].x0 - w[a - 1].x1).total_cmp(&(w[b].x0 - w[b - 1].x1)))
                    .unwrap_or(p.words.start + 1);
                queue.push(piece(line, cut..p.words.end));
                queue.push(piece(line, p.words.start..cut));
                continue;
            }
            out.push((best.map(|b| b.0), p));
        }
        per_line.push((k, out));
    }
    // Column boundaries for pieces on no anchor, from the titles and the anchored pieces.
    let mut lo_x0 = vec![f32::MAX; n];
    let mut hi_x1 = vec![f32::MIN; n];
    for (_, pieces) in &per_line {
        for (c, p) in pieces {
            if let Some(c) = c {
                lo_x0[*c] = lo_x0[*c].min(p.x0);
                hi_x1[*c] = hi_x1[*c].max(p.x1);
            }
        }
    }
    let tol = (0.4 * header.size).max(2.5);
    let bounds: Vec<f32> = (0..n.saturating_sub(1))
        .map(|i| {
            let (a, b) = (columns[i].align, columns[i + 1].align);
            match (a, b) {
                (Align::Left, Align::Left) => anchor(i + 1) - tol,
                (Align::Right, Align::Right) => anchor(i) + tol,
                (Align::Right, Align::Left) => (anchor(i) + anchor(i + 1)) / 2.0,
                (Align::Left, Align::Right) => {
                    let left = header.titles[i].x1.max(hi_x1[i]);
                    let right = header.titles[i + 1].x0.min(lo_x0[i + 1]);
                    (left + right) / 2.0
                }
            }
        })
        .collect();
    per_line
        .into_iter()
        .map(|(k, pieces)| {
            let line = &lines[k];
            let mut placed: Vec<(usize, f32, std::ops::Range<usize>)> = pieces
                .into_iter()
                .map(|(c, p)| {
                    let c = c.unwrap_or_else(|| {
                        let centre = (p.x0 + p.x1) / 2.0;
                        bounds.iter().position(|b| centre < *b).unwrap_or(n - 1)
                    });
                    (c, p.x0, p.words)
                })
                .collect();
            placed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            let mut cells: Vec<Option<String>> = vec![None; n];
            for (c, _, words) in placed {
                let cell = cells[c].get_or_insert_with(String::new);
                for w in words {
                    if !cell.is_empty() {
                        cell.push(' ');
                    }
                    cell.push_str(line.word(w));
                }
            }
            BodyLine {
                y: line.y,
                size: line.size,
                cells,
            }
        })
        .collect()
}
