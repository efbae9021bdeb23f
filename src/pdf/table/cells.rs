//! A cell's text as the reader returns it: whitespace collapsed, and the combining accents some
//! producers draw apart from their letter composed back (`a` + U+0300 → `à`). Must NOT parse
//! values.

/// Whether a cell has whitespace to collapse or accents to compose (most have neither).
pub(super) fn needs_cleaning(s: &str) -> bool {
    s.starts_with(char::is_whitespace)
        || s.ends_with(char::is_whitespace)
        || s.contains("  ")
        || s.chars()
            .any(|c| c != ' ' && c.is_whitespace() || ('\u{300}'..='\u{308}').contains(&c))
}

/// Collapses whitespace and composes the combining accents a producer may draw separately.
pub(super) fn clean_cell(s: &str) -> String {
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
    fn accents_compose() {
        assert_eq!(
            clean_cell("  Citta\u{300}   di  Forli\u{300} "),
            "Città di Forlì"
        );
    }
}
