//! The body of a page (below the header, above the footer) and its phrases assigned to
//! columns: by the anchor each piece sits on, pieces straddling columns split at their widest
//! gap, the rest by the boundaries between columns. Every column of the header takes part,
//! those the contract does not know included (their alignment read off the body), so their
//! text never joins a known cell; only the known columns' cells are kept. Must NOT build rows.

use super::super::layout::Line;
use super::header::{Header, TitleBox};
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

/// Alignment of a column the contract does not know, from the body: right when more of the
/// page's phrases end at its title's right edge than start at its left edge.
fn inferred_align(lines: &[Line], body: &[usize], title: &TitleBox) -> Align {
    let (mut left, mut right) = (0usize, 0usize);
    for &k in body {
        let line = &lines[k];
        let tol = (0.4 * line.size).max(2.5);
        for p in &line.phrases {
            left += usize::from((p.x0 - title.x0).abs() <= tol);
            right += usize::from((p.x1 - title.x1).abs() <= tol);
        }
    }
    if right > left {
        Align::Right
    } else {
        Align::Left
    }
}

/// The body lines with their phrases in the header's columns — every column of the header,
/// known or not, so that an unknown column's text stays in its own x-range — then kept for the
/// known columns only, in contract order (`columns`). A line holding nothing of a known column
/// is left out.
pub(super) fn assign_columns(
    lines: &[Line],
    body: &[usize],
    header: &Header,
    columns: &[TableColumn<'_>],
) -> Vec<BodyLine> {
    let titles = &header.titles;
    let n = titles.len();
    let aligns: Vec<Align> = titles
        .iter()
        .map(|t| match t.known {
            Some(k) => columns[k].align,
            None => inferred_align(lines, body, &t.bx),
        })
        .collect();
    let anchor = |c: usize| match aligns[c] {
        Align::Left => titles[c].bx.x0,
        Align::Right => titles[c].bx.x1,
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
            for (c, align) in aligns.iter().enumerate() {
                let edge = match align {
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
            let (a, b) = (aligns[i], aligns[i + 1]);
            match (a, b) {
                (Align::Left, Align::Left) => anchor(i + 1) - tol,
                (Align::Right, Align::Right) => anchor(i) + tol,
                (Align::Right, Align::Left) => (anchor(i) + anchor(i + 1)) / 2.0,
                (Align::Left, Align::Right) => {
                    let left = titles[i].bx.x1.max(hi_x1[i]);
                    let right = titles[i + 1].bx.x0.min(lo_x0[i + 1]);
                    (left + right) / 2.0
                }
            }
        })
        .collect();
    per_line
        .into_iter()
        .filter_map(|(k, pieces)| {
            let line = &lines[k];
            let mut placed: Vec<(usize, f32, std::ops::Range<usize>)> = pieces
                .into_iter()
                .filter_map(|(c, p)| {
                    let c = c.unwrap_or_else(|| {
                        let centre = (p.x0 + p.x1) / 2.0;
                        bounds.iter().position(|b| centre < *b).unwrap_or(n - 1)
                    });
                    // An unknown column's text is its own: it joins no known cell.
                    titles[c].known.map(|known| (known, p.x0, p.words))
                })
                .collect();
            if placed.is_empty() {
                return None;
            }
            placed.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            let mut cells: Vec<Option<String>> = vec![None; columns.len()];
            for (c, _, words) in placed {
                let cell = cells[c].get_or_insert_with(String::new);
                for w in words {
                    if !cell.is_empty() {
                        cell.push(' ');
                    }
                    cell.push_str(line.word(w));
                }
            }
            Some(BodyLine {
                y: line.y,
                size: line.size,
                cells,
            })
        })
        .collect()
}
