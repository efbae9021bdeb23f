//! `SyncRegistry`: one [`SyncActor`] per scope, spawned on demand and supervised here — the
//! service's **OrderSyncRegistry**, whose children are `OrderSync(agent)`.
//!
//! ```text
//! OrderSyncRegistry            (SyncRegistry<ExportSync(orders)>)
//! ├── OrderSync(agent1)        SyncActor, `only: agent1`
//! ├── OrderSync(agent2)        spawned at the first request for agent2
//! └── ...                      stopped after `idle_after` with nothing to do
//! ```
//! The registry speaks [`SyncMessage`], so a [`super::SyncHandle`] drives it like any sync
//! actor: a request is forwarded, with the caller's reply port, to the agent's actor — which
//! coalesces a second request for the same agent into its running run (same run id) — while
//! different agents run side by side in their own actors. Status and Pause are gathered from
//! every child; a child spawned while paused starts paused.
//!
//! Supervision: a child that fails (or exits when nobody asked) is restarted after the
//! [`RestartPolicy`] backoff and resumes its open run from the ledger; too many failures in
//! the window escalate that agent's actor only (requests for it are refused with the reason,
//! the other agents keep running) until a request after `within` tries again. Idle children
//! are retired with [`SyncMessage::StopIfIdle`], answered in the child's own mailbox order, so
//! a request sent before can never be lost.
//!
//! This module must NOT know what is synced: the kind is the generic `K`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ractor::concurrency::JoinHandle;
use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, MessagingErr, SupervisionEvent};
use tokio::time::Instant;
use tracing::{error, info, warn};

use super::actor::{SyncActor, SyncArguments};
use super::contract::{SyncError, SyncKind};
use super::protocol::{
    Internal, InternalMsg, PauseAck, RegistryTimer, RunState, ScopeStatus, SyncMessage, SyncStatus,
};
use crate::run::{Counts, Scope};
use crate::supervision::{ChildState, Down, RestartPolicy, Supervised};

/// The registry actor.
pub struct SyncRegistry<K: SyncKind> {
    kind: Arc<K>,
}

impl<K: SyncKind> SyncRegistry<K> {
    /// A registry of per-scope actors driving `kind`.
    pub fn new(kind: Arc<K>) -> Self {
        Self { kind }
    }
}

/// What the parent hands over.
#[derive(Clone)]
pub struct SyncRegistryArguments {
    /// Given to every child (its `only` is set to the child's scope).
    pub sync: SyncArguments,
    /// Restart rules of each child.
    pub restart: RestartPolicy,
    /// A child with nothing to do for this long is stopped (and spawned again when needed).
    pub idle_after: Duration,
    /// Children are called `{label}({scope})` in logs, e.g. `OrderSync(agent1)`.
    pub label: String,
}

struct Child {
    actor: Option<ActorRef<SyncMessage>>,
    /// State, failure window and timer generation (the rules every supervisor shares).
    sup: Supervised,
}

/// The registry's state.
pub struct SyncRegistryState {
    args: SyncRegistryArguments,
    children: HashMap<Scope, Child>,
    by_id: HashMap<ActorId, Scope>,
    paused: bool,
    idle_timer: Option<JoinHandle<()>>,
}

fn registry_msg(t: RegistryTimer) -> SyncMessage {
    SyncMessage::Internal(Internal(InternalMsg::Registry(t)))
}

impl<K: SyncKind> SyncRegistry<K> {
    fn child_name(args: &SyncRegistryArguments, scope: &Scope) -> String {
        match scope {
            Scope::Agent(a) => format!("{}({a})", args.label),
            Scope::Catalogue => format!("{}(catalogue)", args.label),
        }
    }

    /// Spawn the child of `scope` (linked to the registry) and record it.
    async fn spawn_child(
        &self,
        myself: &ActorRef<SyncMessage>,
        state: &mut SyncRegistryState,
        scope: &Scope,
    ) -> Result<ActorRef<SyncMessage>, SyncError> {
        let mut args = state.args.sync.clone();
        args.only = Some(scope.clone());
        let name = Self::child_name(&state.args, scope);
        let spawned = Actor::spawn_linked(
            None,
            SyncActor::new(self.kind.clone()),
            args,
            myself.get_cell(),
        )
        .await;
        let child = state
            .children
            .entry(scope.clone())
            .or_insert_with(|| Child {
                actor: None,
                sup: Supervised::new(state.args.restart),
            });
        child.sup.starting();
        match spawned {
            Ok((actor, _)) => {
                info!(child = %name, id = %actor.get_id(), "started");
                state.by_id.insert(actor.get_id(), scope.clone());
                child.actor = Some(actor.clone());
                child.sup.running();
                if state.paused {
                    let (tx, _rx) = ractor::concurrency::oneshot();
                    let _ = actor.cast(SyncMessage::Pause { reply: tx.into() });
                }
                Ok(actor)
            }
            Err(e) => {
                // Counted like a failure: a start that keeps failing escalates too.
                let why = format!("{name} could not start: {e}");
                warn!(child = %name, cause = %e, "start failed");
                self.on_child_down(myself, state, scope.clone(), why.clone());
                Err(SyncError::transient(why))
            }
        }
    }

    /// A child went down unexpectedly: restart it after the backoff, or escalate.
    fn on_child_down(
        &self,
        myself: &ActorRef<SyncMessage>,
        state: &mut SyncRegistryState,
        scope: Scope,
        why: String,
    ) {
        let name = Self::child_name(&state.args, &scope);
        let Some(child) = state.children.get_mut(&scope) else {
            return;
        };
        child.actor = None;
        match child.sup.went_down(why.clone(), Instant::now()) {
            Down::Restart { after, generation } => {
                warn!(child = %name, cause = %why, ?after, "child down; restarting");
                myself.send_after(after, move || {
                    registry_msg(RegistryTimer::RestartDue { scope, generation })
                });
            }
            Down::Escalate { failures, within } => {
                error!(child = %name, cause = %why, failures, ?within,
                    "child failed too often: escalated, it stays down (its siblings keep running)");
            }
        }
    }

    async fn on_request(
        &self,
        myself: &ActorRef<SyncMessage>,
        state: &mut SyncRegistryState,
        msg: SyncMessage,
    ) {
        let SyncMessage::Request {
            scope,
            mode,
            trigger,
            reply,
        } = msg
        else {
            return;
        };
        if let Some(why) = state
            .children
            .get(&scope)
            .and_then(|c| c.sup.escalated_recently(Instant::now()))
        {
            let name = Self::child_name(&state.args, &scope);
            let _ = reply.send(Err(SyncError::permanent(format!(
                "{name} is down after repeated failures: {why}"
            ))));
            return;
        }
        let actor = match state.children.get_mut(&scope) {
            Some(Child { actor: Some(a), .. }) => a.clone(),
            _ => match self.spawn_child(myself, state, &scope).await {
                Ok(a) => a,
                Err(e) => {
                    let _ = reply.send(Err(e));
                    return;
                }
            },
        };
        // Forward with the caller's port: the child answers the caller directly.
        if let Err(MessagingErr::SendErr(SyncMessage::Request { reply, .. })) =
            actor.cast(SyncMessage::Request {
                scope: scope.clone(),
                mode,
                trigger,
                reply,
            })
        {
            let name = Self::child_name(&state.args, &scope);
            let _ = reply.send(Err(SyncError::transient(format!("{name} is restarting"))));
        }
    }

    fn running(state: &SyncRegistryState) -> Vec<ActorRef<SyncMessage>> {
        state
            .children
            .values()
            .filter_map(|c| c.actor.clone())
            .collect()
    }

    /// Retire every child idle for `idle_after` (asked one by one, in their mailbox order).
    async fn on_idle_check(&self, state: &mut SyncRegistryState) {
        let idle_for = state.args.idle_after;
        let scopes: Vec<(Scope, ActorRef<SyncMessage>)> = state
            .children
            .iter()
            .filter_map(|(s, c)| c.actor.clone().map(|a| (s.clone(), a)))
            .collect();
        for (scope, actor) in scopes {
            let asked = ractor::call_t!(
                actor,
                |reply| SyncMessage::StopIfIdle { idle_for, reply },
                2_000
            );
            if matches!(asked, Ok(true)) {
                info!(child = %Self::child_name(&state.args, &scope), "idle: stopped");
                state.by_id.remove(&actor.get_id());
                state.children.remove(&scope);
            }
        }
    }
}

impl<K: SyncKind> Actor for SyncRegistry<K> {
    type Msg = SyncMessage;
    type State = SyncRegistryState;
    type Arguments = SyncRegistryArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<SyncMessage>,
        args: SyncRegistryArguments,
    ) -> Result<SyncRegistryState, ActorProcessingErr> {
        // Scopes with an open run (the service died mid-run) get their actor back at once,
        // and it resumes from its checkpoint.
        let open = args.sync.ledger.open_runs(self.kind.name()).await?;
        let period = (args.idle_after / 2).max(Duration::from_millis(10));
        let mut state = SyncRegistryState {
            args,
            children: HashMap::new(),
            by_id: HashMap::new(),
            paused: false,
            idle_timer: None,
        };
        let mut scopes: Vec<Scope> = open.into_iter().map(|r| r.scope).collect();
        scopes.sort();
        scopes.dedup();
        for scope in scopes {
            if let Err(e) = self.spawn_child(&myself, &mut state, &scope).await {
                warn!(%scope, cause = %e, "cannot resume the open run of this scope yet");
            }
        }
        state.idle_timer =
            Some(myself.send_interval(period, || registry_msg(RegistryTimer::IdleCheck)));
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SyncMessage>,
        state: &mut SyncRegistryState,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(t) = state.idle_timer.take() {
            t.abort();
        }
        for actor in Self::running(state) {
            actor.stop(Some("registry stopped".into()));
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SyncMessage>,
        message: SyncMessage,
        state: &mut SyncRegistryState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            msg @ SyncMessage::Request { .. } => self.on_request(&myself, state, msg).await,
            SyncMessage::Pause { reply } => {
                state.paused = true;
                let children = Self::running(state);
                tokio::spawn(async move {
                    // All at once: the pause waits for the slowest agent's page, not their sum.
                    let asks = children.iter().map(|child| async move {
                        ractor::call_t!(child, |reply| SyncMessage::Pause { reply }, 5_000)
                    });
                    let mut ack = PauseAck { paused: Vec::new() };
                    for a in futures::future::join_all(asks).await.into_iter().flatten() {
                        ack.paused.extend(a.paused);
                    }
                    let _ = reply.send(ack);
                });
            }
            SyncMessage::Resume => {
                state.paused = false;
                for child in Self::running(state) {
                    let _ = child.cast(SyncMessage::Resume);
                }
            }
            SyncMessage::Status { reply } => {
                let children = Self::running(state);
                let kind = self.kind.name().to_string();
                let paused = state.paused;
                let down: Vec<ScopeStatus> = state
                    .children
                    .iter()
                    .filter(|(_, c)| c.actor.is_none())
                    .map(|(scope, c)| down_status(scope, c))
                    .collect();
                tokio::spawn(async move {
                    let asks = children.iter().map(|child| async move {
                        ractor::call_t!(child, |reply| SyncMessage::Status { reply }, 5_000)
                    });
                    let mut scopes = down;
                    for s in futures::future::join_all(asks).await.into_iter().flatten() {
                        scopes.extend(s.scopes);
                    }
                    scopes.sort_by(|a, b| a.scope.cmp(&b.scope));
                    let _ = reply.send(SyncStatus {
                        kind,
                        paused,
                        scopes,
                    });
                });
            }
            SyncMessage::StopIfIdle { reply, .. } => {
                // The registry itself is never idle-stopped.
                let _ = reply.send(false);
            }
            SyncMessage::Internal(Internal(InternalMsg::Registry(timer))) => match timer {
                RegistryTimer::RestartDue { scope, generation } => {
                    let due = state
                        .children
                        .get(&scope)
                        .is_some_and(|c| c.actor.is_none() && c.sup.restart_due(generation));
                    if due {
                        let _ = self.spawn_child(&myself, state, &scope).await;
                    }
                }
                RegistryTimer::IdleCheck => self.on_idle_check(state).await,
            },
            SyncMessage::Internal(_) => {}
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SyncMessage>,
        event: SupervisionEvent,
        state: &mut SyncRegistryState,
    ) -> Result<(), ActorProcessingErr> {
        // Never the default (which would stop the registry with its child): contain it.
        let (id, why) = match event {
            SupervisionEvent::ActorFailed(cell, e) => (cell.get_id(), format!("failed: {e}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell.get_id(),
                format!(
                    "exited unexpectedly ({})",
                    reason.unwrap_or_else(|| "no reason".into())
                ),
            ),
            _ => return Ok(()),
        };
        // Children retired as idle were forgotten first: their exit is expected.
        if let Some(scope) = state.by_id.remove(&id) {
            self.on_child_down(&myself, state, scope, why);
        }
        Ok(())
    }
}

/// The status of a scope whose actor is down (restarting or escalated).
fn down_status(scope: &Scope, child: &Child) -> ScopeStatus {
    ScopeStatus {
        scope: scope.clone(),
        state: RunState::Idle,
        run_id: None,
        mode: None,
        page: 0,
        pages: 0,
        items: None,
        attempt: 0,
        counts: Counts::default(),
        last: None,
        last_error: Some(match child.sup.state() {
            ChildState::Escalated => {
                format!(
                    "escalated: {}",
                    child.sup.last_failure().unwrap_or_default()
                )
            }
            _ => "restarting".to_string(),
        }),
    }
}
