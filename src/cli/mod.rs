//! The binary's subcommands: `serve`, `sim`, `ctl`, `token`, `parse`, `doctor`. Glue only: argument
//! structs, terminal output, exit codes; the work is in the library.

pub mod ctl;
pub mod ctl_admin;
pub mod ctl_data;
pub mod ctl_deletions;
pub mod ctl_orders;
pub mod doctor;
pub mod parse;
pub mod progress;
pub mod rpc;
pub mod serve;
#[cfg(feature = "sim")]
pub mod sim;
pub mod token;

/// Logs to stderr; `RUST_LOG` overrides. chromiumoxide's "WS Invalid message" noise (Chromium
/// sends events newer than its protocol types, PROBES.md) is silenced.
pub fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The default log filter of the long-running commands.
pub const DEFAULT_LOG: &str = blackant::config::DEFAULT_LOG_FILTER;
