//! Layer 1: a page's content stream → positioned text spans in the page space as a reader sees it.
//!
//! Owns the PDF graphics and text state machine: `q`/`Q`/`cm`, `BT`/`ET`, `Tm`/`Td`/`TD`/`T*`/
//! `TL`, `Tf`/`Tc`/`Tw`/`Tz`/`Ts`, `Tj`/`TJ`/`'`/`"`, and `Do` into Form XObjects (recursively,
//! with their `/Matrix` and `/Resources`), several content streams per page, inherited page
//! attributes, and `/Rotate` (coordinates are normalised to the page as displayed; text whose
//! direction is not the page's dominant one is dropped).
//!
//! A span is a run of glyphs from ONE string operand, broken at whitespace glyphs: Chromium
//! gives one glyph per span, simple producers whole words, office suites word pieces between
//! TJ kerning numbers. Deciding which spans form words, phrases and lines is layer 2's job
//! (`layout.rs`); this module must NOT group spans or know about tables.

use std::collections::HashMap;

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::PdfError;
use super::font::{BAD, Font, SPACE, WORD_SPACE};
use super::lexer::{Operand, Ops};

/// A run of glyphs on one baseline, in the displayed page's coordinates (points, y up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextSpan {
    /// Left edge (origin of the first glyph).
    pub x0: f32,
    /// Right edge (origin of the last glyph plus its advance, without character spacing).
    pub x1: f32,
    /// Baseline.
    pub y: f32,
    /// Effective font size in points (text size × scaling by the text and graphics matrices).
    pub size: f32,
    /// The string had a whitespace glyph right before this span: the words are separate
    /// whatever the gap says.
    pub space_before: bool,
    start: u32,
    end: u32,
    orientation: u8,
}

/// The text of one page: its spans plus the buffer their text lives in (one allocation per
/// page, not one per glyph).
#[derive(Debug, Clone, Default)]
pub struct PageText {
    /// 1-based physical page index in the PDF.
    pub number: u32,
    /// Width and height of the page as displayed (after `/Rotate`), in points.
    pub width: f32,
    pub height: f32,
    pub spans: Vec<TextSpan>,
    text: String,
}

impl TextSpan {
    /// Whether `next`, drawn right after this span, continues its word: same baseline, size
    /// and direction, its text right after this one's with no space between, starting at the
    /// end of this span (within [`CONTINUES`] em either way, so a glyph drawn again over the
    /// previous one — fake bold — never continues it) and ending past it.
    pub(crate) fn continued_by(&self, next: &TextSpan) -> bool {
        let tolerance = CONTINUES * self.size;
        !next.space_before
            && next.start == self.end
            && next.orientation == self.orientation
            && next.y == self.y
            && next.size == self.size
            && (next.x0 - self.x1).abs() <= tolerance
            && next.x1 >= self.x1
    }

    /// Take `next` (see [`Self::continued_by`]) into this span.
    pub(crate) fn extend(&mut self, next: &TextSpan) {
        self.x1 = next.x1;
        self.end = next.end;
    }
}

/// How far (in em) a span may start from where the previous one ended and still continue it:
/// glyph advances written by the producer and those computed from the font's widths differ by
/// rounding (~0.0002 em in Chromium's reports), a fake-bold stroke is offset by far more.
const CONTINUES: f32 = 0.005;

impl PageText {
    /// The text of a span of this page.
    pub fn text(&self, span: &TextSpan) -> &str {
        &self.text[span.start as usize..span.end as usize]
    }
}

/// An affine matrix `[a b c d e f]`, PDF row-vector convention: `p' = p × M`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Matrix {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    e: f64,
    f: f64,
}

impl Matrix {
    const IDENTITY: Matrix = Matrix {
        a: 1.0,
        b: 0.0,
        c: 0.0,
        d: 1.0,
        e: 0.0,
        f: 0.0,
    };

    fn translate(x: f64, y: f64) -> Matrix {
        Matrix {
            e: x,
            f: y,
            ..Matrix::IDENTITY
        }
    }

    /// `self × other`: first `self`, then `other`.
    fn then(&self, o: &Matrix) -> Matrix {
        Matrix {
            a: self.a * o.a + self.b * o.c,
            b: self.a * o.b + self.b * o.d,
            c: self.c * o.a + self.d * o.c,
            d: self.c * o.b + self.d * o.d,
            e: self.e * o.a + self.f * o.c + o.e,
            f: self.e * o.b + self.f * o.d + o.f,
        }
    }

    fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        (
            self.a * x + self.c * y + self.e,
            self.b * x + self.d * y + self.f,
        )
    }

    fn from_objects(ops: &[Object]) -> Option<Matrix> {
        if ops.len() < 6 {
            return None;
        }
        let v: Vec<f64> = ops[..6].iter().filter_map(number).collect();
        (v.len() == 6).then(|| Matrix {
            a: v[0],
            b: v[1],
            c: v[2],
            d: v[3],
            e: v[4],
            f: v[5],
        })
    }
}

/// The six numbers of `cm` / `Tm`.
fn matrix_operands(ops: &Ops<'_>) -> Option<Matrix> {
    let v = |i| ops.num(i);
    Some(Matrix {
        a: v(0)?,
        b: v(1)?,
        c: v(2)?,
        d: v(3)?,
        e: v(4)?,
        f: v(5)?,
    })
}

fn number(o: &Object) -> Option<f64> {
    match o {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
}

#[derive(Debug, Clone)]
struct GState {
    ctm: Matrix,
    font: Option<usize>,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
    h_scale: f64,
    leading: f64,
    rise: f64,
}

impl Default for GState {
    fn default() -> Self {
        GState {
            ctm: Matrix::IDENTITY,
            font: None,
            size: 0.0,
            char_spacing: 0.0,
            word_spacing: 0.0,
            h_scale: 1.0,
            leading: 0.0,
            rise: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum FontKey {
    Ref(ObjectId),
    /// A font dictionary written inline in a resource dictionary (keyed by its address,
    /// stable while the document is borrowed).
    Inline(usize),
}

/// Maximum nesting of Form XObjects; deeper (or cyclic) forms are not drawn.
const MAX_FORM_DEPTH: usize = 12;
/// Saved graphics states at once (`q` without `Q`): PDF's own implementation limit is 28;
/// nothing that writes reports comes near this.
const MAX_SAVED_STATES: usize = 1024;

/// A loaded PDF ready for text extraction. Fonts are decoded once and shared by all pages.
pub struct PdfText {
    doc: Document,
    pages: Vec<ObjectId>,
    fonts: FontCache,
}

/// The fonts decoded so far, each once per font object, and the buffer page contents are
/// inflated into (its capacity reused from page to page). A thread reading pages keeps its own
/// (decoded glyphs are cached inside a font), so pages can be read in parallel from one
/// shared document.
#[derive(Default)]
pub struct FontCache {
    fonts: Vec<Font>,
    index: HashMap<FontKey, usize>,
    content: Vec<u8>,
}

impl std::fmt::Debug for PdfText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdfText")
            .field("pages", &self.pages.len())
            .finish()
    }
}

impl PdfText {
    /// Loads a PDF from memory. Fails on non-PDF input, unreadable structure, and encryption
    /// that an empty user password does not open.
    pub fn load(bytes: &[u8]) -> Result<PdfText, PdfError> {
        let head = &bytes[..bytes.len().min(1024)];
        if !head.windows(5).any(|w| w == b"%PDF-") {
            return Err(PdfError::NotPdf);
        }
        let started = std::time::Instant::now();
        let bytes = super::untag::without_structure_tree(bytes);
        let stripped = started.elapsed();
        let doc = lopdf::Document::load_mem(&bytes).map_err(|e| match e {
            lopdf::Error::InvalidPassword | lopdf::Error::Decryption(_) => PdfError::Encrypted,
            other => PdfError::Malformed(other.to_string()),
        })?;
        if doc.trailer.get(b"Encrypt").is_ok() && doc.encryption_state.is_none() {
            return Err(PdfError::Encrypted);
        }
        let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
        if pages.is_empty() {
            return Err(PdfError::NoPages);
        }
        tracing::trace!(
            structure_tree_ms = stripped.as_secs_f64() * 1e3,
            total_ms = started.elapsed().as_secs_f64() * 1e3,
            copied = matches!(bytes, std::borrow::Cow::Owned(_)),
            "PDF loaded"
        );
        Ok(PdfText {
            doc,
            pages,
            fonts: FontCache::default(),
        })
    }

    /// Number of pages in the document.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Extracts the text of every page, in order.
    pub fn pages(&mut self) -> Result<Vec<PageText>, PdfError> {
        (1..=self.pages.len() as u32)
            .map(|n| self.page(n))
            .collect()
    }

    /// Extracts the spans of page `number` (1-based).
    pub fn page(&mut self, number: u32) -> Result<PageText, PdfError> {
        let mut fonts = std::mem::take(&mut self.fonts);
        let page = self.page_with(number, &mut fonts);
        self.fonts = fonts;
        page
    }

    /// [`Self::page`] with the caller's font cache: several threads can read pages of one
    /// document at once, each with its own cache.
    pub fn page_with(&self, number: u32, fonts: &mut FontCache) -> Result<PageText, PdfError> {
        let page_id = *self
            .pages
            .get((number as usize).wrapping_sub(1))
            .ok_or(PdfError::NoPages)?;
        let doc = &self.doc;
        let page = doc
            .get_dictionary(page_id)
            .map_err(|e| PdfError::Malformed(e.to_string()))?;
        let (display, width, height) = display_matrix(doc, page);
        let resources = inherited(doc, page, b"Resources").and_then(|o| o.as_dict().ok());
        let mut content = std::mem::take(&mut fonts.content);
        if !page_content(doc, page_id, &mut content) {
            return Err(PdfError::TooLarge { page: number });
        }
        let mut walker = Walker {
            doc,
            fonts: &mut fonts.fonts,
            font_index: &mut fonts.index,
            page: number,
            display,
            out: PageText {
                number,
                width,
                height,
                // Rough sizes from the content length: avoids most regrowth.
                spans: Vec::with_capacity(content.len() / 24),
                text: String::with_capacity(content.len() / 6),
            },
            state: GState::default(),
            stack: Vec::new(),
            tm: Matrix::IDENTITY,
            tlm: Matrix::IDENTITY,
            forms: Vec::new(),
            orientation_weight: [0; 4],
            missing_font: None,
        };
        let walked = walker.run(&content, resources);
        let page = walker.finish();
        fonts.content = content;
        walked.map(|()| page)
    }
}

/// Page `page_id`'s content streams, decompressed and each followed by a newline, into `out`
/// (cleared first) — what lopdf's `get_page_content_with_limit` returns, without its fresh
/// buffers: a plain `/FlateDecode` stream is inflated straight into `out`; any other (other
/// filters, predictors, a stream zlib cannot finish) goes through lopdf as before. `false`
/// when the content would exceed [`super::MAX_STREAM_BYTES`].
fn page_content(doc: &Document, page_id: ObjectId, out: &mut Vec<u8>) -> bool {
    out.clear();
    for id in doc.get_page_contents(page_id) {
        let Ok(stream) = doc.get_object(id).and_then(Object::as_stream) else {
            continue;
        };
        let remaining = super::MAX_STREAM_BYTES.saturating_sub(out.len());
        let start = out.len();
        match inflate_plain(stream, out, remaining) {
            Inflated::Done => {}
            Inflated::TooLarge => return false,
            Inflated::NotPlain => {
                out.truncate(start);
                match stream.decompressed_content_with_limit(remaining) {
                    Ok(data) => out.extend_from_slice(&data),
                    Err(lopdf::Error::Decompress(
                        lopdf::DecompressError::MemoryLimitExceeded { .. },
                    )) => return false,
                    Err(_) if stream.content.len() <= remaining => {
                        out.extend_from_slice(&stream.content)
                    }
                    Err(_) => return false,
                }
            }
        }
        out.push(b'\n');
    }
    true
}

enum Inflated {
    Done,
    TooLarge,
    /// Not a lone `/FlateDecode` without `/DecodeParms`, or not a zlib stream that ends
    /// cleanly: lopdf decides what it holds.
    NotPlain,
}

/// Inflates a plain `/FlateDecode` stream onto the end of `out`, at most `limit` bytes.
fn inflate_plain(stream: &lopdf::Stream, out: &mut Vec<u8>, limit: usize) -> Inflated {
    let flate = |o: &Object| matches!(o, Object::Name(n) if n == b"FlateDecode");
    let plain = match stream.dict.get(b"Filter") {
        Ok(Object::Array(filters)) => filters.len() == 1 && flate(&filters[0]),
        Ok(filter) => flate(filter),
        Err(_) => false,
    };
    if !plain || stream.dict.has(b"DecodeParms") || stream.content.is_empty() {
        return Inflated::NotPlain;
    }
    let input = &stream.content;
    let start = out.len();
    let mut z = flate2::Decompress::new(true);
    loop {
        let produced = out.len() - start;
        if produced > limit {
            return Inflated::TooLarge;
        }
        if out.capacity() - out.len() < 16 << 10 {
            // Grow by what was produced (at least 64 KiB), never past the limit + 1 byte: a
            // bomb is refused having taken no more memory than the limit.
            out.reserve_exact(produced.max(64 << 10).min(limit + 1 - produced));
        }
        let (read, written) = (z.total_in(), z.total_out());
        let at = (read as usize).min(input.len());
        match z.decompress_vec(&input[at..], out, flate2::FlushDecompress::None) {
            Ok(flate2::Status::StreamEnd) => break,
            Ok(_) if z.total_in() == read && z.total_out() == written => {
                return Inflated::NotPlain; // no progress: the stream ends before its end
            }
            Ok(_) => {}
            Err(_) => return Inflated::NotPlain,
        }
    }
    if out.len() - start > limit {
        return Inflated::TooLarge;
    }
    Inflated::Done
}

/// The attribute `key` of a page, inherited through `/Parent` when absent.
fn inherited<'a>(doc: &'a Document, page: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    let mut node = page;
    for _ in 0..64 {
        if let Ok(v) = node.get(key) {
            return doc.dereference(v).ok().map(|(_, o)| o);
        }
        node = node
            .get(b"Parent")
            .ok()
            .and_then(|p| doc.dereference(p).ok())
            .and_then(|(_, o)| o.as_dict().ok())?;
    }
    None
}

/// Maps user space to the displayed page (y up, origin bottom-left), honouring `/Rotate`
/// and the crop box. Returns the matrix and the displayed width and height.
fn display_matrix(doc: &Document, page: &Dictionary) -> (Matrix, f32, f32) {
    let bbox = |key: &[u8]| -> Option<[f64; 4]> {
        let arr = inherited(doc, page, key)?.as_array().ok()?;
        let v: Vec<f64> = arr
            .iter()
            .filter_map(|o| doc.dereference(o).ok().and_then(|(_, o)| number(o)))
            .collect();
        (v.len() == 4).then(|| {
            [
                v[0].min(v[2]),
                v[1].min(v[3]),
                v[0].max(v[2]),
                v[1].max(v[3]),
            ]
        })
    };
    let [llx, lly, urx, ury] = bbox(b"CropBox")
        .or_else(|| bbox(b"MediaBox"))
        .unwrap_or([0.0, 0.0, 612.0, 792.0]);
    let rotate = inherited(doc, page, b"Rotate")
        .and_then(number)
        .unwrap_or(0.0) as i64;
    let (w, h) = (urx - llx, ury - lly);
    let m = match rotate.rem_euclid(360) {
        90 => Matrix {
            a: 0.0,
            b: -1.0,
            c: 1.0,
            d: 0.0,
            e: -lly,
            f: urx,
        },
        180 => Matrix {
            a: -1.0,
            b: 0.0,
            c: 0.0,
            d: -1.0,
            e: urx,
            f: ury,
        },
        270 => Matrix {
            a: 0.0,
            b: 1.0,
            c: -1.0,
            d: 0.0,
            e: ury,
            f: -llx,
        },
        _ => Matrix::translate(-llx, -lly),
    };
    match rotate.rem_euclid(360) {
        90 | 270 => (m, h as f32, w as f32),
        _ => (m, w as f32, h as f32),
    }
}

struct Walker<'a> {
    doc: &'a Document,
    fonts: &'a mut Vec<Font>,
    font_index: &'a mut HashMap<FontKey, usize>,
    page: u32,
    display: Matrix,
    out: PageText,
    state: GState,
    stack: Vec<GState>,
    tm: Matrix,
    tlm: Matrix,
    /// Form XObjects being drawn (cycle guard).
    forms: Vec<ObjectId>,
    /// The last font resource name `Tf` could not resolve (for the error message).
    missing_font: Option<Vec<u8>>,
    /// Characters drawn per orientation (0°, 90°, 180°, 270°), to find the dominant one.
    orientation_weight: [usize; 4],
}

impl<'a> Walker<'a> {
    fn run(&mut self, content: &[u8], resources: Option<&'a Dictionary>) -> Result<(), PdfError> {
        let mut ops = Ops::new(content);
        while let Some(op) = ops.next_op() {
            self.operation(op, &ops, resources)?;
        }
        Ok(())
    }

    fn operation(
        &mut self,
        op: &[u8],
        ops: &Ops<'_>,
        resources: Option<&'a Dictionary>,
    ) -> Result<(), PdfError> {
        let n = |i: usize| ops.num(i);
        match op {
            b"q" => {
                if self.stack.len() >= MAX_SAVED_STATES {
                    return Err(PdfError::TooDeep {
                        page: self.page,
                        what: "saved graphics states (q)",
                        limit: MAX_SAVED_STATES,
                    });
                }
                self.stack.push(self.state.clone())
            }
            b"Q" => {
                if let Some(s) = self.stack.pop() {
                    self.state = s;
                }
            }
            b"cm" => {
                if let Some(m) = matrix_operands(ops) {
                    self.state.ctm = m.then(&self.state.ctm);
                }
            }
            b"BT" => {
                self.tm = Matrix::IDENTITY;
                self.tlm = Matrix::IDENTITY;
            }
            b"Tf" => {
                if let (Some(name), Some(size)) = (ops.name(0), n(1)) {
                    self.state.font = self.font(resources, name);
                    if self.state.font.is_none() {
                        self.missing_font = Some(name.to_vec());
                    }
                    self.state.size = size;
                }
            }
            b"Tc" => self.state.char_spacing = n(0).unwrap_or(0.0),
            b"Tw" => self.state.word_spacing = n(0).unwrap_or(0.0),
            b"Tz" => self.state.h_scale = n(0).unwrap_or(100.0) / 100.0,
            b"TL" => self.state.leading = n(0).unwrap_or(0.0),
            b"Ts" => self.state.rise = n(0).unwrap_or(0.0),
            b"Td" => self.next_line(n(0).unwrap_or(0.0), n(1).unwrap_or(0.0)),
            b"TD" => {
                let ty = n(1).unwrap_or(0.0);
                self.state.leading = -ty;
                self.next_line(n(0).unwrap_or(0.0), ty);
            }
            b"Tm" => {
                if let Some(m) = matrix_operands(ops) {
                    self.tm = m;
                    self.tlm = m;
                }
            }
            b"T*" => self.next_line(0.0, -self.state.leading),
            b"Tj" => {
                if let Some(s) = ops.string(0) {
                    self.show(s)?;
                }
            }
            b"'" => {
                self.next_line(0.0, -self.state.leading);
                if let Some(s) = ops.string(0) {
                    self.show(s)?;
                }
            }
            b"\"" => {
                self.state.word_spacing = n(0).unwrap_or(self.state.word_spacing);
                self.state.char_spacing = n(1).unwrap_or(self.state.char_spacing);
                self.next_line(0.0, -self.state.leading);
                if let Some(s) = ops.string(2) {
                    self.show(s)?;
                }
            }
            b"TJ" => {
                for item in &ops.operands {
                    match *item {
                        Operand::Str(start, end) => self.show(ops.bytes(start, end))?,
                        Operand::Num(adj) => {
                            let tx = -adj / 1000.0 * self.state.size * self.state.h_scale;
                            self.tm = Matrix::translate(tx, 0.0).then(&self.tm);
                        }
                        _ => {}
                    }
                }
            }
            b"Do" => {
                if let Some(name) = ops.name(0) {
                    self.form(resources, name)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn next_line(&mut self, tx: f64, ty: f64) {
        self.tlm = Matrix::translate(tx, ty).then(&self.tlm);
        self.tm = self.tlm;
    }

    /// Resolves a font resource name to a loaded font (loading it on first use).
    fn font(&mut self, resources: Option<&'a Dictionary>, name: &[u8]) -> Option<usize> {
        let fonts = resources?
            .get_deref(b"Font", self.doc)
            .ok()?
            .as_dict()
            .ok()?;
        let entry = fonts.get(name).ok()?;
        let (key, dict) = match entry {
            Object::Reference(id) => (FontKey::Ref(*id), self.doc.get_dictionary(*id).ok()?),
            Object::Dictionary(d) => (FontKey::Inline(d as *const Dictionary as usize), d),
            _ => return None,
        };
        if let Some(i) = self.font_index.get(&key) {
            return Some(*i);
        }
        let font = Font::load(self.doc, dict, name);
        self.fonts.push(font);
        let i = self.fonts.len() - 1;
        self.font_index.insert(key, i);
        Some(i)
    }

    fn form(&mut self, resources: Option<&'a Dictionary>, name: &[u8]) -> Result<(), PdfError> {
        let doc = self.doc;
        let Some(xobjects) = resources
            .and_then(|r| r.get_deref(b"XObject", doc).ok())
            .and_then(|x| x.as_dict().ok())
        else {
            return Ok(());
        };
        let Ok(Object::Reference(id)) = xobjects.get(name) else {
            return Ok(());
        };
        let Ok(Object::Stream(stream)) = doc.get_object(*id) else {
            return Ok(());
        };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form".as_slice())
            || self.forms.contains(id)
            || self.forms.len() >= MAX_FORM_DEPTH
        {
            return Ok(());
        }
        // A form that will not decompress within the limit is left out, like an unreadable one.
        let Some(content) = super::bounded_content(stream) else {
            return Ok(());
        };
        let matrix = stream
            .dict
            .get_deref(b"Matrix", doc)
            .and_then(Object::as_array)
            .ok()
            .and_then(|a| Matrix::from_objects(a))
            .unwrap_or(Matrix::IDENTITY);
        let form_resources = stream
            .dict
            .get_deref(b"Resources", doc)
            .and_then(Object::as_dict)
            .ok()
            .or(resources);
        self.forms.push(*id);
        let saved_state = self.state.clone();
        let saved_depth = self.stack.len();
        let (saved_tm, saved_tlm) = (self.tm, self.tlm);
        self.state.ctm = matrix.then(&self.state.ctm);
        let result = self.run(&content, form_resources);
        self.state = saved_state;
        self.stack.truncate(saved_depth);
        self.tm = saved_tm;
        self.tlm = saved_tlm;
        self.forms.pop();
        result
    }

    /// Draws a string operand: splits it into codes, emits spans, advances the text matrix.
    fn show(&mut self, bytes: &[u8]) -> Result<(), PdfError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let Some(font_i) = self.state.font else {
            return Err(PdfError::UndecodableFont {
                page: self.page,
                font: self
                    .missing_font
                    .as_deref()
                    .map(|n| format!("/{}", String::from_utf8_lossy(n)))
                    .unwrap_or_else(|| "(none selected)".into()),
                reason: "text is drawn with a font the page does not define".into(),
            });
        };
        let font = &mut self.fonts[font_i];
        if let Some(reason) = font.unusable {
            return Err(PdfError::UndecodableFont {
                page: self.page,
                font: font.name.clone(),
                reason: reason.into(),
            });
        }
        let st = &self.state;
        let (size, th, tc, tw, rise) = (
            st.size,
            st.h_scale,
            st.char_spacing,
            st.word_spacing,
            st.rise,
        );
        // Text space → display: Tm × CTM × display.
        let m = self.tm.then(&st.ctm).then(&self.display);
        let (ux, uy) = (m.a, m.b);
        let orientation = match orientation_of(ux, uy) {
            Some(o) => o,
            None => {
                // Skewed text: advance without emitting (it cannot be a table cell).
                let mut x = 0.0;
                let mut rest = bytes;
                while !rest.is_empty() {
                    let (code, len) = font.next_code(rest);
                    rest = &rest[len as usize..];
                    let g = font.glyph(code, len);
                    x += (f64::from(g.width) * size
                        + tc
                        + if g.flags & WORD_SPACE != 0 { tw } else { 0.0 })
                        * th;
                }
                self.tm = Matrix::translate(x, 0.0).then(&self.tm);
                return Ok(());
            }
        };
        let eff_size = (size * (m.c * m.c + m.d * m.d).sqrt()) as f32;
        let mut x = 0.0f64;
        let mut rest = bytes;
        // The open span, and where its last glyph ends (text space); its end point in page
        // space is only computed when it closes.
        let mut open: Option<TextSpan> = None;
        let mut open_end = 0.0f64;
        let mut space_before = false;
        let out = &mut self.out;
        let close =
            |span: Option<TextSpan>, end: f64, out: &mut PageText, weight: &mut [usize; 4]| {
                if let Some(mut s) = span {
                    let (qx, qy) = m.apply(end, rise);
                    s.x1 = project(orientation, qx, qy).0 as f32;
                    s.end = out.text.len() as u32;
                    weight[orientation as usize] += (s.end - s.start) as usize;
                    out.spans.push(s);
                }
            };
        while !rest.is_empty() {
            let (code, len) = font.next_code(rest);
            rest = &rest[len as usize..];
            let g = font.glyph(code, len);
            let width = f64::from(g.width) * size;
            if g.flags & (SPACE | BAD) == 0 {
                let text = font.text(g);
                if !text.is_empty() {
                    if open.is_none() {
                        let (px, py) = m.apply(x, rise);
                        let (a0, y) = project(orientation, px, py);
                        open = Some(TextSpan {
                            x0: a0 as f32,
                            x1: a0 as f32,
                            y: y as f32,
                            size: eff_size,
                            space_before,
                            start: out.text.len() as u32,
                            end: 0,
                            orientation,
                        });
                        space_before = false;
                    }
                    out.text.push_str(text);
                    open_end = x + width * th;
                }
            } else if g.flags & SPACE != 0 {
                close(open.take(), open_end, out, &mut self.orientation_weight);
                space_before = true;
            } else {
                let text = font.text(g);
                let shown = if text.is_empty() {
                    "no text mapping".to_string()
                } else {
                    format!("{text:?}")
                };
                return Err(PdfError::UndecodableFont {
                    page: self.page,
                    font: font.name.clone(),
                    reason: format!(
                        "code {code:#0width$x} has {shown}{}",
                        font.missing_reason(code, len),
                        width = 2 + 2 * len as usize
                    ),
                });
            }
            x += (width + tc + if g.flags & WORD_SPACE != 0 { tw } else { 0.0 }) * th;
        }
        close(open.take(), open_end, out, &mut self.orientation_weight);
        self.tm = Matrix::translate(x, 0.0).then(&self.tm);
        Ok(())
    }

    /// Keeps the spans of the dominant text direction, in that direction's frame.
    fn finish(mut self) -> PageText {
        let dominant = (0..4u8)
            .max_by_key(|o| self.orientation_weight[*o as usize])
            .unwrap_or(0);
        self.out
            .spans
            .retain(|s| s.orientation == dominant && s.x1 >= s.x0);
        self.out
    }
}

/// 0 = left-to-right, 1 = bottom-to-top, 2 = right-to-left (upside down), 3 = top-to-bottom;
/// `None` for skewed text (more than ~11° off an axis).
fn orientation_of(ux: f64, uy: f64) -> Option<u8> {
    if ux.abs() > 5.0 * uy.abs() {
        Some(if ux > 0.0 { 0 } else { 2 })
    } else if uy.abs() > 5.0 * ux.abs() {
        Some(if uy > 0.0 { 1 } else { 3 })
    } else {
        None
    }
}

/// Coordinates along the text direction and across it ("up" for the reader of that text).
fn project(orientation: u8, x: f64, y: f64) -> (f64, f64) {
    match orientation {
        1 => (y, -x),
        2 => (-x, -y),
        3 => (-y, x),
        _ => (x, y),
    }
}
