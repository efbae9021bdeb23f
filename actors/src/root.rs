//! RootSupervisor: starts the service's long-lived actors, restarts them, answers operators.
//!
//! ```text
//! RootSupervisor
//! ├── <child spec>     one per long-lived actor, started in order by `pre_start`
//! ├── ...
//! └── <added child>    children added at runtime with AddChild (a DbWriter per agent file)
//! ```
//! Each child is described by a [`ChildSpec`]: a name, a start function that spawns it linked
//! to the supervisor, and a [`RestartPolicy`]. The current cell of every running child is
//! kept in the [`Directory`] under its name, so clients follow it across restarts.
//!
//! Supervision (contained OTP): a child that fails, or exits when nobody asked it to, is
//! restarted after an exponential backoff (a delayed message to the supervisor; never a sleep
//! in a handler). More than `max_restarts` failures within `within` ESCALATES that child: it
//! stays down, an `error!` names it and why, `ListTree` shows it — and every sibling keeps
//! running. Operators `Stop` (stays down), `Start`, and `Restart` (stop + start, clears an
//! escalation) children by name.
//!
//! Children are spawned inside the supervisor's handlers, so a child's `pre_start` must be
//! short and must NOT call the supervisor (it would wait for itself).
//!
//! This module must NOT know what its children do; the restart rules (backoff, intensity,
//! escalation, stale timers) live in [`crate::supervision::Supervised`], shared with the
//! OrderSyncRegistry.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures::future::BoxFuture;
use ractor::{
    Actor, ActorCell, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr, SupervisionEvent,
};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;
use tracing::{error, info, warn};

use crate::directory::Directory;
use crate::health::Health;
pub use crate::supervision::ChildState;
use crate::supervision::{Down, RestartPolicy, Supervised};

/// Spawns a child linked to the supervisor cell it is given, and returns the child's cell.
pub type StartFn =
    Arc<dyn Fn(ActorCell) -> BoxFuture<'static, Result<ActorCell, SpawnErr>> + Send + Sync>;

/// How to run one child.
#[derive(Clone)]
pub struct ChildSpec {
    /// Unique among the supervisor's children; the Directory key.
    pub name: String,
    /// Spawns the child linked to the given supervisor (called at every (re)start).
    pub start: StartFn,
    /// Restart rules.
    pub policy: RestartPolicy,
}

impl std::fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildSpec")
            .field("name", &self.name)
            .field("policy", &self.policy)
            .finish()
    }
}

impl ChildSpec {
    /// A spec from any start function.
    pub fn new<F, Fut>(name: impl Into<String>, policy: RestartPolicy, start: F) -> Self
    where
        F: Fn(ActorCell) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<ActorCell, SpawnErr>> + Send + 'static,
    {
        Self {
            name: name.into(),
            start: Arc::new(move |sup| Box::pin(start(sup))),
            policy,
        }
    }

    /// The common case: `make` builds the actor and its arguments afresh for every start; the
    /// actor is spawned unnamed (no global registry) and linked to the supervisor.
    pub fn for_actor<A, F>(name: impl Into<String>, policy: RestartPolicy, make: F) -> Self
    where
        A: Actor,
        F: Fn() -> (A, A::Arguments) + Send + Sync + 'static,
    {
        Self::new(name, policy, move |sup: ActorCell| {
            let (actor, args) = make();
            async move {
                let (actor_ref, _) = A::spawn_linked(None, actor, args, sup).await?;
                Ok(actor_ref.get_cell())
            }
        })
    }
}

/// The supervisor (no fixed configuration: everything is in the arguments).
pub struct RootSupervisor;

/// What the supervisor starts with.
pub struct RootSupervisorArguments {
    /// Children started in order by `pre_start`.
    pub children: Vec<ChildSpec>,
    /// Where current cells are recorded.
    pub directory: Directory,
    /// How long an operator stop (and the final shutdown) waits before killing a child.
    pub shutdown_timeout: Duration,
    /// Where escalations are reported (and cleared when an operator revives the child).
    pub health: Health,
}

impl RootSupervisorArguments {
    /// Default shutdown timeout.
    pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

    /// Arguments with the default shutdown timeout.
    pub fn new(directory: Directory, children: Vec<ChildSpec>) -> Self {
        Self {
            children,
            directory,
            shutdown_timeout: Self::DEFAULT_SHUTDOWN_TIMEOUT,
            health: Health::new(),
        }
    }
}

/// One actor in the tree below a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorNode {
    /// The actor's ractor name, or `actor-{id}` when unnamed.
    pub name: String,
    /// The actor id.
    pub id: String,
    /// Its own children.
    pub children: Vec<ActorNode>,
}

/// One child of the supervisor, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// The child's name.
    pub name: String,
    /// Its state.
    pub state: ChildState,
    /// Restarts performed (automatic and operator).
    pub restarts: u32,
    /// Why it last went down unexpectedly.
    pub last_failure: Option<String>,
    /// When the current incarnation started (None when down).
    pub started_at: Option<SystemTime>,
    /// The current actor id (None when down).
    pub actor_id: Option<String>,
    /// The actors it supervises itself, recursively.
    pub children: Vec<ActorNode>,
}

/// Operator errors (sent back in replies; the supervisor itself never fails on them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SupervisorError {
    /// No child has this name.
    #[error("no child named `{name}`")]
    UnknownChild {
        /// The name asked for.
        name: String,
    },
    /// The child's start function failed (a restart is scheduled per its policy).
    #[error("child `{name}` failed to start: {reason}")]
    StartFailed {
        /// The child.
        name: String,
        /// Why.
        reason: String,
    },
}

/// Answer to `AddChild`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddChildOutcome {
    /// The child was new and is running.
    Added,
    /// A child with this name already existed: nothing changed (idempotent).
    AlreadyPresent,
}

type Reply = RpcReplyPort<Result<(), SupervisorError>>;

/// Messages of [`RootSupervisor`].
pub enum RootSupervisorMessage {
    /// The children with their state and their own subtrees.
    ListTree {
        /// The answer.
        reply: RpcReplyPort<Vec<ChildInfo>>,
    },
    /// Stop the child (if running) and start it again; clears an escalation. Answered once
    /// the new incarnation runs.
    Restart {
        /// The child.
        name: String,
        /// `Ok` once restarted.
        reply: Reply,
    },
    /// Stop the child; it stays down. Answered once it has exited.
    Stop {
        /// The child.
        name: String,
        /// `Ok` once stopped.
        reply: Reply,
    },
    /// Start a stopped or escalated child.
    Start {
        /// The child.
        name: String,
        /// `Ok` once running.
        reply: Reply,
    },
    /// Add (and start) a child at runtime; idempotent by name.
    AddChild {
        /// The child.
        spec: ChildSpec,
        /// Added or already present.
        reply: RpcReplyPort<Result<AddChildOutcome, SupervisorError>>,
    },
    /// The supervisor's messages to itself.
    #[doc(hidden)]
    Internal(Internal),
}

/// Timer messages (opaque outside this module).
#[doc(hidden)]
pub struct Internal(Timer);

enum Timer {
    RestartDue { name: String, generation: u64 },
    StopTimeout { name: String, generation: u64 },
}

/// What to do when a stopping child exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intent {
    Stop,
    Restart,
}

struct Child {
    spec: ChildSpec,
    /// State, failure window and timer generation (the rules every supervisor shares).
    sup: Supervised,
    cell: Option<ActorCell>,
    intent: Option<Intent>,
    started_at: Option<SystemTime>,
    timer: Option<AbortOnDropHandle<Result<(), ractor::MessagingErr<RootSupervisorMessage>>>>,
    /// Operators waiting for a stop or restart to complete.
    waiters: Vec<Reply>,
}

/// The children, in start order.
pub struct RootSupervisorState {
    directory: Directory,
    shutdown_timeout: Duration,
    health: Health,
    children: Vec<Child>,
}

impl RootSupervisorState {
    fn child(&mut self, name: &str) -> Option<&mut Child> {
        self.children.iter_mut().find(|c| c.spec.name == name)
    }
}

impl Actor for RootSupervisor {
    type Msg = RootSupervisorMessage;
    type State = RootSupervisorState;
    type Arguments = RootSupervisorArguments;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: RootSupervisorArguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        let mut state = RootSupervisorState {
            directory: args.directory,
            shutdown_timeout: args.shutdown_timeout,
            health: args.health,
            children: Vec::new(),
        };
        for spec in args.children {
            if state.child(&spec.name).is_some() {
                return Err(format!("two children are named `{}`", spec.name).into());
            }
            let name = spec.name.clone();
            state.children.push(new_child(spec));
            // A child that cannot start is retried per its policy; the others still start.
            let _ = spawn_child(&myself, &mut state, &name).await;
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Stop the children gracefully, newest first (clients before the writers they use).
        for child in state.children.iter_mut().rev() {
            child.timer = None;
            if let Some(cell) = child.cell.take() {
                let stopped = cell
                    .stop_and_wait(
                        Some("supervisor stopping".into()),
                        Some(state.shutdown_timeout),
                    )
                    .await;
                if stopped.is_err() {
                    warn!(child = %child.spec.name, "did not stop in time; killing it");
                    cell.kill();
                }
                state.directory.remove_if(&child.spec.name, &cell);
            }
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            RootSupervisorMessage::ListTree { reply } => {
                let _ = reply.send(state.children.iter().map(child_info).collect());
            }
            RootSupervisorMessage::Stop { name, reply } => {
                on_stop(&myself, state, name, reply);
            }
            RootSupervisorMessage::Start { name, reply } => {
                on_start(&myself, state, name, reply).await;
            }
            RootSupervisorMessage::Restart { name, reply } => {
                on_restart(&myself, state, name, reply).await;
            }
            RootSupervisorMessage::AddChild { spec, reply } => {
                if state.child(&spec.name).is_some() {
                    let _ = reply.send(Ok(AddChildOutcome::AlreadyPresent));
                } else {
                    let name = spec.name.clone();
                    state.children.push(new_child(spec));
                    let result = spawn_child(&myself, state, &name).await;
                    let _ = reply.send(result.map(|()| AddChildOutcome::Added));
                }
            }
            RootSupervisorMessage::Internal(Internal(timer)) => match timer {
                Timer::RestartDue { name, generation } => {
                    if let Some(child) = state.child(&name)
                        && child.sup.restart_due(generation)
                    {
                        child.sup.note_restart();
                        let _ = spawn_child(&myself, state, &name).await;
                    }
                }
                Timer::StopTimeout { name, generation } => {
                    if let Some(child) = state.child(&name)
                        && child.sup.stop_overdue(generation)
                        && let Some(cell) = &child.cell
                    {
                        warn!(child = %name, "did not stop in time; killing it");
                        cell.kill();
                    }
                }
            },
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match &event {
            SupervisionEvent::ActorFailed(cell, err) => (cell, format!("failed: {err}")),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (
                cell,
                format!("exited: {}", reason.as_deref().unwrap_or("no reason given")),
            ),
            _ => return Ok(()),
        };
        let id = cell.get_id();
        let Some(child) = state
            .children
            .iter_mut()
            .find(|c| c.cell.as_ref().is_some_and(|k| k.get_id() == id))
        else {
            return Ok(());
        };
        let name = child.spec.name.clone();
        state.directory.remove_if(&name, cell);
        child.cell = None;
        child.started_at = None;
        child.timer = None;
        match child.intent.take() {
            Some(Intent::Stop) => {
                info!(child = %name, "stopped by operator");
                child.sup.stopped();
                for waiter in child.waiters.drain(..) {
                    let _ = waiter.send(Ok(()));
                }
            }
            Some(Intent::Restart) => {
                info!(child = %name, "restarting on operator request");
                child.sup.revive(true);
                let waiters = std::mem::take(&mut child.waiters);
                let result = spawn_child(&myself, state, &name).await;
                for waiter in waiters {
                    let _ = waiter.send(result.clone());
                }
            }
            None => {
                warn!(child = %name, %why, "child went down");
                child_down(&myself, child, why, &state.health);
            }
        }
        Ok(())
    }
}

fn new_child(spec: ChildSpec) -> Child {
    Child {
        sup: Supervised::new(spec.policy),
        spec,
        cell: None,
        intent: None,
        started_at: None,
        timer: None,
        waiters: Vec::new(),
    }
}

/// Start the child now. On failure the restart policy applies (and the error is returned for
/// an operator's reply).
async fn spawn_child(
    myself: &ActorRef<RootSupervisorMessage>,
    state: &mut RootSupervisorState,
    name: &str,
) -> Result<(), SupervisorError> {
    let health = state.health.clone();
    let Some(child) = state.child(name) else {
        return Err(SupervisorError::UnknownChild {
            name: name.to_string(),
        });
    };
    child.sup.starting();
    child.timer = None;
    child.intent = None;
    let start = child.spec.start.clone();
    match start(myself.get_cell()).await {
        Ok(cell) => {
            state.directory.insert(name, cell.clone());
            if let Some(child) = state.child(name) {
                info!(child = %name, id = %cell.get_id(), "child started");
                health.set_escalated(name, false);
                child.cell = Some(cell);
                child.sup.running();
                child.started_at = Some(SystemTime::now());
            }
            Ok(())
        }
        Err(e) => {
            let reason = format!("start failed: {e}");
            warn!(child = %name, %reason, "child did not start");
            if let Some(child) = state.child(name) {
                child_down(myself, child, reason.clone(), &health);
            }
            Err(SupervisorError::StartFailed {
                name: name.to_string(),
                reason,
            })
        }
    }
}

/// An unexpected exit or a failed start: schedule a restart or escalate.
fn child_down(
    myself: &ActorRef<RootSupervisorMessage>,
    child: &mut Child,
    reason: String,
    health: &Health,
) {
    child.cell = None;
    match child.sup.went_down(reason.clone(), Instant::now()) {
        Down::Restart { after, generation } => {
            let name = child.spec.name.clone();
            info!(child = %name, ?after, "restart scheduled");
            child.timer = Some(AbortOnDropHandle::new(myself.send_after(
                after,
                move || {
                    RootSupervisorMessage::Internal(Internal(Timer::RestartDue {
                        name,
                        generation,
                    }))
                },
            )));
        }
        Down::Escalate { failures, within } => {
            child.timer = None;
            health.set_escalated(&child.spec.name, true);
            error!(
                child = %child.spec.name,
                failures,
                ?within,
                last_failure = %reason,
                "restart intensity exceeded: child escalated and left down; siblings keep running"
            );
        }
    }
}

fn on_stop(
    myself: &ActorRef<RootSupervisorMessage>,
    state: &mut RootSupervisorState,
    name: String,
    reply: Reply,
) {
    let timeout = state.shutdown_timeout;
    let health = state.health.clone();
    let Some(child) = state.child(&name) else {
        let _ = reply.send(Err(SupervisorError::UnknownChild { name }));
        return;
    };
    match child.sup.state() {
        ChildState::Running => {
            begin_stop(myself, child, Intent::Stop, timeout, "operator stop");
            child.waiters.push(reply);
        }
        ChildState::Stopping => {
            child.intent = Some(Intent::Stop);
            child.waiters.push(reply);
        }
        ChildState::Restarting | ChildState::Escalated | ChildState::Stopped => {
            // Stopped on purpose: no longer an escalation to report.
            health.set_escalated(&name, false);
            child.sup.stopped();
            child.timer = None;
            let _ = reply.send(Ok(()));
        }
    }
}

async fn on_start(
    myself: &ActorRef<RootSupervisorMessage>,
    state: &mut RootSupervisorState,
    name: String,
    reply: Reply,
) {
    let Some(child) = state.child(&name) else {
        let _ = reply.send(Err(SupervisorError::UnknownChild { name }));
        return;
    };
    match child.sup.state() {
        ChildState::Running => {
            let _ = reply.send(Ok(()));
        }
        ChildState::Stopping => {
            child.intent = Some(Intent::Restart);
            child.waiters.push(reply);
        }
        ChildState::Restarting | ChildState::Escalated | ChildState::Stopped => {
            child.sup.revive(false);
            let _ = reply.send(spawn_child(myself, state, &name).await);
        }
    }
}

async fn on_restart(
    myself: &ActorRef<RootSupervisorMessage>,
    state: &mut RootSupervisorState,
    name: String,
    reply: Reply,
) {
    let timeout = state.shutdown_timeout;
    let Some(child) = state.child(&name) else {
        let _ = reply.send(Err(SupervisorError::UnknownChild { name }));
        return;
    };
    match child.sup.state() {
        ChildState::Running => {
            begin_stop(myself, child, Intent::Restart, timeout, "operator restart");
            child.waiters.push(reply);
        }
        ChildState::Stopping => {
            child.intent = Some(Intent::Restart);
            child.waiters.push(reply);
        }
        ChildState::Restarting | ChildState::Escalated | ChildState::Stopped => {
            child.sup.revive(true);
            let _ = reply.send(spawn_child(myself, state, &name).await);
        }
    }
}

/// Ask a running child to stop; kill it if it has not exited after `timeout`.
fn begin_stop(
    myself: &ActorRef<RootSupervisorMessage>,
    child: &mut Child,
    intent: Intent,
    timeout: Duration,
    reason: &str,
) {
    child.intent = Some(intent);
    let generation = child.sup.stopping();
    if let Some(cell) = &child.cell {
        cell.stop(Some(reason.to_string()));
    }
    let name = child.spec.name.clone();
    child.timer = Some(AbortOnDropHandle::new(
        myself.send_after(timeout, move || {
            RootSupervisorMessage::Internal(Internal(Timer::StopTimeout { name, generation }))
        }),
    ));
}

fn child_info(child: &Child) -> ChildInfo {
    ChildInfo {
        name: child.spec.name.clone(),
        state: child.sup.state(),
        restarts: child.sup.restarts(),
        last_failure: child.sup.last_failure().map(str::to_string),
        started_at: child.started_at,
        actor_id: child.cell.as_ref().map(|c| c.get_id().to_string()),
        children: child
            .cell
            .as_ref()
            .map(|c| subtree(c).children)
            .unwrap_or_default(),
    }
}

fn subtree(cell: &ActorCell) -> ActorNode {
    let id = cell.get_id().to_string();
    let mut children: Vec<ActorNode> = cell.get_children().iter().map(subtree).collect();
    children.sort_by(|a, b| a.name.cmp(&b.name));
    ActorNode {
        name: cell.get_name().unwrap_or_else(|| format!("actor-{id}")),
        id,
        children,
    }
}

/// Typed client of the supervisor for operators (the gRPC admin service).
#[derive(Clone)]
pub struct SupervisorHandle {
    actor: ActorRef<RootSupervisorMessage>,
    timeout: Duration,
}

/// The supervisor did not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("root supervisor unavailable: {0}")]
pub struct SupervisorUnavailable(pub String);

impl SupervisorHandle {
    /// A handle with a call timeout (a restart waits for the child's exit and start).
    pub fn new(actor: ActorRef<RootSupervisorMessage>, timeout: Duration) -> Self {
        Self { actor, timeout }
    }

    async fn call<T: Send + 'static>(
        &self,
        build: impl FnOnce(RpcReplyPort<T>) -> RootSupervisorMessage,
    ) -> Result<T, SupervisorUnavailable> {
        crate::directory::call(&self.actor, build, Some(self.timeout))
            .await
            .map_err(|e| SupervisorUnavailable(e.to_string()))
    }

    /// The tree.
    pub async fn list_tree(&self) -> Result<Vec<ChildInfo>, SupervisorUnavailable> {
        self.call(|reply| RootSupervisorMessage::ListTree { reply })
            .await
    }

    /// Restart a child by name.
    pub async fn restart(
        &self,
        name: &str,
    ) -> Result<Result<(), SupervisorError>, SupervisorUnavailable> {
        let name = name.to_string();
        self.call(|reply| RootSupervisorMessage::Restart { name, reply })
            .await
    }

    /// Stop a child by name.
    pub async fn stop(
        &self,
        name: &str,
    ) -> Result<Result<(), SupervisorError>, SupervisorUnavailable> {
        let name = name.to_string();
        self.call(|reply| RootSupervisorMessage::Stop { name, reply })
            .await
    }

    /// Start a child by name.
    pub async fn start(
        &self,
        name: &str,
    ) -> Result<Result<(), SupervisorError>, SupervisorUnavailable> {
        let name = name.to_string();
        self.call(|reply| RootSupervisorMessage::Start { name, reply })
            .await
    }

    /// Add a child (idempotent by name).
    pub async fn add_child(
        &self,
        spec: ChildSpec,
    ) -> Result<Result<AddChildOutcome, SupervisorError>, SupervisorUnavailable> {
        self.call(|reply| RootSupervisorMessage::AddChild { spec, reply })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ractor::ActorStatus;
    use tokio::sync::mpsc;

    const SEC: Duration = Duration::from_secs(1);

    struct Worker;

    enum WorkerMsg {
        Ping(RpcReplyPort<&'static str>),
        Fail,
        Exit,
        Hang,
    }

    struct WorkerArgs {
        name: &'static str,
        started: mpsc::UnboundedSender<(&'static str, ActorCell)>,
    }

    impl Actor for Worker {
        type Msg = WorkerMsg;
        type State = &'static str;
        type Arguments = WorkerArgs;

        async fn pre_start(
            &self,
            myself: ActorRef<WorkerMsg>,
            args: WorkerArgs,
        ) -> Result<&'static str, ActorProcessingErr> {
            let _ = args.started.send((args.name, myself.get_cell()));
            Ok(args.name)
        }

        async fn handle(
            &self,
            myself: ActorRef<WorkerMsg>,
            msg: WorkerMsg,
            name: &mut &'static str,
        ) -> Result<(), ActorProcessingErr> {
            match msg {
                WorkerMsg::Ping(reply) => {
                    let _ = reply.send(name);
                }
                WorkerMsg::Fail => return Err(format!("{name} broke").into()),
                WorkerMsg::Exit => myself.stop(Some("done".into())),
                WorkerMsg::Hang => std::future::pending::<()>().await,
            }
            Ok(())
        }
    }

    fn policy(max_restarts: u32) -> RestartPolicy {
        RestartPolicy {
            max_restarts,
            within: 60 * SEC,
            backoff_base: SEC,
            backoff_max: 8 * SEC,
        }
    }

    fn worker_spec(
        name: &'static str,
        policy: RestartPolicy,
        started: &mpsc::UnboundedSender<(&'static str, ActorCell)>,
    ) -> ChildSpec {
        let started = started.clone();
        ChildSpec::for_actor(name, policy, move || {
            (
                Worker,
                WorkerArgs {
                    name,
                    started: started.clone(),
                },
            )
        })
    }

    struct Tree {
        sup: SupervisorHandle,
        actor: ActorRef<RootSupervisorMessage>,
        directory: Directory,
        started: mpsc::UnboundedReceiver<(&'static str, ActorCell)>,
        tx: mpsc::UnboundedSender<(&'static str, ActorCell)>,
        health: crate::health::Health,
    }

    async fn tree(children: &[(&'static str, RestartPolicy)]) -> Tree {
        let (tx, mut started) = mpsc::unbounded_channel();
        let directory = Directory::new();
        let specs = children
            .iter()
            .map(|(name, policy)| worker_spec(name, *policy, &tx))
            .collect();
        let mut args = RootSupervisorArguments::new(directory.clone(), specs);
        args.shutdown_timeout = 5 * SEC;
        let health = args.health.clone();
        let (actor, _) = Actor::spawn(None, RootSupervisor, args).await.unwrap();
        for (name, _) in children {
            assert_eq!(started.recv().await.unwrap().0, *name);
        }
        Tree {
            sup: SupervisorHandle::new(actor.clone(), Duration::from_secs(30)),
            actor,
            directory,
            started,
            tx,
            health,
        }
    }

    impl Tree {
        fn worker(&self, name: &str) -> ActorRef<WorkerMsg> {
            self.directory.get_ref(name).expect("worker registered")
        }

        async fn ping(&self, name: &str) -> &'static str {
            ractor::call_t!(self.worker(name), WorkerMsg::Ping, 1000).unwrap()
        }

        async fn info(&self, name: &str) -> ChildInfo {
            self.sup
                .list_tree()
                .await
                .unwrap()
                .into_iter()
                .find(|c| c.name == name)
                .unwrap()
        }

        /// Make the worker fail and wait until it is dead (its supervision event is then
        /// queued at the supervisor, ahead of any later message).
        async fn fail(&self, name: &str) {
            let w = self.worker(name);
            w.cast(WorkerMsg::Fail).unwrap();
            w.wait(None).await.unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_child_is_restarted_after_the_backoff() {
        let mut t = tree(&[("a", policy(3)), ("b", policy(3))]).await;
        let old = t.worker("a").get_cell();
        let failed_at = Instant::now();
        t.fail("a").await;
        let (name, new) = t.started.recv().await.unwrap();
        assert_eq!(name, "a");
        assert!(
            failed_at.elapsed() >= SEC,
            "restarted only after the 1 s backoff"
        );
        assert_ne!(new.get_id(), old.get_id());
        assert_eq!(
            t.worker("a").get_id(),
            new.get_id(),
            "directory follows the restart"
        );
        assert_eq!(t.ping("a").await, "a");
        let info = t.info("a").await;
        assert_eq!(info.state, ChildState::Running);
        assert_eq!(info.restarts, 1);
        assert!(info.last_failure.unwrap().contains("a broke"));

        // The second failure in the window waits twice as long.
        let failed_at = Instant::now();
        t.fail("a").await;
        assert_eq!(t.started.recv().await.unwrap().0, "a");
        assert!(failed_at.elapsed() >= 2 * SEC);
        assert_eq!(t.info("a").await.restarts, 2);
        assert_eq!(t.info("b").await.restarts, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn exceeding_the_intensity_escalates_one_child_and_spares_the_siblings() {
        let mut t = tree(&[("a", policy(2)), ("b", policy(2))]).await;
        for _ in 0..2 {
            t.fail("a").await;
            assert_eq!(t.started.recv().await.unwrap().0, "a");
        }
        assert!(t.health.get().serving());
        t.fail("a").await;
        let info = t.info("a").await;
        assert_eq!(info.state, ChildState::Escalated);
        assert_eq!(info.restarts, 2);
        assert_eq!(
            t.health.get().reasons(),
            "escalated: a",
            "reported as unhealthy"
        );
        assert!(info.actor_id.is_none());
        assert!(t.directory.get("a").is_none());
        // Siblings and the supervisor keep working.
        assert_eq!(t.ping("b").await, "b");
        assert_eq!(t.actor.get_status(), ActorStatus::Running);
        // Time passing does not revive an escalated child...
        tokio::time::advance(600 * SEC).await;
        assert_eq!(t.info("a").await.state, ChildState::Escalated);
        assert!(t.started.try_recv().is_err());
        // ...an operator restart does, with a fresh window.
        t.sup.restart("a").await.unwrap().unwrap();
        assert_eq!(t.started.recv().await.unwrap().0, "a");
        assert_eq!(t.ping("a").await, "a");
        let info = t.info("a").await;
        assert_eq!((info.state, info.restarts), (ChildState::Running, 3));
        assert!(t.health.get().serving(), "healthy again once revived");
        t.fail("a").await;
        assert_eq!(t.started.recv().await.unwrap().0, "a", "window was cleared");
    }

    #[tokio::test(start_paused = true)]
    async fn operator_stop_start_restart() {
        let mut t = tree(&[("a", policy(3)), ("b", policy(3))]).await;
        let first = t.worker("a").get_cell();

        t.sup.stop("a").await.unwrap().unwrap();
        assert_eq!(first.get_status(), ActorStatus::Stopped);
        assert!(t.directory.get("a").is_none());
        // A child that exits after Stop is not restarted, however long we wait.
        tokio::time::advance(600 * SEC).await;
        let info = t.info("a").await;
        assert_eq!((info.state, info.restarts), (ChildState::Stopped, 0));
        assert!(info.last_failure.is_none());
        assert!(t.started.try_recv().is_err());
        t.sup.stop("a").await.unwrap().unwrap(); // idempotent

        t.sup.start("a").await.unwrap().unwrap();
        assert_eq!(t.started.recv().await.unwrap().0, "a");
        assert_eq!(t.ping("a").await, "a");
        let second = t.worker("a").get_cell();

        t.sup.restart("a").await.unwrap().unwrap();
        assert_eq!(t.started.recv().await.unwrap().0, "a");
        assert_eq!(second.get_status(), ActorStatus::Stopped);
        assert_ne!(t.worker("a").get_id(), second.get_id());
        assert_eq!(t.info("a").await.restarts, 1);

        let unknown = t.sup.restart("nope").await.unwrap();
        assert_eq!(
            unknown,
            Err(SupervisorError::UnknownChild {
                name: "nope".into()
            })
        );
        assert_eq!(t.ping("b").await, "b");
    }

    #[tokio::test(start_paused = true)]
    async fn an_exit_nobody_asked_for_is_restarted() {
        let mut t = tree(&[("a", policy(3))]).await;
        let w = t.worker("a");
        w.cast(WorkerMsg::Exit).unwrap();
        w.wait(None).await.unwrap();
        assert_eq!(t.started.recv().await.unwrap().0, "a");
        let info = t.info("a").await;
        assert_eq!(info.restarts, 1);
        assert!(info.last_failure.unwrap().contains("exited: done"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_child_that_ignores_stop_is_killed_after_the_timeout() {
        let t = tree(&[("a", policy(3))]).await;
        let w = t.worker("a");
        w.cast(WorkerMsg::Hang).unwrap();
        let asked = Instant::now();
        t.sup.stop("a").await.unwrap().unwrap();
        assert!(
            asked.elapsed() >= 5 * SEC,
            "graceful stop was given its time"
        );
        assert_eq!(w.get_status(), ActorStatus::Stopped);
        assert_eq!(t.info("a").await.state, ChildState::Stopped);
    }

    #[tokio::test(start_paused = true)]
    async fn add_child_is_idempotent_and_a_failed_start_is_retried() {
        let mut t = tree(&[("a", policy(3))]).await;
        let spec = worker_spec("late", policy(3), &t.tx);
        assert_eq!(
            t.sup.add_child(spec.clone()).await.unwrap(),
            Ok(AddChildOutcome::Added)
        );
        assert_eq!(t.started.recv().await.unwrap().0, "late");
        assert_eq!(
            t.sup.add_child(spec).await.unwrap(),
            Ok(AddChildOutcome::AlreadyPresent)
        );
        assert_eq!(t.ping("late").await, "late");
        assert!(t.started.try_recv().is_err(), "no second instance");

        // A start function that fails once, then works.
        let attempts = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let tx = t.tx.clone();
        let flaky = ChildSpec::new("flaky", policy(3), {
            let attempts = attempts.clone();
            move |sup: ActorCell| {
                let n = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let tx = tx.clone();
                async move {
                    if n == 0 {
                        return Err(SpawnErr::StartupFailed("disk not ready".into()));
                    }
                    let (r, _) = Worker::spawn_linked(
                        None,
                        Worker,
                        WorkerArgs {
                            name: "flaky",
                            started: tx,
                        },
                        sup,
                    )
                    .await?;
                    Ok(r.get_cell())
                }
            }
        });
        match t.sup.add_child(flaky).await.unwrap() {
            Err(SupervisorError::StartFailed { name, reason }) => {
                assert_eq!(name, "flaky");
                assert!(reason.contains("disk not ready"));
            }
            other => panic!("expected a failed start, got {other:?}"),
        }
        assert_eq!(t.info("flaky").await.state, ChildState::Restarting);
        assert_eq!(t.started.recv().await.unwrap().0, "flaky");
        assert_eq!(t.info("flaky").await.state, ChildState::Running);
    }

    #[tokio::test(start_paused = true)]
    async fn list_tree_shows_grandchildren() {
        let t = tree(&[("a", policy(3))]).await;
        let (tx, _rx) = mpsc::unbounded_channel();
        let parent = t.worker("a").get_cell();
        let (grandchild, _) = Worker::spawn_linked(
            Some(format!("grandchild-{}", parent.get_id())),
            Worker,
            WorkerArgs {
                name: "g",
                started: tx,
            },
            parent.clone(),
        )
        .await
        .unwrap();
        let info = t.info("a").await;
        assert_eq!(info.actor_id, Some(parent.get_id().to_string()));
        assert_eq!(info.children.len(), 1);
        assert_eq!(info.children[0].id, grandchild.get_id().to_string());
        assert!(info.children[0].name.starts_with("grandchild-"));
        grandchild.stop(None);
    }

    #[tokio::test]
    async fn stopping_the_supervisor_stops_its_children() {
        let t = tree(&[("a", policy(3)), ("b", policy(3))]).await;
        let (a, b) = (t.worker("a"), t.worker("b"));
        t.actor.stop_and_wait(None, None).await.unwrap();
        assert_eq!(a.get_status(), ActorStatus::Stopped);
        assert_eq!(b.get_status(), ActorStatus::Stopped);
        assert!(t.directory.names().is_empty());
    }
}
