//! `blackant serve`: the service — configuration, logging, the optional embedded simulator,
//! the supervision tree, the gRPC server and the HTTP port, the first syncs with progress bars,
//! graceful shutdown on Ctrl-C / SIGTERM within the configured bound.
//!
//! On a terminal, logs go to `<data_dir>/blackant.log` unless `-v`: a person sees progress and
//! a short summary. Glue only: the work is in the library.

use super::progress::{Ended, RunBars};
use anyhow::{Context, Result, bail};
use blackant::config::{Config, LogFormat, SERVICE_PASSWORD_ENV};
use blackant::erp::Credentials;
use blackant::grpc::{self, AuthConfig};
use blackant::kinds::KINDS;
use blackant::records::Kind;
use blackant::service::{Service, SourceConfig};
use blackant_actors::browser_pool::ChromiumConfig;
use blackant_actors::run::Trigger;
use blackant_actors::run::{Mode, Scope};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); every setting has a default.
    #[arg(long, env = "BLACKANT_CONFIG")]
    config: Option<PathBuf>,
    /// gRPC listen address (overrides the config).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data folder (overrides the config).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Run against the embedded Archibald simulator instead of the configured ERP.
    #[arg(long)]
    sim: bool,
    /// Simulator seed (with --sim).
    #[arg(long, default_value_t = 1)]
    sim_seed: u64,
    /// Simulator size multiplier (with --sim).
    #[arg(long, default_value_t = 1)]
    sim_scale: u32,
    /// A sync to run at start and show with a progress bar: `KIND[:AGENT]`, e.g.
    /// `customers:agent1` (repeatable). With --sim and none given: the first agent's customers
    /// and orders, and the catalogue's products and prices.
    #[arg(long = "first-sync", value_name = "KIND[:AGENT]")]
    first_sync: Vec<String>,
    /// Run no sync at start.
    #[arg(long, conflicts_with = "first_sync")]
    no_first_sync: bool,
    /// HTTP listen address of /metrics and /healthz (overrides the config).
    #[arg(long)]
    http_listen: Option<SocketAddr>,
    /// Log format (overrides the config): human or json.
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// Write logs to this file (overrides the config).
    #[arg(long)]
    log_file: Option<PathBuf>,
    /// Logs on the terminal even when it is one (-v), and debug logs of the service (-vv).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

/// `KIND[:AGENT]` → (kind, agent).
fn parse_first_sync(text: &str) -> Result<(Kind, String)> {
    let (kind, user) = text.split_once(':').unwrap_or((text, ""));
    let kind = Kind::from_name(kind)
        .with_context(|| format!("--first-sync {text}: unknown kind {kind:?}"))?;
    Ok((kind, user.to_string()))
}

/// SIGTERM and SIGINT, listened to from the start, before the service says where it listens:
/// a signal that arrives that early stops the service in order instead of killing it by the
/// default action.
struct Signals {
    #[cfg(unix)]
    both: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn listen() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Signals {
                both: signal(SignalKind::terminate())
                    .and_then(|t| Ok((t, signal(SignalKind::interrupt())?)))
                    .ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next SIGTERM or SIGINT (Ctrl-C).
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((term, int)) = &mut self.both {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Start logging as configured; says where the logs go when it is not the terminal.
fn init_logging(config: &Config, args: &ServeArgs) -> Result<Option<PathBuf>> {
    use std::io::IsTerminal;
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let format = args.log_format.unwrap_or(config.logging.format);
    let mut filter = config.logging.filter.clone();
    if args.verbose >= 2 {
        filter.push_str(",blackant=debug,blackant_actors=debug");
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&filter))
        .with_context(|| format!("logging.filter {filter:?}"))?;
    let file = match (&args.log_file, &config.logging.file) {
        (Some(f), _) | (None, Some(f)) => Some(f.clone()),
        (None, None) if args.verbose == 0 && std::io::stderr().is_terminal() => {
            Some(config.data_dir.join("blackant.log"))
        }
        (None, None) => None,
    };
    let writer = match &file {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating the log folder {}", dir.display()))?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening the log file {}", path.display()))?;
            BoxMakeWriter::new(std::sync::Mutex::new(f))
        }
        None => BoxMakeWriter::new(std::io::stderr),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(file.is_none() && std::io::stderr().is_terminal())
        .with_writer(writer);
    // A subscriber already installed (a test harness) keeps its place.
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    Ok(file)
}

fn tls_identity(config: &Config) -> Result<Option<grpc::TlsIdentity>> {
    let (Some(cert), Some(key)) = (&config.tls.cert_file, &config.tls.key_file) else {
        return Ok(None);
    };
    let read = |p: &PathBuf, what: &str| {
        std::fs::read(p).with_context(|| format!("reading the TLS {what} {}", p.display()))
    };
    Ok(Some(grpc::TlsIdentity {
        cert_pem: read(cert, "certificate")?,
        key_pem: read(key, "private key")?,
    }))
}

pub async fn run(args: ServeArgs) -> Result<()> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(l) = args.listen {
        config.listen = l;
    }
    if let Some(d) = &args.data {
        config.data_dir = d.clone();
    }
    if let Some(h) = args.http_listen {
        config.http.listen = h;
    }
    // One service per data folder: refused before anything is started, bound or written.
    let folder_lock = blackant::store::folder_lock::FolderLock::acquire(&config.data_dir)?;
    if let Some(log) = init_logging(&config, &args)? {
        eprintln!("logs in {}", log.display());
    }
    let mut agents = config.agents.clone();
    let mut credentials = Vec::new();

    #[cfg(feature = "sim")]
    let sim = if args.sim {
        let sim = blackant::sim_kit::start_simulator(
            args.sim_seed,
            args.sim_scale,
            archibald_sim::Faults::default(),
        )
        .await
        .context("starting the embedded Archibald simulator")?;
        (agents, credentials) = blackant::sim_kit::sessions(&sim.accounts(), &[]);
        config.erp.base_url = sim.base_url().to_string();
        eprintln!(
            "Archibald simulator at {} (agents: {})",
            sim.base_url(),
            agents.join(", ")
        );
        Some(sim)
    } else {
        None
    };
    #[cfg(not(feature = "sim"))]
    if args.sim {
        bail!("this build has no embedded simulator (built without the `sim` feature)");
    }

    if config.erp.base_url.is_empty() {
        bail!("no ERP configured: set erp.base_url in the config file, or use --sim");
    }
    if let Some(user) = &config.erp.service_user {
        let password = std::env::var(SERVICE_PASSWORD_ENV).with_context(|| {
            format!("erp.service_user is set: put its password in ${SERVICE_PASSWORD_ENV}")
        })?;
        credentials.push((Scope::Catalogue, Credentials::new(user, password)));
    }

    let auth = AuthConfig::new(&config.auth.tokens)?;
    if config.http.enabled && config.http.dashboard && !config.http.listen.ip().is_loopback() {
        let operator = config
            .auth
            .tokens
            .iter()
            .any(|t| t.role == blackant::grpc::Role::Operator);
        anyhow::ensure!(
            operator,
            "the dashboard on {} (not loopback) needs an operator token: add [[auth.tokens]] \
             with role = \"operator\", or keep [http] listen on 127.0.0.1",
            config.http.listen
        );
    }
    let tls = tls_identity(&config)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let source = SourceConfig::Erp {
        erp: config.erp_config(&config.erp.base_url),
        chromium: Box::new(ChromiumConfig {
            executable: config.browsers.chromium.clone(),
            spare_context: config.browsers.spare_context,
            ..Default::default()
        }),
        browsers: config.browsers.size,
        launch_at_start: config.browsers.launch_at_start,
        recycle_after_leases: config.browsers.recycle_after_leases,
    };
    let mut signals = Signals::listen();
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding the gRPC address {}", config.listen))?;
    let addr = listener.local_addr()?;
    // Both ports are bound before anything is announced: a port in use fails the start.
    let http_listener = if config.http.enabled {
        Some(
            tokio::net::TcpListener::bind(config.http.listen)
                .await
                .with_context(|| format!("binding the HTTP address {}", config.http.listen))?,
        )
    } else {
        None
    };
    let bound = Duration::from_secs(config.tuning.shutdown_timeout_secs);
    // The metrics recorder is in place before anything is measured.
    if config.http.enabled {
        let _ = blackant::http::prometheus();
    }
    let service = Service::start_locked(
        config.service_config(source, agents.clone(), credentials),
        folder_lock,
    )
    .await?;
    let service = Arc::new(service);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let server = tokio::spawn(grpc::serve(
        listener,
        service.clone(),
        auth.clone(),
        tls,
        stopped(),
    ));
    eprintln!(
        "blackant serving gRPC on {addr}{} (data in {})",
        if scheme == "https" { " over TLS" } else { "" },
        config.data_dir.display()
    );
    let http = match http_listener {
        Some(listener) => {
            let http_addr = listener.local_addr()?;
            eprintln!(
                "metrics at http://{http_addr}/metrics, health at http://{http_addr}/healthz"
            );
            if config.http.dashboard {
                eprintln!("dashboard at http://{http_addr}/dashboard");
            }
            Some(tokio::spawn(blackant::http::serve(
                listener,
                service.clone(),
                config.http.dashboard.then(|| auth.clone()),
                stopped(),
            )))
        }
        None => None,
    };

    let mut first: Vec<(Kind, String)> = Vec::new();
    if !args.no_first_sync {
        for text in &args.first_sync {
            first.push(parse_first_sync(text)?);
        }
        if first.is_empty()
            && args.sim
            && let Some(agent) = agents.first()
        {
            // Every kind once: the first agent's session kinds (its DDT and invoices follow the
            // orders), and the catalogue (prices wait for products).
            for spec in KINDS.iter().filter(|s| s.on_session || !s.per_agent) {
                let user = if spec.per_agent {
                    agent.clone()
                } else {
                    String::new()
                };
                first.push((spec.kind, user));
            }
        }
    }
    let first_syncs = first_syncs(&service, first);
    let plain = if scheme == "https" { "" } else { "-plaintext " };
    let interrupted = tokio::select! {
        res = first_syncs => {
            if let Err(e) = res {
                eprintln!("first syncs: {e:#}");
            }
            eprintln!("ready: try `blackant ctl --addr {scheme}://{addr} status` or `grpcurl {plain}{addr} list`");
            false
        }
        _ = signals.next() => true,
    };
    if !interrupted {
        signals.next().await;
    }

    // Health says NOT_SERVING before anything stops; a second signal exits at once.
    let started = Instant::now();
    service.begin_shutdown();
    eprintln!(
        "shutting down (at most {} s; Ctrl-C again to exit now)",
        bound.as_secs()
    );
    tokio::spawn(async move {
        signals.next().await;
        eprintln!("exiting now");
        std::process::exit(130);
    });
    let _ = stop_tx.send(true);
    let orderly = async {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("gRPC server: {e}"),
            Err(e) => eprintln!("gRPC server task: {e}"),
        }
        if let Some(http) = http {
            match http.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("HTTP server: {e}"),
                Err(e) => eprintln!("HTTP server task: {e}"),
            }
        }
        summary(service.shutdown().await);
        #[cfg(feature = "sim")]
        if let Some(sim) = sim {
            sim.shutdown().await;
        }
    };
    if tokio::time::timeout(bound, orderly).await.is_err() {
        eprintln!(
            "did not stop within {} s (tuning.shutdown_timeout_secs): exiting; the next start resumes from the checkpoints",
            bound.as_secs()
        );
    } else {
        eprintln!("stopped in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// One line for the actors that stopped, one for those that did not.
fn summary(actors: Vec<(String, bool)>) {
    let still: Vec<&str> = actors
        .iter()
        .filter(|(_, stopped)| !stopped)
        .map(|(n, _)| n.as_str())
        .collect();
    let names: Vec<&str> = actors.iter().map(|(n, _)| n.as_str()).collect();
    eprintln!(
        "stopped {} actors: {}",
        names.len() - still.len(),
        names.join(", ")
    );
    if !still.is_empty() {
        eprintln!("did not stop in time: {}", still.join(", "));
    }
}

/// Request the first syncs (full) and show them until each ends.
async fn first_syncs(service: &Service, syncs: Vec<(Kind, String)>) -> Result<()> {
    if syncs.is_empty() {
        return Ok(());
    }
    let mut events = service.subscribe();
    let mut runs = Vec::new();
    for (kind, user) in syncs {
        let scope = service.scope_for(kind, if kind.spec().per_agent { &user } else { "" })?;
        let ack = service
            .request_sync(kind, scope, Mode::Full, Trigger::Manual)
            .await?;
        runs.push(ack.run_id);
    }
    let mut bars = RunBars::new();
    let mut failed = 0;
    while !runs.is_empty() {
        let e = events.recv().await.context("the event bus closed")?;
        if !runs.contains(&e.run_id) {
            continue;
        }
        match bars.show(&grpc::event_to_proto(&e)) {
            Some(Ended::Ok) => runs.retain(|r| *r != e.run_id),
            Some(Ended::Failed(_)) => {
                failed += 1;
                runs.retain(|r| *r != e.run_id);
            }
            None => {}
        }
    }
    if failed > 0 {
        bail!("{failed} first sync(s) failed (see above)");
    }
    Ok(())
}
