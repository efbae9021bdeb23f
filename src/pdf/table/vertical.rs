//! The vertical alignment of cells within rows (top, middle or bottom), detected per document:
//! each hypothesis is scored by how badly it fits every page, the best wins. Must NOT build the
//! rows themselves.

use super::{BodyLine, PageBody, VerticalAlign};

/// For each line of a page, the index (into the page's lines) of the row-start line it
/// belongs to under an alignment hypothesis; `None` for a line no row can take.
pub(super) fn attach(lines: &[BodyLine], align: VerticalAlign) -> Vec<Option<usize>> {
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].is_row_start())
        .collect();
    (0..lines.len())
        .map(|i| {
            if lines[i].is_row_start() {
                return Some(i);
            }
            let above = starts.iter().rev().find(|&&s| s < i).copied();
            let below = starts.iter().find(|&&s| s > i).copied();
            match align {
                VerticalAlign::Top => above,
                VerticalAlign::Bottom => below,
                VerticalAlign::Middle => match (above, below) {
                    (Some(a), Some(b)) => {
                        if lines[a].y - lines[i].y <= lines[i].y - lines[b].y {
                            Some(a)
                        } else {
                            Some(b)
                        }
                    }
                    (a, b) => a.or(b),
                },
            }
        })
        .collect()
}

/// Counts how badly a hypothesis fits a page: lines no row can take, cells whose lines are
/// not spaced at the document's line pitch (a gap inside a cell, or two rows' lines glued
/// into one cell), and cells not placed as the hypothesis says relative to their row's
/// first-column line.
fn violations(lines: &[BodyLine], ncols: usize, align: VerticalAlign, pitch: Option<f32>) -> usize {
    let owner = attach(lines, align);
    let mut bad = owner.iter().filter(|o| o.is_none()).count();
    for start in (0..lines.len()).filter(|&i| lines[i].is_row_start()) {
        let members: Vec<usize> = (0..lines.len())
            .filter(|&i| owner[i] == Some(start))
            .collect();
        let tol = 0.35 * lines[start].size;
        for c in 1..ncols {
            let ys: Vec<f32> = members
                .iter()
                .filter(|&&i| lines[i].cells[c].is_some())
                .map(|&i| lines[i].y)
                .collect();
            let (Some(&top), Some(&bottom)) = (ys.first(), ys.last()) else {
                continue;
            };
            if let Some(pitch) = pitch
                && ys
                    .windows(2)
                    .any(|w| (w[0] - w[1] - pitch).abs() > 0.2 * lines[start].size)
            {
                bad += 1;
            }
            let anchor = lines[start].y;
            let off = match align {
                VerticalAlign::Top => top - anchor,
                VerticalAlign::Bottom => bottom - anchor,
                VerticalAlign::Middle => (top + bottom) / 2.0 - anchor,
            };
            if off.abs() > tol {
                bad += 1;
            }
        }
    }
    bad
}

/// The distance between the baselines of a wrapped cell's lines: the smallest gap between
/// consecutive lines holding text in the same column (rows are further apart than that by
/// their padding). `None` when no column has two lines. The document's pitch is the smallest
/// over its pages.
fn line_pitch(lines: &[BodyLine], ncols: usize) -> Option<f32> {
    let min_gap = 0.5 * lines.iter().map(|l| l.size).fold(0.0, f32::max);
    let mut best: Option<f32> = None;
    for c in 0..ncols {
        let mut prev: Option<f32> = None;
        for l in lines.iter().filter(|l| l.cells[c].is_some()) {
            if let Some(p) = prev {
                let gap = p - l.y;
                if gap > min_gap && best.is_none_or(|b| gap < b) {
                    best = Some(gap);
                }
            }
            prev = Some(l.y);
        }
    }
    best
}

/// The alignment that fits the document's pages best (ties: top, then middle); pages scored
/// on every core.
pub(super) fn detect_vertical_align(bodies: &[PageBody], ncols: usize) -> VerticalAlign {
    let pitch = bodies
        .iter()
        .filter_map(|b| line_pitch(&b.lines, ncols))
        .min_by(f32::total_cmp);
    const HYPOTHESES: [VerticalAlign; 3] = [
        VerticalAlign::Top,
        VerticalAlign::Middle,
        VerticalAlign::Bottom,
    ];
    let per_page = crate::pdf::in_runs(bodies.len(), crate::pdf::MIN_PAGES_PER_THREAD, |range| {
        Ok::<_, std::convert::Infallible>(
            bodies[range]
                .iter()
                .map(|b| HYPOTHESES.map(|a| violations(&b.lines, ncols, a, pitch)))
                .collect(),
        )
    });
    let [top, middle, bottom] = match per_page {
        Ok(scores) => scores.iter().fold([0usize; 3], |sum, page| {
            [sum[0] + page[0], sum[1] + page[1], sum[2] + page[2]]
        }),
        Err(never) => match never {},
    };
    if top <= middle && top <= bottom {
        VerticalAlign::Top
    } else if middle <= bottom {
        VerticalAlign::Middle
    } else {
        VerticalAlign::Bottom
    }
}
