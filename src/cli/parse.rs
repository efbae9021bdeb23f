//! `blackant parse`: an exported report PDF → its records as canonical JSON Lines on stdout
//! (ERP.md field names), what the reader noticed on stderr: columns the contract does not know
//! (a warning: their text is left out), an incomplete export (exit 3 unless allowed), or why the
//! report cannot be read (exit 1: not a PDF, a known column missing or renamed, a value in a
//! format ERP.md does not give). Glue over `records::parse_export`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use blackant::records::{self, Kind};

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// Report kind: customers, products, prices, orders, ddt, invoices.
    #[arg(long)]
    kind: Kind,
    /// Print what was read and exit 0 even if the export is truncated (pages missing or fewer
    /// rows than "Totale record: K").
    #[arg(long)]
    allow_incomplete: bool,
    /// Also print how the report was read (pages, completeness, vertical cell alignment) on
    /// stderr.
    #[arg(long)]
    explain: bool,
    /// Debugging aid: print every page's text lines and phrases with their positions on stderr
    /// instead of parsing.
    #[arg(long, hide = true)]
    dump_lines: bool,
    /// The PDF file.
    file: PathBuf,
}

/// Exit code for unreadable input (not a PDF, undecodable, bad values...).
const EXIT_BAD_INPUT: u8 = 1;
/// Exit code for a truncated export without `--allow-incomplete`.
const EXIT_INCOMPLETE: u8 = 3;

pub fn run(args: ParseArgs) -> ExitCode {
    let bytes = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("blackant parse: cannot read {}: {e}", args.file.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if args.dump_lines {
        return dump_lines(&args.file, &bytes);
    }
    let started = std::time::Instant::now();
    let parsed = records::parse_export(args.kind, &bytes);
    let elapsed = started.elapsed();
    let export = match parsed {
        Ok(x) => x,
        Err(e) => {
            eprintln!("blackant parse: {}: {e}", args.file.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    if !export.unknown_columns.is_empty() {
        eprintln!(
            "blackant parse: warning: {}: columns ERP.md does not list, left out of every record: {}",
            args.file.display(),
            export
                .unknown_columns
                .iter()
                .map(|t| format!("{t:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if args.explain {
        let c = &export.completeness;
        let numbered = c.page_numbers.iter().filter(|n| n.is_some()).count();
        eprintln!(
            "blackant parse: {}: {} records on {} pages ({numbered} numbered \"Pagina N di M\", \
             declared M {:?}, missing {:?}); declared total {:?}; cells aligned {:?}; parsed in {:.1} ms",
            args.file.display(),
            export.record_count(),
            c.physical_pages,
            c.declared_pages,
            c.missing_pages(),
            c.declared_total,
            export.vertical_align,
            elapsed.as_secs_f64() * 1000.0,
        );
    }
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for record in export.records() {
        if writeln!(out, "{}", record.to_json()).is_err() {
            // Closed pipe (e.g. `| head`): nothing more to say.
            return ExitCode::SUCCESS;
        }
    }
    if out.flush().is_err() {
        return ExitCode::SUCCESS;
    }
    if !export.is_complete() {
        let why = export.completeness.problems().join("; ");
        if args.allow_incomplete {
            eprintln!(
                "blackant parse: warning: {}: incomplete export: {why}",
                args.file.display()
            );
        } else {
            eprintln!(
                "blackant parse: {}: incomplete export ({} records read): {why} (use --allow-incomplete to accept)",
                args.file.display(),
                export.record_count()
            );
            return ExitCode::from(EXIT_INCOMPLETE);
        }
    }
    ExitCode::SUCCESS
}

/// `--dump-lines`: what layers 1 and 2 of the reader see.
fn dump_lines(file: &std::path::Path, bytes: &[u8]) -> ExitCode {
    let mut pdf = match blackant::pdf::PdfText::load(bytes) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("blackant parse: {}: {e}", file.display());
            return ExitCode::from(EXIT_BAD_INPUT);
        }
    };
    for n in 1..=pdf.page_count() as u32 {
        let page = match pdf.page(n) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("blackant parse: {}: {e}", file.display());
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        };
        eprintln!("== page {n} ({} x {} pt)", page.width, page.height);
        for line in blackant::pdf::layout::lines(&page) {
            let phrases: Vec<String> = line
                .phrases
                .iter()
                .map(|p| {
                    format!(
                        "[{:.1}..{:.1} {:?}]",
                        p.x0,
                        p.x1,
                        line.join(p.words.clone())
                    )
                })
                .collect();
            eprintln!(
                "y={:.1} size={:.1} {}",
                line.y,
                line.size,
                phrases.join(" ")
            );
        }
    }
    ExitCode::SUCCESS
}
