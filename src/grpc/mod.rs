//! The gRPC surface (DESIGN.md, "gRPC surface"): `blackant.v1.SyncService`,
//! `blackant.v1.DataService` (reads of the replicas for the PWA backend),
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
mod data_service;
mod health;
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
use tokio_util::sync::CancellationToken;

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("building gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// A certificate chain and its private key, both PEM, for serving gRPC over TLS (rustls).
#[derive(Clone)]
pub struct TlsIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("TlsIdentity").finish_non_exhaustive()
    }
}

/// The fully-qualified names of the services whose health is reported (and the empty name,
/// the whole server's).
pub const SERVICE_NAMES: &[&str] = &[
    "",
    "blackant.v1.SyncService",
    "blackant.v1.DataService",
    "blackant.v1.OrderService",
    "blackant.v1.AdminService",
    "blackant.v1.PriorityService",
    "blackant.v1.SchedulerService",
];

/// Serve every gRPC service on `listener` until `shutdown` resolves: in-flight calls finish,
/// and open `WatchSyncEvents` streams end (cleanly, with OK) so the shutdown never waits on a
/// watcher that would otherwise stay connected for ever. Health follows the service's health
/// board (escalations, browsers, shutdown) for every service; with `tls`, only TLS is spoken.
pub async fn serve(
    listener: TcpListener,
    service: Arc<Service>,
    auth: AuthConfig,
    tls: Option<TlsIdentity>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    if auth.is_open() {
        tracing::warn!("no auth tokens configured: every gRPC caller is treated as an operator");
    }
    // Both reflection protocols: v1alpha is still the only one some clients speak.
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;
    let interceptor = move |req| auth.intercept(req);
    let streams_end = CancellationToken::new();
    let health_service = tonic_health::pb::health_server::HealthServer::new(
        health::HealthApi::new(service.health(), streams_end.clone()),
    );
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
    let data = pb::data_service_server::DataServiceServer::with_interceptor(
        data_service::DataApi::new(service.clone()),
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
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        let identity = tonic::transport::Identity::from_pem(tls.cert_pem, tls.key_pem);
        builder =
            builder.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    builder
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(sync)
        .add_service(data)
        .add_service(admin)
        .add_service(priority)
        .add_service(scheduler)
        .add_service(orders)
        // No Nagle: a reply's frames would otherwise wait out the client's delayed ACK (40 ms).
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await?;
    Ok(())
}
