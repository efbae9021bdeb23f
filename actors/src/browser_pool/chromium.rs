//! ChromiumLauncher: real headless Chromium processes through chromiumoxide.
//!
//! We start the process ourselves and then *connect* chromiumoxide to it, so that we own the
//! child process: its exit is an event we can await (`Child::wait`), we can kill it, and its
//! fresh user-data-dir is removed only after it has exited. On Linux the process gets the
//! parent-death signal (SIGKILL): it dies with the service whatever kills the service (the
//! OOM killer, `kill -9`), and its own helpers follow it. [`reap_leftovers`] kills what a
//! previous life left anyway (a profile folder under the root it owns). Each browser has:
//! - a process task: waits for the exit (or kills on request), drains stderr into `debug!`
//!   logs (target `chromium`), then removes the user-data-dir;
//! - a handler task: polls chromiumoxide's `Handler` stream, which must be polled for any
//!   command to complete; when the stream ends or fails the browser is considered gone.
//!   Either task reports "gone" first; dropping the browser aborts both (kill on drop).
//!
//! Flags (see PROBES.md): `no-sandbox` (we run as root), a fresh `user-data-dir`, and
//! [`CHROMIUM_ARGS`], given WITHOUT leading dashes (chromiumoxide adds them).
//!
//! This module must NOT know the ERP's pages: it gives a browser and contexts, nothing more.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chromiumoxide::cdp::browser_protocol::browser::{BrowserContextId, CloseParams};
use chromiumoxide::cdp::browser_protocol::target::{
    CreateBrowserContextParams, CreateTargetParams,
};
use chromiumoxide::handler::HandlerConfig;
use chromiumoxide::{Browser, Page};
use futures::StreamExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{Notify, watch};
use tokio_util::task::AbortOnDropHandle;
use tracing::{debug, warn};

use super::{BrowserError, Launched, Launcher};

/// Where Debian's real Chromium binary lives (`/usr/bin/chromium` is a shell wrapper).
pub const DEFAULT_CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// Environment variable naming the Chromium executable (after the config, before defaults).
pub const CHROMIUM_ENV: &str = "BLACKANT_CHROMIUM";

/// Extra Chromium switches, without leading dashes.
pub const CHROMIUM_ARGS: [&str; 6] = [
    "disable-gpu",
    "disable-quic",
    "no-first-run",
    "disable-background-networking",
    "disable-component-update",
    "disable-sync",
];

/// How Chromium is launched.
#[derive(Debug, Clone)]
pub struct ChromiumConfig {
    /// The executable; when `None`: env `BLACKANT_CHROMIUM`, then [`DEFAULT_CHROMIUM`], then
    /// `chromium` on `PATH`.
    pub executable: Option<PathBuf>,
    /// More switches (without leading dashes).
    pub extra_args: Vec<String>,
    /// How long the process may take to print its DevTools address.
    pub launch_timeout: Duration,
    /// chromiumoxide's per-command timeout.
    pub request_timeout: Duration,
    /// How long a graceful close may take before the process is killed.
    pub close_timeout: Duration,
    /// Parent of the per-browser user-data-dirs (default: the system temp dir).
    pub temp_root: Option<PathBuf>,
    /// Give each browser a warm pool launches at start a spare context with a blank tab (its
    /// renderer started), taken by the first agent it serves: that agent's first tab does not
    /// wait for Chromium to start a renderer.
    pub spare_context: bool,
}

impl Default for ChromiumConfig {
    fn default() -> Self {
        Self {
            executable: None,
            extra_args: Vec::new(),
            launch_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            temp_root: None,
            spare_context: true,
        }
    }
}

/// Find the Chromium executable: the configured path, else env `BLACKANT_CHROMIUM`, else
/// [`DEFAULT_CHROMIUM`], else `chromium` on `PATH`. A configured path or env value that does
/// not exist is an error (an explicit choice is never silently replaced); the error names
/// everything that was tried.
pub fn resolve_executable(configured: Option<&Path>) -> Result<PathBuf, BrowserError> {
    resolve_from(
        configured,
        std::env::var_os(CHROMIUM_ENV),
        std::env::var_os("PATH"),
    )
}

fn resolve_from(
    configured: Option<&Path>,
    env: Option<OsString>,
    path_var: Option<OsString>,
) -> Result<PathBuf, BrowserError> {
    let is_file = |p: &Path| p.is_file();
    if let Some(p) = configured {
        return if is_file(p) {
            Ok(p.to_path_buf())
        } else {
            Err(BrowserError::NoExecutable {
                tried: format!("{} (configured; not a file)", p.display()),
            })
        };
    }
    if let Some(p) = env.filter(|v| !v.is_empty()).map(PathBuf::from) {
        return if is_file(&p) {
            Ok(p)
        } else {
            Err(BrowserError::NoExecutable {
                tried: format!("{} (from {CHROMIUM_ENV}; not a file)", p.display()),
            })
        };
    }
    let mut tried = vec![DEFAULT_CHROMIUM.to_string()];
    if is_file(Path::new(DEFAULT_CHROMIUM)) {
        return Ok(PathBuf::from(DEFAULT_CHROMIUM));
    }
    for dir in path_var
        .as_deref()
        .map(std::env::split_paths)
        .into_iter()
        .flatten()
    {
        let candidate = dir.join("chromium");
        if is_file(&candidate) {
            return Ok(candidate);
        }
    }
    tried.push("chromium on PATH".to_string());
    Err(BrowserError::NoExecutable {
        tried: tried.join(", "),
    })
}

/// Launches [`ChromiumBrowser`]s.
#[derive(Debug, Clone, Default)]
pub struct ChromiumLauncher {
    config: ChromiumConfig,
}

impl ChromiumLauncher {
    /// A launcher with this configuration.
    pub fn new(config: ChromiumConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &ChromiumConfig {
        &self.config
    }
}

/// A running Chromium. Dropping it kills the process (and removes its user-data-dir);
/// [`Launcher::close`] closes it gracefully first.
pub struct ChromiumBrowser {
    browser: Browser,
    pid: Option<u32>,
    user_data_dir: PathBuf,
    gone: watch::Receiver<Option<String>>,
    cleaned: watch::Receiver<bool>,
    kill: Arc<Notify>,
    /// A context no one uses yet, with a blank tab (its renderer already started): the next
    /// [`Launcher::new_context`] takes it. Made by [`Launcher::prepare`] at start.
    spare: Mutex<Option<(BrowserContextId, Page)>>,
    /// The spare's blank tab once its context is given out, until
    /// [`ChromiumBrowser::take_blank_tab`] (there is one spare per browser).
    blank_tab: Mutex<Option<(BrowserContextId, Page)>>,
    _handler: AbortOnDropHandle<()>,
    _process: AbortOnDropHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl std::fmt::Debug for ChromiumBrowser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromiumBrowser")
            .field("pid", &self.pid)
            .field("user_data_dir", &self.user_data_dir)
            .finish()
    }
}

/// One user's isolated browser context (its own cookies and storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChromiumContext {
    id: BrowserContextId,
    user: String,
}

impl ChromiumContext {
    /// The DevTools id of the context.
    pub fn id(&self) -> &BrowserContextId {
        &self.id
    }

    /// The user it belongs to.
    pub fn user(&self) -> &str {
        &self.user
    }
}

impl ChromiumBrowser {
    /// The chromiumoxide browser, for commands and event listeners.
    pub fn browser(&self) -> &Browser {
        &self.browser
    }

    /// The browser process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Its user-data-dir (removed once the process has exited).
    pub fn user_data_dir(&self) -> &Path {
        &self.user_data_dir
    }

    /// Whether the process or its DevTools connection is gone.
    pub fn is_gone(&self) -> bool {
        self.gone.borrow().is_some()
    }

    /// The blank tab that came with `context` when it was a spare (a warm pool's), once:
    /// its renderer is already running, so it is ready sooner than a new tab.
    pub fn take_blank_tab(&self, context: &BrowserContextId) -> Option<Page> {
        let mut tab = lock(&self.blank_tab);
        if tab.as_ref()?.0 != *context {
            return None;
        }
        debug!(pid = self.pid, "blank tab of a spare context taken");
        tab.take().map(|(_, page)| page)
    }

    /// A new context with a blank tab in it.
    async fn new_spare(&self) -> Result<(BrowserContextId, Page), String> {
        let id = self
            .browser
            .create_browser_context(CreateBrowserContextParams::default())
            .await
            .map_err(|e| e.to_string())?;
        let params = CreateTargetParams::builder()
            .url("about:blank")
            .browser_context_id(id.clone())
            .build()?;
        let page = self
            .browser
            .new_page(params)
            .await
            .map_err(|e| e.to_string())?;
        Ok((id, page))
    }

    /// Open a page at `url` inside `context` (so it sees only that user's cookies).
    pub async fn new_page(
        &self,
        context: &ChromiumContext,
        url: &str,
    ) -> Result<Page, BrowserError> {
        let params = CreateTargetParams::builder()
            .url(url)
            .browser_context_id(context.id.clone())
            .build()
            .map_err(|reason| BrowserError::Cdp {
                what: format!("opening {url}"),
                reason,
            })?;
        self.browser
            .new_page(params)
            .await
            .map_err(|e| BrowserError::Cdp {
                what: format!("opening {url} for user {}", context.user),
                reason: e.to_string(),
            })
    }
}

impl Launcher for ChromiumLauncher {
    type Browser = ChromiumBrowser;
    type Context = ChromiumContext;

    async fn launch(&self) -> Result<Launched<ChromiumBrowser>, BrowserError> {
        let config = &self.config;
        let exe = resolve_executable(config.executable.as_deref())?;
        let root = config.temp_root.clone().unwrap_or_else(std::env::temp_dir);
        let dir = tempfile::Builder::new()
            .prefix("blackant-chromium-")
            .tempdir_in(&root)
            .map_err(|e| BrowserError::UserDataDir {
                dir: root.clone(),
                reason: e.to_string(),
            })?;
        let launch_error = |reason: String| BrowserError::Launch {
            exe: exe.clone(),
            reason,
        };
        let user_data_dir = dir.path().to_path_buf();
        let mut child = command(&exe, dir.path(), &config.extra_args)
            .spawn()
            .map_err(|e| launch_error(e.to_string()))?;
        let pid = child.id();
        let stderr = child
            .stderr
            .take()
            .ok_or_else(|| launch_error("no stderr pipe".into()))?;
        let mut lines = BufReader::new(stderr).lines();

        // The DevTools address is printed on stderr.
        let mut seen = Vec::new();
        let ws_url = tokio::time::timeout(config.launch_timeout, async {
            while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
                if let Some((_, ws)) = line.rsplit_once("listening on ")
                    && ws.starts_with("ws")
                    && ws.contains("devtools/browser")
                {
                    return Ok(ws.trim().to_string());
                }
                seen.push(line);
            }
            Err("the process exited before printing its DevTools address".to_string())
        })
        .await
        .map_err(|_| format!("no DevTools address within {:?}", config.launch_timeout))
        .and_then(|r| r);
        let ws_url = match ws_url {
            Ok(url) => url,
            Err(reason) => {
                let _ = child.kill().await;
                return Err(launch_error(format!(
                    "{reason}; stderr: {}",
                    seen.join(" | ")
                )));
            }
        };
        let handler_config = HandlerConfig {
            request_timeout: config.request_timeout,
            ..HandlerConfig::default()
        };
        let (browser, mut handler) =
            match Browser::connect_with_config(&ws_url, handler_config).await {
                Ok(connected) => connected,
                Err(e) => {
                    let _ = child.kill().await;
                    return Err(launch_error(format!("connecting to {ws_url}: {e}")));
                }
            };

        let (gone_tx, gone) = watch::channel(None::<String>);
        let gone_tx = Arc::new(gone_tx);
        let (cleaned_tx, cleaned) = watch::channel(false);
        let kill = Arc::new(Notify::new());

        let handler_task = tokio::spawn({
            let gone_tx = gone_tx.clone();
            let kill = kill.clone();
            async move {
                let reason = loop {
                    match handler.next().await {
                        Some(Ok(())) => {}
                        Some(Err(e)) => break format!("DevTools connection failed: {e}"),
                        None => break "DevTools connection closed".to_string(),
                    }
                };
                mark_gone(&gone_tx, reason);
                // Without its connection the browser is useless: make sure the process ends.
                kill.notify_one();
            }
        });
        let process_task = tokio::spawn({
            let gone_tx = gone_tx.clone();
            let kill = kill.clone();
            async move {
                let exit = async {
                    let status = tokio::select! {
                        status = child.wait() => status,
                        _ = kill.notified() => {
                            let _ = child.kill().await;
                            child.wait().await
                        }
                    };
                    let reason = match status {
                        Ok(status) => format!("process exited ({status})"),
                        Err(e) => format!("process lost: {e}"),
                    };
                    mark_gone(&gone_tx, reason);
                };
                let drain = async {
                    while let Ok(Some(line)) = lines.next_line().await {
                        debug!(target: "chromium", pid, "{line}");
                    }
                };
                tokio::join!(exit, drain);
                // Only now that the process is gone (and its children closed stderr).
                drop(dir);
                let _ = cleaned_tx.send(true);
            }
        });

        let gone_future = {
            let mut gone = gone.clone();
            Box::pin(async move {
                match gone.wait_for(Option::is_some).await {
                    Ok(reason) => reason.clone().unwrap_or_default(),
                    Err(_) => "browser dropped".to_string(),
                }
            })
        };
        debug!(?pid, %ws_url, "chromium launched");
        Ok(Launched {
            browser: ChromiumBrowser {
                browser,
                pid,
                user_data_dir,
                gone,
                cleaned,
                kill,
                spare: Mutex::new(None),
                blank_tab: Mutex::new(None),
                _handler: AbortOnDropHandle::new(handler_task),
                _process: AbortOnDropHandle::new(process_task),
            },
            gone: gone_future,
        })
    }

    async fn new_context(
        &self,
        browser: &ChromiumBrowser,
        user: &str,
    ) -> Result<ChromiumContext, BrowserError> {
        let spare = lock(&browser.spare).take();
        if let Some((id, tab)) = spare {
            *lock(&browser.blank_tab) = Some((id.clone(), tab));
            return Ok(ChromiumContext {
                id,
                user: user.to_string(),
            });
        }
        let id = browser
            .browser
            .create_browser_context(CreateBrowserContextParams::default())
            .await
            .map_err(|e| BrowserError::Context {
                user: user.to_string(),
                reason: e.to_string(),
            })?;
        Ok(ChromiumContext {
            id,
            user: user.to_string(),
        })
    }

    /// Make a spare context with a blank tab: Chromium starts a renderer process for a new
    /// context's first tab (~150–300 ms here), which the browser's first agent then does not
    /// wait for.
    async fn prepare(&self, browser: &ChromiumBrowser) {
        if !self.config.spare_context || browser.is_gone() || lock(&browser.spare).is_some() {
            return;
        }
        match browser.new_spare().await {
            Ok(spare) => *lock(&browser.spare) = Some(spare),
            // Nothing lost: the first context is then created when asked for.
            Err(reason) => debug!(pid = browser.pid, %reason, "no spare context"),
        }
    }

    async fn close(&self, browser: Arc<ChromiumBrowser>) {
        let limit = self.config.close_timeout;
        if !browser.is_gone() {
            // The browser may close the connection before answering: don't wait for that.
            let _ =
                tokio::time::timeout(limit, browser.browser.execute(CloseParams::default())).await;
        }
        let mut gone = browser.gone.clone();
        if tokio::time::timeout(limit, gone.wait_for(Option::is_some))
            .await
            .is_err()
        {
            warn!(pid = ?browser.pid, "chromium did not close in time; killing it");
            browser.kill.notify_one();
        }
        let mut cleaned = browser.cleaned.clone();
        if tokio::time::timeout(limit, cleaned.wait_for(|done| *done))
            .await
            .is_err()
        {
            warn!(pid = ?browser.pid, dir = %browser.user_data_dir.display(),
                "chromium's helpers still hold its stderr; user data dir not removed yet");
        }
    }
}

/// The switches every browser gets, without their leading dashes: headless, no sandbox (we
/// run as root), PROBES.md's network quieting, and the automation defaults of puppeteer and
/// chromiumoxide (no throttling of background pages, no first-run UI, no crash reporter...).
const BASE_ARGS: [&str; 22] = [
    "headless",
    "no-sandbox",
    "disable-setuid-sandbox",
    "hide-scrollbars",
    "mute-audio",
    "disable-extensions",
    "disable-dev-shm-usage",
    "disable-background-timer-throttling",
    "disable-backgrounding-occluded-windows",
    "disable-renderer-backgrounding",
    "disable-breakpad",
    "disable-hang-monitor",
    "disable-ipc-flooding-protection",
    "disable-popup-blocking",
    "disable-prompt-on-repost",
    "disable-client-side-phishing-detection",
    "disable-default-apps",
    "metrics-recording-only",
    "use-mock-keychain",
    "enable-automation",
    "password-store=basic",
    "remote-debugging-port=0",
];

/// The browser's command line: [`BASE_ARGS`], [`CHROMIUM_ARGS`], the profile folder, then
/// `extra`; stderr piped (the DevTools address is printed there), killed when dropped, and on
/// Linux killed with its parent.
fn command(exe: &Path, user_data_dir: &Path, extra: &[String]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(exe);
    let dashed = |a: &str| format!("--{a}");
    cmd.args(BASE_ARGS.iter().map(|a| dashed(a)))
        .args(CHROMIUM_ARGS.iter().map(|a| dashed(a)))
        .arg(format!("--user-data-dir={}", user_data_dir.display()))
        .args(extra.iter().map(|a| dashed(a)))
        .arg("about:blank")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    #[cfg(target_os = "linux")]
    {
        // SAFETY: only async-signal-safe calls between fork and exec (prctl, getppid).
        let parent = std::process::id() as libc::pid_t;
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The service may have died between fork and prctl: then go now.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the service is gone"));
                }
                Ok(())
            });
        }
    }
    cmd
}

/// The profile folders of browsers under `root` that a previous life of the service left
/// running (after a SIGKILL on a system without the parent-death signal, or a crash between
/// fork and exec): every process whose `--user-data-dir` is in `root` and which is not this
/// process's own child is killed, and the folders it used are removed. Answers how many
/// processes were killed. Call it at start, before any browser of this life exists.
pub fn reap_leftovers(root: &Path) -> usize {
    let prefix = format!(
        "--user-data-dir={}",
        root.join("blackant-chromium-").display()
    );
    let me = std::process::id();
    let mut killed = 0;
    #[cfg(target_os = "linux")]
    {
        for pid in process_ids() {
            let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
                continue;
            };
            let ours = cmdline
                .split(|b| *b == 0)
                .any(|arg| arg.starts_with(prefix.as_bytes()));
            if !ours || parent_of(pid) == Some(me) || pid == me {
                continue;
            }
            // SAFETY: kill(2) on a pid we just read; a pid reused since is a race we accept
            // only for processes carrying our profile folder in their command line.
            if unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
    }
    if killed > 0 {
        warn!(killed, root = %root.display(), "killed browsers a previous life of the service left running");
    }
    // Their folders (and any other stale one): nothing of this life exists yet.
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            if entry
                .file_name()
                .to_string_lossy()
                .starts_with("blackant-chromium-")
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    killed
}

/// Every process id listed in `/proc` (Linux; empty where there is no `/proc`).
pub fn process_ids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// A process's parent, from `/proc/{pid}/stat` (Linux).
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(1)?.parse().ok()
}

fn mark_gone(tx: &watch::Sender<Option<String>>, reason: String) {
    tx.send_if_modified(|current| {
        if current.is_none() {
            *current = Some(reason);
            true
        } else {
            false
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executable_resolution_order_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("chromium");
        std::fs::write(&fake, "").unwrap();
        let missing = dir.path().join("nope");

        // Config wins, and a missing configured path is an error naming it.
        assert_eq!(resolve_from(Some(&fake), None, None).unwrap(), fake);
        let err = resolve_from(Some(&missing), Some(fake.clone().into()), None).unwrap_err();
        assert!(err.to_string().contains("nope (configured"), "{err}");
        // Then the environment.
        assert_eq!(
            resolve_from(None, Some(fake.clone().into()), None).unwrap(),
            fake
        );
        let err = resolve_from(None, Some(missing.clone().into()), None).unwrap_err();
        assert!(err.to_string().contains(CHROMIUM_ENV), "{err}");
        // Then the default path, then PATH.
        let found = resolve_from(None, None, Some(dir.path().as_os_str().to_owned())).unwrap();
        if Path::new(DEFAULT_CHROMIUM).is_file() {
            assert_eq!(found, PathBuf::from(DEFAULT_CHROMIUM));
        } else {
            assert_eq!(found, fake);
        }
        if !Path::new(DEFAULT_CHROMIUM).is_file() {
            let err = resolve_from(None, None, Some(OsString::new())).unwrap_err();
            assert!(err.to_string().contains(DEFAULT_CHROMIUM) && err.to_string().contains("PATH"));
        }
    }
}
