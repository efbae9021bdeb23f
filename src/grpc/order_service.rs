//! `blackant.v1.OrderService`: a thin adapter over the service's placements — who may place,
//! read and resolve what (an agent its own placements, a service every agent's, operators
//! resolve), requests to domain values and back (`convert`), codes by cause.

use super::admin_service::operator;
use super::auth::{Principal, principal};
use super::convert::{self, status_of};
use super::pb;
use crate::service::{OrderRequest, PlacementRef, Resolution, Service, clip};
use blackant_actors::order_placer::PlacementFilter;
use std::sync::Arc;
use tonic::{Request, Response, Status};
use tracing::Span;

/// Default and largest page of ListPlacements.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 500;

pub struct OrderApi {
    service: Arc<Service>,
}

impl OrderApi {
    pub fn new(service: Arc<Service>) -> Self {
        Self { service }
    }
}

fn may_reach(who: &Principal, agent: &str) -> Result<(), Status> {
    if who.may_access_agent(agent) {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "this token may not reach agent {:?}'s placements",
            clip(agent)
        )))
    }
}

#[tonic::async_trait]
impl pb::order_service_server::OrderService for OrderApi {
    #[tracing::instrument(skip_all, fields(agent, key, placement))]
    async fn place_order(
        &self,
        request: Request<pb::PlaceOrderRequest>,
    ) -> Result<Response<pb::PlaceOrderResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let user = req.user.trim().to_string();
        if user.is_empty() {
            return Err(Status::invalid_argument(
                "user: say which agent places the order",
            ));
        }
        let span = Span::current();
        span.record("agent", user.as_str());
        span.record("key", clip(&req.idempotency_key).as_str());
        may_reach(&who, &user)?;
        let events = req.wait.then(|| self.service.subscribe_placements());
        let order = OrderRequest {
            key: req.idempotency_key,
            agent: user,
            customer_code: req.customer_code,
            lines: req
                .lines
                .into_iter()
                .map(|l| (l.code, l.quantity))
                .collect(),
            notes: req.notes,
        };
        let (mut placement, created) = self.service.place_order(order).await.map_err(status_of)?;
        span.record("placement", placement.id);
        if let Some(events) = events {
            placement = self
                .service
                .wait_settled(placement.id, events)
                .await
                .map_err(status_of)?;
        }
        Ok(Response::new(pb::PlaceOrderResponse {
            placement: Some(convert::placement_to_proto(&placement, &[])),
            created,
        }))
    }

    #[tracing::instrument(skip_all, fields(placement))]
    async fn get_placement(
        &self,
        request: Request<pb::GetPlacementRequest>,
    ) -> Result<Response<pb::Placement>, Status> {
        let who = principal(&request)?;
        let by = match request.into_inner().by {
            Some(pb::get_placement_request::By::Id(id)) => PlacementRef::Id(
                i64::try_from(id).map_err(|_| Status::invalid_argument("id is out of range"))?,
            ),
            Some(pb::get_placement_request::By::IdempotencyKey(key)) if !key.trim().is_empty() => {
                PlacementRef::Key(key.trim().to_string())
            }
            _ => {
                return Err(Status::invalid_argument(
                    "say which placement: id or idempotency_key",
                ));
            }
        };
        let view = self.service.placement(by).await.map_err(status_of)?;
        Span::current().record("placement", view.placement.id);
        may_reach(&who, &view.placement.agent)?;
        Ok(Response::new(convert::placement_to_proto(
            &view.placement,
            &view.transitions,
        )))
    }

    #[tracing::instrument(skip_all, fields(agent))]
    async fn list_placements(
        &self,
        request: Request<pb::ListPlacementsRequest>,
    ) -> Result<Response<pb::ListPlacementsResponse>, Status> {
        let who = principal(&request)?;
        let req = request.into_inner();
        let user = req.user.trim().to_string();
        if user.is_empty() {
            if matches!(who, Principal::Agent(_)) {
                return Err(Status::permission_denied(
                    "an agent token lists only its own placements: say which agent (user)",
                ));
            }
        } else {
            Span::current().record("agent", user.as_str());
            if !self.service.is_known_agent(&user) {
                return Err(Status::not_found(format!(
                    "unknown agent {:?}",
                    clip(&user)
                )));
            }
            may_reach(&who, &user)?;
        }
        let states = req
            .states
            .iter()
            .map(|s| convert::placement_state_from_proto(*s))
            .collect::<Result<Vec<_>, _>>()?;
        let before_id = match req.page_token.trim() {
            "" => None,
            token => Some(token.parse::<i64>().map_err(|_| {
                Status::invalid_argument("page_token is not one this service handed out")
            })?),
        };
        let limit = match req.page_size {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let placements = self
            .service
            .placements(PlacementFilter {
                agent: (!user.is_empty()).then_some(user),
                states,
                before_id,
                limit: limit + 1,
            })
            .await
            .map_err(status_of)?;
        let more = placements.len() > limit as usize;
        let page: Vec<_> = placements.into_iter().take(limit as usize).collect();
        let next_page_token = match (more, page.last()) {
            (true, Some(last)) => last.id.to_string(),
            _ => String::new(),
        };
        Ok(Response::new(pb::ListPlacementsResponse {
            placements: page
                .iter()
                .map(|p| convert::placement_to_proto(p, &[]))
                .collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(skip_all, fields(placement))]
    async fn resolve_placement(
        &self,
        request: Request<pb::ResolvePlacementRequest>,
    ) -> Result<Response<pb::Placement>, Status> {
        operator(&request)?;
        let req = request.into_inner();
        Span::current().record("placement", req.id);
        let id = i64::try_from(req.id)
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| Status::invalid_argument("id: say which placement"))?;
        let resolution = match req.resolution {
            Some(pb::resolve_placement_request::Resolution::OrderNumber(n)) => {
                Resolution::Placed { order_number: n }
            }
            Some(pb::resolve_placement_request::Resolution::FailureReason(r)) => {
                Resolution::Failed { reason: r }
            }
            None => {
                return Err(Status::invalid_argument(
                    "say how: order_number (placed) or failure_reason (failed)",
                ));
            }
        };
        let placement = self
            .service
            .resolve_placement(id, resolution, "an operator")
            .await
            .map_err(status_of)?;
        let view = self
            .service
            .placement(PlacementRef::Id(placement.id))
            .await
            .map_err(status_of)?;
        Ok(Response::new(convert::placement_to_proto(
            &view.placement,
            &view.transitions,
        )))
    }
}
