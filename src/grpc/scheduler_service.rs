//! `blackant.v1.SchedulerService`: operators read and change the Scheduler's per-kind
//! schedules. A thin adapter (operator role, proto ↔ domain); validation, storage and timing
//! live in the Scheduler actor and its store.

use super::admin_service::operator;
use super::convert::{duration, kind_from_proto, kind_to_proto, timestamp};
use super::convert::{scope_user, status_of};
use super::pb;
use crate::records::Kind;
use crate::service::Service;
use blackant_actors::scheduler::{SchedulePatch, ScheduleView};
use std::sync::Arc;
use std::time::Duration;
use tonic::{Request, Response, Status};

pub struct SchedulerApi {
    service: Arc<Service>,
}

impl SchedulerApi {
    pub fn new(service: Arc<Service>) -> Self {
        Self { service }
    }

    async fn change(
        &self,
        kind: i32,
        patch: SchedulePatch,
    ) -> Result<Response<pb::Schedule>, Status> {
        let kind = kind_from_proto(kind)?;
        tracing::info!(%kind, ?patch, "operator changes a schedule");
        self.service
            .update_schedule(kind, patch)
            .await
            .map_err(status_of)?;
        let views = self.service.schedules().await.map_err(status_of)?;
        views
            .iter()
            .find(|v| v.schedule.kind == kind.name())
            .map(|v| Response::new(schedule_to_proto(kind, v)))
            .ok_or_else(|| Status::internal(format!("the {kind} schedule vanished")))
    }
}

fn schedule_to_proto(kind: Kind, v: &ScheduleView) -> pb::Schedule {
    let s = &v.schedule;
    pb::Schedule {
        kind: kind_to_proto(kind) as i32,
        interval: Some(duration(s.interval)),
        stagger: Some(duration(s.stagger)),
        jitter: Some(duration(s.jitter)),
        priority: u32::from(s.priority),
        enabled: s.enabled,
        after: kind
            .spec()
            .after
            .iter()
            .map(|k| kind_to_proto(*k) as i32)
            .collect(),
        next: v
            .next
            .iter()
            .map(|(scope, at)| pb::PlannedRun {
                user: scope_user(scope),
                at: Some(timestamp(*at)),
            })
            .collect(),
        queued: v.queued.iter().map(scope_user).collect(),
        running: v.running.iter().map(scope_user).collect(),
    }
}

fn duration_of(field: &str, d: Option<prost_types::Duration>) -> Result<Option<Duration>, Status> {
    d.map(|d| {
        Duration::try_from(d).map_err(|_| {
            Status::invalid_argument(format!("{field} must be a non-negative duration"))
        })
    })
    .transpose()
}

#[tonic::async_trait]
impl pb::scheduler_service_server::SchedulerService for SchedulerApi {
    async fn get_schedules(
        &self,
        request: Request<pb::GetSchedulesRequest>,
    ) -> Result<Response<pb::GetSchedulesResponse>, Status> {
        operator(&request)?;
        let views = self.service.schedules().await.map_err(status_of)?;
        let schedules = views
            .iter()
            .filter_map(|v| Some(schedule_to_proto(Kind::from_name(&v.schedule.kind)?, v)))
            .collect();
        Ok(Response::new(pb::GetSchedulesResponse { schedules }))
    }

    async fn update_schedule(
        &self,
        request: Request<pb::UpdateScheduleRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        operator(&request)?;
        let r = request.into_inner();
        let priority = r
            .priority
            .map(|p| {
                u8::try_from(p)
                    .map_err(|_| Status::invalid_argument(format!("priority {p} is above 9")))
            })
            .transpose()?;
        let patch = SchedulePatch {
            interval: duration_of("interval", r.interval)?,
            stagger: duration_of("stagger", r.stagger)?,
            jitter: duration_of("jitter", r.jitter)?,
            priority,
            enabled: r.enabled,
        };
        self.change(r.kind, patch).await
    }

    async fn enable_schedule(
        &self,
        request: Request<pb::ScheduleKindRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        operator(&request)?;
        let patch = SchedulePatch {
            enabled: Some(true),
            ..SchedulePatch::default()
        };
        self.change(request.into_inner().kind, patch).await
    }

    async fn disable_schedule(
        &self,
        request: Request<pb::ScheduleKindRequest>,
    ) -> Result<Response<pb::Schedule>, Status> {
        operator(&request)?;
        let patch = SchedulePatch {
            enabled: Some(false),
            ..SchedulePatch::default()
        };
        self.change(request.into_inner().kind, patch).await
    }
}
