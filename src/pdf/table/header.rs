//! The header row of a page: the known column titles found by their text wherever they stand
//! (in any order, with other columns between them), each possibly wrapped onto lines stacked
//! under each other; whatever else the header's lines hold is the titles of columns the
//! contract does not know, each with its own x-range. A known title counts only as a whole
//! cell: "Prezzo unitario" inside a header cell "Prezzo unitario netto" is another column (a
//! renamed one), not that title. Must NOT read the body.

use super::super::layout::Line;

/// Where a header title stands on the page.
#[derive(Debug, Clone, Copy)]
pub(super) struct TitleBox {
    pub(super) x0: f32,
    pub(super) x1: f32,
}

/// One column title of a page's header, as printed.
#[derive(Debug, Clone)]
pub(super) struct FoundTitle {
    /// Its words as printed, joined by single spaces (top line first).
    pub(super) text: String,
    pub(super) bx: TitleBox,
    /// The contract column it is (index into the expected titles), or `None` for a column the
    /// contract does not know.
    pub(super) known: Option<usize>,
}

/// A page's header row.
#[derive(Debug, Clone)]
pub(super) struct Header {
    /// Every title of the row, left to right.
    pub(super) titles: Vec<FoundTitle>,
    /// Lowest header baseline.
    pub(super) bottom: f32,
    pub(super) size: f32,
}

impl Header {
    /// How many of the expected titles the row holds.
    pub(super) fn known_count(&self) -> usize {
        self.titles.iter().filter(|t| t.known.is_some()).count()
    }
}

/// Lowercase, whitespace removed: the form titles are compared in.
pub(super) fn normalize(s: &str) -> Vec<char> {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The expected titles, normalised once for every page's header search, with an index by
/// first letter (most words of a page start no title at all).
#[derive(Debug, Clone)]
pub(super) struct TitleSet {
    norm: Vec<Vec<char>>,
    by_first: Vec<(char, Vec<usize>)>,
    /// Title indices, longest first: a title is matched before the shorter ones it contains
    /// ("Codice fiscale" before "Codice", "Cod. cliente" before "Cliente").
    longest_first: Vec<usize>,
}

impl TitleSet {
    pub(super) fn new<'a>(titles: impl IntoIterator<Item = &'a str>) -> TitleSet {
        let norm: Vec<Vec<char>> = titles.into_iter().map(normalize).collect();
        let mut by_first: Vec<(char, Vec<usize>)> = Vec::new();
        for (i, t) in norm.iter().enumerate() {
            let Some(&c) = t.first() else { continue };
            match by_first.iter_mut().find(|(f, _)| *f == c) {
                Some((_, v)) => v.push(i),
                None => by_first.push((c, vec![i])),
            }
        }
        let mut longest_first: Vec<usize> = (0..norm.len()).collect();
        longest_first.sort_by_key(|&i| std::cmp::Reverse(norm[i].len()));
        TitleSet {
            norm,
            by_first,
            longest_first,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.norm.len()
    }

    /// The titles a word could start (same first letter, the word a prefix of the title).
    fn started_by<'s>(&'s self, word: &'s str) -> impl Iterator<Item = usize> + 's {
        let first = word
            .chars()
            .find(|c| !c.is_whitespace())
            .and_then(|c| c.to_lowercase().next());
        self.by_first
            .iter()
            .filter(move |(c, _)| Some(*c) == first)
            .flat_map(|(_, v)| v.iter().copied())
            .filter(move |&t| strip_word(&self.norm[t], word).is_some())
    }
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

/// A word of a line: (line index, word index).
type WordRef = (usize, usize);

/// How good a title candidate is, best smallest: not a whole phrase by itself, not on the main
/// line, distance from the main line, left edge.
type CandidateKey = (bool, bool, f32, f32);

/// Lines tried as the one holding the header's titles (the most promising first).
const MAIN_CANDIDATES: usize = 4;

/// The fewest expected titles a row must hold to be taken as the header (a row holding fewer
/// is prose that happens to name a column or two): at least two, and half of them.
pub(super) fn header_threshold(expected: usize) -> usize {
    expected.div_ceil(2).max(2).min(expected)
}

/// Finds the header on a page: each line holding words that start two titles or more is tried
/// as the header's main line (most titles first), with a band of neighbouring lines for
/// wrapped titles; the row holding the most expected titles wins. Returns the header (even
/// one below [`header_threshold`]: the caller judges) and the index of its lowest line.
pub(super) fn find_header(lines: &[Line], titles: &TitleSet) -> Option<(Header, usize)> {
    let n = titles.len();
    let mut mains: Vec<(usize, usize)> = Vec::new();
    let mut seen = vec![false; n];
    for (k, line) in lines.iter().enumerate() {
        seen.iter_mut().for_each(|s| *s = false);
        for w in 0..line.words.len() {
            for t in titles.started_by(line.word(w)) {
                seen[t] = true;
            }
        }
        let count = seen.iter().filter(|s| **s).count();
        if count >= 2.min(n) && count > 0 {
            mains.push((count, k));
        }
    }
    // Most titles first; among equals, the upper line (a header stands above its rows).
    mains.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut best: Option<((usize, usize), Header, usize)> = None;
    for &(_, main) in mains.iter().take(MAIN_CANDIDATES) {
        let Some((header, last, on_main)) = Matcher::new(lines, main).run(titles) else {
            continue;
        };
        let score = (header.known_count(), on_main);
        if best.as_ref().is_some_and(|b| b.0 >= score) {
            continue;
        }
        let complete = score.0 == n;
        best = Some((score, header, last));
        if complete {
            break;
        }
    }
    best.map(|(_, h, l)| (h, l))
}

struct Matcher<'l> {
    lines: &'l [Line],
    main: usize,
    band: Vec<usize>,
    used: Vec<WordRef>,
}

impl<'l> Matcher<'l> {
    fn new(lines: &'l [Line], main: usize) -> Matcher<'l> {
        let reach = 2.6 * lines[main].size;
        let band = (0..lines.len())
            .filter(|&j| (lines[j].y - lines[main].y).abs() <= reach)
            .collect();
        Matcher {
            lines,
            main,
            band,
            used: Vec::new(),
        }
    }

    /// The phrase of line `j` holding word `w`.
    fn phrase_of(&self, (j, w): WordRef) -> std::ops::Range<usize> {
        self.lines[j]
            .phrases
            .iter()
            .find(|p| p.words.contains(&w))
            .map_or(w..w + 1, |p| p.words.clone())
    }

    /// Every word of every phrase `refs` touch is in `refs`: the title is whole cells.
    fn whole(&self, refs: &[WordRef], within: &[WordRef]) -> bool {
        refs.iter().all(|&(j, w)| {
            self.phrase_of((j, w))
                .all(|other| within.contains(&(j, other)))
        })
    }

    /// Matches the expected titles (longest first, each on the best free candidate: a whole
    /// phrase by itself, then the main line, then nearer lines, then left to right), drops the
    /// ones that turn out to be part of a longer cell, and collects what is left on the
    /// header's lines as unknown titles. Returns the header, its lowest line and how many
    /// titles start on the main line; `None` when no title stands.
    fn run(mut self, titles: &TitleSet) -> Option<(Header, usize, usize)> {
        let n = titles.len();
        let mut matched: Vec<Option<Vec<WordRef>>> = vec![None; n];
        for &t in &titles.longest_first {
            let title = &titles.norm[t];
            let mut best: Option<(CandidateKey, Vec<WordRef>)> = None;
            for &j in &self.band {
                let line = &self.lines[j];
                for w in 0..line.words.len() {
                    if self.used.contains(&(j, w)) || strip_word(title, line.word(w)).is_none() {
                        continue;
                    }
                    let Some(refs) = self.complete_title(title, (j, w)) else {
                        continue;
                    };
                    let key: CandidateKey = (
                        !self.whole(&refs, &refs),
                        j != self.main,
                        (line.y - self.lines[self.main].y).abs(),
                        line.words[w].x0,
                    );
                    let better = best.as_ref().is_none_or(|(k, _)| {
                        (key.0, key.1)
                            .cmp(&(k.0, k.1))
                            .then(key.2.total_cmp(&k.2))
                            .then(key.3.total_cmp(&k.3))
                            .is_lt()
                    });
                    if better {
                        best = Some((key, refs));
                    }
                }
            }
            if let Some((_, refs)) = best {
                self.used.extend(refs.iter().copied());
                matched[t] = Some(refs);
            }
        }
        // A title that shares a cell with words no expected title took is another column
        // (renamed or extended): not this title. Dropping one may break another: repeat.
        loop {
            let broken = (0..n).find(|&t| {
                matched[t]
                    .as_ref()
                    .is_some_and(|refs| !self.whole(refs, &self.used))
            });
            let Some(t) = broken else { break };
            if let Some(refs) = matched[t].take() {
                self.used.retain(|r| !refs.contains(r));
            }
        }
        let mut header_lines: Vec<usize> =
            matched.iter().flatten().flatten().map(|r| r.0).collect();
        header_lines.sort_unstable();
        header_lines.dedup();
        if header_lines.is_empty() {
            return None;
        }
        let lines = self.lines;
        let text_of = |refs: &[WordRef]| {
            refs.iter()
                .map(|&(j, w)| lines[j].word(w))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let box_of = |refs: &[WordRef]| TitleBox {
            x0: refs
                .iter()
                .map(|&(j, w)| lines[j].words[w].x0)
                .fold(f32::MAX, f32::min),
            x1: refs
                .iter()
                .map(|&(j, w)| lines[j].words[w].x1)
                .fold(f32::MIN, f32::max),
        };
        let mut found: Vec<FoundTitle> = matched
            .iter()
            .enumerate()
            .filter_map(|(t, refs)| {
                refs.as_ref().map(|refs| FoundTitle {
                    text: text_of(refs),
                    bx: box_of(refs),
                    known: Some(t),
                })
            })
            .collect();
        // What no expected title took on the header's lines: runs of free words within a
        // phrase, stacked runs that overlap horizontally joined (a wrapped unknown title).
        let mut unknown: Vec<(Vec<WordRef>, usize)> = Vec::new();
        for &j in &header_lines {
            let line = &lines[j];
            let tol = 0.5 * line.size;
            for phrase in &line.phrases {
                let mut run: Vec<WordRef> = Vec::new();
                for w in phrase.words.clone().chain(std::iter::once(usize::MAX)) {
                    if w != usize::MAX && !self.used.contains(&(j, w)) {
                        run.push((j, w));
                        continue;
                    }
                    if run.is_empty() {
                        continue;
                    }
                    let piece = std::mem::take(&mut run);
                    let b = box_of(&piece);
                    let above = unknown.iter_mut().find(|(refs, last)| {
                        let g = box_of(refs);
                        *last < j && b.x0 <= g.x1 + tol && b.x1 >= g.x0 - tol
                    });
                    match above {
                        Some((refs, last)) => {
                            refs.extend(piece);
                            *last = j;
                        }
                        None => unknown.push((piece, j)),
                    }
                }
            }
        }
        found.extend(unknown.iter().map(|(refs, _)| FoundTitle {
            text: text_of(refs),
            bx: box_of(refs),
            known: None,
        }));
        found.sort_by(|a, b| a.bx.x0.total_cmp(&b.bx.x0));
        let on_main = matched
            .iter()
            .flatten()
            .filter(|refs| refs[0].0 == self.main)
            .count();
        let bottom = header_lines
            .iter()
            .map(|&j| lines[j].y)
            .fold(f32::MAX, f32::min);
        let size = header_lines
            .iter()
            .map(|&j| lines[j].size)
            .fold(0.0, f32::max);
        let last = *header_lines.last()?;
        Some((
            Header {
                titles: found,
                bottom,
                size,
            },
            last,
            on_main,
        ))
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
