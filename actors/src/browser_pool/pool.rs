//! BrowserPool: the actor that owns the browsers and hands out leases.
//!
//! Each of the `size` slots is a small state machine:
//! ```text
//! Empty ──(start when warm; waiter, no idle browser)──► Launching ──► Opening (new context) ──► Leased
//!   ▲                                                    ▲                      │ Release
//!   │ retired: broken / died                             │ user has no context  ▼
//!   └──────────────────────────────────────────────── Idle ◄────────────────────┘
//!                                                      │ user has a context: Leased at once
//! ```
//! A warm pool launches every slot's browser at start, with no one waiting (a launch that
//! fails then leaves the slot empty, launched again when a caller needs it) and lets the
//! launcher get each ready for its first context before it counts as launched
//! ([`Launcher::prepare`]: Chromium makes a spare context with a blank tab).
//! Launching a browser and creating a context run in spawned tasks that report back, so the
//! mailbox stays responsive (status, releases, new waiters). Every slot has a generation,
//! bumped when it gets a new browser, so news about a retired browser is ignored.
//!
//! This actor must NOT drive pages; it only decides who holds which browser.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::task::JoinSet;
use tokio_util::task::AbortOnDropHandle;
use tracing::{info, warn};

use crate::health::Health;

use super::{
    BrowserError, BrowserPoolMessage, Launched, Launcher, Lease, PoolInternal, PoolStatus,
};

/// The pool actor (its launcher comes in the arguments).
pub struct BrowserPool<L: Launcher> {
    _launcher: PhantomData<fn() -> L>,
}

impl<L: Launcher> BrowserPool<L> {
    /// The actor value to spawn.
    pub fn new() -> Self {
        Self {
            _launcher: PhantomData,
        }
    }
}

impl<L: Launcher> Default for BrowserPool<L> {
    fn default() -> Self {
        Self::new()
    }
}

/// What the supervisor hands over at every (re)start.
pub struct BrowserPoolArguments<L: Launcher> {
    /// Browsers (and leases) at most; at least 1.
    pub size: usize,
    /// How browsers are started.
    pub launcher: Arc<L>,
    /// Where "browsers cannot launch" is reported (and cleared by the next launch).
    pub health: Health,
    /// A browser that has served this many leases is closed when the last one comes back, and
    /// a fresh one launched when next needed (0: never). Chromium grows with every tab a
    /// context ever opened — renderers and memory that closing the tab does not give back
    /// (the 30-minute soak saw its processes go 22 → 33 and their RSS 2.0 → 3.8 GiB while the
    /// service stayed at 106 MiB); a new browser costs a launch and one login per agent.
    pub recycle_after: u32,
    /// Launch every browser at start instead of when first needed: the first sync after a
    /// start then does not wait for Chromium (~0.5–1 s a browser here); each is readied for
    /// its first context ([`Launcher::prepare`]) before it counts as launched.
    pub warm: bool,
}

/// [`BrowserPoolArguments::recycle_after`] for the service.
pub const RECYCLE_AFTER_LEASES: u32 = 200;

impl<L: Launcher> Clone for BrowserPoolArguments<L> {
    fn clone(&self) -> Self {
        Self {
            size: self.size,
            launcher: self.launcher.clone(),
            health: self.health.clone(),
            recycle_after: self.recycle_after,
            warm: self.warm,
        }
    }
}

pub(super) enum Internal<L: Launcher> {
    /// A lease was dropped.
    Release {
        slot: usize,
        lease_id: u64,
        broken: Option<String>,
    },
    /// A launch task ended.
    Launched {
        slot: usize,
        generation: u64,
        result: Result<Launched<L::Browser>, BrowserError>,
    },
    /// A context task ended.
    ContextReady {
        slot: usize,
        generation: u64,
        user: String,
        result: Result<L::Context, BrowserError>,
    },
    /// A browser's process or connection went away.
    Gone {
        slot: usize,
        generation: u64,
        reason: String,
    },
}

struct Waiter<L: Launcher> {
    user: String,
    priority: u8,
    seq: u64,
    reply: RpcReplyPort<Result<Lease<L>, BrowserError>>,
}

/// A running browser and the contexts created in it.
struct Live<L: Launcher> {
    browser: Arc<L::Browser>,
    contexts: HashMap<String, Arc<L::Context>>,
    /// Leases this browser has served.
    leases: u32,
    /// Set when the browser died while leased: retired on release.
    dead: Option<String>,
    _watch: AbortOnDropHandle<()>,
}

enum SlotState<L: Launcher> {
    Empty,
    /// Launching for `waiter`, or for no one (a warm start).
    Launching {
        waiter: Option<Waiter<L>>,
        _task: AbortOnDropHandle<()>,
    },
    Idle(Live<L>),
    Opening {
        live: Live<L>,
        waiter: Waiter<L>,
        _task: AbortOnDropHandle<()>,
    },
    Leased {
        live: Live<L>,
        lease_id: u64,
    },
}

struct Slot<L: Launcher> {
    generation: u64,
    state: SlotState<L>,
}

/// Slots, waiters and counters.
pub struct BrowserPoolState<L: Launcher> {
    launcher: Arc<L>,
    slots: Vec<Slot<L>>,
    queue: Vec<Waiter<L>>,
    seq: u64,
    lease_seq: u64,
    replaced: u64,
    /// Browsers being closed after retirement; aborted (killing them) if the pool dies.
    closers: JoinSet<()>,
    health: Health,
    recycle_after: u32,
}

fn internal<L: Launcher>(msg: Internal<L>) -> BrowserPoolMessage<L> {
    BrowserPoolMessage::Internal(PoolInternal(msg))
}

impl<L: Launcher> Actor for BrowserPool<L> {
    type Msg = BrowserPoolMessage<L>;
    type State = BrowserPoolState<L>;
    type Arguments = BrowserPoolArguments<L>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: BrowserPoolArguments<L>,
    ) -> Result<Self::State, ActorProcessingErr> {
        let size = args.size.max(1);
        let mut state = BrowserPoolState {
            launcher: args.launcher,
            slots: (0..size)
                .map(|_| Slot {
                    generation: 0,
                    state: SlotState::Empty,
                })
                .collect(),
            queue: Vec::new(),
            seq: 0,
            lease_seq: 0,
            replaced: 0,
            closers: JoinSet::new(),
            health: args.health,
            recycle_after: args.recycle_after,
        };
        if args.warm {
            for index in 0..size {
                start_launch(&myself, &mut state, index, None);
            }
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for waiter in state.queue.drain(..) {
            let _ = waiter.reply.send(Err(BrowserError::PoolStopped));
        }
        let mut browsers = Vec::new();
        for slot in &mut state.slots {
            match std::mem::replace(&mut slot.state, SlotState::Empty) {
                SlotState::Empty => {}
                SlotState::Launching { waiter, .. } => {
                    if let Some(waiter) = waiter {
                        let _ = waiter.reply.send(Err(BrowserError::PoolStopped));
                    }
                }
                SlotState::Opening { live, waiter, .. } => {
                    let _ = waiter.reply.send(Err(BrowserError::PoolStopped));
                    browsers.push(live.browser);
                }
                SlotState::Idle(live) | SlotState::Leased { live, .. } => {
                    browsers.push(live.browser);
                }
            }
        }
        let launched = browsers.len();
        let launcher = &state.launcher;
        futures::future::join_all(browsers.into_iter().map(|b| launcher.close(b))).await;
        while state.closers.join_next().await.is_some() {}
        info!(closed = launched, "browser pool stopped");
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            BrowserPoolMessage::Lease {
                user,
                priority,
                reply,
            } => {
                state.seq += 1;
                state.queue.push(Waiter {
                    user,
                    priority,
                    seq: state.seq,
                    reply,
                });
            }
            BrowserPoolMessage::Status { reply } => {
                let _ = reply.send(status(state));
            }
            BrowserPoolMessage::Internal(PoolInternal(msg)) => match msg {
                Internal::Release {
                    slot,
                    lease_id,
                    broken,
                } => on_release(state, slot, lease_id, broken),
                Internal::Launched {
                    slot,
                    generation,
                    result,
                } => on_launched(&myself, state, slot, generation, result),
                Internal::ContextReady {
                    slot,
                    generation,
                    user,
                    result,
                } => on_context(&myself, state, slot, generation, user, result),
                Internal::Gone {
                    slot,
                    generation,
                    reason,
                } => on_gone(state, slot, generation, reason),
            },
        }
        dispatch(&myself, state);
        let now = status(state);
        metrics::gauge!(LEASES_IN_USE).set(now.busy as f64);
        metrics::gauge!(LEASES_WAITING).set(now.waiting as f64);
        metrics::gauge!(BROWSERS_RUNNING).set(now.launched as f64);
        Ok(())
    }
}

/// Gauge: browser slots committed to a caller (leased, or launching / opening for one).
pub const LEASES_IN_USE: &str = "blackant_browser_leases_in_use";
/// Gauge: callers waiting for a browser.
pub const LEASES_WAITING: &str = "blackant_browser_leases_waiting";
/// Gauge: Chromium processes running.
pub const BROWSERS_RUNNING: &str = "blackant_browsers_running";

fn status<L: Launcher>(state: &BrowserPoolState<L>) -> PoolStatus {
    let mut busy = 0;
    let mut launched = 0;
    for slot in &state.slots {
        match &slot.state {
            SlotState::Empty => {}
            SlotState::Launching { waiter, .. } => busy += usize::from(waiter.is_some()),
            SlotState::Idle(_) => launched += 1,
            SlotState::Opening { .. } | SlotState::Leased { .. } => {
                busy += 1;
                launched += 1;
            }
        }
    }
    PoolStatus {
        size: state.slots.len(),
        busy,
        waiting: state.queue.iter().filter(|w| !w.reply.is_closed()).count(),
        launched,
        replaced: state.replaced,
    }
}

/// How far down the queue (of the top priority) a freed browser looks for a waiter whose
/// context it already holds, per slot. Bounded, so the oldest waiter is passed over at most
/// this many times before it takes whatever browser frees next.
pub const AFFINITY_WINDOW_PER_SLOT: usize = 8;

/// Serve waiters while a slot can take one: highest priority first, FIFO within a priority;
/// prefer a browser that already has the user's context, then any idle browser, then launch a
/// new one. When only browsers without the oldest waiter's context are idle, a waiter of the
/// same priority a little further down the queue whose context one of them holds goes first:
/// it needs no new context and no login, and the oldest waiter's browser is about to free up.
/// (Without this, agents that outnumber browsers each created a context, and logged in, in
/// every browser in turn: figure 10, 100 agents on 4 browsers, 4.2 → 2.4 browser-seconds per
/// unchanged order sync.)
fn dispatch<L: Launcher>(
    myself: &ActorRef<BrowserPoolMessage<L>>,
    state: &mut BrowserPoolState<L>,
) {
    while state.closers.try_join_next().is_some() {}
    // Callers that gave up are forgotten before they cost a browser.
    state.queue.retain(|w| !w.reply.is_closed());
    loop {
        let Some(best) = state
            .queue
            .iter()
            .enumerate()
            .max_by_key(|(_, w)| (w.priority, std::cmp::Reverse(w.seq)))
            .map(|(i, _)| i)
        else {
            return;
        };
        let idle_with_context = |user: &str| {
            state.slots.iter().position(
                |s| matches!(&s.state, SlotState::Idle(live) if live.contexts.contains_key(user)),
            )
        };
        let idle = || {
            state
                .slots
                .iter()
                .position(|s| matches!(s.state, SlotState::Idle(_)))
        };
        let empty = || {
            state
                .slots
                .iter()
                .position(|s| matches!(s.state, SlotState::Empty))
        };
        let (chosen, index) = match idle_with_context(&state.queue[best].user) {
            Some(index) => (best, index),
            None => match affine_waiter(state, best, &idle_with_context) {
                Some(pair) => pair,
                None => match idle().or_else(empty) {
                    Some(index) => (best, index),
                    // every slot is busy: the best waiter waits, and so do the others
                    None => return,
                },
            },
        };
        let waiter = state.queue.remove(chosen);
        match std::mem::replace(&mut state.slots[index].state, SlotState::Empty) {
            SlotState::Idle(live) => serve(myself, state, index, live, waiter),
            SlotState::Empty => start_launch(myself, state, index, Some(waiter)),
            // Chosen idle or empty above, so not reachable; put everything back if it were.
            busy => {
                state.slots[index].state = busy;
                state.queue.push(waiter);
                return;
            }
        }
    }
}

/// A waiter of the best waiter's priority, among the next few in FIFO order, whose context an
/// idle browser holds — provided the best waiter's own context is in a browser that is busy
/// now (it will free up): (queue index, slot index).
fn affine_waiter<L: Launcher>(
    state: &BrowserPoolState<L>,
    best: usize,
    idle_with_context: &dyn Fn(&str) -> Option<usize>,
) -> Option<(usize, usize)> {
    let head = &state.queue[best];
    let own_browser_busy = state.slots.iter().any(|s| match &s.state {
        SlotState::Leased { live, .. } => live.contexts.contains_key(&head.user),
        _ => false,
    });
    if !own_browser_busy {
        return None;
    }
    let mut same_priority: Vec<(usize, &Waiter<L>)> = state
        .queue
        .iter()
        .enumerate()
        .filter(|(i, w)| *i != best && w.priority == head.priority)
        .collect();
    same_priority.sort_by_key(|(_, w)| w.seq);
    same_priority
        .into_iter()
        .take(AFFINITY_WINDOW_PER_SLOT * state.slots.len())
        .find_map(|(i, w)| idle_with_context(&w.user).map(|slot| (i, slot)))
}

/// Hand out a lease if the user's context exists, else create it first.
fn serve<L: Launcher>(
    myself: &ActorRef<BrowserPoolMessage<L>>,
    state: &mut BrowserPoolState<L>,
    index: usize,
    live: Live<L>,
    waiter: Waiter<L>,
) {
    let Some(context) = live.contexts.get(&waiter.user).cloned() else {
        start_context(myself, state, index, live, waiter);
        return;
    };
    state.lease_seq += 1;
    let mut live = live;
    live.leases += 1;
    let lease = Lease {
        browser: live.browser.clone(),
        context,
        user: waiter.user,
        slot: index,
        lease_id: state.lease_seq,
        broken: None,
        pool: myself.clone(),
    };
    state.slots[index].state = SlotState::Leased {
        live,
        lease_id: state.lease_seq,
    };
    // If the caller has just given up, the lease comes back to us in the error and its
    // Drop releases it: nothing leaks.
    let _ = waiter.reply.send(Ok(lease));
}

fn start_launch<L: Launcher>(
    myself: &ActorRef<BrowserPoolMessage<L>>,
    state: &mut BrowserPoolState<L>,
    index: usize,
    waiter: Option<Waiter<L>>,
) {
    let slot = &mut state.slots[index];
    slot.generation += 1;
    let generation = slot.generation;
    let launcher = state.launcher.clone();
    let me = myself.clone();
    // A launch at start, with no one waiting, also readies the browser for its first context.
    let ready = waiter.is_none();
    let task = tokio::spawn(async move {
        let result = launcher.launch().await;
        if ready && let Ok(launched) = &result {
            launcher.prepare(&launched.browser).await;
        }
        let _ = me.send_message(internal(Internal::Launched {
            slot: index,
            generation,
            result,
        }));
    });
    slot.state = SlotState::Launching {
        waiter,
        _task: AbortOnDropHandle::new(task),
    };
}

fn start_context<L: Launcher>(
    myself: &ActorRef<BrowserPoolMessage<L>>,
    state: &mut BrowserPoolState<L>,
    index: usize,
    live: Live<L>,
    waiter: Waiter<L>,
) {
    let launcher = state.launcher.clone();
    let browser = live.browser.clone();
    let user = waiter.user.clone();
    let generation = state.slots[index].generation;
    let me = myself.clone();
    let task = tokio::spawn(async move {
        let result = launcher.new_context(&browser, &user).await;
        let _ = me.send_message(internal(Internal::ContextReady {
            slot: index,
            generation,
            user,
            result,
        }));
    });
    state.slots[index].state = SlotState::Opening {
        live,
        waiter,
        _task: AbortOnDropHandle::new(task),
    };
}

fn on_launched<L: Launcher>(
    myself: &ActorRef<BrowserPoolMessage<L>>,
    state: &mut BrowserPoolState<L>,
    index: usize,
    generation: u64,
    result: Result<Launched<L::Browser>, BrowserError>,
) {
    let Some(slot) = state.slots.get_mut(index) else {
        return;
    };
    if slot.generation != generation || !matches!(slot.state, SlotState::Launching { .. }) {
        // Not ours any more (cannot happen while the pool runs): close what was launched.
        if let Ok(launched) = result {
            let launcher = state.launcher.clone();
            state
                .closers
                .spawn(async move { launcher.close(Arc::new(launched.browser)).await });
        }
        return;
    }
    let SlotState::Launching { waiter, .. } = std::mem::replace(&mut slot.state, SlotState::Empty)
    else {
        return;
    };
    match result {
        Ok(Launched { browser, gone }) => {
            info!(slot = index, generation, "browser launched");
            state.health.set_browsers(None);
            let me = myself.clone();
            let watch = tokio::spawn(async move {
                let reason = gone.await;
                let _ = me.send_message(internal(Internal::Gone {
                    slot: index,
                    generation,
                    reason,
                }));
            });
            let live = Live {
                browser: Arc::new(browser),
                contexts: HashMap::new(),
                leases: 0,
                dead: None,
                _watch: AbortOnDropHandle::new(watch),
            };
            match waiter.filter(|w| !w.reply.is_closed()) {
                Some(waiter) => serve(myself, state, index, live, waiter),
                None => state.slots[index].state = SlotState::Idle(live),
            }
        }
        Err(e) => {
            warn!(slot = index, error = %e, "browser launch failed");
            // Unhealthy only when nothing runs: with a browser up the pool still serves.
            if status(state).launched == 0 {
                state.health.set_browsers(Some(e.to_string()));
            }
            if let Some(waiter) = waiter {
                let _ = waiter.reply.send(Err(e));
            }
        }
    }
}

fn on_context<L: Launcher>(
    myself: &ActorRef<BrowserPoolMessage<L>>,
    state: &mut BrowserPoolState<L>,
    index: usize,
    generation: u64,
    user: String,
    result: Result<L::Context, BrowserError>,
) {
    let Some(slot) = state.slots.get_mut(index) else {
        return;
    };
    if slot.generation != generation || !matches!(slot.state, SlotState::Opening { .. }) {
        return;
    }
    let SlotState::Opening {
        mut live, waiter, ..
    } = std::mem::replace(&mut slot.state, SlotState::Empty)
    else {
        return;
    };
    match result {
        Ok(context) => {
            live.contexts.insert(user, Arc::new(context));
            if waiter.reply.is_closed() {
                state.slots[index].state = SlotState::Idle(live);
            } else {
                serve(myself, state, index, live, waiter);
            }
        }
        Err(e) => {
            warn!(slot = index, %user, error = %e, "browser context creation failed");
            let _ = waiter.reply.send(Err(e));
            state.slots[index].state = SlotState::Idle(live);
        }
    }
}

fn on_release<L: Launcher>(
    state: &mut BrowserPoolState<L>,
    index: usize,
    lease_id: u64,
    broken: Option<String>,
) {
    let Some(slot) = state.slots.get_mut(index) else {
        return;
    };
    if !matches!(&slot.state, SlotState::Leased { lease_id: id, .. } if *id == lease_id) {
        return;
    }
    let SlotState::Leased { live, .. } = std::mem::replace(&mut slot.state, SlotState::Empty)
    else {
        return;
    };
    let worn = (state.recycle_after > 0 && live.leases >= state.recycle_after)
        .then(|| format!("recycled after {} leases", live.leases));
    match broken.or_else(|| live.dead.clone()) {
        Some(reason) => retire(state, index, live, &reason),
        None => match worn {
            Some(reason) => {
                info!(slot = index, %reason, "recycling browser");
                close_browser(state, live);
            }
            None => state.slots[index].state = SlotState::Idle(live),
        },
    }
}

fn on_gone<L: Launcher>(
    state: &mut BrowserPoolState<L>,
    index: usize,
    generation: u64,
    reason: String,
) {
    let Some(slot) = state.slots.get_mut(index) else {
        return;
    };
    if slot.generation != generation {
        return;
    }
    match std::mem::replace(&mut slot.state, SlotState::Empty) {
        SlotState::Idle(live) => retire(state, index, live, &reason),
        SlotState::Opening { live, waiter, .. } => {
            // The waiter did nothing wrong: back in the queue, first in line of its priority.
            retire(state, index, live, &reason);
            state.queue.push(waiter);
        }
        SlotState::Leased { mut live, lease_id } => {
            live.dead = Some(reason);
            slot.state = SlotState::Leased { live, lease_id };
        }
        other => slot.state = other,
    }
}

/// Forget a browser (and its contexts) and close it in the background.
fn retire<L: Launcher>(state: &mut BrowserPoolState<L>, index: usize, live: Live<L>, reason: &str) {
    warn!(slot = index, %reason, "retiring browser");
    state.replaced += 1;
    close_browser(state, live);
}

/// Close a browser in the background (its slot is already empty).
fn close_browser<L: Launcher>(state: &mut BrowserPoolState<L>, live: Live<L>) {
    let launcher = state.launcher.clone();
    let browser = live.browser;
    state
        .closers
        .spawn(async move { launcher.close(browser).await });
}
