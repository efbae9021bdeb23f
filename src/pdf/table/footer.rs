//! The footer of a report page and what it declares: "Pagina N di M" and "Totale record: K"
//! (Italian, case-insensitive, thousands dots allowed), and the [`Completeness`] of a document
//! judged from them. Must NOT decide what an incomplete export means (the sync does).

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

// ------------------------------------------------------------------ patterns

/// Whether a word contains "pag" or "tot" (ASCII case-insensitive): only lines with such a
/// word can hold "Pagina N di M" or "Totale record: K".
pub(super) fn mentions_footer_word(word: &str) -> bool {
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
}
