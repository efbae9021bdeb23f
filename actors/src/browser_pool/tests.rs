//! BrowserPool tests: the rules with a fake launcher, then one real Chromium.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor::{Actor, ActorRef};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Launched(u32),
    Prepared(u32),
    Context(u32, String),
    Closed(u32),
}

struct FakeBrowser {
    id: u32,
    die: Mutex<Option<oneshot::Sender<String>>>,
}

impl FakeBrowser {
    fn die(&self, reason: &str) {
        if let Some(tx) = self.die.lock().unwrap().take() {
            let _ = tx.send(reason.to_string());
        }
    }
}

#[derive(Debug)]
struct FakeContext {
    browser: u32,
    user: String,
    serial: u32,
}

#[derive(Default)]
struct FakeLauncher {
    launches: AtomicU32,
    contexts: AtomicU32,
    seen: Mutex<Vec<Seen>>,
    tx: Mutex<Option<mpsc::UnboundedSender<Seen>>>,
    /// When set, each launch waits for a permit.
    launch_gate: Option<Semaphore>,
    /// When set, each [`Launcher::prepare`] waits for a permit.
    prepare_gate: Option<Semaphore>,
    fail_next_launch: Mutex<Option<String>>,
    /// The pool's `recycle_after` (0: never).
    recycle_after: u32,
    /// The pool's `warm`.
    warm: bool,
}

impl FakeLauncher {
    fn note(&self, s: Seen) {
        self.seen.lock().unwrap().push(s.clone());
        if let Some(tx) = &*self.tx.lock().unwrap() {
            let _ = tx.send(s);
        }
    }
}

impl Launcher for FakeLauncher {
    type Browser = FakeBrowser;
    type Context = FakeContext;

    async fn launch(&self) -> Result<Launched<FakeBrowser>, BrowserError> {
        if let Some(gate) = &self.launch_gate {
            gate.acquire().await.unwrap().forget();
        }
        if let Some(reason) = self.fail_next_launch.lock().unwrap().take() {
            return Err(BrowserError::Launch {
                exe: "fake".into(),
                reason,
            });
        }
        let id = self.launches.fetch_add(1, Ordering::SeqCst) + 1;
        let (tx, rx) = oneshot::channel();
        self.note(Seen::Launched(id));
        Ok(Launched {
            browser: FakeBrowser {
                id,
                die: Mutex::new(Some(tx)),
            },
            gone: Box::pin(async move {
                match rx.await {
                    Ok(reason) => reason,
                    // Dropped without dying: never "gone" from the pool's point of view.
                    Err(_) => std::future::pending().await,
                }
            }),
        })
    }

    async fn new_context(
        &self,
        browser: &FakeBrowser,
        user: &str,
    ) -> Result<FakeContext, BrowserError> {
        let serial = self.contexts.fetch_add(1, Ordering::SeqCst) + 1;
        self.note(Seen::Context(browser.id, user.to_string()));
        Ok(FakeContext {
            browser: browser.id,
            user: user.to_string(),
            serial,
        })
    }

    async fn prepare(&self, browser: &FakeBrowser) {
        if let Some(gate) = &self.prepare_gate {
            gate.acquire().await.unwrap().forget();
        }
        self.note(Seen::Prepared(browser.id));
    }

    async fn close(&self, browser: Arc<FakeBrowser>) {
        self.note(Seen::Closed(browser.id));
    }
}

type Pool = ActorRef<BrowserPoolMessage<FakeLauncher>>;

struct Fixture {
    pool: Pool,
    health: crate::health::Health,
    handle: BrowserPoolHandle<FakeLauncher>,
    launcher: Arc<FakeLauncher>,
    seen: mpsc::UnboundedReceiver<Seen>,
}

async fn pool(size: usize, launcher: FakeLauncher) -> Fixture {
    let (tx, seen) = mpsc::unbounded_channel();
    *launcher.tx.lock().unwrap() = Some(tx);
    let launcher = Arc::new(launcher);
    let health = crate::health::Health::new();
    let (pool, _) = Actor::spawn(
        None,
        BrowserPool::new(),
        BrowserPoolArguments {
            size,
            launcher: launcher.clone(),
            health: health.clone(),
            recycle_after: launcher.recycle_after,
            warm: launcher.warm,
        },
    )
    .await
    .unwrap();
    Fixture {
        health,
        handle: BrowserPoolHandle::new(pool.clone()),
        pool,
        launcher,
        seen,
    }
}

impl Fixture {
    async fn lease(&self, user: &str) -> Lease<FakeLauncher> {
        self.handle.lease(user, 1).await.unwrap()
    }

    async fn status(&self) -> PoolStatus {
        self.handle.status().await.unwrap()
    }

    /// Enqueue a lease request now (synchronously), answer later.
    fn ask(
        &self,
        user: &str,
        priority: u8,
    ) -> oneshot::Receiver<Result<Lease<FakeLauncher>, BrowserError>> {
        let (tx, rx) = oneshot::channel();
        self.pool
            .send_message(BrowserPoolMessage::Lease {
                user: user.into(),
                priority,
                reply: tx.into(),
            })
            .unwrap();
        rx
    }

    async fn until(&mut self, want: Seen) {
        while self.seen.recv().await.unwrap() != want {}
    }
}

#[tokio::test]
async fn at_most_size_leases_are_out() {
    let fx = pool(2, FakeLauncher::default()).await;
    let l1 = fx.lease("u1").await;
    let l2 = fx.lease("u2").await;
    let mut third = fx.ask("u3", 1);
    let s = fx.status().await;
    assert_eq!((s.size, s.busy, s.waiting, s.launched), (2, 2, 1, 2));
    assert!(
        third.try_recv().is_err(),
        "no third lease while two are out"
    );
    let freed = l1.slot();
    drop(l1);
    let l3 = third.await.unwrap().unwrap();
    assert_eq!(l3.slot(), freed);
    assert_eq!(
        fx.launcher.launches.load(Ordering::SeqCst),
        2,
        "no third browser"
    );
    drop((l2, l3));
    let s = fx.status().await;
    assert_eq!((s.busy, s.waiting, s.launched), (0, 0, 2));
}

#[tokio::test]
async fn waiters_are_served_by_priority_then_fifo() {
    let fx = pool(1, FakeLauncher::default()).await;
    let held = fx.lease("u0").await;
    let low1 = fx.ask("low1", 1);
    let high1 = fx.ask("high1", 5);
    let low2 = fx.ask("low2", 1);
    let high2 = fx.ask("high2", 5);
    assert_eq!(fx.status().await.waiting, 4);

    drop(held);
    let mut names = vec!["low1", "high1", "low2", "high2"];
    let mut waiting = vec![low1, high1, low2, high2];
    let mut order = Vec::new();
    while !waiting.is_empty() {
        // One browser: exactly one waiter can be served at a time.
        let (got, i, rest) = futures::future::select_all(waiting).await;
        let lease = got.unwrap().unwrap();
        order.push(names.swap_remove(i)); // select_all swap-removes too
        waiting = rest;
        drop(lease);
    }
    assert_eq!(order, ["high1", "high2", "low1", "low2"]);
}

#[tokio::test]
async fn contexts_are_created_once_per_user_per_browser_and_preferred() {
    let fx = pool(2, FakeLauncher::default()).await;
    let a = fx.lease("u1").await;
    let b = fx.lease("u2").await;
    let (slot_u1, slot_u2) = (a.slot(), b.slot());
    let (serial_u1, serial_u2) = (a.context().serial, b.context().serial);
    assert_ne!(slot_u1, slot_u2);
    drop((a, b));
    // Both browsers are idle: each user gets the browser that has its context.
    for _ in 0..3 {
        let b = fx.lease("u2").await;
        assert_eq!((b.slot(), b.context().serial), (slot_u2, serial_u2));
        assert_eq!(b.context().user, "u2");
        let a = fx.lease("u1").await;
        assert_eq!((a.slot(), a.context().serial), (slot_u1, serial_u1));
    }
    assert_eq!(fx.launcher.contexts.load(Ordering::SeqCst), 2);
    assert_eq!(fx.launcher.launches.load(Ordering::SeqCst), 2);
}

/// More agents than browsers: a freed browser goes to a waiter whose context it holds even if
/// an older waiter (whose own browser is busy) is ahead — no new context, no new login.
#[tokio::test]
async fn a_freed_browser_goes_to_a_waiter_whose_context_it_holds() {
    let fx = pool(2, FakeLauncher::default()).await;
    let l1 = fx.lease("u1").await;
    let l2 = fx.lease("u2").await;
    let (slot_u1, slot_u2) = (l1.slot(), l2.slot());
    let serial_u2 = l2.context().serial;
    let mut u1_again = fx.ask("u1", 1); // the oldest waiter: its browser is busy
    let u2_again = fx.ask("u2", 1);
    assert_eq!(fx.status().await.waiting, 2);

    drop(l2);
    let got = tokio::time::timeout(Duration::from_secs(10), u2_again)
        .await
        .expect("u2 is served by the browser holding its context")
        .unwrap()
        .unwrap();
    assert_eq!((got.slot(), got.context().serial), (slot_u2, serial_u2));
    assert!(
        u1_again.try_recv().is_err(),
        "u1 waits for its own browser instead of a new context in u2's"
    );
    drop(l1);
    let u1 = u1_again.await.unwrap().unwrap();
    assert_eq!(u1.slot(), slot_u1);
    assert_eq!(
        fx.launcher.contexts.load(Ordering::SeqCst),
        2,
        "no context made twice"
    );
    drop((got, u1));
}

/// The oldest waiter is passed over only while a waiter behind it can use the freed browser:
/// with none, it takes the freed browser (a new context) rather than wait.
#[tokio::test]
async fn the_oldest_waiter_takes_a_freed_browser_no_one_else_can_use() {
    let fx = pool(2, FakeLauncher::default()).await;
    let l1 = fx.lease("u1").await;
    let l2 = fx.lease("u2").await;
    let slot_u2 = l2.slot();
    let u1_again = fx.ask("u1", 1);
    let u3 = fx.ask("u3", 1);
    drop(l2);
    let got = u1_again.await.unwrap().unwrap();
    assert_eq!((got.slot(), got.context().user.as_str()), (slot_u2, "u1"));
    drop((l1, got));
    assert!(u3.await.unwrap().is_ok());
}

/// A browser that served `recycle_after` leases is closed when the last comes back, and the
/// next lease gets a fresh browser (and a fresh context): Chromium's growth is bounded.
#[tokio::test]
async fn a_browser_is_recycled_after_serving_its_leases() {
    let mut fx = pool(
        1,
        FakeLauncher {
            recycle_after: 3,
            ..Default::default()
        },
    )
    .await;
    for _ in 0..3 {
        let l = fx.lease("u1").await;
        assert_eq!(l.context().browser, 1);
        drop(l);
    }
    fx.until(Seen::Closed(1)).await;
    let l = fx.lease("u1").await;
    assert_eq!(l.context().browser, 2, "a fresh browser after three leases");
    assert_eq!(fx.launcher.launches.load(Ordering::SeqCst), 2);
    assert_eq!(fx.status().await.replaced, 0, "recycling is not a failure");
}

/// A warm pool launches its browsers before anyone asks, and the first leases use them.
#[tokio::test]
async fn a_warm_pool_launches_its_browsers_at_start() {
    let mut fx = pool(
        2,
        FakeLauncher {
            warm: true,
            ..Default::default()
        },
    )
    .await;
    let mut launched = HashSet::new();
    while launched.len() < 2 {
        match fx.seen.recv().await.unwrap() {
            Seen::Launched(id) => launched.insert(id),
            Seen::Prepared(_) => continue,
            other => panic!("nothing but launches before the first lease: {other:?}"),
        };
    }
    let (a, b) = (fx.lease("u1").await, fx.lease("u2").await);
    assert_ne!(a.context().browser, b.context().browser);
    assert_eq!(
        fx.launcher.launches.load(Ordering::SeqCst),
        2,
        "no launch on demand"
    );
    assert_eq!(fx.status().await.busy, 2);
}

/// A browser launched at start is readied for its first context before it counts as
/// launched; one launched for a waiter is not (the waiter would wait for it).
#[tokio::test]
async fn a_browser_launched_at_start_is_readied_before_it_counts_as_launched() {
    let mut fx = pool(
        1,
        FakeLauncher {
            warm: true,
            prepare_gate: Some(Semaphore::new(0)),
            ..Default::default()
        },
    )
    .await;
    fx.until(Seen::Launched(1)).await;
    assert_eq!(
        fx.status().await.launched,
        0,
        "not launched while being readied"
    );
    fx.launcher.prepare_gate.as_ref().unwrap().add_permits(1);
    fx.until(Seen::Prepared(1)).await;
    let lease = fx.lease("u1").await;
    assert_eq!(lease.context().browser, 1);
    assert_eq!(fx.launcher.launches.load(Ordering::SeqCst), 1);

    let mut cold = pool(1, FakeLauncher::default()).await;
    let lease = cold.lease("u1").await;
    drop(lease);
    cold.until(Seen::Context(1, "u1".into())).await;
    assert!(
        !cold
            .launcher
            .seen
            .lock()
            .unwrap()
            .contains(&Seen::Prepared(1)),
        "a launch on demand is not readied"
    );
}

/// A warm launch that fails leaves the slot empty: the first caller launches it again.
#[tokio::test]
async fn a_failed_warm_launch_is_retried_by_the_first_caller() {
    let fx = pool(
        1,
        FakeLauncher {
            warm: true,
            fail_next_launch: Mutex::new(Some("no such file".into())),
            ..Default::default()
        },
    )
    .await;
    let lease = fx.lease("u1").await;
    assert_eq!(lease.context().browser, 1);
    assert_eq!(fx.launcher.launches.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_broken_lease_retires_its_browser() {
    let mut fx = pool(1, FakeLauncher::default()).await;
    let mut lease = fx.lease("u1").await;
    let first = lease.context().browser;
    lease.mark_broken("page crashed");
    drop(lease);
    fx.until(Seen::Closed(first)).await;
    let s = fx.status().await;
    assert_eq!((s.replaced, s.launched, s.busy), (1, 0, 0));
    let lease = fx.lease("u1").await;
    assert_ne!(lease.context().browser, first, "a new browser");
    assert_eq!(
        fx.launcher.contexts.load(Ordering::SeqCst),
        2,
        "contexts were forgotten"
    );
}

#[tokio::test]
async fn a_dead_browser_is_replaced_idle_or_leased() {
    let mut fx = pool(1, FakeLauncher::default()).await;
    // Dies while idle: retired at once.
    let lease = fx.lease("u1").await;
    let first = lease.browser().clone();
    drop(lease);
    first.die("segfault");
    fx.until(Seen::Closed(first.id)).await;
    assert_eq!(fx.status().await.replaced, 1);
    drop(first);

    // Dies while leased: the holder keeps it until it lets go, then it is retired.
    let lease = fx.lease("u1").await;
    let second = lease.browser().clone();
    assert_ne!(second.id, 1);
    second.die("oom");
    let s = fx.status().await;
    assert_eq!((s.busy, s.replaced), (1, 1));
    drop(lease);
    fx.until(Seen::Closed(second.id)).await;
    assert_eq!(fx.status().await.replaced, 2);
    let third = fx.lease("u1").await;
    assert_eq!(third.browser().id, 3);
}

#[tokio::test(start_paused = true)]
async fn a_caller_that_gives_up_does_not_leak_a_lease() {
    let fx = pool(1, FakeLauncher::default()).await;
    let held = fx.lease("u1").await;
    // Gives up while queued.
    let gave_up = tokio::time::timeout(Duration::from_millis(10), fx.handle.lease("u2", 9)).await;
    assert!(gave_up.is_err());
    drop(held);
    let s = fx.status().await;
    assert_eq!((s.busy, s.waiting), (0, 0), "nobody holds the browser");

    // Gives up after the lease was sent but before reading it.
    let rx = fx.ask("u3", 1);
    let s = fx.status().await; // the lease is now waiting in `rx`
    assert_eq!(s.busy, 1);
    drop(rx);
    let s = fx.status().await;
    assert_eq!(s.busy, 0, "the unread lease came back");
    assert!(fx.handle.lease("u4", 1).await.is_ok());
}

#[tokio::test]
async fn a_caller_that_gives_up_during_the_launch_leaves_an_idle_browser() {
    let launcher = FakeLauncher {
        launch_gate: Some(Semaphore::new(0)),
        ..FakeLauncher::default()
    };
    let mut fx = pool(1, launcher).await;
    let rx = fx.ask("u1", 1);
    assert_eq!(fx.status().await.busy, 1, "launching for u1");
    drop(rx);
    fx.launcher.launch_gate.as_ref().unwrap().add_permits(1);
    fx.until(Seen::Launched(1)).await;
    let s = fx.status().await;
    assert_eq!((s.busy, s.launched), (0, 1));
    let lease = fx.lease("u2").await;
    assert_eq!(lease.browser().id, 1, "the browser is reused");
}

#[tokio::test]
async fn a_failed_launch_is_reported_and_the_next_request_launches_again() {
    let fx = pool(1, FakeLauncher::default()).await;
    *fx.launcher.fail_next_launch.lock().unwrap() = Some("no such file".into());
    let err = fx.handle.lease("u1", 1).await.unwrap_err();
    assert!(matches!(err, BrowserError::Launch { ref reason, .. } if reason == "no such file"));
    assert_eq!(fx.status().await.launched, 0);
    let health = fx.health.get();
    assert!(
        health
            .browsers
            .as_deref()
            .is_some_and(|w| w.contains("no such file")),
        "no browser runs: the service is reported unhealthy: {health:?}"
    );
    assert!(fx.handle.lease("u1", 1).await.is_ok());
    assert!(fx.health.get().serving(), "healthy again once one launched");
}

#[tokio::test]
async fn stopping_the_pool_closes_every_browser_and_answers_waiters() {
    let fx = pool(2, FakeLauncher::default()).await;
    let a = fx.lease("u1").await;
    let b = fx.lease("u2").await;
    let waiting = fx.ask("u3", 1);
    let (ia, ib) = (a.browser().id, b.browser().id);
    assert_eq!(fx.status().await.waiting, 1);
    // Stopped with both leases out and one caller waiting.
    fx.pool.stop_and_wait(None, None).await.unwrap();
    assert_eq!(
        waiting.await.unwrap().unwrap_err(),
        BrowserError::PoolStopped
    );
    let closed: HashSet<u32> = fx
        .launcher
        .seen
        .lock()
        .unwrap()
        .iter()
        .filter_map(|s| match s {
            Seen::Closed(id) => Some(*id),
            _ => None,
        })
        .collect();
    assert_eq!(closed, HashSet::from([ia, ib]));
    drop((a, b)); // releasing into a stopped pool is harmless
    assert!(fx.handle.lease("u9", 1).await.is_err());
}

// ---------------------------------------------------------------------------------------
// Real Chromium.

/// A tiny HTTP server answering every request with the same HTML page.
async fn serve_page() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "<!doctype html><title>archibald</title><p>ok</p>";
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    (addr, task)
}

/// Processes whose command line mentions `needle` (Chromium's helpers carry the
/// user-data-dir too, or at least the browser does).
fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            pids.push(pid);
        }
    }
    pids
}

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie would show state Z.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Poll `check` until it holds, failing after 10 s. Only for conditions with no event to wait
/// on (foreign processes exiting, a crash the pool learns about on its own).
async fn wait_until<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn cookie(lease: &Lease<ChromiumLauncher>, url: &str, script: &str) -> String {
    let page = lease
        .browser()
        .new_page(lease.context(), url)
        .await
        .expect("page opens");
    let value: String = page
        .evaluate(script)
        .await
        .expect("script runs")
        .into_value()
        .expect("a string");
    page.close().await.expect("page closes");
    value
}

/// A one-browser pool of real Chromium, its profiles under the returned folder.
async fn real_pool(
    warm: bool,
) -> (
    ActorRef<BrowserPoolMessage<ChromiumLauncher>>,
    tokio::task::JoinHandle<()>,
    tempfile::TempDir,
) {
    let exe = resolve_executable(None)
        .expect("this test needs Chromium: `make test` installs it (scripts/ensure-deps.sh)");
    let root = tempfile::tempdir().unwrap();
    let launcher = Arc::new(ChromiumLauncher::new(ChromiumConfig {
        executable: Some(exe),
        temp_root: Some(root.path().to_path_buf()),
        ..ChromiumConfig::default()
    }));
    let (pool, pool_task) = Actor::spawn(
        None,
        BrowserPool::new(),
        BrowserPoolArguments {
            size: 1,
            launcher,
            health: crate::health::Health::new(),
            recycle_after: 0,
            warm,
        },
    )
    .await
    .unwrap();
    (pool, pool_task, root)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_chromium_isolates_users_keeps_their_sessions_and_shuts_down_cleanly() {
    let (pool, pool_task, root) = real_pool(false).await;
    let handle = BrowserPoolHandle::new(pool.clone());
    let (addr, server) = serve_page().await;
    let url = format!("http://{addr}/login");

    // Agent 1 logs in: a session cookie in its context.
    let lease = handle.lease("agent1", 3).await.unwrap();
    let set = cookie(
        &lease,
        &url,
        "document.cookie = 'session=agent1; path=/'; document.cookie",
    )
    .await;
    assert_eq!(set, "session=agent1");
    let pid = lease.browser().pid().expect("a child process");
    let dir = lease.browser().user_data_dir().to_path_buf();
    assert!(dir.starts_with(root.path()) && dir.is_dir());
    drop(lease);

    // Agent 2, same browser, own context: does not see it.
    let lease = handle.lease("agent2", 3).await.unwrap();
    assert_eq!(lease.browser().pid(), Some(pid), "same browser");
    assert_eq!(cookie(&lease, &url, "document.cookie").await, "");
    drop(lease);

    // Agent 1 again: its context (and session) was kept.
    let lease = handle.lease("agent1", 3).await.unwrap();
    assert_eq!(
        cookie(&lease, &url, "document.cookie").await,
        "session=agent1"
    );
    drop(lease);

    let status = handle.status().await.unwrap();
    assert_eq!((status.launched, status.replaced, status.busy), (1, 0, 0));
    let first_family = processes_mentioning(&dir.display().to_string());
    assert!(
        first_family.contains(&pid),
        "the browser's command line names its user-data-dir"
    );

    // The browser crashes: the pool notices (the process exit is the event), retires it and
    // forgets its contexts; the next lease gets a new browser without agent1's session.
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    wait_until("the pool retires the dead browser", || {
        let handle = handle.clone();
        async move { handle.status().await.unwrap().replaced == 1 }
    })
    .await;
    let lease = handle.lease("agent1", 3).await.unwrap();
    let new_pid = lease.browser().pid().unwrap();
    assert_ne!(new_pid, pid);
    let new_dir = lease.browser().user_data_dir().to_path_buf();
    assert_eq!(cookie(&lease, &url, "document.cookie").await, "");
    drop(lease);
    let second_family = processes_mentioning(&new_dir.display().to_string());

    pool.stop_and_wait(None, Some(Duration::from_secs(30)))
        .await
        .unwrap();
    pool_task.await.unwrap();
    assert!(!alive(new_pid), "the browser process exited and was reaped");
    wait_until(
        "every chromium process is gone and both dirs removed",
        || {
            let all: Vec<u32> = first_family.iter().chain(&second_family).copied().collect();
            let (dir, new_dir) = (dir.clone(), new_dir.clone());
            async move { all.iter().all(|p| !alive(*p)) && !dir.exists() && !new_dir.exists() }
        },
    )
    .await;
    server.abort();
}

/// A warm pool's browser starts with a spare context: the first agent gets it, with a blank tab
/// that lives in that agent's context (its cookies are the agent's), handed out once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_chromium_gives_its_spare_context_and_blank_tab_to_the_first_agent_only() {
    let (pool, pool_task, _root) = real_pool(true).await;
    let handle = BrowserPoolHandle::new(pool.clone());
    let (addr, server) = serve_page().await;
    let url = format!("http://{addr}/login");

    let lease = handle.lease("agent1", 3).await.unwrap();
    let browser = lease.browser();
    let tab = browser
        .take_blank_tab(lease.context().id())
        .expect("the spare context came with its blank tab");
    assert!(
        browser.take_blank_tab(lease.context().id()).is_none(),
        "once"
    );
    tab.goto(url.as_str()).await.expect("the blank tab loads");
    tab.evaluate("document.cookie = 'session=agent1; path=/'")
        .await
        .expect("script runs");
    assert_eq!(
        cookie(&lease, &url, "document.cookie").await,
        "session=agent1",
        "the blank tab is in agent1's context"
    );
    tab.close().await.expect("tab closes");
    drop(lease);

    let lease = handle.lease("agent2", 3).await.unwrap();
    assert!(
        lease
            .browser()
            .take_blank_tab(lease.context().id())
            .is_none(),
        "one spare per browser"
    );
    assert_eq!(cookie(&lease, &url, "document.cookie").await, "");
    drop(lease);

    pool.stop_and_wait(None, Some(Duration::from_secs(30)))
        .await
        .unwrap();
    pool_task.await.unwrap();
    server.abort();
}
