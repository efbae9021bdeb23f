//! `grpc.health.v1.Health`, answered from the service's health board: every service of
//! [`SERVICE_NAMES`](super::SERVICE_NAMES) is SERVING while the board is, NOT_SERVING when an
//! actor escalated, Chromium cannot launch, or the service is shutting down.
//!
//! Our own implementation rather than tonic-health's reporter because `Watch` streams must end
//! when the server shuts down: a load balancer watching health would otherwise hold the
//! graceful shutdown open for ever. Must NOT decide health itself; the board does.

use super::SERVICE_NAMES;
use blackant_actors::health::HealthState;
use futures::StreamExt;
use std::pin::Pin;
use tokio::sync::watch;
use tokio_stream::wrappers::WatchStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

pub struct HealthApi {
    board: watch::Receiver<HealthState>,
    streams_end: CancellationToken,
}

impl HealthApi {
    pub fn new(board: watch::Receiver<HealthState>, streams_end: CancellationToken) -> Self {
        Self { board, streams_end }
    }
}

fn status_of(state: &HealthState) -> ServingStatus {
    if state.serving() {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    }
}

fn response(status: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

type HealthStream =
    Pin<Box<dyn futures::Stream<Item = Result<HealthCheckResponse, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for HealthApi {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.into_inner().service;
        if !SERVICE_NAMES.contains(&service.as_str()) {
            return Err(Status::not_found(format!(
                "unknown service {:?}",
                crate::service::clip(&service)
            )));
        }
        Ok(Response::new(response(status_of(&self.board.borrow()))))
    }

    type WatchStream = HealthStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let service = request.into_inner().service;
        let end = self.streams_end.clone().cancelled_owned();
        if !SERVICE_NAMES.contains(&service.as_str()) {
            // The protocol: an unknown service is SERVICE_UNKNOWN, and the stream stays open
            // (the service may appear later) — until the server stops.
            let once = futures::stream::once(async { Ok(response(ServingStatus::ServiceUnknown)) })
                .chain(futures::stream::pending());
            return Ok(Response::new(Box::pin(once.take_until(end))));
        }
        let changes = WatchStream::new(self.board.clone())
            .map(|state| status_of(&state))
            // Only changes of status are news.
            .scan(None, |last, status| {
                let news = (*last != Some(status)).then_some(status);
                *last = Some(status);
                futures::future::ready(Some(news))
            })
            .filter_map(|news| futures::future::ready(news.map(|s| Ok(response(s)))))
            .take_until(end);
        Ok(Response::new(Box::pin(changes)))
    }
}
