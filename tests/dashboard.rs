//! The operators' dashboard, driven in a real Chromium (chromiumoxide, as the syncs do): its
//! progress bar advances without a reload while a customer sync runs and the run appears in
//! recent runs with its counts; a restart and a pause from the page act on the service; without
//! the operator token nothing private is shown and every action is refused.

use crate::util::*;
use blackant::grpc::{AuthConfig, Role, TokenEntry};
use blackant::service::Service;
use blackant_actors::browser_pool::{
    ChromiumBrowser, ChromiumConfig, ChromiumContext, ChromiumLauncher, Launcher,
};
use blackant_actors::run::{Mode, Scope, Trigger};
use chromiumoxide::Page;
use std::sync::Arc;

const OPERATOR: &str = "operator-token-for-the-dashboard-test";
const AGENT: &str = "agent1-token-for-the-dashboard-test";

/// The dashboard of `service` on 127.0.0.1:0, guarded by an operator and an agent token; its
/// base URL. Stops when the returned sender is dropped.
async fn serve_dashboard(service: Arc<Service>) -> (String, tokio::sync::oneshot::Sender<()>) {
    let auth = AuthConfig::new(&[
        TokenEntry::for_token(OPERATOR, Role::Operator, None),
        TokenEntry::for_token(AGENT, Role::Agent, Some("agent1")),
    ])
    .expect("tokens");
    serve_http(service, auth).await
}

/// A Chromium of the test's own (the service's pool has its own) and a fresh context in it.
async fn browser() -> (ChromiumLauncher, ChromiumBrowser) {
    let launcher = ChromiumLauncher::new(ChromiumConfig::default());
    let launched = launcher.launch().await.expect("Chromium starts");
    (launcher, launched.browser)
}

async fn context(launcher: &ChromiumLauncher, b: &ChromiumBrowser, name: &str) -> ChromiumContext {
    launcher.new_context(b, name).await.expect("a context")
}

/// Open the dashboard and sign in with `token` through the login form.
async fn signed_in(b: &ChromiumBrowser, ctx: &ChromiumContext, url: &str, token: &str) -> Page {
    let page = b
        .new_page(ctx, &format!("{url}/dashboard"))
        .await
        .expect("page");
    page.wait_for_navigation().await.expect("loaded");
    let filled: bool = eval(
        &page,
        &format!("(function(){{ var i = document.querySelector('input[name=token]'); if (!i) return false; i.value = '{token}'; return true; }})()"),
    )
    .await;
    assert!(filled, "a login form");
    click_and_load(
        &page,
        "form[action='/dashboard/login'] button",
        "document.getElementById('pause-state')",
    )
    .await;
    page
}

/// Click `selector`, then wait until the document (the next one, once it has loaded) satisfies
/// `cond`. Through the page's own script: a node id of the DevTools protocol taken just before
/// a section is refreshed or the document replaced would point at nothing.
async fn click_and_load(page: &Page, selector: &str, cond: &str) {
    let clicked: bool = eval(
        page,
        &format!("(function(){{ var e = document.querySelector(\"{selector}\"); if (!e) return false; e.click(); return true; }})()"),
    )
    .await;
    assert!(clicked, "{selector} is on the page");
    wait_for(page, cond).await;
}

/// Wait until `cond` holds in the page's document, once it is parsed (a condition seen while the
/// document is still loading would let the test run before the page's end-of-body script and
/// the sections after the one it names). A navigation destroys the document the wait runs in: it
/// is then asked again of the new one.
async fn wait_for(page: &Page, cond: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, page.evaluate(when(cond))).await {
            Ok(Ok(_)) => return,
            Ok(Err(_navigated)) => continue,
            Err(_) => panic!("{cond} never held"),
        }
    }
}

/// The text of `selector` in the current document (asked again if a navigation replaced it).
async fn text(page: &Page, selector: &str) -> String {
    let js = format!(
        "(function(){{ var e = document.querySelector(\"{selector}\"); return e ? e.textContent : null; }})()"
    );
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        match tokio::time::timeout_at(deadline, page.evaluate(js.as_str())).await {
            Ok(Ok(v)) => {
                let text: Option<String> = v.into_value().unwrap_or_else(|e| panic!("{e}"));
                return text.unwrap_or_else(|| panic!("{selector} is not on the page"));
            }
            Ok(Err(_navigated)) => continue,
            Err(_) => panic!("{selector} never readable"),
        }
    }
}

/// Evaluate `js` (a promise, awaited), bounded by the test's patience.
async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    tokio::time::timeout(PATIENCE, page.evaluate(js))
        .await
        .expect("the page answers in time")
        .unwrap_or_else(|e| panic!("{js}: {e}"))
        .into_value()
        .expect("a value")
}

/// Resolve once `cond` (a JS expression) holds, re-checked on every change of the document.
fn when(cond: &str) -> String {
    format!(
        "new Promise(function(resolve){{\
           function check(){{ try {{ if (document.readyState !== 'loading' && ({cond})) {{ resolve(true); return true; }} }} catch (e) {{}} return false; }}\
           if (check()) return;\
           var o = new MutationObserver(function(){{ if (check()) o.disconnect(); }});\
           o.observe(document, {{subtree:true, childList:true, characterData:true, attributes:true}});\
           document.addEventListener('readystatechange', function(){{ if (check()) o.disconnect(); }});\
         }})"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_progress_bar_advances_without_a_reload_and_the_run_then_shows_in_recent_runs() {
    let h = Harness::start().await;
    let (url, _stop) = serve_dashboard(h.service.clone()).await;
    let (launcher, b) = browser().await;
    let ctx = context(&launcher, &b, "operator").await;
    let page = signed_in(&b, &ctx, &url, OPERATOR).await;
    // The live stream is open before the sync starts; a marker shows the page never reloads.
    let _: bool = eval(
        &page,
        "new Promise(function(r){ window.marker = 42; var es = window.blackantEvents;\
           if (es.readyState === 1) r(true); else es.addEventListener('open', function(){ r(true); }); })",
    )
    .await;

    let mut events = h.service.subscribe();
    let ack = customers_of(&h.service, "agent1").await;
    let bar = "document.getElementById('p-customers-agent1')";
    let _: bool = eval(&page, &when(&format!("{bar}.value >= 2"))).await;
    let first: f64 = eval(&page, &format!("{bar}.value")).await;
    let _: bool = eval(&page, &when(&format!("{bar}.value > {first}"))).await;
    let shown = text(&page, "#t-customers-agent1").await;
    assert!(shown.starts_with("page "), "{shown}");
    assert!(shown.contains("5700 records"), "{shown}");

    let end = wait_end(&mut events, ack.run_id).await;
    assert!(matches!(
        end.body,
        blackant_actors::events::EventBody::Completed { .. }
    ));
    let row = format!("run-{}", ack.run_id.0);
    let _: bool = eval(&page, &when(&format!("document.getElementById('{row}')"))).await;
    let cells: Vec<String> = eval(
        &page,
        &format!(
            "Array.from(document.getElementById('{row}').cells).map(function(c){{ return c.textContent; }})"
        ),
    )
    .await;
    assert_eq!(cells[1], "customers");
    assert_eq!(cells[2], "agent1");
    assert_eq!(cells[5], "completed", "{cells:?}");
    assert_eq!(cells[8], "5700", "inserted: {cells:?}");
    let marker: i64 = eval(&page, "window.marker").await;
    assert_eq!(marker, 42, "the page was not reloaded");
    launcher.close(Arc::new(b)).await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_and_a_pause_from_the_page_act_and_without_the_operator_token_nothing_does() {
    let h = Harness::start().await;
    let (url, _stop) = serve_dashboard(h.service.clone()).await;
    let (launcher, b) = browser().await;

    // Without a token: the login form, nothing private, every action refused.
    let stranger = context(&launcher, &b, "stranger").await;
    let page = b
        .new_page(&stranger, &format!("{url}/dashboard"))
        .await
        .expect("page");
    page.wait_for_navigation().await.expect("loaded");
    let html = page.content().await.expect("html");
    assert!(html.contains("name=\"token\""), "a login form: {html}");
    for private in ["CustomerSync", "agent1", "Placements", "Schedules"] {
        assert!(!html.contains(private), "{private} shown without a token");
    }
    let http = reqwest::Client::new();
    let restarts_before = restarts(&h.service, "CustomerSync").await;
    for token in [None, Some(AGENT), Some("not-a-token")] {
        let mut post = http
            .post(format!("{url}/dashboard/action"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("op=restart&actor=CustomerSync&confirmed=yes");
        let mut events = http.get(format!("{url}/dashboard/events"));
        let mut part = http.get(format!("{url}/dashboard/part/actors"));
        if let Some(t) = token {
            post = post.bearer_auth(t);
            events = events.bearer_auth(t);
            part = part.bearer_auth(t);
        }
        for (what, req) in [("action", post), ("events", events), ("part", part)] {
            let resp = req.send().await.expect("answer");
            assert_eq!(resp.status(), 401, "{what} with {token:?}");
            let body = resp.text().await.unwrap_or_default();
            assert!(!body.contains("CustomerSync"), "{what}: {body}");
        }
    }
    assert_eq!(restarts(&h.service, "CustomerSync").await, restarts_before);
    assert!(!h.service.pause_metrics().await.expect("metrics").paused);

    // An operator restarts CustomerSync: asked to confirm, then the tree shows one more restart.
    let ctx = context(&launcher, &b, "operator").await;
    let page = signed_in(&b, &ctx, &url, OPERATOR).await;
    let shown: u32 = text(&page, "#actor-CustomerSync .restarts")
        .await
        .parse()
        .expect("a count");
    assert_eq!(shown, restarts_before);
    click_and_load(
        &page,
        "#actor-CustomerSync button[data-op=restart]",
        "document.getElementById('confirm')",
    )
    .await;
    let ask = page.content().await.expect("html");
    assert!(ask.contains("restart actor CustomerSync"), "{ask}");
    assert_eq!(
        restarts(&h.service, "CustomerSync").await,
        restarts_before,
        "nothing happens before the confirmation"
    );
    click_and_load(
        &page,
        "#confirm",
        "document.getElementById('actor-CustomerSync')",
    )
    .await;
    assert_eq!(
        restarts(&h.service, "CustomerSync").await,
        restarts_before + 1
    );
    let shown: u32 = text(&page, "#actor-CustomerSync .restarts")
        .await
        .parse()
        .expect("a count");
    assert_eq!(shown, restarts_before + 1, "the page shows the new count");

    // Pause every sync, then resume, from the page.
    click_and_load(
        &page,
        "button[data-op=pause]",
        "document.getElementById('confirm')",
    )
    .await;
    click_and_load(
        &page,
        "#confirm",
        "document.getElementById('pause-state').textContent == 'paused'",
    )
    .await;
    assert_eq!(text(&page, "#pause-state").await, "paused");
    assert!(h.service.pause_metrics().await.expect("metrics").paused);
    let queued = customers_of(&h.service, "agent2").await;
    let status = h.service.status().await;
    let customers = status
        .iter()
        .find(|(k, _)| *k == blackant::records::Kind::Customers)
        .and_then(|(_, s)| s.as_ref().ok())
        .expect("customer sync status");
    let run = customers
        .scopes
        .iter()
        .find(|s| s.run_id == Some(queued.run_id))
        .expect("the run");
    assert_eq!(
        run.state,
        blackant_actors::sync::RunState::Queued,
        "a run asked for during the pause waits"
    );
    click_and_load(
        &page,
        "button[data-op=resume]",
        "document.getElementById('confirm')",
    )
    .await;
    click_and_load(
        &page,
        "#confirm",
        "document.getElementById('pause-state').textContent == 'running'",
    )
    .await;
    assert_eq!(text(&page, "#pause-state").await, "running");
    assert!(!h.service.pause_metrics().await.expect("metrics").paused);

    launcher.close(Arc::new(b)).await;
    h.shutdown().await;
}

async fn restarts(service: &Service, actor: &str) -> u32 {
    service
        .actors()
        .await
        .expect("actors")
        .into_iter()
        .find(|a| a.name == actor)
        .map(|a| a.restarts)
        .expect("the actor")
}

/// Ask for a full customer sync of `agent`.
async fn customers_of(service: &Service, agent: &str) -> blackant_actors::sync::RequestAck {
    service
        .request_sync(
            blackant::records::Kind::Customers,
            Scope::Agent(agent.into()),
            Mode::Full,
            Trigger::Manual,
        )
        .await
        .expect("a run")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_announces_the_dashboard_and_refuses_it_off_loopback_without_an_operator_token() {
    use crate::util::process::{serve_refused, serve_with};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // As `make run` starts it.
    let (serve, _, _) = serve_with(&["--sim"], &data, &[("BLACKANT_HTTP_DASHBOARD", "true")]);
    let announced = loop {
        let line = serve
            .1
            .recv_timeout(PATIENCE)
            .expect("serve announces its ports");
        if let Some(url) = line.strip_prefix("dashboard at ") {
            break url.to_string();
        }
    };
    let page = reqwest::get(&announced).await.expect("GET the dashboard");
    assert_eq!(page.status(), 200, "{announced}");
    assert!(page.text().await.unwrap_or_default().contains("id=syncs"));
    drop(serve);

    // Open to anyone (no token configured) and on every interface: refused at start.
    let (status, err) =
        serve_refused("0.0.0.0:0", &data, &[("BLACKANT_HTTP_DASHBOARD", "true")]).await;
    assert!(!status.success());
    assert!(err.contains("needs an operator token"), "{err}");
}
