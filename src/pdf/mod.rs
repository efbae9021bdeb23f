//! The PDF table reader: Archibald report exports → table rows, whoever produced the PDF.
//!
//! It owns everything between PDF bytes and raw cell strings, in three layers that do not know
//! each other's internals:
//! 1. [`content`] walks content operators (read by `lexer`; text and graphics state, Form
//!    XObjects, fonts via `font`/`cmap`) and yields positioned [`TextSpan`]s per page,
//!    rotation-normalised;
//! 2. [`layout`] groups spans into lines, words and phrases;
//! 3. [`table`] finds the header row by the expected column titles, assigns phrases to columns
//!    by alignment, builds rows (wrapped cells joined, vertical alignment detected) and the
//!    [`Completeness`] report ("Pagina N di M", "Totale record: K").
//!
//! Layers 1 and 2 run in parallel on every core, a contiguous run of pages per thread with its
//! own font cache; layer 3 sees the pages in order, so its output does not depend on threads.
//!
//! It must NOT interpret cell values (dates, amounts, booleans) nor know the six report kinds:
//! that is `crate::records`, which hands this module its column titles and alignments.
//! lopdf parses the file structure; its `extract_text` is not used because it drops positions.

mod cmap;
pub mod content;
mod embedded;
mod font;
mod glyph_names;
pub mod layout;
mod lexer;
pub mod table;
#[cfg(test)]
pub(crate) mod tests;

pub use content::{PageText, PdfText, TextSpan};
pub use layout::{Line, Phrase, Word};
pub use table::{Align, Completeness, Table, TableColumn, TableRow, VerticalAlign};

/// Largest decompressed stream accepted (a page's content, a font, a CMap). A 300-page
/// report's largest stream is well under 1 MiB; an inflate bomb stops here instead of taking
/// the machine's memory.
pub const MAX_STREAM_BYTES: usize = 64 << 20;

/// Why a PDF could not be read as a report table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PdfError {
    /// The bytes do not start like a PDF (an HTML error page, an empty download...).
    #[error("not a PDF file (no %PDF- header)")]
    NotPdf,
    /// Encrypted with a password we do not have.
    #[error("the PDF is encrypted and cannot be opened without a password")]
    Encrypted,
    /// lopdf could not read the file structure.
    #[error("cannot read the PDF structure: {0}")]
    Malformed(String),
    #[error("the PDF has no pages")]
    NoPages,
    /// A font whose codes cannot be turned into trustworthy text (no ToUnicode on a Type0
    /// font, a code with no mapping, U+FFFD or control characters): failing beats returning
    /// garbage that would be hashed and stored as data.
    #[error("page {page}: font {font} cannot be decoded to text: {reason}")]
    UndecodableFont {
        page: u32,
        font: String,
        reason: String,
    },
    /// A stream would decompress beyond [`MAX_STREAM_BYTES`] (an inflate bomb, or not a report).
    #[error("page {page}: a stream decompresses to more than {limit} bytes", limit = MAX_STREAM_BYTES)]
    TooLarge { page: u32 },
    /// Nesting no report reaches (an endless `q`, ...): refused rather than followed.
    #[error("page {page}: more than {limit} {what}")]
    TooDeep {
        page: u32,
        what: &'static str,
        limit: usize,
    },
    /// No page has a line holding all the expected column titles in order.
    #[error("no page has the table header (expected columns: {expected})")]
    NoHeader { expected: String },
}

/// A stream's content, decompressed within [`MAX_STREAM_BYTES`]; its raw bytes when its filter
/// is not understood (as lopdf does); `None` when it would exceed the limit.
pub(crate) fn bounded_content(stream: &lopdf::Stream) -> Option<Vec<u8>> {
    match stream.decompressed_content_with_limit(MAX_STREAM_BYTES) {
        Ok(content) => Some(content),
        Err(lopdf::Error::Decompress(lopdf::DecompressError::MemoryLimitExceeded { .. })) => None,
        Err(_) if stream.content.len() <= MAX_STREAM_BYTES => Some(stream.content.clone()),
        Err(_) => None,
    }
}

/// Pages below which one thread reads them all (a thread costs more than a few pages).
const MIN_PAGES_PER_THREAD: usize = 8;

/// Every page's text lines, in page order. Pages are read in parallel on every core, in
/// contiguous runs of pages, each thread with its own font cache; the result and the error
/// reported (the first page's that fails, as a serial read would) are the same as one thread
/// reading page after page.
fn page_lines(pdf: &PdfText) -> Result<Vec<Vec<layout::Line>>, PdfError> {
    let count = pdf.page_count();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(count / MIN_PAGES_PER_THREAD)
        .max(1);
    let read = |range: std::ops::Range<usize>| -> Result<Vec<Vec<layout::Line>>, PdfError> {
        let mut fonts = content::FontCache::default();
        let mut out = Vec::with_capacity(range.len());
        for n in range {
            let page = pdf.page_with(n as u32, &mut fonts)?;
            out.push(layout::lines(&page));
        }
        Ok(out)
    };
    if threads == 1 {
        return read(1..count + 1);
    }
    let per = count.div_ceil(threads);
    let runs: Vec<std::ops::Range<usize>> = (0..threads)
        .map(|t| (1 + t * per)..(1 + ((t + 1) * per).min(count)))
        .filter(|r| !r.is_empty())
        .collect();
    let results: Vec<Result<Vec<Vec<layout::Line>>, PdfError>> = std::thread::scope(|s| {
        let handles: Vec<_> = runs[1..]
            .iter()
            .map(|r| {
                let r = r.clone();
                s.spawn(move || read(r))
            })
            .collect();
        // This thread reads the first run while the others read theirs.
        let mut all = vec![read(runs[0].clone())];
        for h in handles {
            all.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    });
    let mut lines = Vec::with_capacity(count);
    for run in results {
        lines.extend(run?);
    }
    Ok(lines)
}

/// Reads the table of a report: every page's text, then the rows under the header whose
/// titles and alignments `columns` gives (in order).
pub fn read_table(bytes: &[u8], columns: &[TableColumn<'_>]) -> Result<Table, PdfError> {
    use std::time::Instant;
    let started = Instant::now();
    let pdf = PdfText::load(bytes)?;
    let loaded = Instant::now();
    let lines = page_lines(&pdf)?;
    let extract_and_layout = loaded.elapsed();
    let laid_out = Instant::now();
    let table = table::read(&lines, columns).ok_or_else(|| PdfError::NoHeader {
        expected: columns
            .iter()
            .map(|c| c.title)
            .collect::<Vec<_>>()
            .join(" | "),
    });
    tracing::debug!(
        pages = pdf.page_count(),
        load_ms = (loaded - started).as_secs_f64() * 1e3,
        extract_and_layout_ms = extract_and_layout.as_secs_f64() * 1e3,
        table_ms = laid_out.elapsed().as_secs_f64() * 1e3,
        "read report table"
    );
    table
}
