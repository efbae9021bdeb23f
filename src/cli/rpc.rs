//! What every `blackant ctl` command shares about talking to the service: the bearer token on
//! a request, the event stream opened before what it is to show, and gRPC errors as one line
//! naming the code. Must NOT know any command.

use anyhow::{Context, Result};
use blackant::grpc::pb;
use blackant::grpc::pb::sync_service_client::SyncServiceClient;
use tonic::Request;
use tonic::metadata::MetadataValue;
use tonic::transport::Channel;

/// `msg` with `authorization: Bearer <token>` when a token is given.
pub fn authed<T>(token: &Option<String>, msg: T) -> Result<Request<T>> {
    let mut req = Request::new(msg);
    if let Some(t) = token {
        let value: MetadataValue<_> = format!("Bearer {t}")
            .parse()
            .context("the token is not valid metadata")?;
        req.metadata_mut().insert("authorization", value);
    }
    Ok(req)
}

/// With `watch`, the event stream (filtered by `filter`), opened before what it is to show.
pub async fn watch_if(
    watch: bool,
    client: &mut SyncServiceClient<Channel>,
    token: &Option<String>,
    filter: pb::WatchSyncEventsRequest,
) -> Result<Option<tonic::Streaming<pb::SyncEvent>>> {
    if !watch {
        return Ok(None);
    }
    let stream = client
        .watch_sync_events(authed(token, filter)?)
        .await
        .map_err(|s| rpc_error(&s))?;
    Ok(Some(stream.into_inner()))
}

/// A gRPC error as one line: `Code: message`.
pub fn rpc_error(s: &tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", s.code(), s.message())
}
