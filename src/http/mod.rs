//! The service's HTTP port, beside gRPC: Prometheus metrics at `/metrics` (text format 0.0.4),
//! `/healthz` (200 when serving, 503 with the reasons otherwise) for load balancers and
//! scripts, and, when configured, the operators' dashboard ([`dashboard`]). On loopback by
//! default (`[http] listen`).
//!
//! Owns the metrics recorder of the process (installed once, histograms of `*_seconds` as
//! Prometheus histograms with fixed buckets). Must NOT hold business logic: it reads the
//! service's operations like the gRPC adapters do.

pub mod dashboard;

use crate::grpc::AuthConfig;
use crate::service::Service;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;

/// Bucket bounds of every `*_seconds` histogram: from a millisecond commit to a five-minute
/// export.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0,
];

/// The process's Prometheus recorder, installed on first use. `None` when another recorder
/// was installed first (a test or a bench measuring with its own).
pub fn prometheus() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .ok()?;
            let handle = builder.install_recorder().ok()?;
            // Histograms are kept in windows that need regular upkeep.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .clone()
}

#[derive(Clone)]
struct HttpState {
    service: Arc<Service>,
    metrics: Option<PrometheusHandle>,
}

/// The routes, for `serve` and for tests.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .with_state(HttpState {
            service,
            metrics: prometheus(),
        })
}

/// Serve the HTTP port on `listener` until `shutdown` resolves; with the dashboard when
/// `dashboard` holds the tokens that guard it.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    dashboard: Option<AuthConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut app = router(service.clone());
    if let Some(auth) = dashboard {
        app = app.merge(dashboard::routes(service, auth));
    }
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let Some(handle) = state.metrics else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "metrics are not recorded in this process (another recorder was installed)\n"
                .to_string(),
        );
    };
    state.service.refresh_state_metrics().await;
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle.render(),
    )
}

async fn healthz(State(state): State<HttpState>) -> impl IntoResponse {
    let health = state.service.health().borrow().clone();
    if health.serving() {
        (StatusCode::OK, "serving\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not serving: {}\n", health.reasons()),
        )
    }
}
