//! The Directory: where to find the *current* actor behind a name.
//!
//! A supervised actor gets a new `ActorCell` every time it is restarted, so holding an
//! `ActorRef` to it goes stale after the first crash. The supervisor that (re)spawns a child
//! records the new cell here under the child's name; clients (a `DbHandle`, the gRPC adapter,
//! the Priority actor) look the name up when they need to talk to it.
//!
//! This module owns the name → cell map, its typed lookups, and [`call`] (a request with a
//! typed "no answer" error, shared by every client handle). It must NOT spawn, stop or
//! supervise anything, and it deliberately does not use ractor's global name registry: several
//! service instances live in one process in the integration tests, and global names collide.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use std::time::Duration;

use ractor::rpc::CallResult;
use ractor::{ActorCell, ActorRef, ActorStatus, Message, RpcReplyPort};

/// Why a name could not be resolved to a live actor of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// Nothing is registered under this name (never started, stopped, or between restarts).
    #[error("no running actor is registered as `{name}`")]
    NotRunning {
        /// The name that was looked up.
        name: String,
    },
    /// Something is registered, but it does not accept the message type the caller uses.
    #[error("actor `{name}` does not accept messages of type {expected}")]
    WrongType {
        /// The name that was looked up.
        name: String,
        /// The message type the caller expected the actor to accept.
        expected: &'static str,
    },
}

/// Name → current `ActorCell`, shared by a supervisor (writer) and every client (readers).
///
/// Clones share the same map. The lock is a `std` `RwLock` because it is only ever held for a
/// map operation, never across an `.await`.
#[derive(Clone)]
pub struct Directory {
    inner: Arc<RwLock<HashMap<String, ActorCell>>>,
    /// Bumped on every change, so a client can wait for one instead of polling.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
}

impl Default for Directory {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            changes: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("names", &self.names())
            .finish()
    }
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Record `cell` as the current actor for `name`, replacing any previous one.
    pub fn insert(&self, name: impl Into<String>, cell: ActorCell) {
        self.inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.into(), cell);
        self.changes.send_modify(|v| *v += 1);
    }

    /// Forget `name`, but only if it still points at `cell` (a newer incarnation registered
    /// meanwhile must not be removed by the late exit of an older one).
    pub fn remove_if(&self, name: &str, cell: &ActorCell) {
        let mut map = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if map.get(name).is_some_and(|c| c.get_id() == cell.get_id()) {
            map.remove(name);
            drop(map);
            self.changes.send_modify(|v| *v += 1);
        }
    }

    /// Wait until a live actor other than `not` is registered as `name` (a restart, a start)
    /// and return it. Waits on the Directory's changes, never polls.
    pub async fn next_incarnation(&self, name: &str, not: Option<ractor::ActorId>) -> ActorCell {
        let mut changes = self.changes.subscribe();
        loop {
            if let Some(cell) = self.get(name).filter(|c| Some(c.get_id()) != not) {
                return cell;
            }
            // The sender lives as long as `self`: `changed` cannot fail while we hold it.
            let _ = changes.changed().await;
        }
    }

    /// The live cell registered under `name`, if any. A cell that has already stopped is
    /// treated as absent.
    pub fn get(&self, name: &str) -> Option<ActorCell> {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        map.get(name)
            .filter(|cell| cell.get_status() < ActorStatus::Stopping)
            .cloned()
    }

    /// The live actor registered under `name`, typed by the message it accepts.
    pub fn get_ref<M: Message>(&self, name: &str) -> Result<ActorRef<M>, DirectoryError> {
        let cell = self.get(name).ok_or_else(|| DirectoryError::NotRunning {
            name: name.to_string(),
        })?;
        match cell.is_message_type_of::<M>() {
            Some(false) => Err(DirectoryError::WrongType {
                name: name.to_string(),
                expected: std::any::type_name::<M>(),
            }),
            _ => Ok(cell.into()),
        }
    }

    /// Every registered name, sorted (for status listings and debugging).
    pub fn names(&self) -> Vec<String> {
        let map = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let mut names: Vec<String> = map.keys().cloned().collect();
        names.sort();
        names
    }
}

/// How a client reaches an actor: a fixed reference, or a name resolved in a [`Directory`] at
/// every use (so the client follows the actor across restarts).
pub enum ActorTarget<M> {
    /// Always this actor.
    Fixed(ActorRef<M>),
    /// Whatever is registered under `name` right now.
    Named {
        /// Where to look.
        directory: Directory,
        /// The registered name.
        name: String,
    },
}

impl<M> Clone for ActorTarget<M> {
    fn clone(&self) -> Self {
        match self {
            ActorTarget::Fixed(actor) => ActorTarget::Fixed(actor.clone()),
            ActorTarget::Named { directory, name } => ActorTarget::Named {
                directory: directory.clone(),
                name: name.clone(),
            },
        }
    }
}

impl<M: Message> ActorTarget<M> {
    /// The actor to talk to now.
    pub fn resolve(&self) -> Result<ActorRef<M>, DirectoryError> {
        match self {
            ActorTarget::Fixed(actor) => Ok(actor.clone()),
            ActorTarget::Named { directory, name } => directory.get_ref(name),
        }
    }

    /// A label for logs and errors: the registered name, or the actor's name or id.
    pub fn label(&self) -> String {
        match self {
            ActorTarget::Fixed(actor) => actor
                .get_name()
                .unwrap_or_else(|| format!("actor-{}", actor.get_id())),
            ActorTarget::Named { name, .. } => name.clone(),
        }
    }
}

/// Why a call to an actor got no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The actor did not answer in time (it may still be working on it).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The actor stopped (or dropped the request) before answering.
    #[error("stopped before answering")]
    NoAnswer,
    /// The request could not be delivered (the actor is gone).
    #[error("request not delivered: {0}")]
    NotDelivered(String),
}

/// Send the request built by `build` to `actor` and wait for the answer, at most `timeout`
/// when given — the one place where ractor's call outcomes become a typed error.
pub async fn call<M: Message, T: Send + 'static>(
    actor: &ActorRef<M>,
    build: impl FnOnce(RpcReplyPort<T>) -> M,
    timeout: Option<Duration>,
) -> Result<T, CallError> {
    match actor.call(build, timeout).await {
        Ok(CallResult::Success(value)) => Ok(value),
        Ok(CallResult::Timeout) => Err(CallError::Timeout(timeout.unwrap_or_default())),
        Ok(CallResult::SenderError) => Err(CallError::NoAnswer),
        Err(e) => Err(CallError::NotDelivered(e.to_string())),
    }
}
