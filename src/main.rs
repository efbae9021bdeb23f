//! The `blackant` binary: glue over the library (clap CLI).
//!
//! Subcommands: `serve` (the service, optionally with the embedded simulator), `sim` (the
//! simulator alone), `ctl` (a gRPC client for operators), `token` (bearer tokens), `parse`
//! (an exported report PDF → canonical JSON Lines). This file must NOT hold business logic nor
//! any subcommand's own code (that is `cli/`): it parses arguments, dispatches, and maps errors
//! to a one-line message and an exit code.

mod cli;

/// mimalloc instead of glibc's malloc: the PDF reader allocates many small strings on every
/// core, where glibc's allocator took about a fifth of a big report's parse (issue 14's
/// profile); `make bench` measures with the same allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Parse(cli::parse::ParseArgs),
    /// Check an Archibald against ERP.md (every report, a detail page, the order form);
    /// writes nothing, exit 0 only when everything matches.
    Doctor(cli::doctor::DoctorArgs),
    /// Make bearer tokens and the hashes the config stores for them.
    Token(cli::token::TokenArgs),
}

/// Exit code for invalid command-line arguments (clap's convention).
const EXIT_USAGE: u8 = 2;

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
        Command::Parse(args) => cli::parse::run(args),
        Command::Doctor(args) => run_doctor(args),
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

/// `doctor` chooses its own exit codes (0 matches, 1 mismatches, 4 could not look).
fn run_doctor(args: cli::doctor::DoctorArgs) -> ExitCode {
    cli::init_tracing("warn");
    match tokio::runtime::Runtime::new() {
        Ok(rt) => rt.block_on(cli::doctor::run(args)),
        Err(e) => {
            eprintln!("blackant doctor: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}
