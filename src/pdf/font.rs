//! Fonts as the text walker needs them: how a shown string splits into codes, each code's
//! advance width, and the text it stands for.
//!
//! Owns: code splitting (1 byte for simple fonts; the codespace of Type0 fonts, 2 bytes for
//! Identity-H), widths (`/W` + `/DW` for Type0, `/Widths` + `/FirstChar` for simple fonts, the
//! Adobe core-14 AFM metrics for standard fonts written without `/Widths`, `/FontMatrix` for
//! Type3), and text (`/ToUnicode` first, else `/Encoding` + `/Differences`, else the glyph
//! tables of the embedded font program, see [`super::embedded`]). Every distinct code is
//! decoded once per font: simple fonts get a 256-entry table, Type0 fonts a cache.
//!
//! It must NOT know about positions, pages or tables. It never guesses text: a code that maps
//! to nothing, to U+FFFD or to a control character is flagged `BAD`, and the walker turns a
//! drawn `BAD` glyph into an error naming the font and the page.

use std::collections::HashMap;
use std::sync::OnceLock;

use lopdf::{Dictionary, Document, Encoding, Object};

use super::cmap::CMap;
use super::embedded::EmbeddedFont;
use super::glyph_names::glyph_name_to_text;

/// The glyph's text is whitespace only (a word break, not a word).
pub(crate) const SPACE: u8 = 1;
/// The glyph cannot be decoded to trustworthy text.
pub(crate) const BAD: u8 = 2;
/// The glyph is the single-byte code 32, to which `Tw` applies.
pub(crate) const WORD_SPACE: u8 = 4;
/// Internal: this slot of the dense two-byte cache holds a decoded glyph.
const FILLED: u8 = 8;

/// One decoded code. `width` is the advance in text space for a font size of 1 (glyph units
/// already divided by 1000, or scaled by a Type3 `/FontMatrix`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct GlyphInfo {
    pub width: f32,
    start: u32,
    len: u32,
    pub flags: u8,
}

enum CodeSplit {
    /// Simple fonts: one byte per code.
    OneByte,
    /// Type0 with a fixed code length (Identity-H/V and the UCS-2 CMaps: 2).
    Fixed(u8),
    /// Type0 whose embedded encoding CMap (or ToUnicode, failing that) declares a codespace.
    Codespace(CMap),
}

enum CidSource {
    Identity,
    CMap(CMap),
    /// A predefined CMap we do not ship: CIDs unknown, widths fall back to `/DW`.
    Unknown,
}

/// A font ready for decoding. Built once per font object and shared by every page using it.
pub(crate) struct Font {
    /// The font's `/BaseFont` (or resource name), for error messages.
    pub name: String,
    split: CodeSplit,
    /// Simple fonts: the decoded table for every byte.
    table: Vec<GlyphInfo>,
    /// Type0 fonts: decoded two-byte glyphs indexed by code (Chromium's subsets use small
    /// CIDs; this is the per-glyph hot path, so no hashing).
    dense: Vec<GlyphInfo>,
    /// Type0 fonts: decoded glyphs of other lengths by (code, length).
    cache: HashMap<u64, GlyphInfo>,
    cids: CidSource,
    to_unicode: Option<CMap>,
    /// Type0 text from a UCS-2/UTF-16 encoding when there is no ToUnicode.
    ucs2_text: bool,
    cid_widths: HashMap<u32, f32>,
    default_width: f32,
    /// Type0 fonts without ToUnicode: the embedded program's glyph tables, and the
    /// `/CIDToGIDMap` stream when there is one.
    embedded: Option<EmbeddedFont>,
    cid_to_gid: Option<Vec<u8>>,
    /// Why this font cannot produce text at all, if so (e.g. Type0 without ToUnicode).
    pub unusable: Option<&'static str>,
    /// Said after "code X has no text mapping" when the font has no ToUnicode (where the text
    /// was looked for).
    missing_text: &'static str,
    /// Arena holding the decoded text of every cached glyph.
    text: String,
}

impl Font {
    /// The text of a decoded glyph.
    pub fn text(&self, g: GlyphInfo) -> &str {
        &self.text[g.start as usize..(g.start + g.len) as usize]
    }

    /// Splits the next code off `bytes` (non-empty): (code, length in bytes).
    pub fn next_code(&self, bytes: &[u8]) -> (u32, u8) {
        let len = match &self.split {
            CodeSplit::OneByte => 1,
            CodeSplit::Fixed(n) => *n,
            CodeSplit::Codespace(c) => c.code_len(bytes).unwrap_or(2),
        };
        let len = (len as usize).clamp(1, 4).min(bytes.len());
        let code = bytes[..len]
            .iter()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        (code, len as u8)
    }

    /// The CID a Type0 code selects (`None` under a predefined CMap we do not ship).
    fn cid(&self, code: u32, len: u8) -> Option<u32> {
        match &self.cids {
            CidSource::Identity => Some(code),
            CidSource::CMap(c) => c.cid(code, len),
            CidSource::Unknown => None,
        }
    }

    /// What to add to "code X has no text mapping" for this font: where the text was looked
    /// for when the font has no ToUnicode, and why that failed when it can say.
    pub fn missing_reason(&self, code: u32, len: u8) -> std::borrow::Cow<'static, str> {
        let ambiguity = self.embedded.as_ref().and_then(|e| {
            e.ambiguity(e.gid_for_cid(self.cid(code, len)?, self.cid_to_gid.as_deref())?)
        });
        match ambiguity {
            Some(why) => {
                format!(" (the font has no /ToUnicode and {why}: refused, not guessed)").into()
            }
            None => self.missing_text.into(),
        }
    }

    /// The decoded glyph for a code (cached).
    pub fn glyph(&mut self, code: u32, len: u8) -> GlyphInfo {
        if matches!(self.split, CodeSplit::OneByte) {
            return self.table.get(code as usize).copied().unwrap_or_default();
        }
        let key = (u64::from(len) << 32) | u64::from(code);
        if len == 2 {
            if let Some(g) = self.dense.get(code as usize)
                && g.flags & FILLED != 0
            {
                return *g;
            }
        } else if let Some(g) = self.cache.get(&key) {
            return *g;
        }
        let cid = self.cid(code, len);
        let width = cid
            .and_then(|cid| self.cid_widths.get(&cid).copied())
            .unwrap_or(self.default_width);
        let text = match &self.to_unicode {
            Some(tu) => tu.unicode(code, len),
            None if self.ucs2_text => {
                let units = if len == 2 {
                    vec![code as u16]
                } else {
                    vec![(code >> 16) as u16, code as u16]
                };
                Some(
                    char::decode_utf16(units)
                        .map(|r| r.unwrap_or('\u{FFFD}'))
                        .collect(),
                )
            }
            None => self.embedded.as_ref().and_then(|e| {
                let gid = e.gid_for_cid(cid?, self.cid_to_gid.as_deref())?;
                e.text_for_gid(gid)
            }),
        };
        let mut g = self.push_glyph(width, text.as_deref(), len == 1 && code == 32);
        if len == 2 {
            let i = code as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, GlyphInfo::default());
            }
            g.flags |= FILLED;
            self.dense[i] = g;
        } else {
            self.cache.insert(key, g);
        }
        g
    }

    fn push_glyph(&mut self, width: f32, text: Option<&str>, word_space: bool) -> GlyphInfo {
        let start = self.text.len() as u32;
        let mut flags = if word_space { WORD_SPACE } else { 0 };
        match text {
            Some(t) => {
                let t = normalize_glyph_text(t);
                if !t.is_empty() && t.chars().all(char::is_whitespace) {
                    flags |= SPACE;
                    self.text.push(' ');
                } else {
                    if t.chars()
                        .any(|c| c == '\u{FFFD}' || (c.is_control() && !c.is_whitespace()))
                    {
                        flags |= BAD;
                    }
                    self.text.push_str(&t);
                }
            }
            None => flags |= BAD,
        }
        GlyphInfo {
            width,
            start,
            len: self.text.len() as u32 - start,
            flags,
        }
    }

    /// Builds a font from its dictionary.
    pub fn load(doc: &Document, dict: &Dictionary, resource_name: &[u8]) -> Font {
        let base = dict
            .get_deref(b"BaseFont", doc)
            .and_then(Object::as_name)
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_else(|_| String::from_utf8_lossy(resource_name).into_owned());
        let subtype = dict
            .get_deref(b"Subtype", doc)
            .and_then(Object::as_name)
            .unwrap_or(b"");
        let to_unicode = load_to_unicode(doc, dict);
        let mut font = Font {
            name: base,
            split: CodeSplit::OneByte,
            table: Vec::new(),
            dense: Vec::new(),
            cache: HashMap::new(),
            cids: CidSource::Identity,
            to_unicode,
            ucs2_text: false,
            cid_widths: HashMap::new(),
            default_width: 1.0,
            embedded: None,
            cid_to_gid: None,
            unusable: None,
            missing_text: "",
            text: String::new(),
        };
        if font.to_unicode.is_none() {
            font.missing_text = " (the font has no /ToUnicode and no table of its embedded \
                                  program names a character for this glyph)";
        }
        if subtype == b"Type0" {
            font.init_type0(doc, dict);
        } else {
            font.init_simple(doc, dict, subtype == b"Type3");
        }
        font
    }

    fn init_type0(&mut self, doc: &Document, dict: &Dictionary) {
        match dict.get_deref(b"Encoding", doc) {
            Ok(Object::Name(name)) => {
                let name = name.as_slice();
                if name == b"Identity-H" || name == b"Identity-V" {
                    self.split = CodeSplit::Fixed(2);
                } else if name.starts_with(b"Uni")
                    && (name.windows(4).any(|w| w == b"UCS2" || w == b"UTF1"))
                {
                    self.split = CodeSplit::Fixed(2);
                    self.cids = CidSource::Unknown;
                    self.ucs2_text = true;
                } else {
                    self.cids = CidSource::Unknown;
                    self.split = match self.to_unicode.as_ref().filter(|t| !t.codespace.is_empty())
                    {
                        Some(t) => CodeSplit::Codespace(t.clone()),
                        None => CodeSplit::Fixed(2),
                    };
                }
            }
            Ok(Object::Stream(stream)) => {
                let cmap = CMap::parse(&super::bounded_content(stream).unwrap_or_default());
                self.split = if cmap.codespace.is_empty() {
                    CodeSplit::Fixed(2)
                } else {
                    CodeSplit::Codespace(cmap.clone())
                };
                self.cids = if cmap.has_cids {
                    CidSource::CMap(cmap)
                } else {
                    CidSource::Identity
                };
            }
            _ => self.split = CodeSplit::Fixed(2),
        }
        let descendant = dict
            .get_deref(b"DescendantFonts", doc)
            .and_then(Object::as_array)
            .ok()
            .and_then(|a| a.first())
            .and_then(|o| doc.dereference(o).ok())
            .and_then(|(_, o)| o.as_dict().ok());
        if self.to_unicode.is_none() && !self.ucs2_text {
            // Lost ToUnicode: the embedded program's own tables, read CID → glyph → text.
            self.embedded = descendant
                .and_then(|d| d.get_deref(b"FontDescriptor", doc).ok())
                .and_then(|fd| fd.as_dict().ok())
                .and_then(|fd| EmbeddedFont::load(doc, fd));
            if let Some(Ok(Object::Stream(map))) =
                descendant.map(|d| d.get_deref(b"CIDToGIDMap", doc))
            {
                self.cid_to_gid = super::bounded_content(map);
            }
            if self.embedded.is_none() {
                self.unusable =
                    Some("Type0 font without a /ToUnicode CMap or an embedded program to read");
            }
        }
        if let Some(cid_font) = descendant {
            self.default_width = cid_font
                .get_deref(b"DW", doc)
                .ok()
                .and_then(num)
                .map(|w| w / 1000.0)
                .unwrap_or(1.0);
            if let Ok(w) = cid_font.get_deref(b"W", doc).and_then(Object::as_array) {
                self.cid_widths = parse_w_array(doc, w);
            }
        }
    }

    fn init_simple(&mut self, doc: &Document, dict: &Dictionary, type3: bool) {
        let scale = if type3 {
            dict.get_deref(b"FontMatrix", doc)
                .and_then(Object::as_array)
                .ok()
                .and_then(|m| m.first())
                .and_then(num)
                .unwrap_or(0.001)
        } else {
            0.001
        };
        let std14 = if type3 {
            None
        } else {
            standard_font(&self.name)
        };
        let encoding = encoding_table(doc, dict, std14);
        // Without ToUnicode, a code the PDF's own encoding does not name takes its text from
        // the embedded program's built-in encoding (Type 1, CFF) or, for a symbolic TrueType
        // font, its (3,0)/(1,0) cmap — not from StandardEncoding, which the program overrides.
        let descriptor = dict
            .get_deref(b"FontDescriptor", doc)
            .and_then(Object::as_dict)
            .ok();
        let truetype = dict
            .get_deref(b"Subtype", doc)
            .and_then(Object::as_name)
            .ok()
            == Some(b"TrueType".as_slice());
        let symbolic = descriptor
            .and_then(|fd| fd.get_deref(b"Flags", doc).ok())
            .and_then(|f| f.as_i64().ok())
            .is_some_and(|flags| flags & 4 != 0 && flags & 32 == 0);
        let embedded = if self.to_unicode.is_none() && encoding.implicit_base && !type3 {
            descriptor
                .and_then(|fd| EmbeddedFont::load(doc, fd))
                .filter(|_| !truetype || symbolic)
        } else {
            None
        };
        // Widths: /Widths + /FirstChar, else core-14 metrics, else a rough estimate.
        let mut widths = [None::<f32>; 256];
        let first = dict
            .get_deref(b"FirstChar", doc)
            .ok()
            .and_then(num)
            .unwrap_or(0.0) as i64;
        let missing = dict
            .get_deref(b"FontDescriptor", doc)
            .and_then(Object::as_dict)
            .ok()
            .and_then(|fd| fd.get_deref(b"MissingWidth", doc).ok())
            .and_then(num)
            .unwrap_or(0.0);
        let has_widths = match dict.get_deref(b"Widths", doc).and_then(Object::as_array) {
            Ok(arr) => {
                for (i, w) in arr.iter().enumerate() {
                    let code = first + i as i64;
                    if (0..256).contains(&code) {
                        widths[code as usize] = doc.dereference(w).ok().and_then(|(_, o)| num(o));
                    }
                }
                true
            }
            Err(_) => false,
        };
        let afm = if has_widths {
            None
        } else {
            std14.map(afm_metrics)
        };
        self.table = Vec::with_capacity(256);
        for (code, declared) in widths.iter().enumerate() {
            let unicode_from_encoding = encoding.text[code].as_deref();
            let width = if has_widths {
                declared.unwrap_or(missing) * scale
            } else if let Some(afm) = afm {
                let w = unicode_from_encoding
                    .and_then(|t| afm.by_text.get(t).copied())
                    .or_else(|| {
                        if std14.is_some_and(is_symbolic) {
                            afm.by_code.get(&(code as u8)).copied()
                        } else {
                            None
                        }
                    })
                    .unwrap_or(missing);
                w * 0.001
            } else if unicode_from_encoding.is_some_and(|t| t == " ") {
                0.25
            } else {
                0.5
            };
            let text = self
                .to_unicode
                .as_ref()
                .and_then(|tu| {
                    tu.unicode(code as u32, 1)
                        .or_else(|| tu.unicode(code as u32, 2))
                })
                .or_else(|| match &embedded {
                    Some(program) if !encoding.differences[code] => {
                        program.text_for_code(code as u8)
                    }
                    _ => encoding.text[code].clone(),
                })
                // Tabs and line breaks written into strings by naive producers: white space.
                .or_else(|| matches!(code, 9 | 10 | 13).then(|| " ".to_string()));
            let g = self.push_glyph(width, text.as_deref(), code == 32);
            self.table.push(g);
        }
    }
}

fn num(o: &Object) -> Option<f32> {
    match o {
        Object::Integer(i) => Some(*i as f32),
        Object::Real(r) => Some(*r),
        _ => None,
    }
}

/// `/W` array: `c [w1 w2 ...]` or `c_first c_last w`.
fn parse_w_array(doc: &Document, arr: &[Object]) -> HashMap<u32, f32> {
    let mut out = HashMap::new();
    let items: Vec<&Object> = arr
        .iter()
        .map(|o| doc.dereference(o).map(|(_, o)| o).unwrap_or(o))
        .collect();
    let mut i = 0;
    while i < items.len() {
        let Some(start) = num(items[i]) else {
            i += 1;
            continue;
        };
        let start = start.max(0.0) as u32;
        match items.get(i + 1) {
            Some(Object::Array(ws)) => {
                for (k, w) in ws.iter().enumerate() {
                    if let Some(w) = num(w) {
                        out.insert(start + k as u32, w / 1000.0);
                    }
                }
                i += 2;
            }
            Some(end) => {
                if let (Some(end), Some(w)) = (num(end), items.get(i + 2).and_then(|o| num(o))) {
                    let end = end.max(0.0) as u32;
                    // Bound absurd ranges: widths beyond 65,535 CIDs are not real fonts.
                    for cid in start..=end.min(start.saturating_add(65_535)) {
                        out.insert(cid, w / 1000.0);
                    }
                }
                i += 3;
            }
            None => break,
        }
    }
    out
}

fn load_to_unicode(doc: &Document, dict: &Dictionary) -> Option<CMap> {
    match dict.get_deref(b"ToUnicode", doc) {
        Ok(Object::Stream(s)) => {
            let cmap = CMap::parse(&super::bounded_content(s)?);
            cmap.has_unicode.then_some(cmap)
        }
        _ => None,
    }
}

/// Normalises a glyph's text: compatibility ligatures expanded, NBSP and friends to spaces.
pub(crate) fn normalize_glyph_text(t: &str) -> std::borrow::Cow<'_, str> {
    if t.chars()
        .all(|c| c.is_ascii() || !(('\u{FB00}'..='\u{FB06}').contains(&c) || c == '\u{A0}'))
    {
        return std::borrow::Cow::Borrowed(t);
    }
    let mut s = String::with_capacity(t.len() + 2);
    for c in t.chars() {
        match c {
            '\u{FB00}' => s.push_str("ff"),
            '\u{FB01}' => s.push_str("fi"),
            '\u{FB02}' => s.push_str("fl"),
            '\u{FB03}' => s.push_str("ffi"),
            '\u{FB04}' => s.push_str("ffl"),
            '\u{FB05}' | '\u{FB06}' => s.push_str("st"),
            '\u{A0}' => s.push(' '),
            c => s.push(c),
        }
    }
    std::borrow::Cow::Owned(s)
}

// ------------------------------------------------------------------ encodings

/// A simple font's `/Encoding` as text per code.
struct EncodingTable {
    text: Vec<Option<String>>,
    /// The base is StandardEncoding by default (no `/Encoding`, or a dictionary without
    /// `/BaseEncoding`): an embedded program's built-in encoding then takes its place.
    implicit_base: bool,
    /// Codes named by `/Differences` (always the PDF's word, whatever the program says).
    differences: Vec<bool>,
}

/// The text of each single-byte code by the font's `/Encoding` (or its built-in encoding).
fn encoding_table(doc: &Document, dict: &Dictionary, std14: Option<Std14>) -> EncodingTable {
    let enc_obj = dict.get_deref(b"Encoding", doc).ok().cloned();
    let mut differences = vec![false; 256];
    let implicit_base = match &enc_obj {
        None => true,
        Some(Object::Dictionary(d)) => d.get_deref(b"BaseEncoding", doc).is_err(),
        Some(_) => false,
    };
    let text = match enc_obj {
        None => match std14 {
            Some(f) if is_symbolic(f) => {
                // Symbol and ZapfDingbats: their built-in encoding is the AFM's codes.
                let afm = afm_metrics(f);
                (0..256u16)
                    .map(|c| {
                        afm.names_by_code
                            .get(&(c as u8))
                            .and_then(|n| glyph_name_to_text(n.as_bytes()))
                    })
                    .collect()
            }
            _ => base_table(b"StandardEncoding"),
        },
        Some(Object::Name(name)) => base_table(&name),
        Some(Object::Dictionary(d)) => {
            let base_name = d
                .get_deref(b"BaseEncoding", doc)
                .and_then(Object::as_name)
                .map(<[u8]>::to_vec)
                .unwrap_or_else(|_| b"StandardEncoding".to_vec());
            let mut table = base_table(&base_name);
            if let Ok(diffs) = d.get_deref(b"Differences", doc).and_then(Object::as_array) {
                let mut code: i64 = 0;
                for item in diffs {
                    match doc.dereference(item).map(|(_, o)| o).unwrap_or(item) {
                        Object::Integer(c) => code = *c,
                        Object::Name(n) => {
                            if (0..256).contains(&code) {
                                table[code as usize] = glyph_name_to_text(n);
                                differences[code as usize] = true;
                            }
                            code += 1;
                        }
                        _ => {}
                    }
                }
            }
            table
        }
        Some(_) => base_table(b"StandardEncoding"),
    };
    EncodingTable {
        text,
        implicit_base,
        differences,
    }
}

/// The 256-entry table of a named base encoding, decoded through lopdf's tables. Unknown names
/// yield an all-`None` table (every drawn glyph then fails loudly).
fn base_table(name: &[u8]) -> Vec<Option<String>> {
    type Tables = HashMap<Vec<u8>, Vec<Option<String>>>;
    static CACHE: OnceLock<std::sync::Mutex<Tables>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Ok(guard) = cache.lock()
        && let Some(t) = guard.get(name)
    {
        return t.clone();
    }
    let mut font = Dictionary::new();
    font.set("Type", Object::Name(b"Font".to_vec()));
    font.set("Encoding", Object::Name(name.to_vec()));
    let doc = Document::new();
    let table: Vec<Option<String>> = match font.get_font_encoding(&doc) {
        Ok(enc @ Encoding::OneByteEncoding(_)) => (0..=255u8)
            .map(|b| enc.bytes_to_string(&[b]).ok().filter(|s| !s.is_empty()))
            .collect(),
        _ => vec![None; 256],
    };
    if let Ok(mut guard) = cache.lock() {
        guard.insert(name.to_vec(), table.clone());
    }
    table
}

// ------------------------------------------------------------------ standard 14 / AFM

/// One of the 14 standard fonts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Std14 {
    Helvetica(u8),
    Times(u8),
    Courier(u8),
    Symbol,
    ZapfDingbats,
}

fn is_symbolic(f: Std14) -> bool {
    matches!(f, Std14::Symbol | Std14::ZapfDingbats)
}

/// Recognises a standard font by its base name, subset prefix and common aliases included
/// (`ABCDEF+Arial,Bold` → Helvetica-Bold). The low bits of the style: 1 bold, 2 italic.
pub(crate) fn standard_font(base: &str) -> Option<Std14> {
    let name = match base.split_once('+') {
        Some((prefix, rest))
            if prefix.len() == 6 && prefix.chars().all(|c| c.is_ascii_uppercase()) =>
        {
            rest
        }
        _ => base,
    };
    let lower: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    let style = u8::from(lower.contains("bold"))
        | (u8::from(lower.contains("italic") || lower.contains("oblique")) << 1);
    if lower.starts_with("helvetica") || lower.starts_with("arial") {
        Some(Std14::Helvetica(style))
    } else if lower.starts_with("times") {
        Some(Std14::Times(style))
    } else if lower.starts_with("courier") {
        Some(Std14::Courier(style))
    } else if lower == "symbol" || lower.starts_with("symbolmt") {
        Some(Std14::Symbol)
    } else if lower.contains("dingbats") {
        Some(Std14::ZapfDingbats)
    } else {
        None
    }
}

/// Metrics of one AFM file.
pub(crate) struct Afm {
    /// Advance width (1000 units/em) by the glyph's text.
    by_text: HashMap<String, f32>,
    /// Advance width by the code of the font's built-in encoding.
    by_code: HashMap<u8, f32>,
    names_by_code: HashMap<u8, String>,
}

fn afm_source(f: Std14) -> &'static str {
    use pdf_core_14_font_afms as a;
    match f {
        Std14::Helvetica(0) => a::HELVETICA,
        Std14::Helvetica(1) => a::HELVETICA_BOLD,
        Std14::Helvetica(2) => a::HELVETICA_OBLIQUE,
        Std14::Helvetica(_) => a::HELVETICA_BOLD_OBLIQUE,
        Std14::Times(0) => a::TIMES_ROMAN,
        Std14::Times(1) => a::TIMES_BOLD,
        Std14::Times(2) => a::TIMES_ITALIC,
        Std14::Times(_) => a::TIMES_BOLD_ITALIC,
        Std14::Courier(0) => a::COURIER,
        Std14::Courier(1) => a::COURIER_BOLD,
        Std14::Courier(2) => a::COURIER_OBLIQUE,
        Std14::Courier(_) => a::COURIER_BOLD_OBLIQUE,
        Std14::Symbol => a::SYMBOL,
        Std14::ZapfDingbats => a::ZAPF_DINGBATS,
    }
}

/// Parsed AFM metrics, built once per process and font.
pub(crate) fn afm_metrics(f: Std14) -> &'static Afm {
    static CACHE: [OnceLock<Afm>; 14] = [const { OnceLock::new() }; 14];
    let (index, key) = match f {
        Std14::Helvetica(s) => ((s & 3) as usize, Std14::Helvetica(s & 3)),
        Std14::Times(s) => (4 + (s & 3) as usize, Std14::Times(s & 3)),
        Std14::Courier(s) => (8 + (s & 3) as usize, Std14::Courier(s & 3)),
        Std14::Symbol => (12, Std14::Symbol),
        Std14::ZapfDingbats => (13, Std14::ZapfDingbats),
    };
    CACHE[index].get_or_init(|| parse_afm(afm_source(key), is_symbolic(key)))
}

fn parse_afm(src: &str, symbolic: bool) -> Afm {
    let mut afm = Afm {
        by_text: HashMap::new(),
        by_code: HashMap::new(),
        names_by_code: HashMap::new(),
    };
    for line in src.lines() {
        if !line.starts_with("C ") {
            continue;
        }
        let (mut code, mut width, mut name) = (None, None, None);
        for part in line.split(';') {
            let mut it = part.split_whitespace();
            match (it.next(), it.next()) {
                (Some("C"), Some(v)) => code = v.parse::<i32>().ok(),
                (Some("WX"), Some(v)) => width = v.parse::<f32>().ok(),
                (Some("N"), Some(v)) => name = Some(v.to_string()),
                _ => {}
            }
        }
        let (Some(width), Some(name)) = (width, name) else {
            continue;
        };
        if let Some(c) = code.filter(|c| (0..256).contains(c)) {
            afm.by_code.insert(c as u8, width);
            afm.names_by_code.insert(c as u8, name.clone());
        }
        if !symbolic && let Some(t) = glyph_name_to_text(name.as_bytes()) {
            afm.by_text.entry(t).or_insert(width);
        }
    }
    afm
}

/// Width of `text` in Helvetica, in 1000ths of the font size (test PDFs lay out with it).
#[cfg(test)]
pub(crate) fn helvetica_width(text: &str) -> f32 {
    let afm = afm_metrics(Std14::Helvetica(0));
    text.chars()
        .map(|c| {
            afm.by_text
                .get(c.to_string().as_str())
                .copied()
                .unwrap_or(556.0)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_font_aliases() {
        assert_eq!(standard_font("Helvetica"), Some(Std14::Helvetica(0)));
        assert_eq!(
            standard_font("ABCDEF+Arial,Bold"),
            Some(Std14::Helvetica(1))
        );
        assert_eq!(
            standard_font("TimesNewRomanPS-BoldItalicMT"),
            Some(Std14::Times(3))
        );
        assert_eq!(standard_font("Courier-Oblique"), Some(Std14::Courier(2)));
        assert_eq!(standard_font("LiberationSans"), None);
    }

    #[test]
    fn afm_widths_by_text() {
        let h = afm_metrics(Std14::Helvetica(0));
        assert_eq!(h.by_text.get(" ").copied(), Some(278.0));
        assert_eq!(h.by_text.get("à").copied(), Some(556.0));
        let c = afm_metrics(Std14::Courier(1));
        assert_eq!(c.by_text.get("W").copied(), Some(600.0));
    }

    #[test]
    fn winansi_base_table() {
        let t = base_table(b"WinAnsiEncoding");
        assert_eq!(t[0xE0].as_deref(), Some("à"));
        assert_eq!(t[0x80].as_deref(), Some("€"));
        assert_eq!(t[b'A' as usize].as_deref(), Some("A"));
        assert!(base_table(b"NoSuchEncoding").iter().all(Option::is_none));
    }
}
