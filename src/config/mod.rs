//! The service configuration file (TOML) and its defaults. Every field is optional: an empty
//! file (or none) gives a service on 127.0.0.1:50051 with data in `./data`, two browsers, the
//! HTTP port (metrics) on 127.0.0.1:50052, and the retry/restart defaults of DESIGN.md.
//! `config.example.toml` at the repository root lists every setting with its default.
//! Environment variables `BLACKANT_<SECTION>_<KEY>` override the file (`env.rs`). Secrets (the
//! ERP service password) come from the environment, never from this file's defaults or from
//! logs; bearer tokens are stored as SHA-256 hashes.
//!
//! Owns parsing and validation (unknown keys and bad values are refused with the key's name),
//! and turning the file into a `ServiceConfig`. Must NOT start anything.

mod env;

pub use env::{ENV_PREFIX, NOT_SETTINGS};

use crate::erp::Credentials;
use crate::grpc::TokenEntry;
use crate::service::{OrderSettings, ServiceConfig, SourceConfig, Tuning};
use crate::store::DataDir;
use crate::syncs::breaker::BreakerPolicy;
use blackant_actors::run::Scope;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable holding the ERP service account's password.
pub const SERVICE_PASSWORD_ENV: &str = "BLACKANT_ERP_SERVICE_PASSWORD";

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Folder of the SQLite files and kept exports.
    pub data_dir: PathBuf,
    /// gRPC listen address.
    pub listen: SocketAddr,
    /// Agents the service knows (their credentials arrive with their sessions).
    pub agents: Vec<String>,
    pub erp: ErpSection,
    pub browsers: BrowsersSection,
    pub retry: RetrySection,
    pub supervision: SupervisionSection,
    pub schedule: ScheduleSection,
    pub breaker: BreakerSection,
    pub tuning: TuningSection,
    pub orders: OrdersSection,
    pub deletes: DeletesSection,
    pub evidence: EvidenceSection,
    pub http: HttpSection,
    pub tls: TlsSection,
    pub logging: LoggingSection,
    pub auth: AuthSection,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            agents: Vec::new(),
            erp: ErpSection::default(),
            browsers: BrowsersSection::default(),
            retry: RetrySection::default(),
            supervision: SupervisionSection::default(),
            schedule: ScheduleSection::default(),
            breaker: BreakerSection::default(),
            tuning: TuningSection::default(),
            orders: OrdersSection::default(),
            deletes: DeletesSection::default(),
            evidence: EvidenceSection::default(),
            http: HttpSection::default(),
            tls: TlsSection::default(),
            logging: LoggingSection::default(),
            auth: AuthSection::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErpSection {
    /// Archibald's base URL (ignored with `--sim`).
    pub base_url: String,
    pub page_timeout_secs: u64,
    pub export_timeout_secs: u64,
    /// Longest wait, once a page has loaded, for a button, field or table it must show before
    /// the page counts as changed (a permanent failure with evidence).
    pub element_wait_secs: u64,
    /// Order detail pages read at once, each in its own tab of the agent's context.
    pub detail_pages_at_once: usize,
    /// Logged-in tabs kept open between syncs for their context's next sync (0, the default:
    /// none; see `config.example.toml` for how to size it).
    pub idle_tabs: usize,
    /// Open every order detail page in a tab instead of reading the HTML of those whose lines
    /// are in it without rendering them (default false; see `config.example.toml`).
    pub render_detail_pages: bool,
    /// The service account used by catalogue syncs (password from `BLACKANT_ERP_SERVICE_PASSWORD`).
    pub service_user: Option<String>,
}

impl Default for ErpSection {
    fn default() -> Self {
        Self {
            base_url: String::new(),
            page_timeout_secs: 30,
            export_timeout_secs: 300,
            element_wait_secs: crate::erp::ELEMENT_WAIT.as_secs(),
            detail_pages_at_once: crate::erp::DETAIL_PAGES_AT_ONCE,
            idle_tabs: crate::erp::IDLE_TABS,
            render_detail_pages: false,
            service_user: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrowsersSection {
    /// Chromium processes, i.e. how many syncs talk to the ERP at once.
    pub size: usize,
    /// Chromium binary; default: `$BLACKANT_CHROMIUM`, `/usr/lib/chromium/chromium`, `chromium`.
    pub chromium: Option<PathBuf>,
    /// Launch every browser when the service starts (false: when first needed).
    pub launch_at_start: bool,
    /// With `launch_at_start`: each browser starts with a spare context and a blank tab, so
    /// the first agent it serves does not wait for Chromium to start a renderer.
    pub spare_context: bool,
    /// A browser that has served this many leases is closed and replaced (0: never).
    pub recycle_after_leases: u32,
}

impl Default for BrowsersSection {
    fn default() -> Self {
        Self {
            size: 2,
            chromium: None,
            launch_at_start: true,
            spare_context: true,
            recycle_after_leases: blackant_actors::browser_pool::RECYCLE_AFTER_LEASES,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetrySection {
    pub max_attempts: u32,
    pub base_ms: u64,
    pub max_ms: u64,
}

impl Default for RetrySection {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_ms: 2_000,
            max_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct SupervisionSection {
    /// More than this many restarts of one actor within `within_secs` escalates.
    pub max_restarts: u32,
    pub within_secs: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for SupervisionSection {
    fn default() -> Self {
        Self {
            max_restarts: 5,
            within_secs: 60,
            backoff_base_ms: 200,
            backoff_max_ms: 30_000,
        }
    }
}

/// `[schedule]`: whether the Scheduler runs, and the stale-data limit. The per-kind schedules
/// themselves are in `sync.db` (defaults from DESIGN.md), read and changed over gRPC
/// (`SchedulerService`), so they survive restarts and need no restart to change.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleSection {
    /// False: nothing syncs by itself (only on request).
    pub enabled: bool,
    /// Data older than this many hours syncs at once.
    pub stale_after_hours: u64,
}

impl Default for ScheduleSection {
    fn default() -> Self {
        Self {
            enabled: true,
            stale_after_hours: 72,
        }
    }
}

/// `[breaker]`: the circuit breakers of the ERP and of each account's logins.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerSection {
    /// Consecutive failures that open a breaker.
    pub failures_to_open: u32,
    /// Seconds an open breaker refuses calls before letting one probe through.
    pub cool_down_secs: u64,
}

impl Default for BreakerSection {
    fn default() -> Self {
        let d = BreakerPolicy::default();
        Self {
            failures_to_open: d.failures_to_open,
            cool_down_secs: d.cool_down.as_secs(),
        }
    }
}

/// `[tuning]`: knobs an operator may need; the defaults are what the service always used.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TuningSection {
    /// An agent's OrderSync actor with nothing to do for this long is stopped.
    pub order_sync_idle_secs: u64,
    /// Product images downloaded at once.
    pub image_downloads: usize,
    /// Longest wait for one sync to acknowledge a pause before it is restarted.
    pub pause_ack_timeout_secs: u64,
    /// Longest wait for an actor's answer (status, a request, a schedule change).
    pub call_timeout_secs: u64,
    /// Longest wait for the supervisor (a restart waits for the actor's exit and start).
    pub supervisor_timeout_secs: u64,
    /// From SIGTERM / Ctrl-C to exit, at most this long: gRPC stops accepting, every sync
    /// stops at its page boundary with its checkpoint, and whatever is still running then is
    /// left for the next start to resume.
    pub shutdown_timeout_secs: u64,
}

impl Default for TuningSection {
    fn default() -> Self {
        let d = Tuning::default();
        Self {
            order_sync_idle_secs: d.order_sync_idle.as_secs(),
            image_downloads: d.image_downloads,
            pause_ack_timeout_secs: d.pause_ack_timeout.as_secs(),
            call_timeout_secs: d.call_timeout.as_secs(),
            supervisor_timeout_secs: d.supervisor_timeout.as_secs(),
            shutdown_timeout_secs: d.shutdown_timeout.as_secs(),
        }
    }
}

/// `[orders]`: placing orders in Archibald.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct OrdersSection {
    /// How long Archibald may take to show a new order in its search; set it well above what
    /// the ERP really takes (a lost confirmation is resubmitted only after it).
    pub index_lag_secs: u64,
    /// A placement not in Archibald after this many seconds fails.
    pub deadline_secs: u64,
    /// Ended placements and their idempotency keys are kept this many days (30 at least).
    pub retention_days: u64,
    /// Longest wait for filling the form, the confirmation, or a search.
    pub step_timeout_secs: u64,
}

impl Default for OrdersSection {
    fn default() -> Self {
        let d = OrderSettings::default();
        Self {
            index_lag_secs: d.index_lag.as_secs(),
            deadline_secs: d.deadline.as_secs(),
            retention_days: d.retention.as_secs() / 86_400,
            step_timeout_secs: d.step_timeout.as_secs(),
        }
    }
}

/// `[deletes]`: when a complete export may not delete records on its own word (ERP.md: a
/// view left filtered exports a complete-looking report holding a fraction of the records).
/// Deletions of more than `max_share` of a table's live rows AND more than `min_rows` rows
/// are held for an operator; fewer apply at once.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeletesSection {
    /// Share of a table's live rows (0..1) above which a run's deletions are held.
    pub max_share: f64,
    /// Deletions of at most this many rows always apply at once.
    pub min_rows: u64,
}

impl Default for DeletesSection {
    fn default() -> Self {
        let d = crate::store::tables::DeletionGuard::default();
        Self {
            max_share: d.max_share,
            min_rows: d.min_rows,
        }
    }
}

/// `[evidence]`: what is kept of an ERP page a step did not find what it needed on (its HTML
/// and a screenshot, under `<data_dir>/evidence/`): the newest `max_files` snapshots, within
/// `max_megabytes` in all (whichever bound is reached first).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvidenceSection {
    pub max_files: usize,
    pub max_megabytes: u64,
}

impl Default for EvidenceSection {
    fn default() -> Self {
        Self {
            max_files: 200,
            max_megabytes: 500,
        }
    }
}

/// `[http]`: the service's HTTP port — Prometheus metrics at `/metrics` (and the operators'
/// dashboard). On by default, on loopback.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// The operators' dashboard at `/dashboard` (behind an operator token when tokens are
    /// configured; refused off loopback without one).
    pub dashboard: bool,
}

impl Default for HttpSection {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: SocketAddr::from(([127, 0, 0, 1], 50052)),
            dashboard: false,
        }
    }
}

/// `[tls]`: serve gRPC over TLS with this certificate chain and private key (PEM files); both
/// or neither. Without them gRPC is plaintext (fine on loopback).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSection {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One readable line per event.
    #[default]
    Human,
    /// One JSON object per line (for log collectors).
    Json,
}

/// `[logging]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingSection {
    pub format: LogFormat,
    /// The filter (`RUST_LOG` syntax; `RUST_LOG` itself overrides it).
    pub filter: String,
    /// Write logs to this file instead of stderr. `blackant serve` on a terminal without
    /// `--verbose` writes them to `<data_dir>/blackant.log` anyway, so the terminal shows
    /// progress and a summary only.
    pub file: Option<PathBuf>,
}

impl Default for LoggingSection {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            filter: DEFAULT_LOG_FILTER.to_string(),
            file: None,
        }
    }
}

/// The default log filter: the service's own INFO lines, warnings from everything else, and
/// none of chromiumoxide's protocol noise (PROBES.md).
pub const DEFAULT_LOG_FILTER: &str = "warn,blackant=info,blackant_actors=info,archibald_sim=warn,\
chromiumoxide::conn=off,chromiumoxide::handler=off";

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSection {
    pub tokens: Vec<TokenEntry>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("{origin}: `{key}`: {message}")]
    Value {
        /// The file, or "(defaults)" when only the environment was read.
        origin: PathBuf,
        /// The key, dotted (`browsers.size`, `auth.tokens[0].role`).
        key: String,
        message: String,
    },
    #[error("environment variable {var}: {why}")]
    Env { var: String, why: String },
    #[error("{0}")]
    Invalid(String),
}

impl Config {
    /// Read a config file (a missing `path` means all defaults), then apply the process's
    /// `BLACKANT_…` environment overrides.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars())
    }

    /// [`Config::load`] with these environment variables instead of the process's.
    pub fn load_with_env(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (mut table, origin) = match path {
            None => (toml::Table::new(), PathBuf::from("(defaults)")),
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.into(),
                    source,
                })?;
                let table = text
                    .parse::<toml::Table>()
                    .map_err(|source| ConfigError::Parse {
                        path: p.into(),
                        source,
                    })?;
                (table, p.to_path_buf())
            }
        };
        env::apply(&mut table, vars)?;
        let config: Config =
            serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
                ConfigError::Value {
                    origin: origin.clone(),
                    key: e.path().to_string(),
                    message: e.inner().to_string(),
                }
            })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.browsers.size == 0 {
            return Err(ConfigError::Invalid(
                "browsers.size must be at least 1".into(),
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(ConfigError::Invalid(
                "retry.max_attempts must be at least 1".into(),
            ));
        }
        if self.schedule.stale_after_hours == 0 {
            return Err(ConfigError::Invalid(
                "schedule.stale_after_hours must be at least 1".into(),
            ));
        }
        let t = &self.tuning;
        for (key, value) in [
            (
                "breaker.failures_to_open",
                u64::from(self.breaker.failures_to_open),
            ),
            ("tuning.image_downloads", t.image_downloads as u64),
            (
                "erp.detail_pages_at_once",
                self.erp.detail_pages_at_once as u64,
            ),
            ("tuning.pause_ack_timeout_secs", t.pause_ack_timeout_secs),
            ("tuning.call_timeout_secs", t.call_timeout_secs),
            ("tuning.supervisor_timeout_secs", t.supervisor_timeout_secs),
            ("tuning.shutdown_timeout_secs", t.shutdown_timeout_secs),
            ("orders.deadline_secs", self.orders.deadline_secs),
            ("orders.step_timeout_secs", self.orders.step_timeout_secs),
            ("erp.element_wait_secs", self.erp.element_wait_secs),
        ] {
            if value == 0 {
                return Err(ConfigError::Invalid(format!("{key} must be at least 1")));
            }
        }
        if !(self.deletes.max_share > 0.0 && self.deletes.max_share <= 1.0) {
            return Err(ConfigError::Invalid(format!(
                "deletes.max_share must be above 0 and at most 1 (a share of a table's live rows), not {}",
                self.deletes.max_share
            )));
        }
        if self.evidence.max_files == 0 || self.evidence.max_megabytes == 0 {
            return Err(ConfigError::Invalid(
                "evidence.max_files and evidence.max_megabytes must be at least 1".into(),
            ));
        }
        if self.orders.retention_days < 30 {
            return Err(ConfigError::Invalid(
                "orders.retention_days must be at least 30 (idempotency keys are kept 30 days)"
                    .into(),
            ));
        }
        for a in &self.agents {
            crate::store::paths::validate_user(a)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return Err(ConfigError::Invalid(
                "tls.cert_file and tls.key_file go together: set both, or neither".into(),
            ));
        }
        if self.http.enabled && self.http.listen == self.listen {
            return Err(ConfigError::Invalid(format!(
                "http.listen and listen are both {}: give the HTTP port its own address",
                self.listen
            )));
        }
        tracing_subscriber::EnvFilter::try_new(&self.logging.filter).map_err(|e| {
            ConfigError::Invalid(format!("logging.filter {:?}: {e}", self.logging.filter))
        })?;
        crate::grpc::AuthConfig::new(&self.auth.tokens)
            .map_err(|e| ConfigError::Invalid(format!("auth.tokens: {e}")))?;
        Ok(())
    }

    pub fn retry_policy(&self) -> blackant_actors::sync::RetryPolicy {
        blackant_actors::sync::RetryPolicy {
            max_attempts: self.retry.max_attempts,
            base: Duration::from_millis(self.retry.base_ms),
            max: Duration::from_millis(self.retry.max_ms),
        }
    }

    pub fn restart_policy(&self) -> blackant_actors::supervision::RestartPolicy {
        blackant_actors::supervision::RestartPolicy {
            max_restarts: self.supervision.max_restarts,
            within: Duration::from_secs(self.supervision.within_secs),
            backoff_base: Duration::from_millis(self.supervision.backoff_base_ms),
            backoff_max: Duration::from_millis(self.supervision.backoff_max_ms),
        }
    }

    /// The Scheduler's settings, `None` when `[schedule] enabled = false`.
    pub fn schedule_settings(&self) -> Option<crate::service::ScheduleSettings> {
        self.schedule
            .enabled
            .then(|| crate::service::ScheduleSettings {
                stale_after: Duration::from_secs(self.schedule.stale_after_hours * 3600),
            })
    }

    /// The breakers' policy.
    pub fn breaker_policy(&self) -> BreakerPolicy {
        BreakerPolicy {
            failures_to_open: self.breaker.failures_to_open,
            cool_down: Duration::from_secs(self.breaker.cool_down_secs),
        }
    }

    /// The tuning knobs.
    pub fn tuning(&self) -> Tuning {
        let t = &self.tuning;
        Tuning {
            order_sync_idle: Duration::from_secs(t.order_sync_idle_secs),
            image_downloads: t.image_downloads,
            pause_ack_timeout: Duration::from_secs(t.pause_ack_timeout_secs),
            call_timeout: Duration::from_secs(t.call_timeout_secs),
            supervisor_timeout: Duration::from_secs(t.supervisor_timeout_secs),
            shutdown_timeout: Duration::from_secs(t.shutdown_timeout_secs),
        }
    }

    /// The service this configuration describes, reading exports from `source`, with the
    /// ERP accounts known at start (`credentials`, memory only) and `agents` known.
    pub fn service_config(
        &self,
        source: SourceConfig,
        agents: Vec<String>,
        credentials: Vec<(Scope, Credentials)>,
    ) -> ServiceConfig {
        ServiceConfig {
            data: DataDir::new(&self.data_dir),
            source,
            agents,
            credentials,
            retry: self.retry_policy(),
            restart: self.restart_policy(),
            breaker: self.breaker_policy(),
            schedule: self.schedule_settings(),
            tuning: self.tuning(),
            orders: OrderSettings {
                index_lag: Duration::from_secs(self.orders.index_lag_secs),
                deadline: Duration::from_secs(self.orders.deadline_secs),
                retention: Duration::from_secs(self.orders.retention_days * 86_400),
                step_timeout: Duration::from_secs(self.orders.step_timeout_secs),
            },
            deletes: crate::store::tables::DeletionGuard {
                max_share: self.deletes.max_share,
                min_rows: self.deletes.min_rows,
            },
            evidence: crate::erp::EvidenceBounds {
                max_files: self.evidence.max_files,
                max_bytes: self.evidence.max_megabytes.saturating_mul(1 << 20),
            },
        }
    }

    pub fn erp_config(&self, base_url: &str) -> crate::erp::ErpConfig {
        let mut erp = crate::erp::ErpConfig::new(base_url);
        erp.page_timeout = Duration::from_secs(self.erp.page_timeout_secs);
        erp.export_timeout = Duration::from_secs(self.erp.export_timeout_secs);
        erp.element_wait = Duration::from_secs(self.erp.element_wait_secs);
        erp.detail_pages_at_once = self.erp.detail_pages_at_once;
        erp.idle_tabs = self.erp.idle_tabs;
        erp.render_detail_pages = self.erp.render_detail_pages;
        erp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_sets_every_setting_to_its_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let example = Config::load_with_env(Some(&path), std::iter::empty())
            .expect("config.example.toml loads as shipped");
        let text = |c: &Config| toml::to_string(c).expect("serialises");
        assert_eq!(text(&example), text(&Config::default()));
        // Every setting with a default is written out, not left implicit.
        let written: toml::Table = std::fs::read_to_string(&path)
            .expect("read")
            .parse()
            .expect("TOML");
        let defaults = toml::Table::try_from(Config::default()).expect("table");
        for (key, value) in &defaults {
            match value {
                toml::Value::Table(section) if key != "auth" => {
                    for setting in section.keys() {
                        assert!(
                            written
                                .get(key)
                                .and_then(|s| s.as_table())
                                .is_some_and(|s| s.contains_key(setting)),
                            "{key}.{setting} is not in config.example.toml"
                        );
                    }
                }
                toml::Value::Table(_) => {}
                _ => assert!(written.contains_key(key), "{key} is not in the example"),
            }
        }
        // Settings without a default are shown, commented.
        let raw = std::fs::read_to_string(&path).expect("read");
        for key in [
            "service_user",
            "chromium",
            "cert_file",
            "key_file",
            "file",
            "[[auth.tokens]]",
        ] {
            assert!(raw.contains(&format!("# {key}")), "{key} is not shown");
        }
    }

    #[test]
    fn an_empty_file_gives_the_documented_defaults() {
        let c: Config = toml::from_str("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:50051");
        assert_eq!(c.browsers.size, 2);
        assert_eq!(c.retry_policy().max_attempts, 5);
        assert_eq!(
            c.schedule_settings().map(|s| s.stale_after),
            Some(Duration::from_secs(3 * 24 * 3600))
        );
        c.validate().unwrap();
        let off: Config = toml::from_str("[schedule]\nenabled = false").unwrap();
        assert_eq!(off.schedule_settings(), None);
    }

    #[test]
    fn typos_and_bad_values_are_refused_with_the_reason() {
        let typo = toml::from_str::<Config>("listn = \"1.2.3.4:5\"")
            .unwrap_err()
            .to_string();
        assert!(typo.contains("listn"), "{typo}");
        let c: Config = toml::from_str("[browsers]\nsize = 0").unwrap();
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("browsers.size")
        );
        let c: Config = toml::from_str("agents = [\"../etc\"]").unwrap();
        assert!(c.validate().is_err());
    }

    #[test]
    fn a_bad_value_in_the_file_names_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blackant.toml");
        std::fs::write(&path, "[browsers]\nsize = \"two\"\n").unwrap();
        let e = Config::load_with_env(Some(&path), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("`browsers.size`"), "{e}");
        std::fs::write(&path, "[orders]\nretention_days = 7\n").unwrap();
        let e = Config::load_with_env(Some(&path), Vec::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("orders.retention_days"), "{e}");
    }

    #[test]
    fn tokens_are_read_from_the_auth_section() {
        let c: Config = toml::from_str(
            "[[auth.tokens]]\nsha256 = \"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"\nrole = \"agent\"\nagent = \"agent1\"\n",
        )
        .unwrap();
        assert_eq!(c.auth.tokens.len(), 1);
        assert!(crate::grpc::AuthConfig::new(&c.auth.tokens).is_ok());
    }
}
