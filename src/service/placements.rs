//! Placing orders, in domain terms: a request is checked (its shape and the catalogue's rules
//! in `order_rules`; against the local replicas here, an unknown customer or product being
//! refreshed once before being refused), accepted into the outbox exactly once per idempotency
//! key, and handed to the OrderPlacer; placements are read back by id or key, listed, and
//! resolved by operators when they need one.
//!
//! Must NOT drive the ERP (the OrderPlacer does) nor change a placement's state except for an
//! operator's resolution.

use super::order_rules::{OrderRequest, check_shape, invalid, line_problem, reference_for};
use super::{Service, ServiceError, clip};
use crate::records::Kind;
use crate::store::StoreError;
use crate::store::lookups;
use crate::store::outbox::{self, Accepted, NewPlacement, Payload, PayloadLine};
use blackant_actors::events::Subscription;
use blackant_actors::order_placer::{
    OrderPlacerMessage, Placement, PlacementEvent, PlacementFilter, PlacementId, PlacementState,
    Transition, TransitionRecord,
};
use blackant_actors::run::{Mode, Scope, Trigger};
use std::time::SystemTime;

/// A placement by id or by idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementRef {
    Id(PlacementId),
    Key(String),
}

/// A placement with its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementView {
    pub placement: Placement,
    pub transitions: Vec<TransitionRecord>,
}

/// An operator's decision about a placement that needs one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// This order is the placement's (the others are someone else's, or cancelled by hand).
    Placed { order_number: String },
    /// The placement is given up (the orders found are not it, or were cancelled).
    Failed { reason: String },
}

impl Service {
    /// The bus of placements' transitions (subscribe before acting, so nothing slips by).
    pub fn subscribe_placements(&self) -> Subscription<PlacementEvent> {
        self.tree.placements.subscribe()
    }

    /// Accept an order for placement, or answer the placement its key already names (`true`
    /// when accepted now). Checked before any ERP work: the agent is known, the lines are
    /// well formed, the customer is the agent's, every product is in the catalogue, "Attivo",
    /// and ordered in a quantity its rules allow.
    #[tracing::instrument(skip(self, req), fields(key = %clip(&req.key), agent = %req.agent))]
    pub async fn place_order(&self, req: OrderRequest) -> Result<(Placement, bool), ServiceError> {
        if !self.tree.places_orders {
            return Err(ServiceError::NoOrderPlacer);
        }
        check_shape(&req)?;
        if !self.is_known_agent(&req.agent) {
            return Err(ServiceError::UnknownAgent(clip(&req.agent)));
        }
        let key = req.key.trim().to_string();
        let payload = Payload {
            customer_code: req.customer_code.trim().to_string(),
            lines: req
                .lines
                .iter()
                .map(|(code, quantity)| PayloadLine {
                    code: code.trim().to_string(),
                    quantity: *quantity,
                })
                .collect(),
            notes: req.notes.trim().to_string(),
        };
        // A key already known answers at once (or conflicts): no second validation, no work.
        let k = key.clone();
        if let Some(existing) = self
            .reads
            .read("a placement", move |conn| outbox::by_key(conn, &k))
            .await?
            .flatten()
        {
            return self.same_or_conflict(existing, &req.agent, &payload);
        }
        self.check_against_replicas(&req.agent, &payload).await?;
        let now = SystemTime::now();
        let mut salt = 0;
        let accepted = loop {
            let new = NewPlacement {
                key: key.clone(),
                agent: req.agent.clone(),
                payload: payload.clone(),
                reference: reference_for(&key, salt),
                accepted_at: now,
                deadline: now + self.orders.deadline,
            };
            let answer = self
                .sync_db()
                .write(move |tx| outbox::accept(tx, &new))
                .await
                .map_err(|source| ServiceError::Write {
                    what: "the order outbox",
                    source: Box::new(source),
                })?;
            match answer {
                Accepted::ReferenceTaken if salt < 8 => salt += 1,
                Accepted::ReferenceTaken => {
                    return Err(ServiceError::Internal(format!(
                        "no free reference for key {}",
                        clip(&key)
                    )));
                }
                other => break other,
            }
        };
        match accepted {
            Accepted::New(p) => {
                if let Ok(placer) = self.order_placer() {
                    let _ = placer.cast(OrderPlacerMessage::Wake);
                }
                self.tree.placements.send(PlacementEvent {
                    placement: p.clone(),
                    from: PlacementState::Accepted,
                    cause: "accepted".into(),
                });
                Ok((p, true))
            }
            Accepted::Existing(p) => Ok((p, false)),
            Accepted::Conflict(p) => Err(ServiceError::KeyConflict { key: clip(&p.key) }),
            Accepted::ReferenceTaken => Err(ServiceError::Internal("unreachable".into())),
        }
    }

    fn same_or_conflict(
        &self,
        existing: Placement,
        agent: &str,
        payload: &Payload,
    ) -> Result<(Placement, bool), ServiceError> {
        let stored = Payload {
            customer_code: existing.order.customer_code.clone(),
            lines: existing
                .order
                .lines
                .iter()
                .map(|l| PayloadLine {
                    code: l.code.clone(),
                    quantity: l.quantity,
                })
                .collect(),
            notes: existing.order.notes.clone(),
        };
        if existing.agent == agent && stored == *payload {
            Ok((existing, false))
        } else {
            Err(ServiceError::KeyConflict {
                key: clip(&existing.key),
            })
        }
    }

    /// The customer in the agent's portfolio and every line by the catalogue's rules, as the
    /// replicas hold them; what they do not know yet is refreshed once.
    async fn check_against_replicas(
        &self,
        agent: &str,
        payload: &Payload,
    ) -> Result<(), ServiceError> {
        let customers = self
            .data
            .customers_db(agent)
            .map_err(|_| ServiceError::UnknownAgent(clip(agent)))?;
        let code = payload.customer_code.clone();
        let known = |path: std::path::PathBuf, code: String| {
            self.reads.read_file(path, "the customers", move |conn| {
                lookups::customer_exists(conn, &code)
            })
        };
        if known(customers.clone(), code.clone()).await? != Some(true) {
            self.refresh(Kind::Customers, Scope::Agent(agent.to_string()))
                .await;
            if known(customers, code.clone()).await? != Some(true) {
                return Err(invalid(
                    "customer_code",
                    format!(
                        "customer {} is not in agent {agent}'s portfolio",
                        clip(&code)
                    ),
                ));
            }
        }
        let mut refreshed = false;
        for (i, line) in payload.lines.iter().enumerate() {
            let rules = |code: String| {
                self.reads
                    .read_file(self.data.products_db(), "the catalogue", move |conn| {
                        lookups::product(conn, &code)
                    })
            };
            let mut found = rules(line.code.clone()).await?.flatten();
            if found.is_none() && !refreshed {
                refreshed = true;
                self.refresh(Kind::Products, Scope::Catalogue).await;
                found = rules(line.code.clone()).await?.flatten();
            }
            let Some(product) = found else {
                return Err(invalid(
                    format!("lines[{i}].code"),
                    format!("product {} is not in the catalogue", clip(&line.code)),
                ));
            };
            if let Some(problem) = line_problem(i, &line.code, line.quantity, &product) {
                return Err(problem);
            }
        }
        Ok(())
    }

    /// Sync `kind` for `scope` and wait for it (a first placement right after login works);
    /// a sync that fails leaves the replica as it was, and the check judges on that.
    async fn refresh(&self, kind: Kind, scope: Scope) {
        let mut events = self.subscribe();
        match self
            .request_sync(kind, scope.clone(), Mode::Delta, Trigger::EnsureFresh)
            .await
        {
            Ok(ack) => {
                if let Err(e) = events.wait_for_run(ack.run_id).await {
                    tracing::warn!(%kind, %scope, cause = %e, "waiting for a refresh before placing an order");
                }
            }
            Err(e) => {
                tracing::warn!(%kind, %scope, cause = %e, "cannot refresh before placing an order")
            }
        }
    }

    /// A placement and its history.
    pub async fn placement(&self, by: PlacementRef) -> Result<PlacementView, ServiceError> {
        let label = match &by {
            PlacementRef::Id(id) => format!("id {id}"),
            PlacementRef::Key(k) => format!("key {:?}", clip(k)),
        };
        let found = self
            .reads
            .read("a placement", move |conn| {
                let p = match by {
                    PlacementRef::Id(id) => outbox::get(conn, id)?,
                    PlacementRef::Key(key) => outbox::by_key(conn, &key)?,
                };
                p.map(|placement| -> Result<PlacementView, StoreError> {
                    let transitions = outbox::transitions(conn, placement.id)?;
                    Ok(PlacementView {
                        placement,
                        transitions,
                    })
                })
                .transpose()
            })
            .await?
            .flatten();
        found.ok_or(ServiceError::PlacementNotFound(label))
    }

    /// How many placements each agent has in each state (none: not listed).
    pub async fn placement_counts(
        &self,
    ) -> Result<Vec<(String, PlacementState, u64)>, ServiceError> {
        Ok(self
            .reads
            .read("placement counts", outbox::counts)
            .await?
            .unwrap_or_default())
    }

    /// Placements, newest first.
    pub async fn placements(
        &self,
        filter: PlacementFilter,
    ) -> Result<Vec<Placement>, ServiceError> {
        Ok(self
            .reads
            .read("placements", move |conn| outbox::list(conn, &filter))
            .await?
            .unwrap_or_default())
    }

    /// Wait until placement `id` settles (placed, rejected, failed, needs operator); `events`
    /// must have been subscribed before the placement could move.
    pub async fn wait_settled(
        &self,
        id: PlacementId,
        mut events: Subscription<PlacementEvent>,
    ) -> Result<Placement, ServiceError> {
        loop {
            let view = self.placement(PlacementRef::Id(id)).await?;
            if view.placement.state.is_settled() {
                return Ok(view.placement);
            }
            // Wait for its next move (a missed one is caught by reading again).
            loop {
                match events.recv().await {
                    Ok(e) if e.placement.id == id => break,
                    Ok(_) => {}
                    Err(blackant_actors::events::EventError::Lagged { .. }) => break,
                    Err(blackant_actors::events::EventError::Closed) => {
                        return Err(ServiceError::Internal("the placement bus closed".into()));
                    }
                }
            }
        }
    }

    /// An operator decides a placement that needs one.
    #[tracing::instrument(skip(self), fields(placement = id))]
    pub async fn resolve_placement(
        &self,
        id: PlacementId,
        resolution: Resolution,
        operator: &str,
    ) -> Result<Placement, ServiceError> {
        let (t, what) = match resolution {
            Resolution::Placed { order_number } => {
                let number = order_number.trim().to_string();
                if number.is_empty() {
                    return Err(invalid("order_number", "is required"));
                }
                (
                    Transition {
                        order_number: Some(number.clone()),
                        ..Transition::to(
                            PlacementState::Placed,
                            format!("resolved by {operator}: order {number} is this placement's"),
                        )
                    },
                    "placed",
                )
            }
            Resolution::Failed { reason } => {
                let reason = reason.trim().to_string();
                if reason.is_empty() {
                    return Err(invalid("reason", "say why the placement failed"));
                }
                (
                    Transition::to(
                        PlacementState::Failed,
                        format!("resolved by {operator}: {reason}"),
                    ),
                    "failed",
                )
            }
        };
        let cause = t.cause.clone();
        let moved = self
            .sync_db()
            .write(move |tx| {
                outbox::transition(tx, id, PlacementState::NeedsOperator, &t, SystemTime::now())
            })
            .await
            .map_err(|source| match source {
                StoreError::Inconsistent(_) => ServiceError::PlacementNotFound(format!("id {id}")),
                source => ServiceError::Write {
                    what: "the order outbox",
                    source: Box::new(source),
                },
            })?;
        match moved {
            Ok(p) => {
                tracing::info!(
                    operator,
                    resolution = what,
                    "placement resolved by an operator"
                );
                self.tree.placements.send(PlacementEvent {
                    placement: p.clone(),
                    from: PlacementState::NeedsOperator,
                    cause,
                });
                Ok(p)
            }
            Err(actual) => Err(ServiceError::NotResolvable {
                id,
                state: actual.as_str(),
            }),
        }
    }
}
