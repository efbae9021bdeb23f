//! Layer 2: spans → lines → words → phrases.
//!
//! Owns the geometry of reading order on one page: spans on the same baseline (within a
//! tolerance) form a line, sorted by x; spans closer than a small fraction of the font size
//! form a word (Chromium's one-glyph spans, office suites' kerned TJ pieces); words closer than
//! about half an em form a phrase (the words of one cell line); a larger gap separates phrases.
//!
//! It must NOT know about tables, titles or columns: `table.rs` reads lines and phrases.

use std::ops::Range;

use super::content::{PageText, TextSpan};

/// Spans whose baselines differ by less than this fraction of the font size share a line.
const SAME_LINE: f32 = 0.3;
/// A gap below this fraction of the font size (and no explicit space) continues a word.
const WORD_GAP: f32 = 0.15;
/// A gap below this fraction of the font size continues a phrase; wider gaps separate cells.
pub(crate) const PHRASE_GAP: f32 = 0.5;

/// A word: spans joined without spaces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Word {
    pub x0: f32,
    pub x1: f32,
    start: u32,
    end: u32,
}

/// Consecutive words of a line separated by less than [`PHRASE_GAP`] em.
#[derive(Debug, Clone, PartialEq)]
pub struct Phrase {
    pub x0: f32,
    pub x1: f32,
    /// Indices into [`Line::words`].
    pub words: Range<usize>,
}

/// One text line of a page (top to bottom order in [`lines`]).
#[derive(Debug, Clone, Default)]
pub struct Line {
    /// Baseline (points, y up).
    pub y: f32,
    /// Largest font size on the line.
    pub size: f32,
    pub words: Vec<Word>,
    pub phrases: Vec<Phrase>,
    text: String,
}

impl Line {
    /// The text of a word of this line.
    pub fn word(&self, i: usize) -> &str {
        let w = &self.words[i];
        &self.text[w.start as usize..w.end as usize]
    }

    /// The words `range` joined by single spaces.
    pub fn join(&self, range: Range<usize>) -> String {
        let mut s = String::new();
        for i in range {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(self.word(i));
        }
        s
    }

    /// The whole line, words joined by single spaces.
    pub fn text(&self) -> String {
        self.join(0..self.words.len())
    }
}

/// Groups a page's spans into lines, words and phrases, top line first.
pub fn lines(page: &PageText) -> Vec<Line> {
    let spans = &runs(page);
    // Top to bottom, then left to right, then drawing order: one integer per span, so the sort
    // compares integers (a page of one-glyph spans is thousands of them).
    let mut keyed: Vec<(u64, u32)> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let key = (u64::from(!ordered_bits(s.y)) << 32) | u64::from(ordered_bits(s.x0));
            (key, i as u32)
        })
        .collect();
    keyed.sort_unstable();
    let order: Vec<usize> = keyed.into_iter().map(|(_, i)| i as usize).collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut members: Vec<usize> = Vec::new();
    while i < order.len() {
        let first = &spans[order[i]];
        members.clear();
        members.push(order[i]);
        let mut j = i + 1;
        while j < order.len() {
            let s = &spans[order[j]];
            if first.y - s.y <= SAME_LINE * first.size.min(s.size).max(0.1) {
                members.push(order[j]);
                j += 1;
            } else {
                break;
            }
        }
        members.sort_unstable_by(|&a, &b| spans[a].x0.total_cmp(&spans[b].x0).then(a.cmp(&b)));
        out.push(build_line(page, spans, &members));
        i = j;
    }
    out
}

/// The page's spans with each one that continues the span drawn before it (see
/// [`TextSpan::continued_by`]) joined to it: the word [`build_line`] would make of them, made
/// before sorting (Chromium draws one glyph per span: this divides the spans to sort by ~10).
fn runs(page: &PageText) -> Vec<TextSpan> {
    let mut out: Vec<TextSpan> = Vec::with_capacity(page.spans.len());
    for s in &page.spans {
        match out.last_mut() {
            Some(last) if last.continued_by(s) => last.extend(s),
            _ => out.push(*s),
        }
    }
    out
}

/// `f`'s bits mapped so that unsigned integer order is [`f32::total_cmp`]'s order.
fn ordered_bits(f: f32) -> u32 {
    let b = f.to_bits();
    if b >> 31 == 1 { !b } else { b | (1 << 31) }
}

fn build_line(page: &PageText, spans: &[TextSpan], members: &[usize]) -> Line {
    let mut line = Line {
        y: spans[members[0]].y,
        size: members.iter().map(|&m| spans[m].size).fold(0.0, f32::max),
        ..Line::default()
    };
    let mut prev: Option<&TextSpan> = None;
    for &m in members {
        let s = &spans[m];
        let text = page.text(s);
        if let Some(p) = prev {
            // The same glyphs drawn twice at (almost) the same place: a fake-bold stroke.
            if page.text(p) == text && (s.x0 - p.x0).abs() < 0.15 * s.size {
                continue;
            }
        }
        let joins_word =
            prev.is_some_and(|p| !s.space_before && s.x0 - p.x1 < WORD_GAP * s.size.max(p.size));
        if joins_word && let Some(w) = line.words.last_mut() {
            line.text.push_str(text);
            w.end = line.text.len() as u32;
            w.x1 = w.x1.max(s.x1);
        } else {
            let start = line.text.len() as u32;
            line.text.push_str(text);
            line.words.push(Word {
                x0: s.x0,
                x1: s.x1,
                start,
                end: line.text.len() as u32,
            });
        }
        prev = Some(s);
    }
    // Phrases.
    let mut start = 0;
    for k in 1..=line.words.len() {
        let split = k == line.words.len()
            || line.words[k].x0 - line.words[k - 1].x1 >= PHRASE_GAP * line.size.max(0.1);
        if split {
            let words = start..k;
            let x0 = line.words[start].x0;
            let x1 = line.words[start..k]
                .iter()
                .map(|w| w.x1)
                .fold(f32::MIN, f32::max);
            line.phrases.push(Phrase { x0, x1, words });
            start = k;
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::ordered_bits;

    #[test]
    fn ordered_bits_sort_as_total_cmp_does() {
        let values = [
            f32::NEG_INFINITY,
            -1e9,
            -842.5,
            -1.0,
            -f32::MIN_POSITIVE,
            -0.0,
            0.0,
            f32::MIN_POSITIVE,
            0.3,
            1.0,
            595.28,
            f32::MAX,
            f32::INFINITY,
            f32::NAN,
        ];
        for a in values {
            for b in values {
                assert_eq!(
                    ordered_bits(a).cmp(&ordered_bits(b)),
                    a.total_cmp(&b),
                    "{a} vs {b}"
                );
            }
        }
    }
}
