//! The `blackant` binary: glue over the library (clap CLI).
//!
//! Subcommands: `serve` (the service, optionally with the embedded simulator), `sim` (the
//! simulator alone), `ctl` (a gRPC client for operators), `token` (bearer tokens), `parse`
//! (an exported report PDF → canonical JSON Lines). This file must NOT hold business logic: it parses arguments, calls
//! the library, prints, and maps errors to a one-line message and an exit code.

mod cli;

/// mimalloc instead of glibc's malloc: the PDF reader allocates many small strings on every
/// core, where glibc's allocator took about a fifth of a big report's parse (issue 14's
/// profile); `make bench` measures with the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use blackant::records::{self, Kind};

#[derive(Debug, Parser)]
#[command(
    name = "blackant",
    version,
    about = "Keeps local SQLite replicas of the Archibald ERP fresh"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: gRPC API, supervision tree, syncs (`--sim` embeds the simulator).
    Serve(cli::serve::ServeArgs),
    /// Run the Archibald simulator alone.
    #[cfg(feature = "sim")]
    Sim(cli::sim::SimArgs),
    /// Talk to a running service (status, request a sync and watch it).
    Ctl(cli::ctl::CtlArgs),
    /// Parse an exported Archibald report PDF and print its records as JSON Lines.
    Parse(ParseArgs),
    /// Make bearer tokens and the hashes the config stores for them.
    Token(cli::token::TokenArgs),
}

#[derive(Debug, Args)]
struct ParseArgs {
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

/// Exit code for invalid command-line arguments (clap's convention).
const EXIT_USAGE: u8 = 2;
/// Exit code for unreadable input (not a PDF, undecodable, bad values...).
const EXIT_BAD_INPUT: u8 = 1;
/// Exit code for a truncated export without `--allow-incomplete`.
const EXIT_INCOMPLETE: u8 = 3;

fn main() -> ExitCode {
    // A panic must not print a backtrace to users: one line, distinct exit code.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("blackant: internal error: {info}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version
        Err(e) => {
            // One line, like every other error of this binary.
            let msg = e.to_string();
            let first = msg.lines().next().unwrap_or("invalid arguments");
            eprintln!("blackant: {}", first.trim_start_matches("error: "));
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match cli.command {
        Command::Parse(args) => parse(args),
        // `serve` sets its logging up from its configuration.
        Command::Serve(args) => run_async("serve", None, cli::serve::run(args)),
        #[cfg(feature = "sim")]
        Command::Sim(args) => run_async("sim", Some(cli::DEFAULT_LOG), cli::sim::run(args)),
        Command::Ctl(args) => run_async("ctl", Some("warn"), cli::ctl::run(args)),
        Command::Token(args) => match cli::token::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("blackant token: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Run an async command on a multi-threaded runtime; an error is one line and exit code 1.
fn run_async(
    name: &str,
    log: Option<&str>,
    work: impl std::future::Future<Output = anyhow::Result<()>>,
) -> ExitCode {
    if let Some(log) = log {
        cli::init_tracing(log);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("blackant {name}: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blackant {name}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse(args: ParseArgs) -> ExitCode {
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
