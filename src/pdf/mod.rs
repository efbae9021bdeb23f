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
//! Layers 1 and 2, and the part of layer 3 one page decides alone (footer marks, header, body
//! lines in columns), run in parallel on every core, a contiguous run of pages per thread with
//! its own font cache; the rest of layer 3 (completeness, vertical alignment, rows joined across
//! pages) sees the pages in order, so the output does not depend on threads.
//!
//! It must NOT interpret cell values (dates, amounts, booleans) nor know the six report kinds:
//! that is `crate::records`, which hands this module its column titles and alignments.
//! lopdf parses the file structure (after [`untag`] took a tagged file's structure tree out of
//! its way); its `extract_text` is not used because it drops positions.

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
mod untag;

pub use content::{PageText, PdfText, TextSpan};
pub use layout::{Line, Phrase, Word};
pub use table::{Align, ColumnsError, Completeness, Table, TableColumn, TableRow, VerticalAlign};

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
    /// The report's columns are not the expected ones: no page has the header row, or a known
    /// column is missing or renamed.
    #[error(transparent)]
    Columns(#[from] ColumnsError),
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

/// Pages a thread must have to be worth starting (a thread costs more than a few pages).
pub(crate) const MIN_PAGES_PER_THREAD: usize = 8;

/// `work` over `0..count` on every core, in contiguous runs (one per thread, at least
/// `min_per_thread` items each: below that one thread does them all), the results concatenated
/// in order. The outcome is the
/// same as one thread doing the whole range: the same values, and the error of the first run
/// (in order) that fails. This thread does the first run while the others do theirs.
pub(crate) fn in_runs<T: Send, E: Send>(
    count: usize,
    min_per_thread: usize,
    work: impl Fn(std::ops::Range<usize>) -> Result<Vec<T>, E> + Sync,
) -> Result<Vec<T>, E> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(count / min_per_thread.max(1))
        .max(1);
    if threads == 1 {
        return work(0..count);
    }
    let per = count.div_ceil(threads);
    let runs: Vec<std::ops::Range<usize>> = (0..threads)
        .map(|t| (t * per)..((t + 1) * per).min(count))
        .filter(|r| !r.is_empty())
        .collect();
    let work = &work;
    let results: Vec<Result<Vec<T>, E>> = std::thread::scope(|s| {
        let handles: Vec<_> = runs[1..]
            .iter()
            .map(|r| {
                let r = r.clone();
                s.spawn(move || work(r))
            })
            .collect();
        let mut all = vec![work(runs[0].clone())];
        for h in handles {
            all.push(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    });
    let mut out = Vec::with_capacity(count);
    for run in results {
        out.extend(run?);
    }
    Ok(out)
}

/// Every page read as far as one page allows (layers 1 and 2, and layer 3's per-page part:
/// footer marks, header, body lines in columns), in page order, pages on every core, each
/// thread with its own font cache.
fn page_tables(
    pdf: &PdfText,
    columns: &[TableColumn<'_>],
) -> Result<Vec<table::PageTable>, PdfError> {
    let titles = table::Titles::new(columns);
    in_runs(pdf.page_count(), MIN_PAGES_PER_THREAD, |range| {
        let mut fonts = content::FontCache::default();
        let mut out = Vec::with_capacity(range.len());
        for i in range {
            let page = i as u32 + 1;
            let text = pdf.page_with(page, &mut fonts)?;
            let lines = layout::lines(&text);
            out.push(table::read_page(&lines, page, &titles, columns));
        }
        Ok(out)
    })
}

/// Reads the table of a report: every page's text, then the rows under the header whose
/// titles and alignments `columns` gives (wherever they stand on the page; the rows' cells come
/// back in `columns` order, the text of columns it does not name left out).
pub fn read_table(bytes: &[u8], columns: &[TableColumn<'_>]) -> Result<Table, PdfError> {
    use std::time::Instant;
    let started = Instant::now();
    let pdf = PdfText::load(bytes)?;
    let loaded = Instant::now();
    let pages = page_tables(&pdf, columns)?;
    let pages_read = loaded.elapsed();
    let read = Instant::now();
    let table = table::assemble(pages, columns).map_err(PdfError::from);
    tracing::debug!(
        pages = pdf.page_count(),
        load_ms = (loaded - started).as_secs_f64() * 1e3,
        pages_ms = pages_read.as_secs_f64() * 1e3,
        assemble_ms = read.elapsed().as_secs_f64() * 1e3,
        "read report table"
    );
    table
}
