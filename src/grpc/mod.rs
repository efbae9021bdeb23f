//! The gRPC surface (DESIGN.md, "gRPC surface"): `blackant.v1.SyncService`,
//! `blackant.v1.OrderService` (placing orders exactly once),
//! `blackant.v1.AdminService` (operators: the actor tree, restart / stop / start, run metrics),
//! `blackant.v1.PriorityService` (pause / resume every sync), `blackant.v1.SchedulerService`
//! (read and change schedules), standard health
//! (`grpc.health.v1`) and reflection, so `grpcurl` works out of the box.
//!
//! Layers, as in STYLE.md: `pb` is generated code only; `convert` maps proto ↔ domain types;
//! `auth` turns bearer tokens into principals; each service file is a thin adapter over
//! `crate::service::Service`. The actors never see a tonic type.

mod admin_service;
mod auth;
mod convert;
mod order_service;
pub mod pb;
mod scheduler_service;
mod sync_service;

pub use auth::{AuthConfig, AuthConfigError, Principal, Role, TokenEntry, hash_token};
pub use convert::{event_to_proto, kind_from_proto, kind_to_proto};

use crate::service::Service;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("building gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Serve every gRPC service on `listener` until `shutdown` resolves: in-flight calls finish,
/// and open `WatchSyncEvents` streams end (cleanly, with OK) so the shutdown never waits on a
/// watcher that would otherwise stay connected for ever.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    auth: AuthConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    if auth.is_open() {
        tracing::warn!("no auth tokens configured: every gRPC caller is treated as an operator");
    }
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<pb::sync_service_server::SyncServiceServer<sync_service::SyncApi>>()
        .await;
    health
        .set_serving::<pb::admin_service_server::AdminServiceServer<admin_service::AdminApi>>()
        .await;
    health
        .set_serving::<pb::scheduler_service_server::SchedulerServiceServer<scheduler_service::SchedulerApi>>()
        .await;
    health
        .set_serving::<pb::order_service_server::OrderServiceServer<order_service::OrderApi>>()
        .await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let interceptor = move |req| auth.intercept(req);
    let streams_end = CancellationToken::new();
    let admin = pb::admin_service_server::AdminServiceServer::with_interceptor(
        admin_service::AdminApi::new(service.clone()),
        interceptor.clone(),
    );
    let priority = pb::priority_service_server::PriorityServiceServer::with_interceptor(
        admin_service::PriorityApi::new(service.clone()),
        interceptor.clone(),
    );
    let scheduler = pb::scheduler_service_server::SchedulerServiceServer::with_interceptor(
        scheduler_service::SchedulerApi::new(service.clone()),
        interceptor.clone(),
    );
    let orders = pb::order_service_server::OrderServiceServer::with_interceptor(
        order_service::OrderApi::new(service.clone()),
        interceptor.clone(),
    );
    let sync = pb::sync_service_server::SyncServiceServer::with_interceptor(
        sync_service::SyncApi::new(service, streams_end.clone()),
        interceptor,
    );
    let shutdown = async move {
        shutdown.await;
        streams_end.cancel();
    };
    tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(reflection)
        .add_service(sync)
        .add_service(admin)
        .add_service(priority)
        .add_service(scheduler)
        .add_service(orders)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
        .await?;
    Ok(())
}
