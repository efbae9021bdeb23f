//! The glyph tables of a font program embedded in the PDF, read when the font dictionary has
//! no `/ToUnicode`: print drivers and PDF optimisers that re-distil a report often drop it, and
//! the text is then still in the font itself — a TrueType or OpenType `cmap` that maps Unicode
//! to glyphs (read backwards), glyph names (`post`, a CFF charset, a Type 1 `/Encoding`), and a
//! simple font's built-in encoding (code → glyph).
//!
//! Owns: finding the program (`/FontFile`, `/FontFile2`, `/FontFile3`), code → glyph for simple
//! fonts and CID → glyph for Type0 fonts, glyph → text. It must NOT guess: a glyph that no
//! Unicode entry and no meaningful name describes has no text, so does one that two different
//! characters map to, and so does a private-use character (`uniF041` names a slot, not a
//! letter). The caller turns "no text" into an error naming the font. Work is bounded whatever
//! the font claims: the reverse `cmap` probes the 65,536 code points of the BMP once, names are
//! looked up only for glyphs actually drawn, and at most [`MAX_NAME_LOOKUPS`] of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};

use lopdf::{Dictionary, Document, Object};
use ttf_parser::{GlyphId, RawFace, Tag, cff, cmap, post};

use super::glyph_names::glyph_name_to_text;

/// Glyph-name lookups allowed per font (a report draws a few hundred distinct glyphs; a CFF
/// charset lookup walks its ranges, so an absurd font must not make it quadratic).
pub(crate) const MAX_NAME_LOOKUPS: u32 = 8_192;

/// What the embedded program says, in owned form (the font's bytes are not kept).
pub(crate) struct EmbeddedFont {
    /// Glyph → text, from the Unicode `cmap` read backwards (TrueType / OpenType).
    by_unicode: HashMap<u16, char>,
    /// Glyphs that two different characters map to (two of them, for the error): no text,
    /// whatever the names say.
    ambiguous: HashMap<u16, (char, char)>,
    /// Simple fonts: code → glyph by the program's own encoding (`cmap` (3,0) / (1,0), or the
    /// CFF encoding).
    code_to_gid: [Option<u16>; 256],
    /// Simple Type 1 programs: code → glyph name by the program's `/Encoding`.
    type1_names: Vec<Option<String>>,
    /// CID-keyed CFF: CID → glyph (its charset).
    cid_to_gid: Option<HashMap<u16, u16>>,
    names: Names,
    lookups: AtomicU32,
}

/// Where glyph names come from, kept as bytes so lookups can be made lazily.
enum Names {
    None,
    /// A `post` table of format 2: the glyph → name index array and the names past the 258
    /// Macintosh ones.
    Post {
        table: Vec<u8>,
        extra: Vec<String>,
    },
    /// A name-keyed CFF program (re-parsed per lookup; lookups are cached by the caller).
    Cff(Vec<u8>),
}

impl EmbeddedFont {
    /// Reads the program of `descriptor` (`/FontFile`, `/FontFile2` or `/FontFile3`), or
    /// `None` when there is none or it cannot be parsed.
    pub fn load(doc: &Document, descriptor: &Dictionary) -> Option<EmbeddedFont> {
        let mut font = EmbeddedFont {
            by_unicode: HashMap::new(),
            ambiguous: Default::default(),
            code_to_gid: [None; 256],
            type1_names: Vec::new(),
            cid_to_gid: None,
            names: Names::None,
            lookups: AtomicU32::new(0),
        };
        if let Ok(Object::Stream(s)) = descriptor.get_deref(b"FontFile2", doc) {
            font.read_sfnt(&super::bounded_content(s)?)?;
        } else if let Ok(Object::Stream(s)) = descriptor.get_deref(b"FontFile3", doc) {
            let data = super::bounded_content(s)?;
            let subtype = s.dict.get(b"Subtype").and_then(Object::as_name).ok();
            if subtype == Some(b"OpenType".as_slice()) {
                font.read_sfnt(&data)?;
            } else {
                font.read_cff(data)?;
            }
        } else if let Ok(Object::Stream(s)) = descriptor.get_deref(b"FontFile", doc) {
            let data = super::bounded_content(s)?;
            let clear = s
                .dict
                .get(b"Length1")
                .and_then(Object::as_i64)
                .ok()
                .and_then(|n| usize::try_from(n).ok())
                .map_or(data.len(), |n| n.min(data.len()));
            font.type1_names = type1_encoding(&data[..clear]);
        } else {
            return None;
        }
        Some(font)
    }

    /// TrueType or OpenType: the Unicode `cmap` backwards, the symbolic `cmap` for codes, the
    /// `post` names, and a `CFF ` table's names inside OpenType.
    fn read_sfnt(&mut self, data: &[u8]) -> Option<()> {
        let face = RawFace::parse(data, 0).ok()?;
        if let Some(table) = face
            .table(Tag::from_bytes(b"cmap"))
            .and_then(cmap::Table::parse)
        {
            self.read_cmap(&table);
        }
        if let Some(post) = face.table(Tag::from_bytes(b"post")) {
            self.names = post_names(post);
        }
        if matches!(self.names, Names::None)
            && let Some(cff_data) = face.table(Tag::from_bytes(b"CFF "))
            && cff::Table::parse(cff_data).is_some()
        {
            self.names = Names::Cff(cff_data.to_vec());
        }
        Some(())
    }

    fn read_cmap(&mut self, table: &cmap::Table<'_>) {
        let subtables: Vec<cmap::Subtable<'_>> = table.subtables.into_iter().collect();
        // The Unicode subtable: (3,10), else (3,1), else any platform-0 one.
        let rank = |s: &cmap::Subtable<'_>| match (s.platform_id, s.encoding_id) {
            (ttf_parser::PlatformId::Windows, 10) => 0,
            (ttf_parser::PlatformId::Windows, 1) => 1,
            (ttf_parser::PlatformId::Unicode, _) => 2,
            _ => 3,
        };
        if let Some(unicode) = subtables
            .iter()
            .filter(|s| rank(s) < 3)
            .min_by_key(|s| rank(s))
        {
            let mut seen: HashMap<u16, char> = HashMap::new();
            for cp in 0u32..=0xFFFF {
                let Some(c) = char::from_u32(cp) else {
                    continue; // surrogates
                };
                let Some(gid) = unicode.glyph_index(cp) else {
                    continue;
                };
                if gid.0 == 0 || is_private_use(c) || c == '\u{AD}' {
                    continue;
                }
                // One character written several ways: white space, and the hyphens.
                let c = match c {
                    c if c.is_whitespace() => ' ',
                    '\u{2010}' | '\u{2011}' => '-',
                    c => c,
                };
                match seen.get(&gid.0) {
                    Some(prev) if *prev != c => {
                        self.ambiguous.entry(gid.0).or_insert((*prev, c));
                    }
                    Some(_) => {}
                    None => {
                        seen.insert(gid.0, c);
                    }
                }
            }
            self.by_unicode = seen;
        }
        // Codes of a symbolic simple font (PDF 32000-1, 9.6.6.4): (3,0) at 0xF000 + code and
        // its neighbours, else (1,0) by the code itself.
        let windows_symbol = subtables
            .iter()
            .find(|s| s.platform_id == ttf_parser::PlatformId::Windows && s.encoding_id == 0);
        let mac_roman = subtables
            .iter()
            .find(|s| s.platform_id == ttf_parser::PlatformId::Macintosh && s.encoding_id == 0);
        for code in 0u32..256 {
            let gid = match (windows_symbol, mac_roman) {
                (Some(s), _) => [0xF000, 0xF100, 0xF200, 0]
                    .iter()
                    .find_map(|base| s.glyph_index(base + code)),
                (None, Some(s)) => s.glyph_index(code),
                (None, None) => None,
            };
            self.code_to_gid[code as usize] = gid.map(|g| g.0).filter(|g| *g != 0);
        }
    }

    fn read_cff(&mut self, data: Vec<u8>) -> Option<()> {
        let table = cff::Table::parse(&data)?;
        let glyphs = table.number_of_glyphs();
        let cid_keyed = glyphs > 1 && table.glyph_cid(GlyphId(1)).is_some();
        if cid_keyed {
            let mut map = HashMap::new();
            for gid in 0..glyphs {
                if let Some(cid) = table.glyph_cid(GlyphId(gid)) {
                    map.entry(cid).or_insert(gid);
                }
                if gid as u32 >= MAX_NAME_LOOKUPS {
                    break;
                }
            }
            self.cid_to_gid = Some(map);
            return Some(());
        }
        for code in 0..=255u8 {
            self.code_to_gid[code as usize] =
                table.glyph_index(code).map(|g| g.0).filter(|g| *g != 0);
        }
        self.names = Names::Cff(data);
        Some(())
    }

    /// The glyph a CID of a Type0 font draws: `/CIDToGIDMap` for TrueType-based fonts (given
    /// by the caller), the charset of a CID-keyed CFF program, else the CID itself.
    pub fn gid_for_cid(&self, cid: u32, cid_to_gid_map: Option<&[u8]>) -> Option<u16> {
        if let Some(map) = cid_to_gid_map {
            let i = cid as usize * 2;
            return map.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        }
        match &self.cid_to_gid {
            Some(map) => u16::try_from(cid).ok().and_then(|c| map.get(&c).copied()),
            None => u16::try_from(cid).ok(),
        }
    }

    /// Why a glyph has no text when the reason is more than "nothing names it": two characters
    /// map to it.
    pub fn ambiguity(&self, gid: u16) -> Option<String> {
        let (a, b) = self.ambiguous.get(&gid)?;
        Some(format!(
            "the embedded font maps both {a:?} (U+{:04X}) and {b:?} (U+{:04X}) to this glyph",
            *a as u32, *b as u32
        ))
    }

    /// The text of a simple font's code by the program's own encoding, if it says one.
    pub fn text_for_code(&self, code: u8) -> Option<String> {
        if let Some(Some(name)) = self.type1_names.get(code as usize) {
            return meaningful(glyph_name_to_text(name.as_bytes()));
        }
        self.text_for_gid(self.code_to_gid[code as usize]?)
    }

    /// The text a glyph stands for: its Unicode entry, else its name; `None` if neither says
    /// (or they disagree with each other across characters).
    pub fn text_for_gid(&self, gid: u16) -> Option<String> {
        if gid == 0 || self.ambiguous.contains_key(&gid) {
            return None;
        }
        if let Some(c) = self.by_unicode.get(&gid) {
            return Some(c.to_string());
        }
        if self.lookups.fetch_add(1, Ordering::Relaxed) >= MAX_NAME_LOOKUPS {
            return None;
        }
        let name = match &self.names {
            Names::None => None,
            Names::Post { table, extra } => post_name(table, extra, gid),
            Names::Cff(data) => {
                cff::Table::parse(data).and_then(|t| t.glyph_name(GlyphId(gid)).map(str::to_owned))
            }
        }?;
        meaningful(glyph_name_to_text(name.as_bytes()))
    }
}

/// Drops text that names no character: empty, private use, or `.notdef`-like controls.
fn meaningful(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.is_empty() && !t.chars().any(is_private_use))
}

fn is_private_use(c: char) -> bool {
    matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{10FFFF}')
}

/// A `post` table of format 2 with its extra names collected once (ttf-parser looks each
/// extra name up by walking the list, which an absurd font would make quadratic).
fn post_names(data: &[u8]) -> Names {
    if data.get(0..4) != Some(&[0, 2, 0, 0]) {
        return Names::None;
    }
    let Some(table) = post::Table::parse(data) else {
        return Names::None;
    };
    let extra: Vec<String> = table.names().map(str::to_owned).collect();
    Names::Post {
        table: data.to_vec(),
        extra,
    }
}

fn post_name(data: &[u8], extra: &[String], gid: u16) -> Option<String> {
    let count = u16::from_be_bytes(data.get(32..34)?.try_into().ok()?);
    if gid >= count {
        return None;
    }
    let at = 34 + 2 * gid as usize;
    let index = u16::from_be_bytes(data.get(at..at + 2)?.try_into().ok()?);
    if index < 258 {
        // The Macintosh standard names: ttf-parser's table, reached in O(1) for these.
        return post::Table::parse(data)?
            .glyph_name(GlyphId(gid))
            .map(str::to_owned);
    }
    extra.get(index as usize - 258).cloned()
}

/// The built-in encoding of a Type 1 program's clear-text part: `StandardEncoding`, or the
/// `dup <code> /<name> put` entries of a custom array. Empty when neither is found.
fn type1_encoding(clear: &[u8]) -> Vec<Option<String>> {
    let Some(at) = find(clear, b"/Encoding") else {
        return Vec::new();
    };
    let rest = &clear[at + b"/Encoding".len()..];
    let head: Vec<&[u8]> = tokens(rest).take(2).collect();
    if head.first() == Some(&b"StandardEncoding".as_slice()) {
        return standard_names();
    }
    let mut names = vec![None; 256];
    let toks: Vec<&[u8]> = tokens(rest)
        .take_while(|t| *t != b"readonly" && *t != b"def")
        .collect();
    for w in toks.windows(4) {
        if w[0] == b"dup"
            && w[3] == b"put"
            && let Some(code) = std::str::from_utf8(w[1])
                .ok()
                .and_then(|s| s.parse::<u8>().ok())
            && let Some(name) = w[2].strip_prefix(b"/")
        {
            names[code as usize] = Some(String::from_utf8_lossy(name).into_owned());
        }
    }
    names
}

/// Adobe StandardEncoding as glyph names (for Type 1 programs that declare it).
fn standard_names() -> Vec<Option<String>> {
    let mut enc = Dictionary::new();
    enc.set("Type", Object::Name(b"Font".to_vec()));
    enc.set("Encoding", Object::Name(b"StandardEncoding".to_vec()));
    let doc = Document::new();
    match enc.get_font_encoding(&doc) {
        Ok(e @ lopdf::Encoding::OneByteEncoding(_)) => (0..=255u8)
            .map(|b| {
                e.bytes_to_string(&[b])
                    .ok()
                    .filter(|s| !s.is_empty())
                    .and_then(|s| s.chars().next())
                    .map(|c| format!("uni{:04X}", c as u32))
            })
            .collect(),
        _ => vec![None; 256],
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// PostScript tokens split on white space (enough for an `/Encoding` array).
fn tokens(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type1_custom_encoding_is_read() {
        let clear = b"%!PS-AdobeFont-1.0: X\n/Encoding 256 array\n0 1 255 {1 index exch /.notdef put} for\n\
dup 65 /A put\ndup 224 /agrave put\ndup 128 /Euro put\nreadonly def\ncurrentdict end\n";
        let names = type1_encoding(clear);
        assert_eq!(names[65].as_deref(), Some("A"));
        assert_eq!(names[224].as_deref(), Some("agrave"));
        assert_eq!(names[128].as_deref(), Some("Euro"));
        assert_eq!(names[66], None);
    }

    #[test]
    fn type1_standard_encoding_is_read() {
        let names = type1_encoding(b"/Encoding StandardEncoding def\n");
        assert_eq!(
            glyph_name_to_text(names[b'A' as usize].as_deref().unwrap().as_bytes()).as_deref(),
            Some("A")
        );
    }

    #[test]
    fn private_use_names_are_not_text() {
        assert_eq!(meaningful(glyph_name_to_text(b"uniF041")), None);
        assert_eq!(meaningful(glyph_name_to_text(b"glyph00012")), None);
        assert_eq!(
            meaningful(glyph_name_to_text(b"egrave")).as_deref(),
            Some("è")
        );
    }
}
