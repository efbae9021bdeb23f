//! Test harness: a simulator + the service (real BrowserPool with Chromium) + its gRPC server
//! on 127.0.0.1:0 + a client, in a temporary data folder. Also: reading a kind's table back as
//! canonical JSON to compare with the simulator's truth field by field, and waiting on events.

#![allow(dead_code)]

pub mod fleet;
pub mod order_world;
pub mod process;

use archibald_sim::{Faults, ReportKind, SimHandle};
use blackant::grpc::pb::sync_service_client::SyncServiceClient;
use blackant::grpc::{self, AuthConfig, pb};
use blackant::records::{Kind, ValueType};
use blackant::service::Service;
use blackant::store::DataDir;
use blackant::store::tables::TableSpec;
use blackant_actors::events::{EventBody, EventSubscription, SyncEvent};
use blackant_actors::run::RunId;
use blackant_actors::supervision::RestartPolicy;
use blackant_actors::sync::RetryPolicy;
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tonic::transport::Channel;

/// Longest wait for any one thing to happen in a test (a whole sync of 5,700 records in a
/// debug build on a loaded machine included). A hang fails instead of blocking CI.
pub const PATIENCE: Duration = Duration::from_secs(180);

pub struct Harness {
    pub sim: SimHandle,
    pub service: Arc<Service>,
    pub client: SyncServiceClient<Channel>,
    pub addr: std::net::SocketAddr,
    /// The data folder (shared with a later harness to restart the service on the same data).
    pub data: Arc<tempfile::TempDir>,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

pub struct Options {
    pub retry: RetryPolicy,
    pub restart: RestartPolicy,
    pub browsers: usize,
    pub auth: AuthConfig,
    pub faults: Faults,
    pub breaker: blackant::syncs::breaker::BreakerPolicy,
    /// Run the Scheduler (off by default: tests start the syncs they look at).
    pub schedule: Option<blackant::service::ScheduleSettings>,
    /// Only these agents get credentials (empty: every simulator agent).
    pub agents: Vec<String>,
    /// Reuse this data folder (a service restarted on the same data).
    pub data: Option<Arc<tempfile::TempDir>>,
    /// How orders are placed (the indexing lag a little above the simulator's 2 s).
    pub orders: blackant::service::OrderSettings,
    /// Order detail pages read at once (the service's default unless set).
    pub detail_pages_at_once: usize,
    /// Logged-in tabs kept between syncs (the service's default unless set).
    pub idle_tabs: usize,
    /// Open every detail page in a tab (`erp.render_detail_pages`; off unless set).
    pub render_detail_pages: bool,
    /// Point the service at this ERP address instead of the simulator's (one that is down).
    pub erp_url: Option<String>,
    /// Longest wait for one ERP page (the service's test default unless set).
    pub page_timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            // Fast retries: tests exercise the logic, not the real-world delays.
            retry: RetryPolicy {
                max_attempts: 2,
                base: Duration::from_millis(20),
                max: Duration::from_millis(100),
            },
            restart: RestartPolicy {
                max_restarts: 5,
                within: Duration::from_secs(60),
                backoff_base: Duration::from_millis(50),
                backoff_max: Duration::from_millis(500),
            },
            browsers: 1,
            auth: AuthConfig::default(),
            faults: Faults::default(),
            breaker: Default::default(),
            schedule: None,
            agents: Vec::new(),
            data: None,
            orders: blackant::service::OrderSettings {
                index_lag: Duration::from_secs(3),
                step_timeout: Duration::from_secs(60),
                ..Default::default()
            },
            detail_pages_at_once: blackant::erp::DETAIL_PAGES_AT_ONCE,
            idle_tabs: blackant::erp::IDLE_TABS,
            render_detail_pages: false,
            erp_url: None,
            page_timeout: None,
        }
    }
}

impl Harness {
    pub async fn start() -> Harness {
        Self::start_with(Options::default()).await
    }

    pub async fn start_with(opts: Options) -> Harness {
        // Logs as `RUST_LOG` says (nothing by default), captured with the test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
            )
            .with_test_writer()
            .try_init();
        let sim = blackant::sim_kit::start_simulator(42, 1, opts.faults.clone())
            .await
            .expect("simulator starts");
        let data = opts
            .data
            .unwrap_or_else(|| Arc::new(tempfile::tempdir().expect("temp dir")));
        let mut config = blackant::sim_kit::sim_service_config(
            &sim,
            &opts.agents,
            DataDir::new(data.path()),
            opts.browsers,
        );
        config.retry = opts.retry;
        config.restart = opts.restart;
        config.schedule = opts.schedule;
        config.breaker = opts.breaker;
        config.orders = opts.orders;
        if let blackant::service::SourceConfig::Erp { erp, .. } = &mut config.source {
            erp.detail_pages_at_once = opts.detail_pages_at_once;
            erp.idle_tabs = opts.idle_tabs;
            erp.render_detail_pages = opts.render_detail_pages;
            if let Some(url) = opts.erp_url {
                erp.base_url = url;
            }
            if let Some(timeout) = opts.page_timeout {
                erp.page_timeout = timeout;
            }
        }
        let service = Service::start(config).await.expect("service starts");
        let service = Arc::new(service);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, mut stopped) = watch::channel(false);
        let server = tokio::spawn({
            let service = service.clone();
            async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                grpc::serve(listener, service, opts.auth, None, shutdown)
                    .await
                    .expect("gRPC server");
            }
        });
        let client = connect(addr).await;
        Harness {
            sim,
            service,
            client,
            addr,
            data,
            stop,
            server,
        }
    }

    pub fn customers_db(&self, agent: &str) -> std::path::PathBuf {
        self.data.path().join(format!("customers-{agent}.db"))
    }

    /// Request a sync over gRPC and wait for its end (the RPC's `wait`).
    pub async fn sync(
        &self,
        kind: pb::SyncKind,
        user: &str,
        mode: pb::SyncMode,
    ) -> pb::RequestSyncResponse {
        let mut client = self.client.clone();
        let req = pb::RequestSyncRequest {
            kind: kind as i32,
            user: user.into(),
            mode: mode as i32,
            reason: "test".into(),
            wait: true,
        };
        tokio::time::timeout(PATIENCE, client.request_sync(req))
            .await
            .expect("the sync ends in time")
            .expect("RequestSync answers")
            .into_inner()
    }

    /// GetSyncStatus of one kind for one agent (or the catalogue with ""): its only row.
    pub async fn status(&self, kind: pb::SyncKind, user: &str) -> pb::SyncStatus {
        let mut statuses = self
            .client
            .clone()
            .get_sync_status(pb::GetSyncStatusRequest {
                kind: kind as i32,
                user: user.into(),
            })
            .await
            .expect("GetSyncStatus")
            .into_inner()
            .statuses;
        assert_eq!(statuses.len(), 1, "one status row for {kind:?} {user:?}");
        statuses.remove(0)
    }

    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        tokio::time::timeout(PATIENCE, self.server)
            .await
            .expect("the gRPC server stops in time, open streams included")
            .expect("the gRPC server task");
        self.service.shutdown().await;
        self.sim.shutdown().await;
    }
}

/// The HTTP port of `service` (metrics, health, the dashboard and its evidence guarded by
/// `auth`) on 127.0.0.1:0; its base URL. Stops when the returned sender is dropped.
pub async fn serve_http(
    service: Arc<Service>,
    auth: AuthConfig,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(blackant::http::serve(
        listener,
        service,
        Some(auth),
        async move {
            let _ = stopped.await;
        },
    ));
    (url, stop)
}

/// A full sync of `kind` for `user` ("" for the catalogue) over `channel` with `token`,
/// waited for: its result.
pub async fn full_sync_on(
    channel: &Channel,
    token: Option<&str>,
    kind: pb::SyncKind,
    user: &str,
) -> pb::RunResult {
    SyncServiceClient::new(channel.clone())
        .request_sync(with_token(
            token,
            pb::RequestSyncRequest {
                kind: kind as i32,
                user: user.into(),
                mode: pb::SyncMode::Full as i32,
                wait: true,
                ..Default::default()
            },
        ))
        .await
        .expect("RequestSync")
        .into_inner()
        .result
        .expect("a waited request carries the result")
}

/// A plaintext connection to the gRPC server at `addr` (`127.0.0.1:port`).
pub async fn channel(addr: impl std::fmt::Display) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

/// `msg` with `authorization: Bearer <token>` when a token is given.
pub fn with_token<T>(token: Option<&str>, msg: T) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(token) = token {
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii"),
        );
    }
    req
}

/// A client of the order service.
pub async fn orders_client(
    addr: std::net::SocketAddr,
) -> pb::order_service_client::OrderServiceClient<Channel> {
    pb::order_service_client::OrderServiceClient::new(channel(addr).await)
}

/// A product the simulator lets `agent` order (Attivo, with a base-list price), and a
/// quantity its rules allow.
pub fn orderable(sim: &SimHandle, skip: usize) -> (String, i64) {
    sim.orderable(skip + 1)
        .into_iter()
        .nth(skip)
        .expect("an orderable product")
}

pub async fn connect(addr: std::net::SocketAddr) -> SyncServiceClient<Channel> {
    SyncServiceClient::new(channel(addr).await)
}

/// The result of a run that must have failed.
pub fn failed_result(resp: &pb::RequestSyncResponse) -> pb::RunResult {
    let r = resp
        .result
        .clone()
        .expect("a waited request carries the result");
    assert!(!r.ok, "the run succeeded");
    r
}

/// The result of a run that must have succeeded.
pub fn ok_result(resp: &pb::RequestSyncResponse) -> pb::RunResult {
    let r = resp
        .result
        .clone()
        .expect("a waited request carries the result");
    assert!(r.ok, "the run failed: {}", r.error);
    r
}

pub fn counts(r: &pb::RunResult) -> (u64, u64, u64, u64) {
    let c = r.counts.expect("a completed run has counts");
    (c.inserted, c.updated, c.unchanged, c.deleted)
}

/// Live rows of a kind's table as canonical JSON objects (ERP.md field names and value forms),
/// sorted by key, read with a read-only connection like the PWA would.
pub fn live_rows(db: &std::path::Path, kind: Kind, user: Option<&str>) -> Vec<Map<String, Value>> {
    rows(db, kind, user, false)
}

/// The rows of a kind's table marked deleted, as [`live_rows`] reads the live ones.
pub fn deleted_rows(
    db: &std::path::Path,
    kind: Kind,
    user: Option<&str>,
) -> Vec<Map<String, Value>> {
    rows(db, kind, user, true)
}

fn rows(
    db: &std::path::Path,
    kind: Kind,
    user: Option<&str>,
    deleted: bool,
) -> Vec<Map<String, Value>> {
    let spec = TableSpec::for_kind(kind);
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open db");
    let cols: Vec<String> = spec.fields.iter().map(|f| format!("\"{f}\"")).collect();
    let scope = if spec.user_scoped {
        format!(" AND user_id = '{}'", user.expect("user"))
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {} FROM {} WHERE deleted_at IS {}NULL{scope} ORDER BY \"{}\"",
        cols.join(", "),
        spec.table,
        if deleted { "NOT " } else { "" },
        spec.key_column
    );
    let mut stmt = conn.prepare(&sql).expect("prepare");
    let columns = kind.columns();
    stmt.query_map([], |r| {
        let mut m = Map::new();
        for (i, c) in columns.iter().enumerate() {
            let v: rusqlite::types::Value = r.get(i)?;
            let json = match (v, c.ty) {
                (rusqlite::types::Value::Null, _) => Value::Null,
                (rusqlite::types::Value::Integer(n), ValueType::Bool) => Value::Bool(n != 0),
                (rusqlite::types::Value::Integer(n), _) => Value::from(n),
                (rusqlite::types::Value::Text(s), _) => Value::String(s),
                (other, _) => panic!("unexpected stored value {other:?} in {}", c.field),
            };
            m.insert(c.field.to_string(), json);
        }
        Ok(m)
    })
    .expect("query")
    .map(|r| r.expect("row"))
    .collect()
}

/// A record's key (the key columns of `kind`, joined), as the truth and the rows both give it.
pub fn record_key(kind: Kind, r: &Map<String, Value>) -> String {
    kind.key_columns()
        .iter()
        .map(|&i| {
            r.get(kind.columns()[i].field)
                .map(|v| v.to_string())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("\u{1f}")
}

/// Compare the database with the simulator's truth, field by field; panics naming the first
/// difference. Both sides are sorted by `kind`'s record key (a composite one for prices).
pub fn assert_equals_truth(
    label: &str,
    kind: Kind,
    mut truth: Vec<Map<String, Value>>,
    mut db: Vec<Map<String, Value>>,
) {
    let key = |r: &Map<String, Value>| record_key(kind, r);
    truth.sort_by_key(key);
    db.sort_by_key(key);
    assert_eq!(
        db.len(),
        truth.len(),
        "{label}: {} rows in the database, {} in the ERP",
        db.len(),
        truth.len()
    );
    for (got, want) in db.iter().zip(&truth) {
        assert_eq!(
            key(got),
            key(want),
            "{label}: the database and the ERP hold different records"
        );
        for (field, w) in want {
            let g = got.get(field).unwrap_or(&Value::Null);
            assert_eq!(g, w, "{label}: record {} field {field}", key(want));
        }
    }
}

/// The SQLite file that holds `kind`'s rows (for `agent`, when per agent).
pub fn db_of(h: &Harness, kind: Kind, agent: &str) -> std::path::PathBuf {
    h.data.path().join(kind.spec().file.file_name(Some(agent)))
}

pub fn truth(sim: &SimHandle, kind: ReportKind, agent: Option<&str>) -> Vec<Map<String, Value>> {
    sim.truth(kind, agent)
}

/// Wait (bounded) for the first event matching `pred`.
pub async fn wait_event(
    events: &mut EventSubscription,
    pred: impl Fn(&SyncEvent) -> bool,
) -> SyncEvent {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let e = events.recv().await.expect("event bus open");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the expected event arrives in time")
}

/// Wait for the end of `run`.
pub async fn wait_end(events: &mut EventSubscription, run: RunId) -> SyncEvent {
    wait_event(events, |e| e.run_id == run && e.body.is_terminal()).await
}

pub fn is_progress(e: &SyncEvent) -> bool {
    matches!(e.body, EventBody::Progress { .. })
}

/// Everything the process logs, kept for the test to read.
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    /// Capture this process's logs (nextest runs each test in its own process).
    pub fn capture(level: tracing::Level) -> Logs {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_max_level(level)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("this test owns the process's log subscriber (run it with nextest)");
        logs
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// Health statuses as the standard protocol numbers them.
pub const SERVING: i32 = tonic_health::pb::health_check_response::ServingStatus::Serving as i32;
pub const NOT_SERVING: i32 =
    tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;

/// The standard health stream of one service of the server at `addr`.
pub async fn health_watch(
    addr: std::net::SocketAddr,
    service: &str,
) -> tonic::Streaming<tonic_health::pb::HealthCheckResponse> {
    tonic_health::pb::health_client::HealthClient::new(channel(addr).await)
        .watch(tonic_health::pb::HealthCheckRequest {
            service: service.into(),
        })
        .await
        .expect("health watch")
        .into_inner()
}

/// Wait (bounded) until the health stream says `status`.
pub async fn wait_health(
    stream: &mut tonic::Streaming<tonic_health::pb::HealthCheckResponse>,
    status: i32,
) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let msg = stream
                .message()
                .await
                .expect("health stream")
                .expect("health stream open");
            if msg.status == status {
                return;
            }
        }
    })
    .await
    .expect("health reaches the status in time")
}

/// The stored lines of every order of `agent`, as canonical JSON, in line order.
pub fn stored_lines(
    db: &std::path::Path,
    agent: &str,
) -> std::collections::BTreeMap<String, Vec<serde_json::Map<String, serde_json::Value>>> {
    use blackant::records::order_lines::LINE_COLUMNS;
    let conn = rusqlite::Connection::open(db).unwrap();
    let cols: Vec<String> = LINE_COLUMNS
        .iter()
        .map(|c| format!("l.\"{}\"", c.field))
        .collect();
    let sql = format!(
        "SELECT o.order_number, {} FROM orders o LEFT JOIN order_lines l ON l.user_id = o.user_id AND l.order_number = o.order_number \
         WHERE o.user_id = ?1 AND o.deleted_at IS NULL ORDER BY o.order_number, l.line_no",
        cols.join(", ")
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    let mut out: std::collections::BTreeMap<String, Vec<_>> = Default::default();
    let rows = stmt
        .query_map([agent], |r| {
            let number: String = r.get(0)?;
            let mut line = serde_json::Map::new();
            for (i, c) in LINE_COLUMNS.iter().enumerate() {
                let v: rusqlite::types::Value = r.get(i + 1)?;
                let json = match v {
                    rusqlite::types::Value::Null => serde_json::Value::Null,
                    rusqlite::types::Value::Integer(n) => serde_json::Value::from(n),
                    rusqlite::types::Value::Text(s) => serde_json::Value::String(s),
                    other => panic!("unexpected {other:?} in {}", c.field),
                };
                line.insert(c.field.to_string(), json);
            }
            Ok((number, line))
        })
        .unwrap();
    for row in rows {
        let (number, line) = row.unwrap();
        let lines = out.entry(number).or_default();
        if line.values().any(|v| !v.is_null()) {
            lines.push(line);
        }
    }
    out
}

/// The value of the first sample of `name` whose labels include `labels`.
pub fn sample(
    scrape: &prometheus_parse::Scrape,
    name: &str,
    labels: &[(&str, &str)],
) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.last().map(|b| b.count).unwrap_or(0.0)
            }
            prometheus_parse::Value::Summary(_) => f64::NAN,
        })
}

/// The process's metrics now, as `/metrics` would render them (the recorder is installed on
/// first use: call this before the service starts so that nothing goes unrecorded).
/// Counter `name` for two values of its `how` label (0 for one never counted), as this process
/// counted them so far.
pub fn counted_by_how(name: &str, hows: [&str; 2]) -> (f64, f64) {
    let scrape = scrape_metrics();
    let how = |how| sample(&scrape, name, &[("how", how)]).unwrap_or(0.0);
    (how(hows[0]), how(hows[1]))
}

pub fn scrape_metrics() -> prometheus_parse::Scrape {
    let text = blackant::http::prometheus()
        .expect("the Prometheus recorder installs")
        .render();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text format")
}
