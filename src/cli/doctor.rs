//! `blackant doctor`: check an Archibald against ERP.md before pointing the service at it —
//! every list view and report, an order's detail page, the order form — and print what
//! matches and what does not, one line per check (or one JSON object with `--json`). Exit 0
//! only when everything matches, 1 when something does not, 4 when it could not look at all
//! (no Chromium, the ERP unreachable). Writes nothing. Glue over `blackant::doctor`.

use blackant::doctor::{self, DoctorReport};
use blackant::erp::{Credentials, ErpConfig};
use blackant_actors::browser_pool::ChromiumConfig;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Archibald's base URL, e.g. `https://archibald.example.com`.
    #[arg(long)]
    erp: String,
    /// The account to look with: the service account, or an agent's.
    #[arg(long)]
    user: String,
    /// Its password (better from the environment than on a command line others can read).
    #[arg(long, env = "BLACKANT_ERP_PASSWORD", hide_env_values = true)]
    password: String,
    /// Longest wait for one page (seconds).
    #[arg(long, default_value_t = 30)]
    page_timeout_secs: u64,
    /// Longest wait for an export, from the click to the PDF's last byte (seconds).
    #[arg(long, default_value_t = 300)]
    export_timeout_secs: u64,
    /// Longest wait for a button, field or table a page should have (seconds).
    #[arg(long, default_value_t = 3)]
    element_wait_secs: u64,
    /// The Chromium executable (default: `BLACKANT_CHROMIUM`, Debian's, `chromium` on PATH).
    #[arg(long)]
    chromium: Option<PathBuf>,
    /// Print one JSON object (`ok`, `erp`, `user`, `checks`) instead of lines.
    #[arg(long)]
    json: bool,
}

/// Something does not match ERP.md.
const EXIT_MISMATCH: u8 = 1;
/// The doctor could not look (no browser, no tab).
const EXIT_CANNOT_LOOK: u8 = 4;

pub async fn run(args: DoctorArgs) -> ExitCode {
    let mut erp = ErpConfig::new(&args.erp);
    erp.page_timeout = Duration::from_secs(args.page_timeout_secs.max(1));
    erp.export_timeout = Duration::from_secs(args.export_timeout_secs.max(1));
    erp.element_wait = Duration::from_secs(args.element_wait_secs.max(1));
    let chromium = ChromiumConfig {
        executable: args.chromium.clone(),
        ..Default::default()
    };
    let credentials = Credentials::new(&args.user, &args.password);
    let report = match doctor::examine(erp, credentials, chromium).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("blackant doctor: {e}");
            return ExitCode::from(EXIT_CANNOT_LOOK);
        }
    };
    if args.json {
        let mut v = serde_json::to_value(&report).unwrap_or_default();
        v["ok"] = report.ok().into();
        println!("{v}");
    } else {
        print_report(&report);
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_MISMATCH)
    }
}

fn print_report(r: &DoctorReport) {
    println!("Archibald at {} as {}", r.erp, r.user);
    for c in &r.checks {
        println!(
            "  {:<4}  {:<34} {:<16} {}",
            if c.ok { "ok" } else { "FAIL" },
            c.step,
            c.page,
            c.detail
        );
    }
    let ok = r.checks.iter().filter(|c| c.ok).count();
    println!(
        "{ok} of {} checks match ERP.md{}",
        r.checks.len(),
        if r.ok() {
            ""
        } else {
            ": fix the rest before serving"
        }
    );
}
