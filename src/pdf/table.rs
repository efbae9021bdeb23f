//! Layer 3: lines of every page → the rows of a report table, given its column titles.
//!
//! Owns the report layout of ERP.md: the header row found on each page by its titles (case-
//! and whitespace-insensitive, titles may wrap onto lines stacked under each other), column
//! anchors (left edge of left-aligned titles, right edge of right-aligned ones), the page
//! header above it, the footer (`Pagina N di M`, anything after the last row) and the
//! `Totale record: K` line, assignment of phrases to columns by alignment, and rows: a row
//! starts where the first column has text; other lines continue a row, attached according to
//! the document's detected vertical cell alignment (top, middle or bottom).
//!
//! It must NOT parse values (dates, amounts: that is `records`) nor touch PDF objects.

use super::layout::Line;

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

/// What the document says about its own extent, compared with what was read. Not an error
/// by itself: a caller decides what an incomplete export means (ERP.md: a truncated export
/// must never be taken as "records deleted").
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Completeness {
    /// Pages in the PDF file.
    pub physical_pages: u32,
    /// For each physical page, the `N` of its "Pagina N di M" (None when the page has none).
    pub page_numbers: Vec<Option<u32>>,
    /// Every distinct `M` seen in "Pagina N di M", ascending (one value when consistent).
    pub declared_pages: Vec<u32>,
    /// `K` of "Totale record: K", if the document has that line.
    pub declared_total: Option<u64>,
    /// Rows read.
    pub rows: usize,
}

impl Completeness {
    /// True only when pages 1..M are all present exactly once, M is consistent, K is declared
    /// and the number of rows read equals K.
    pub fn is_complete(&self) -> bool {
        self.problems().is_empty()
    }

    /// Printed page numbers 1..M that no page carries.
    pub fn missing_pages(&self) -> Vec<u32> {
        let Some(&m) = self.declared_pages.last() else {
            return Vec::new();
        };
        (1..=m)
            .filter(|n| !self.page_numbers.contains(&Some(*n)))
            .collect()
    }

    /// Why the export is not complete (empty when it is), in words for logs and errors.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        match self.declared_pages.as_slice() {
            [] => p.push("no page carries \"Pagina N di M\"".to_string()),
            [m] => {
                let missing = self.missing_pages();
                if !missing.is_empty() {
                    p.push(format!("pages {missing:?} of {m} are missing"));
                }
                let unnumbered = self.page_numbers.iter().filter(|n| n.is_none()).count();
                if unnumbered > 0 {
                    p.push(format!("{unnumbered} page(s) without \"Pagina N di M\""));
                }
                let mut seen: Vec<u32> = self.page_numbers.iter().flatten().copied().collect();
                seen.sort_unstable();
                if seen.windows(2).any(|w| w[0] == w[1]) || seen.iter().any(|n| *n > *m || *n == 0)
                {
                    p.push(format!("page numbers {seen:?} do not match 1..{m}"));
                }
            }
            many => p.push(format!("inconsistent page counts {many:?}")),
        }
        match self.declared_total {
            None => p.push("no \"Totale record: K\" line".to_string()),
            Some(k) if k != self.rows as u64 => {
                p.push(format!("{} rows read, {k} declared", self.rows))
            }
            Some(_) => {}
        }
        p
    }
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

/// One header title located on a page.
#[derive(Debug, Clone, Copy)]
struct TitleBox {
    x0: f32,
    x1: f32,
}

/// A body line with its phrases assigned to columns.
#[derive(Debug, Clone)]
struct BodyLine {
    y: f32,
    size: f32,
    cells: Vec<Option<String>>,
}

impl BodyLine {
    fn is_row_start(&self) -> bool {
        self.cells.first().is_some_and(Option::is_some)
    }
}

/// The body of one page.
#[derive(Debug, Clone)]
struct PageBody {
    page: u32,
    lines: Vec<BodyLine>,
}

/// Reads the table from the lines of every page (`pages[i]` is physical page i + 1).
/// Returns `None` when no page has the header row.
pub fn read(pages: &[Vec<Line>], columns: &[TableColumn<'_>]) -> Option<Table> {
    let titles: Vec<Vec<char>> = columns.iter().map(|c| normalize(c.title)).collect();
    let mut completeness = Completeness {
        physical_pages: pages.len() as u32,
        ..Completeness::default()
    };
    let mut bodies = Vec::new();
    let mut header_pages = Vec::new();
    for (i, lines) in pages.iter().enumerate() {
        let page = i as u32 + 1;
        let mut page_number = None;
        let mut stop_lines = vec![false; lines.len()];
        for (k, line) in lines.iter().enumerate() {
            // Cheap filter first: the full patterns lowercase the whole line.
            if !(0..line.words.len()).any(|w| mentions_footer_word(line.word(w))) {
                continue;
            }
            let text = line.text();
            if let Some((n, m)) = find_page_number(&text) {
                if page_number.is_none() {
                    page_number = Some(n);
                    if !completeness.declared_pages.contains(&m) {
                        completeness.declared_pages.push(m);
                    }
                }
                stop_lines[k] = true;
            }
            if let Some(k_total) = find_total(&text) {
                completeness.declared_total = Some(k_total);
                stop_lines[k] = true;
            }
        }
        completeness.page_numbers.push(page_number);
        let Some((header, last_header_line)) = find_header(lines, &titles) else {
            continue;
        };
        header_pages.push(page);
        let body = body_lines(lines, last_header_line, &stop_lines, &header);
        bodies.push(PageBody {
            page,
            lines: assign_columns(lines, &body, &header, columns),
        });
    }
    completeness.declared_pages.sort_unstable();
    if header_pages.is_empty() {
        return None;
    }
    let vertical_align = detect_vertical_align(&bodies, columns.len());
    let rows = build_rows(bodies, columns.len(), vertical_align);
    completeness.rows = rows.len();
    Some(Table {
        rows,
        completeness,
        header_pages,
        vertical_align,
    })
}

// ------------------------------------------------------------------ footer patterns

/// Whether a word contains "pag" or "tot" (ASCII case-insensitive): only lines with such a
/// word can hold "Pagina N di M" or "Totale record: K".
fn mentions_footer_word(word: &str) -> bool {
    word.as_bytes().windows(3).any(|w| {
        let w = [
            w[0].to_ascii_lowercase(),
            w[1].to_ascii_lowercase(),
            w[2].to_ascii_lowercase(),
        ];
        &w == b"pag" || &w == b"tot"
    })
}

fn lower_chars(s: &str) -> Vec<char> {
    s.chars().flat_map(char::to_lowercase).collect()
}

fn skip_ws(c: &[char], mut i: usize) -> usize {
    while i < c.len() && c[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Digits with optional Italian thousands dots (`5.700`) starting at `i`.
fn number_at(c: &[char], i: usize) -> Option<(u64, usize)> {
    let mut j = i;
    let mut v: u64 = 0;
    let mut any = false;
    while j < c.len() {
        if let Some(d) = c[j].to_digit(10) {
            v = v.checked_mul(10)?.checked_add(u64::from(d))?;
            any = true;
            j += 1;
        } else if c[j] == '.' && any && c.get(j + 1).is_some_and(char::is_ascii_digit) {
            j += 1;
        } else {
            break;
        }
    }
    any.then_some((v, j))
}

fn word_at(c: &[char], i: usize, w: &str) -> Option<usize> {
    let mut j = i;
    for wc in w.chars() {
        if c.get(j) != Some(&wc) {
            return None;
        }
        j += 1;
    }
    Some(j)
}

/// `Pagina\s*(\d+)\s*di\s*(\d+)` anywhere in a line, case-insensitive.
pub(crate) fn find_page_number(text: &str) -> Option<(u32, u32)> {
    let c = lower_chars(text);
    for start in 0..c.len() {
        let Some(i) = word_at(&c, start, "pagina").or_else(|| word_at(&c, start, "pag.")) else {
            continue;
        };
        let i = skip_ws(&c, i);
        let Some((n, i)) = number_at(&c, i) else {
            continue;
        };
        let i = skip_ws(&c, i);
        let Some(i) = word_at(&c, i, "di") else {
            continue;
        };
        let i = skip_ws(&c, i);
        let Some((m, _)) = number_at(&c, i) else {
            continue;
        };
        if let (Ok(n), Ok(m)) = (u32::try_from(n), u32::try_from(m)) {
            return Some((n, m));
        }
    }
    None
}

/// `Totale\s*record:?\s*(\d+)` anywhere in a line, case-insensitive.
pub(crate) fn find_total(text: &str) -> Option<u64> {
    let c = lower_chars(text);
    for start in 0..c.len() {
        let Some(i) = word_at(&c, start, "totale") else {
            continue;
        };
        let i = skip_ws(&c, i);
        let Some(i) = word_at(&c, i, "record") else {
            continue;
        };
        let mut i = i;
        if c.get(i) == Some(&'i') {
            i += 1; // "Totale records" is not ERP.md's wording, but costs nothing to accept.
        }
        let mut i = skip_ws(&c, i);
        if c.get(i) == Some(&':') {
            i += 1;
        }
        let i = skip_ws(&c, i);
        if let Some((k, _)) = number_at(&c, i) {
            return Some(k);
        }
    }
    None
}

// ------------------------------------------------------------------ header

/// Lowercase, whitespace removed: the form titles are compared in.
fn normalize(s: &str) -> Vec<char> {
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
struct Header {
    titles: Vec<TitleBox>,
    /// Lowest header baseline.
    bottom: f32,
    size: f32,
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
fn find_header(lines: &[Line], titles: &[Vec<char>]) -> Option<(Header, usize)> {
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

// ------------------------------------------------------------------ body and columns

/// Indices of the body lines: below the header, before the first footer/total line, and
/// before an unusually large vertical gap (footer text without a page number).
fn body_lines(
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

fn assign_columns(
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

// ------------------------------------------------------------------ rows

/// For each line of a page, the index (into the page's lines) of the row-start line it
/// belongs to under an alignment hypothesis; `None` for a line no row can take.
fn attach(lines: &[BodyLine], align: VerticalAlign) -> Vec<Option<usize>> {
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

fn detect_vertical_align(bodies: &[PageBody], ncols: usize) -> VerticalAlign {
    let pitch = bodies
        .iter()
        .filter_map(|b| line_pitch(&b.lines, ncols))
        .min_by(f32::total_cmp);
    let score = |a| {
        bodies
            .iter()
            .map(|b| violations(&b.lines, ncols, a, pitch))
            .sum::<usize>()
    };
    let (top, middle, bottom) = (
        score(VerticalAlign::Top),
        score(VerticalAlign::Middle),
        score(VerticalAlign::Bottom),
    );
    if top <= middle && top <= bottom {
        VerticalAlign::Top
    } else if middle <= bottom {
        VerticalAlign::Middle
    } else {
        VerticalAlign::Bottom
    }
}

fn build_rows(bodies: Vec<PageBody>, ncols: usize, align: VerticalAlign) -> Vec<TableRow> {
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

/// Whether a cell has whitespace to collapse or accents to compose (most have neither).
fn needs_cleaning(s: &str) -> bool {
    s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace)
        || s.contains("  ")
        || s.chars()
            .any(|c| c != ' ' && c.is_whitespace() || ('\u{300}'..='\u{308}').contains(&c))
}

/// Collapses whitespace and composes the combining accents a producer may draw separately.
fn clean_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.chars().any(|c| ('\u{300}'..='\u{308}').contains(&c)) {
        out = compose_accents(&out);
    }
    out
}

fn compose_accents(s: &str) -> String {
    let mut out: Vec<char> = Vec::with_capacity(s.len());
    for c in s.chars() {
        if let Some(&base) = out.last()
            && let Some(composed) = compose(base, c)
        {
            out.pop();
            out.push(composed);
            continue;
        }
        out.push(c);
    }
    out.into_iter().collect()
}

fn compose(base: char, mark: char) -> Option<char> {
    const TABLE: &[(char, [char; 4])] = &[
        // base: grave, acute, circumflex, diaeresis
        ('a', ['à', 'á', 'â', 'ä']),
        ('e', ['è', 'é', 'ê', 'ë']),
        ('i', ['ì', 'í', 'î', 'ï']),
        ('o', ['ò', 'ó', 'ô', 'ö']),
        ('u', ['ù', 'ú', 'û', 'ü']),
        ('A', ['À', 'Á', 'Â', 'Ä']),
        ('E', ['È', 'É', 'Ê', 'Ë']),
        ('I', ['Ì', 'Í', 'Î', 'Ï']),
        ('O', ['Ò', 'Ó', 'Ô', 'Ö']),
        ('U', ['Ù', 'Ú', 'Û', 'Ü']),
    ];
    let idx = match mark {
        '\u{300}' => 0,
        '\u{301}' => 1,
        '\u{302}' => 2,
        '\u{308}' => 3,
        _ => return None,
    };
    TABLE.iter().find(|(b, _)| *b == base).map(|(_, v)| v[idx])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_number_patterns() {
        assert_eq!(find_page_number("Pagina 3 di 12"), Some((3, 12)));
        assert_eq!(
            find_page_number("Archibald ERP · pagina 1 di 4 · riservato"),
            Some((1, 4))
        );
        assert_eq!(find_page_number("Pagina3di12"), Some((3, 12)));
        assert_eq!(find_page_number("PAGINA 2 DI 2"), Some((2, 2)));
        assert_eq!(find_page_number("Pagina uno di due"), None);
        assert_eq!(find_page_number("Totale record: 4"), None);
    }

    #[test]
    fn total_patterns() {
        assert_eq!(find_total("Totale record: 5700"), Some(5700));
        assert_eq!(find_total("Totale record 5.700"), Some(5700));
        assert_eq!(find_total("Pagina 9 di 9   TOTALE RECORD:12"), Some(12));
        assert_eq!(find_total("Totale"), None);
        assert_eq!(find_total("Totale 1.234,50 €"), None);
    }

    #[test]
    fn completeness_rules() {
        let mut c = Completeness {
            physical_pages: 3,
            page_numbers: vec![Some(1), Some(2), Some(3)],
            declared_pages: vec![3],
            declared_total: Some(10),
            rows: 10,
        };
        assert!(c.is_complete(), "{:?}", c.problems());
        c.rows = 9;
        assert!(!c.is_complete());
        c.rows = 10;
        c.page_numbers = vec![Some(1), Some(3), Some(3)];
        assert_eq!(c.missing_pages(), vec![2]);
        assert!(!c.is_complete());
        c.page_numbers = vec![Some(1), Some(2), Some(3)];
        c.declared_pages = vec![3, 4];
        assert!(!c.is_complete());
        c.declared_pages = vec![3];
        c.declared_total = None;
        assert!(!c.is_complete());
    }

    #[test]
    fn accents_compose() {
        assert_eq!(
            clean_cell("  Citta\u{300}   di  Forli\u{300} "),
            "Città di Forlì"
        );
    }
}
