//! Adobe glyph names → text: the Adobe Glyph List (lopdf's table), the `uniXXXX` / `uXXXX[XX]`
//! conventions, suffixed variants (`a.sc`) and ligatures (`f_i`). Used by simple fonts'
//! `/Differences` and by the glyph tables of embedded fonts.
//!
//! It must NOT decide whether a name is trustworthy text for a report (private-use results,
//! normalisation): its callers do.

use lopdf::{Dictionary, Document, Encoding, Object};

/// The text of an Adobe glyph name: lopdf's Adobe Glyph List first, then the `uniXXXX` /
/// `uXXXX[XX]` conventions, then suffixed variants (`a.sc`) and ligatures (`f_i`).
pub(crate) fn glyph_name_to_text(name: &[u8]) -> Option<String> {
    if let Some(t) = agl_lookup(name) {
        return Some(t);
    }
    let s = std::str::from_utf8(name).ok()?;
    if let Some(hex) = s.strip_prefix("uni")
        && !hex.is_empty()
        && hex.len() % 4 == 0
        && hex.chars().all(|c| c.is_ascii_hexdigit())
    {
        let units: Vec<u16> = (0..hex.len() / 4)
            .filter_map(|i| u16::from_str_radix(&hex[i * 4..i * 4 + 4], 16).ok())
            .collect();
        let text: String = char::decode_utf16(units).filter_map(Result::ok).collect();
        return (!text.is_empty()).then_some(text);
    }
    if let Some(hex) = s.strip_prefix('u')
        && (4..=6).contains(&hex.len())
        && hex.chars().all(|c| c.is_ascii_hexdigit())
    {
        return u32::from_str_radix(hex, 16)
            .ok()
            .and_then(char::from_u32)
            .map(String::from);
    }
    if let Some((stem, _)) = s.split_once('.')
        && !stem.is_empty()
    {
        return glyph_name_to_text(stem.as_bytes());
    }
    if s.contains('_') {
        let parts: Option<Vec<String>> = s
            .split('_')
            .map(|p| glyph_name_to_text(p.as_bytes()))
            .collect();
        return parts.map(|p| p.concat());
    }
    None
}

fn agl_lookup(name: &[u8]) -> Option<String> {
    let mut enc = Dictionary::new();
    enc.set(
        "Differences",
        Object::Array(vec![Object::Integer(65), Object::Name(name.to_vec())]),
    );
    let mut font = Dictionary::new();
    font.set("Type", Object::Name(b"Font".to_vec()));
    font.set("Encoding", Object::Dictionary(enc));
    let doc = Document::new();
    match font.get_font_encoding(&doc) {
        // Any other variant means lopdf did not know the name and fell back.
        Ok(e @ Encoding::Differences(_)) => e.bytes_to_string(&[65]).ok().filter(|s| !s.is_empty()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdf::font::normalize_glyph_text;

    #[test]
    fn glyph_names_resolve() {
        assert_eq!(glyph_name_to_text(b"agrave").as_deref(), Some("à"));
        assert_eq!(glyph_name_to_text(b"Euro").as_deref(), Some("€"));
        assert_eq!(glyph_name_to_text(b"uni00E8").as_deref(), Some("è"));
        assert_eq!(glyph_name_to_text(b"u1F600").as_deref(), Some("😀"));
        assert_eq!(glyph_name_to_text(b"a.sc").as_deref(), Some("a"));
        assert_eq!(
            normalize_glyph_text(&glyph_name_to_text(b"f_f_i").unwrap()),
            "ffi"
        );
        assert_eq!(glyph_name_to_text(b"g123"), None);
    }
}
