//! The header row of a page: found by the expected column titles, each title possibly wrapped
//! onto lines stacked under each other, matched in order with backtracking (bounded). Must NOT
//! read the body.

use super::super::layout::Line;

/// One header title located on a page.
#[derive(Debug, Clone, Copy)]
pub(super) struct TitleBox {
    pub(super) x0: f32,
    pub(super) x1: f32,
}

/// Lowercase, whitespace removed: the form titles are compared in.
pub(super) fn normalize(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// If `word` (normalised on the fly) is a prefix of `rest`, the remainder.
fn strip_word<'r>(rest: &'r [char], word: &str) -> Option<&'r [char]> {
    // Fast rejection on the first letter (this runs for every word near a header).
    let first = word.chars().find(|c| !c.is_whitespace())?;
    let first_ok = if first.is_ascii() {
        rest.first() == Some(&first.to_ascii_lowercase())
    } else {
        first.to_lowercase().next() == rest.first().copied()
    };
    if !first_ok {
        return None;
    }
    if word.is_ascii() {
        let mut i = 0;
        for b in word.bytes().filter(|b| !b.is_ascii_whitespace()) {
            if rest.get(i) != Some(&char::from(b.to_ascii_lowercase())) {
                return None;
            }
            i += 1;
        }
        return Some(&rest[i..]);
    }
    let mut i = 0;
    let mut any = false;
    for c in word.chars().filter(|c| !c.is_whitespace()) {
        for lc in c.to_lowercase() {
            if rest.get(i) != Some(&lc) {
                return None;
            }
            i += 1;
            any = true;
        }
    }
    any.then(|| &rest[i..])
}

#[derive(Debug, Clone)]
pub(super) struct Header {
    pub(super) titles: Vec<TitleBox>,
    /// Lowest header baseline.
    pub(super) bottom: f32,
    pub(super) size: f32,
}

/// A word of a line: (line index, word index).
type WordRef = (usize, usize);

struct HeaderSearch<'l> {
    lines: &'l [Line],
    /// The line the first title was found on: candidates there are tried first.
    main: usize,
    band: Vec<usize>,
    used: Vec<WordRef>,
    boxes: Vec<(TitleBox, Vec<WordRef>)>,
    budget: usize,
}

/// Finds the header on a page: tries each line as the one holding the first title, with a
/// band of neighbouring lines for wrapped titles. Returns the header and the index of its
/// lowest line.
pub(super) fn find_header(lines: &[Line], titles: &[Vec<char>]) -> Option<(Header, usize)> {
    let first = titles.first()?;
    // Every line holding a word that starts the first title is tried as the header's main
    // line; a page header such as "Ordinamento: Codice articolo, Listino" can match titles
    // too, so the match with the most titles starting on its main line wins.
    let mut best: Option<(usize, Header, usize)> = None;
    for main in 0..lines.len() {
        let line = &lines[main];
        if !(0..line.words.len()).any(|w| strip_word(first, line.word(w)).is_some()) {
            continue;
        }
        let reach = 2.6 * line.size;
        let band: Vec<usize> = (0..lines.len())
            .filter(|&j| (lines[j].y - line.y).abs() <= reach)
            .collect();
        let mut search = HeaderSearch {
            lines,
            main,
            band,
            used: Vec::new(),
            boxes: Vec::new(),
            budget: 20_000,
        };
        if !search.titles_from(titles, f32::MIN) {
            continue;
        }
        let on_main = search
            .boxes
            .iter()
            .filter(|(_, refs)| refs[0].0 == main)
            .count();
        if best.as_ref().is_some_and(|b| b.0 >= on_main) {
            continue;
        }
        let refs: Vec<WordRef> = search
            .boxes
            .iter()
            .flat_map(|(_, r)| r.iter().copied())
            .collect();
        let last_line = refs.iter().map(|r| r.0).max().unwrap_or(main);
        let bottom = refs.iter().map(|r| lines[r.0].y).fold(f32::MAX, f32::min);
        let size = refs.iter().map(|r| lines[r.0].size).fold(0.0, f32::max);
        let boxes = search.boxes.iter().map(|(b, _)| *b).collect();
        let header = Header {
            titles: boxes,
            bottom,
            size,
        };
        let complete = on_main == titles.len();
        best = Some((on_main, header, last_line));
        if complete {
            break;
        }
    }
    best.map(|(_, h, l)| (h, l))
}

impl HeaderSearch<'_> {
    /// Matches `titles` in order, each starting right of `min_x0`; backtracks over candidates.
    fn titles_from(&mut self, titles: &[Vec<char>], min_x0: f32) -> bool {
        let Some((title, rest_titles)) = titles.split_first() else {
            return true;
        };
        let mut candidates: Vec<WordRef> = Vec::new();
        for &j in &self.band {
            let line = &self.lines[j];
            for w in 0..line.words.len() {
                if line.words[w].x0 > min_x0
                    && strip_word(title, line.word(w)).is_some()
                    && !self.used.contains(&(j, w))
                {
                    candidates.push((j, w));
                }
            }
        }
        // Main line first, then nearer lines, each left to right.
        let main_y = self.lines[self.main].y;
        let key = |r: &WordRef| {
            let l = &self.lines[r.0];
            (r.0 != self.main, (l.y - main_y).abs(), l.words[r.1].x0)
        };
        candidates.sort_by(|a, b| {
            let (ka, kb) = (key(a), key(b));
            ka.0.cmp(&kb.0)
                .then(ka.1.total_cmp(&kb.1))
                .then(ka.2.total_cmp(&kb.2))
        });
        for start in candidates {
            if self.budget == 0 {
                return false;
            }
            self.budget -= 1;
            let Some(refs) = self.complete_title(title, start) else {
                continue;
            };
            let x0 = refs
                .iter()
                .map(|r| self.lines[r.0].words[r.1].x0)
                .fold(f32::MAX, f32::min);
            let x1 = refs
                .iter()
                .map(|r| self.lines[r.0].words[r.1].x1)
                .fold(f32::MIN, f32::max);
            let mark = self.used.len();
            self.used.extend(refs.iter().copied());
            self.boxes.push((TitleBox { x0, x1 }, refs));
            if self.titles_from(rest_titles, x0 + 0.5) {
                return true;
            }
            self.boxes.pop();
            self.used.truncate(mark);
        }
        false
    }

    /// Completes a title from its first word: following words on the same line (small gap)
    /// or on a lower line of the band under the title's extent.
    fn complete_title(&self, title: &[char], start: WordRef) -> Option<Vec<WordRef>> {
        let lines = self.lines;
        let mut rest = strip_word(title, lines[start.0].word(start.1))?;
        let mut refs = vec![start];
        let (mut cur_line, mut cur_word) = start;
        let mut x0 = lines[start.0].words[start.1].x0;
        let mut x1 = lines[start.0].words[start.1].x1;
        while !rest.is_empty() {
            let line = &lines[cur_line];
            let size = line.size.max(0.1);
            // Same line, next word.
            let next = cur_word + 1;
            if next < line.words.len()
                && line.words[next].x0 - line.words[cur_word].x1 < 1.2 * size
                && !self.used.contains(&(cur_line, next))
                && let Some(r) = strip_word(rest, line.word(next))
            {
                rest = r;
                refs.push((cur_line, next));
                cur_word = next;
                x1 = x1.max(line.words[next].x1);
                continue;
            }
            // A lower line of the band, overlapping the title horizontally.
            let tol = 0.5 * size;
            let mut found = None;
            for &j in &self.band {
                let l = &lines[j];
                let dy = line.y - l.y;
                if dy <= 0.3 * size || dy > 2.4 * size {
                    continue;
                }
                for w in 0..l.words.len() {
                    let word = &l.words[w];
                    if word.x1 < x0 - tol
                        || word.x0 > x1 + tol
                        || self.used.contains(&(j, w))
                        || refs.contains(&(j, w))
                    {
                        continue;
                    }
                    if let Some(r) = strip_word(rest, l.word(w)) {
                        found = Some((j, w, r));
                        break;
                    }
                }
                if found.is_some() {
                    break;
                }
            }
            let (j, w, r) = found?;
            rest = r;
            refs.push((j, w));
            cur_line = j;
            cur_word = w;
            x0 = x0.min(lines[j].words[w].x0);
            x1 = x1.max(lines[j].words[w].x1);
        }
        Some(refs)
    }
}
