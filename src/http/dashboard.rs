//! The operators' dashboard: one server-rendered page at `/dashboard` showing the actor tree,
//! every kind × agent with a live progress bar, the queue of due runs, recent runs
//! (filterable), placements (those needing attention first), the pause state and the
//! schedules — updated without reloading from the event bus (server-sent events at
//! `/dashboard/events`, a few lines of inline script; the static page works without it). Its
//! actions (sync now, restart / stop / start an actor, pause / resume, schedule changes,
//! resolving a placement) are POSTed to `/dashboard/action`, confirmed on a page of their
//! own, carried out by the same `Service` operations the gRPC RPCs call, and logged with who
//! did them.
//!
//! Owns the HTML, the dashboard's login (an operator token, in a cookie or an `Authorization:
//! Bearer` header) and the encoding of events for the page. Must NOT read SQLite, keep state
//! between requests, or implement an operation itself.

use crate::erp::EvidenceStore;
use crate::grpc::{AuthConfig, Principal};
use crate::records::Kind;
use crate::service::{ActorOperation, Resolution, ScopeState, Service, StatusRow};
use crate::store::ledger::{RunFilter, RunRow};
use crate::store::scope_text;
use crate::store::tables::HeldDecision;
use axum::Router;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use blackant_actors::events::EventBody;
use blackant_actors::order_placer::{Placement, PlacementFilter, PlacementState};
use blackant_actors::run::{Mode, RunId, Scope, Trigger};
use blackant_actors::scheduler::SchedulePatch;
use futures::StreamExt;
use sha2::{Digest, Sha256};

use std::convert::Infallible;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The cookie holding the operator's token after the login form.
const COOKIE: &str = "blackant_dashboard";
/// Recent runs shown.
const RUNS_SHOWN: u32 = 50;
/// Placements shown.
const PLACEMENTS_SHOWN: u32 = 100;

#[derive(Clone)]
struct Dash {
    service: Arc<Service>,
    auth: AuthConfig,
}

/// The dashboard's routes, to merge into the HTTP port's router.
pub fn routes(service: Arc<Service>, auth: AuthConfig) -> Router {
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/part/{section}", get(part))
        .route("/dashboard/events", get(events))
        .route("/dashboard/login", post(login))
        .route("/dashboard/logout", post(logout))
        .route("/dashboard/action", post(action))
        .route("/dashboard/evidence/{id}/", get(evidence_index))
        .route("/dashboard/evidence/{id}/{file}", get(evidence_file))
        .with_state(Dash { service, auth })
}

/// Who is at the page: an operator (the token's fingerprint, or none when the service has no
/// tokens) from an address.
struct Caller {
    fingerprint: Option<String>,
    peer: Option<SocketAddr>,
}

impl std::fmt::Display for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.fingerprint {
            Some(fp) => write!(f, "operator token {fp}")?,
            None => f.write_str("operator (no tokens configured)")?,
        }
        if let Some(peer) = self.peer {
            write!(f, " from {peer}")?;
        }
        Ok(())
    }
}

/// The token presented: `Authorization: Bearer`, else the login cookie.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
            .map(|t| t.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// The operator behind a request, or `None` (no token, an unknown one, or not an operator's).
fn caller(dash: &Dash, parts: &Parts) -> Option<Caller> {
    let token = presented_token(&parts.headers);
    match dash.auth.principal_for(token.as_deref())? {
        Principal::Operator => Some(Caller {
            fingerprint: token
                .filter(|_| !dash.auth.is_open())
                .map(|t| blackant_actors::digest::hex(&Sha256::digest(t.trim().as_bytes())[..4])),
            peer: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        }),
        Principal::Service | Principal::Agent(_) => None,
    }
}

/// A POST from another site (a page the operator happens to have open) is refused: the
/// browser names the page's origin, which must be this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
}

fn refused() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Html(shell(
            "blackant — sign in",
            &login_form("An operator token is required."),
        )),
    )
        .into_response()
}

// ---- pages ------------------------------------------------------------------------------

#[derive(Debug, Default, serde::Deserialize)]
struct PageQuery {
    kind: Option<String>,
    agent: Option<String>,
    outcome: Option<String>,
    done: Option<String>,
    error: Option<String>,
}

async fn page(State(dash): State<Dash>, parts: Parts, Query(q): Query<PageQuery>) -> Response {
    if caller(&dash, &parts).is_none() {
        let status = if presented_token(&parts.headers).is_some() {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        let note = if status == StatusCode::OK {
            "Sign in with an operator token."
        } else {
            "That token is not an operator's."
        };
        return (status, Html(shell("blackant — sign in", &login_form(note)))).into_response();
    }
    let mut body = String::new();
    let _ = write!(
        body,
        "<header><h1>blackant-sync</h1><form method=post action=/dashboard/logout>\
         <button>Sign out</button></form></header>"
    );
    if let Some(done) = &q.done {
        let _ = write!(body, "<p class=flash>{}</p>", esc(done));
    }
    if let Some(error) = &q.error {
        let _ = write!(body, "<p class='flash bad'>{}</p>", esc(error));
    }
    for section in SECTIONS {
        body.push_str(&render(&dash, section, &q).await);
    }
    body.push_str(SCRIPT);
    Html(shell("blackant — dashboard", &body)).into_response()
}

const SECTIONS: [&str; 8] = [
    "pause",
    "syncs",
    "held",
    "queue",
    "placements",
    "runs",
    "actors",
    "schedules",
];

async fn part(
    State(dash): State<Dash>,
    Path(section): Path<String>,
    parts: Parts,
    Query(q): Query<PageQuery>,
) -> Response {
    if caller(&dash, &parts).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if !SECTIONS.contains(&section.as_str()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    Html(render(&dash, &section, &q).await).into_response()
}

async fn render(dash: &Dash, section: &str, q: &PageQuery) -> String {
    let s = &dash.service;
    let inner = match section {
        "pause" => pause_section(s).await,
        "syncs" => syncs_section(s).await,
        "held" => held_section(s).await,
        "queue" => queue_section(s).await,
        "placements" => placements_section(s).await,
        "runs" => runs_section(s, q).await,
        "actors" => actors_section(s).await,
        _ => schedules_section(s).await,
    };
    format!("<section id={section}>{inner}</section>")
}

async fn pause_section(s: &Service) -> String {
    let mut out = String::from("<h2>Pause</h2>");
    match s.pause_metrics().await {
        Ok(m) => {
            let (state, op, label) = if m.paused {
                ("paused", "resume", "Resume syncs")
            } else {
                ("running", "pause", "Pause every sync")
            };
            let _ = write!(
                out,
                "<p>Syncs are <b id=pause-state>{state}</b>{}. {}</p>\
                 <p class=small>{} pauses since start; wait p50 {} · p95 {} · max {}{}{}</p>",
                if m.waiting > 0 {
                    format!(" ({} more pauses waiting)", m.waiting)
                } else {
                    String::new()
                },
                button(op, &[], label),
                m.pauses,
                dur(m.wait_p50),
                dur(m.wait_p95),
                dur(m.wait_max),
                m.slowest
                    .map(|n| format!("; slowest to stop: {}", esc(&n)))
                    .unwrap_or_default(),
                if m.timeouts.is_empty() {
                    String::new()
                } else {
                    let t: Vec<String> = m
                        .timeouts
                        .iter()
                        .map(|(n, c)| format!("{} ×{c}", esc(n)))
                        .collect();
                    format!("; timed out: {}", t.join(", "))
                }
            );
        }
        Err(e) => {
            let _ = write!(out, "<p class=bad>{}</p>", esc(&e.to_string()));
        }
    }
    out
}

fn scope_label(scope: &Scope) -> &str {
    match scope {
        Scope::Catalogue => "catalogue",
        Scope::Agent(a) => a,
    }
}

fn state_name(row: &StatusRow) -> String {
    match &row.state {
        ScopeState::Run(state) => format!("{state:?}").to_lowercase(),
        ScopeState::Down => "actor down".into(),
    }
}

async fn syncs_section(s: &Service) -> String {
    let mut out = String::from(
        "<h2>Syncs</h2><table><tr><th>kind</th><th>agent</th><th>state</th><th>progress</th>\
         <th>last success</th><th>next run</th><th>breaker</th><th>last error</th><th></th></tr>",
    );
    let rows = match s.status_report(&|_, _| true).await {
        Ok(rows) => rows,
        Err(e) => return format!("<h2>Syncs</h2><p class=bad>{}</p>", esc(&e.to_string())),
    };
    for row in rows {
        let scope = scope_label(&row.scope);
        let id = format!("{}-{}", row.kind.name(), scope);
        let (page, pages, items) = row
            .progress
            .map(|p| (p.page, p.pages, p.items))
            .unwrap_or_default();
        let last = row
            .last_counts
            .map(|c| {
                format!(
                    " (last: +{} ~{} ={} −{})",
                    c.inserted, c.updated, c.unchanged, c.deleted
                )
            })
            .unwrap_or_default();
        let _ = write!(
            out,
            "<tr><td>{kind}</td><td>{scope_h}</td><td id=s-{id}>{state}</td>\
             <td><progress id=p-{id} value={page} max={max}></progress> \
             <span id=t-{id} class=small>{text}</span></td>\
             <td>{ago}<span class=small>{last}</span></td><td>{next}</td><td>{breaker}</td>\
             <td class=err>{error}</td><td>{button}</td></tr>",
            kind = row.kind.name(),
            scope_h = esc(scope),
            state = state_name(&row),
            max = pages.max(1),
            text = progress_text(page, pages, items),
            ago = row.last_success.map(ago).unwrap_or_else(|| "never".into()),
            next = row.next_run.map(until).unwrap_or_else(|| "—".into()),
            breaker = format!("{:?}", row.breaker).to_lowercase(),
            error = esc(row.last_error.as_deref().unwrap_or("")),
            button = button(
                "sync",
                &[("kind", row.kind.name()), ("scope", scope_text(&row.scope))],
                "Sync now"
            ),
        );
    }
    out.push_str("</table>");
    out
}

/// Deletions a complete export held for an operator, each with Release and Discard.
async fn held_section(s: &Service) -> String {
    let mut out = String::from("<h2>Held deletions</h2>");
    let held = match s.held_deletions().await {
        Ok(h) => h,
        Err(e) => return format!("{out}<p class=bad>{}</p>", esc(&e.to_string())),
    };
    if held.is_empty() {
        out.push_str("<p>None held.</p>");
        return out;
    }
    out.push_str(
        "<table><tr><th>kind</th><th>scope</th><th>rows</th><th>run</th><th>held</th>\
         <th>why</th><th></th></tr>",
    );
    for h in &held {
        let scope = scope_text(&h.scope);
        let run = h.run_id.0.to_string();
        let fields = [
            ("kind", h.kind.name()),
            ("scope", scope),
            ("run", run.as_str()),
        ];
        let _ = write!(
            out,
            "<tr class=attn id='held-{kind}-{scope_id}'><td>{kind}</td><td>{label}</td>\
             <td class=count>{count}</td><td>{run}</td><td>{at}</td><td>{reason}</td>\
             <td>{release} {discard}</td></tr>",
            kind = h.kind.name(),
            scope_id = esc(scope),
            label = esc(scope_label(&h.scope)),
            count = h.count,
            at = esc(&h.held_at),
            reason = esc(&h.reason),
            release = button("release_held", &fields, "Release (delete them)"),
            discard = button("discard_held", &fields, "Discard (keep them)"),
        );
    }
    out.push_str("</table>");
    out
}

fn progress_text(page: usize, pages: usize, items: Option<u64>) -> String {
    if pages == 0 {
        return String::new();
    }
    match items {
        Some(n) => format!("page {page} / {pages} · {n} records"),
        None => format!("page {page} / {pages}"),
    }
}

async fn queue_section(s: &Service) -> String {
    let mut out = String::from("<h2>Queue</h2>");
    let mut views = s.schedules().await.unwrap_or_default();
    views.sort_by_key(|v| std::cmp::Reverse(v.schedule.priority));
    let mut due = Vec::new();
    for v in &views {
        for scope in &v.running {
            due.push(format!(
                "<li>{} {} — running (priority {})</li>",
                esc(&v.schedule.kind),
                esc(scope_label(scope)),
                v.schedule.priority
            ));
        }
        for scope in &v.queued {
            due.push(format!(
                "<li>{} {} — due, waiting for a browser (priority {})</li>",
                esc(&v.schedule.kind),
                esc(scope_label(scope)),
                v.schedule.priority
            ));
        }
    }
    if due.is_empty() {
        out.push_str("<p>Nothing due.</p>");
    } else {
        let _ = write!(out, "<ol>{}</ol>", due.join(""));
    }
    let mut next: Vec<(SystemTime, String)> = views
        .iter()
        .flat_map(|v| {
            v.next.iter().map(|(scope, at)| {
                (
                    *at,
                    format!("{} {}", esc(&v.schedule.kind), esc(scope_label(scope))),
                )
            })
        })
        .collect();
    next.sort();
    if !next.is_empty() {
        out.push_str("<p class=small>Next: ");
        let list: Vec<String> = next
            .iter()
            .take(8)
            .map(|(at, what)| format!("{what} {}", until(*at)))
            .collect();
        out.push_str(&list.join(" · "));
        out.push_str("</p>");
    }
    out
}

/// Placements needing an operator first, then those in doubt, then the rest, newest first.
fn attention(p: &Placement) -> u8 {
    match p.state {
        PlacementState::NeedsOperator => 0,
        PlacementState::InDoubt => 1,
        PlacementState::Accepted | PlacementState::Submitting => 2,
        _ => 3,
    }
}

async fn placements_section(s: &Service) -> String {
    let mut out = String::from("<h2>Placements</h2>");
    let mut list = match s
        .placements(PlacementFilter {
            limit: PLACEMENTS_SHOWN,
            ..Default::default()
        })
        .await
    {
        Ok(l) => l,
        Err(e) => return format!("{out}<p class=bad>{}</p>", esc(&e.to_string())),
    };
    if list.is_empty() {
        out.push_str("<p>None yet.</p>");
        return out;
    }
    list.sort_by_key(|p| (attention(p), std::cmp::Reverse(p.id)));
    out.push_str(
        "<table><tr><th>#</th><th>key</th><th>agent</th><th>state</th><th>attempts</th>\
         <th>order</th><th>why</th><th>updated</th></tr>",
    );
    for p in &list {
        let state = format!("{:?}", p.state).to_lowercase();
        let _ = write!(
            out,
            "<tr class={cls}><td>{id}</td><td>{key}</td><td>{agent}</td><td>{state}</td>\
             <td>{attempts}</td><td>{order}</td><td class=err>{reason}</td><td>{updated}</td></tr>",
            cls = if attention(p) < 2 { "attn" } else { "" },
            id = p.id,
            key = esc(&p.key),
            agent = esc(&p.agent),
            attempts = p.attempts,
            order = esc(p.order_number.as_deref().unwrap_or("")),
            reason = esc(p.reason.as_deref().unwrap_or("")),
            updated = ago(p.updated_at),
        );
        if attention(p) < 2 {
            let timeline = match s.placement(crate::service::PlacementRef::Id(p.id)).await {
                Ok(view) => view
                    .transitions
                    .iter()
                    .map(|t| format!("{} → {:?}: {}", ago(t.at), t.to, esc(&t.cause)))
                    .collect::<Vec<_>>()
                    .join("<br>"),
                Err(e) => esc(&e.to_string()),
            };
            let id = p.id.to_string();
            let resolve = if p.state == PlacementState::NeedsOperator {
                format!(
                    "<form method=post action=/dashboard/action class=inline>\
                     <input type=hidden name=op value=resolve_placed>\
                     <input type=hidden name=placement value={id}>\
                     <input name=order_number placeholder='order number' required>\
                     <button>Is this order</button></form> \
                     <form method=post action=/dashboard/action class=inline>\
                     <input type=hidden name=op value=resolve_failed>\
                     <input type=hidden name=placement value={id}>\
                     <input name=reason placeholder='why it failed' required>\
                     <button>Give up</button></form>"
                )
            } else {
                String::new()
            };
            let _ = write!(
                out,
                "<tr class=attn><td></td><td colspan=7 class=small>{timeline}{resolve}</td></tr>"
            );
        }
    }
    out.push_str("</table>");
    out
}

fn filter_value(v: &Option<String>) -> Option<String> {
    v.as_ref().filter(|s| !s.is_empty()).cloned()
}

async fn runs_section(s: &Service, q: &PageQuery) -> String {
    let filter = RunFilter {
        kind: filter_value(&q.kind),
        scope: filter_value(&q.agent).map(|a| if a == "catalogue" { String::new() } else { a }),
        state: filter_value(&q.outcome),
    };
    let mut out = String::from("<h2>Recent runs</h2><form method=get action=/dashboard>");
    let select = |name: &str, options: &[&str], current: &Option<String>| {
        let mut html = format!("<select name={name}><option value=''>any {name}</option>");
        for o in options {
            let selected = if current.as_deref() == Some(*o) {
                " selected"
            } else {
                ""
            };
            let _ = write!(html, "<option{selected}>{}</option>", esc(o));
        }
        html.push_str("</select> ");
        html
    };
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    let mut agents: Vec<String> = vec!["catalogue".into()];
    agents.extend(s.agents());
    let agent_refs: Vec<&str> = agents.iter().map(String::as_str).collect();
    out.push_str(&select("kind", &kinds, &q.kind));
    out.push_str(&select("agent", &agent_refs, &q.agent));
    out.push_str(&select(
        "outcome",
        &["open", "completed", "failed", "skipped"],
        &q.outcome,
    ));
    out.push_str("<button>Filter</button></form>");
    let runs = match s.recent_runs(filter, RUNS_SHOWN).await {
        Ok(r) => r,
        Err(e) => return format!("{out}<p class=bad>{}</p>", esc(&e.to_string())),
    };
    out.push_str(
        "<table><tr><th>run</th><th>kind</th><th>agent</th><th>trigger</th><th>mode</th>\
         <th>outcome</th><th>queued</th><th>took</th><th>+ins</th><th>~upd</th><th>=same</th>\
         <th>−del</th><th>error</th><th>notes</th></tr>",
    );
    for r in &runs {
        out.push_str(&run_row(r));
    }
    out.push_str("</table>");
    out
}

fn run_row(r: &RunRow) -> String {
    let n = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    format!(
        "<tr id=run-{id} class={state}><td>{id}</td><td>{kind}</td><td>{scope}</td><td>{trigger}</td>\
         <td>{mode}</td><td>{state}</td><td>{queued}</td><td>{took}</td><td>{i}</td><td>{u}</td>\
         <td>{c}</td><td>{d}</td><td class=err>{error}</td><td class='small notes'>{notes}</td></tr>",
        id = r.id,
        kind = esc(&r.kind),
        scope = esc(if r.scope.is_empty() {
            "catalogue"
        } else {
            &r.scope
        }),
        trigger = esc(&r.trigger),
        mode = esc(&r.mode),
        state = esc(&r.state),
        queued = esc(r.queued_at.get(11..19).unwrap_or(&r.queued_at)),
        took = r
            .duration_ms
            .map(|ms| dur(Duration::from_millis(ms.max(0) as u64)))
            .unwrap_or_default(),
        i = n(r.inserted),
        u = n(r.updated),
        c = n(r.unchanged),
        d = n(r.deleted),
        error = esc(r.error.as_deref().unwrap_or("")),
        notes = run_notes(r),
    )
}

/// What a run noticed besides its counts: deletions held, unknown columns, evidence kept.
fn run_notes(r: &RunRow) -> String {
    let mut notes = Vec::new();
    if let Some(n) = r.held_deletions.filter(|n| *n > 0) {
        notes.push(format!(
            "<span class=held>{n} deletions held: {}</span>",
            esc(r.held_reason.as_deref().unwrap_or(""))
        ));
    }
    if !r.unknown_columns.is_empty() {
        notes.push(format!(
            "unknown columns ignored: {}",
            esc(&r.unknown_columns.join(", "))
        ));
    }
    if let Some(id) = r.evidence.as_deref() {
        notes.push(format!(
            "<a class=evidence href='/dashboard/evidence/{id}/'>evidence of the page</a>",
            id = esc(id)
        ));
    }
    notes.join("<br>")
}

async fn actors_section(s: &Service) -> String {
    let mut out = String::from(
        "<h2>Actors</h2><table><tr><th>actor</th><th>state</th><th>restarts</th>\
         <th>up since</th><th>last failure</th><th>children</th><th></th></tr>",
    );
    let actors = match s.actors().await {
        Ok(a) => a,
        Err(e) => return format!("<h2>Actors</h2><p class=bad>{}</p>", esc(&e.to_string())),
    };
    for a in actors {
        let name = a.name.as_str();
        let children: Vec<String> = a.children.iter().map(|c| esc(&c.name)).collect();
        let _ = write!(
            out,
            "<tr id='actor-{id}'><td>{n}</td><td class=state>{state}</td><td class=restarts>{restarts}</td>\
             <td>{since}</td><td class=err>{failure}</td><td class=small>{children}</td>\
             <td>{restart} {stop} {start}</td></tr>",
            id = esc(name),
            n = esc(name),
            state = format!("{:?}", a.state).to_lowercase(),
            restarts = a.restarts,
            since = a.started_at.map(ago).unwrap_or_else(|| "down".into()),
            failure = esc(a.last_failure.as_deref().unwrap_or("")),
            children = children.join(", "),
            restart = button("restart", &[("actor", name)], "Restart"),
            stop = button("stop", &[("actor", name)], "Stop"),
            start = button("start", &[("actor", name)], "Start"),
        );
    }
    out.push_str("</table>");
    out
}

async fn schedules_section(s: &Service) -> String {
    let mut out = String::from("<h2>Schedules</h2>");
    let views = match s.schedules().await {
        Ok(v) => v,
        Err(e) => {
            return format!(
                "{out}<p>The Scheduler does not answer: {}</p>",
                esc(&e.to_string())
            );
        }
    };
    out.push_str(
        "<table><tr><th>kind</th><th>every</th><th>stagger</th><th>jitter</th>\
         <th>priority</th><th>enabled</th><th></th></tr>",
    );
    for v in views {
        let k = &v.schedule;
        let kind = k.kind.as_str();
        let toggle = if k.enabled {
            button("disable", &[("kind", kind)], "Disable")
        } else {
            button("enable", &[("kind", kind)], "Enable")
        };
        let _ = write!(
            out,
            "<tr><td>{kind_h}</td><td>{every}</td><td>{stagger}</td><td>{jitter}</td>\
             <td>{priority}</td><td>{enabled}</td><td>{toggle} \
             <form method=post action=/dashboard/action class=inline>\
             <input type=hidden name=op value=interval><input type=hidden name=kind value={kind_h}>\
             <input name=interval_secs type=number min=1 size=6 value={secs}> s \
             <button>Change interval</button></form></td></tr>",
            kind_h = esc(kind),
            every = dur(k.interval),
            stagger = dur(k.stagger),
            jitter = dur(k.jitter),
            priority = k.priority,
            enabled = if k.enabled { "yes" } else { "no" },
            secs = k.interval.as_secs(),
        );
    }
    out.push_str("</table>");
    out
}

// ---- live updates -----------------------------------------------------------------------

async fn events(State(dash): State<Dash>, parts: Parts) -> Response {
    if caller(&dash, &parts).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let syncs = futures::stream::unfold(dash.service.subscribe(), |mut sub| async move {
        let event = match sub.recv().await {
            Ok(e) => sync_event(&e),
            Err(blackant_actors::events::EventError::Lagged { .. }) => {
                Event::default().event("lagged").data("{}")
            }
            Err(blackant_actors::events::EventError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(event), sub))
    });
    let placements =
        futures::stream::unfold(dash.service.subscribe_placements(), |mut sub| async move {
            let event = match sub.recv().await {
                Ok(e) => Event::default().event("placement").data(
                    serde_json::json!({
                        "id": e.placement.id,
                        "state": format!("{:?}", e.placement.state).to_lowercase(),
                    })
                    .to_string(),
                ),
                Err(blackant_actors::events::EventError::Lagged { .. }) => {
                    Event::default().event("lagged").data("{}")
                }
                Err(blackant_actors::events::EventError::Closed) => return None,
            };
            Some((Ok::<_, Infallible>(event), sub))
        });
    Sse::new(futures::stream::select(syncs, placements).boxed())
        .keep_alive(KeepAlive::default())
        .into_response()
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// One bus event for the page: `progress` (the bar's numbers) or `run` (anything else of a run).
fn sync_event(e: &blackant_actors::events::SyncEvent) -> Event {
    let mut data = serde_json::json!({
        "run": e.run_id.0,
        "kind": e.kind,
        "scope": scope_label(&e.scope),
        "at": millis(e.at),
    });
    let name = match &e.body {
        EventBody::Progress { page, pages, items } => {
            data["page"] = (*page).into();
            data["pages"] = (*pages).into();
            data["items"] = (*items).into();
            data["text"] = progress_text(*page, *pages, *items).into();
            "progress"
        }
        body => {
            data["state"] = event_state(body).into();
            data["ended"] = body.is_terminal().into();
            "run"
        }
    };
    Event::default().event(name).data(data.to_string())
}

fn event_state(body: &EventBody) -> &'static str {
    match body {
        EventBody::Queued { .. } => "queued",
        EventBody::Started { .. } | EventBody::Progress { .. } | EventBody::Resumed => "running",
        EventBody::Paused => "paused",
        EventBody::Retrying { .. } => "retrywait",
        EventBody::Completed { .. } => "idle",
        EventBody::Failed { .. } => "failed",
    }
}

// ---- login and actions ------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct LoginForm {
    token: String,
}

async fn login(State(dash): State<Dash>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    if !same_origin(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let token = f.token.trim();
    let ok = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_graphic())
        && matches!(
            dash.auth.principal_for(Some(token)),
            Some(Principal::Operator)
        );
    if !ok {
        tracing::warn!("dashboard sign-in refused: not an operator token");
        return (
            StatusCode::UNAUTHORIZED,
            Html(shell(
                "blackant — sign in",
                &login_form("That token is not an operator's."),
            )),
        )
            .into_response();
    }
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/dashboard"),
        )],
        Redirect::to("/dashboard"),
    )
        .into_response()
}

async fn logout(headers: HeaderMap) -> Response {
    if !same_origin(&headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    (
        [(
            header::SET_COOKIE,
            format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/dashboard; Max-Age=0"),
        )],
        Redirect::to("/dashboard"),
    )
        .into_response()
}

#[derive(Debug, Default, serde::Deserialize)]
struct ActionForm {
    op: String,
    kind: Option<String>,
    scope: Option<String>,
    actor: Option<String>,
    interval_secs: Option<u64>,
    placement: Option<i64>,
    /// The run a held set was shown with (release / discard refuse a set recomputed since).
    run: Option<i64>,
    order_number: Option<String>,
    reason: Option<String>,
    confirmed: Option<String>,
}

impl ActionForm {
    /// What the action will do, in words, for the confirmation page and the log.
    fn describe(&self) -> String {
        let kind = self.kind.as_deref().unwrap_or("?");
        let actor = self.actor.as_deref().unwrap_or("?");
        match self.op.as_str() {
            "sync" => match self.scope.as_deref().unwrap_or("") {
                "" => format!("sync {kind} (catalogue) now, in full"),
                agent => format!("sync {kind} of {agent} now, in full"),
            },
            "restart" => format!("restart actor {actor}"),
            "stop" => format!("stop actor {actor} (it stays down until started)"),
            "start" => format!("start actor {actor}"),
            "pause" => "pause every sync (until resumed)".into(),
            "resume" => "resume the syncs".into(),
            "enable" => format!("enable the {kind} schedule"),
            "disable" => format!("disable the {kind} schedule"),
            "interval" => format!(
                "run {kind} every {} s",
                self.interval_secs.unwrap_or_default()
            ),
            "release_held" => format!(
                "delete the rows {kind} holds for {} (run {})",
                held_scope(self.scope.as_deref()),
                self.run.unwrap_or_default()
            ),
            "discard_held" => format!(
                "keep every row {kind} holds for {} (run {})",
                held_scope(self.scope.as_deref()),
                self.run.unwrap_or_default()
            ),
            "resolve_placed" => format!(
                "record placement #{} as Archibald's order {}",
                self.placement.unwrap_or_default(),
                self.order_number.as_deref().unwrap_or("?")
            ),
            "resolve_failed" => format!(
                "give up placement #{}: {}",
                self.placement.unwrap_or_default(),
                self.reason.as_deref().unwrap_or("?")
            ),
            other => format!("unknown action {other:?}"),
        }
    }

    fn hidden_fields(&self) -> String {
        let mut out = String::new();
        let mut field = |name: &str, value: Option<String>| {
            if let Some(v) = value {
                let _ = write!(out, "<input type=hidden name={name} value='{}'>", esc(&v));
            }
        };
        field("op", Some(self.op.clone()));
        field("kind", self.kind.clone());
        field("scope", self.scope.clone());
        field("actor", self.actor.clone());
        field("interval_secs", self.interval_secs.map(|v| v.to_string()));
        field("placement", self.placement.map(|v| v.to_string()));
        field("run", self.run.map(|v| v.to_string()));
        field("order_number", self.order_number.clone());
        field("reason", self.reason.clone());
        out
    }
}

async fn action(State(dash): State<Dash>, parts: Parts, Form(f): Form<ActionForm>) -> Response {
    if !same_origin(&parts.headers) {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Some(who) = caller(&dash, &parts) else {
        tracing::warn!(op = %f.op, "dashboard action refused: no operator token");
        return refused();
    };
    let what = f.describe();
    if f.confirmed.as_deref() != Some("yes") {
        let body = format!(
            "<h1>Confirm</h1><p>You are about to <b>{}</b>.</p>\
             <form method=post action=/dashboard/action>{}\
             <input type=hidden name=confirmed value=yes>\
             <button id=confirm>Confirm</button> <a href=/dashboard>Cancel</a></form>",
            esc(&what),
            f.hidden_fields()
        );
        return Html(shell("blackant — confirm", &body)).into_response();
    }
    let outcome = perform(&dash.service, &f, &who).await;
    match &outcome {
        Ok(done) => tracing::info!(who = %who, action = %what, %done, "dashboard action"),
        Err(e) => tracing::warn!(who = %who, action = %what, error = %e, "dashboard action failed"),
    }
    let (key, msg) = match outcome {
        Ok(done) => ("done", done),
        Err(e) => ("error", format!("{what}: {e}")),
    };
    Redirect::to(&format!("/dashboard?{key}={}", url_encode(&msg))).into_response()
}

/// Carry the action out through the service's own operations.
async fn perform(s: &Service, f: &ActionForm, who: &Caller) -> Result<String, String> {
    let kind = || {
        f.kind
            .as_deref()
            .and_then(Kind::from_name)
            .ok_or_else(|| "no such kind".to_string())
    };
    let actor = || f.actor.clone().ok_or_else(|| "no actor named".to_string());
    let err = |e: crate::service::ServiceError| e.to_string();
    match f.op.as_str() {
        "sync" => {
            let kind = kind()?;
            let scope = s
                .scope_for(kind, f.scope.as_deref().unwrap_or(""))
                .map_err(err)?;
            let ack = s
                .request_sync(kind, scope, Mode::Full, Trigger::Operator)
                .await
                .map_err(err)?;
            Ok(format!(
                "{} run {} {}",
                kind.name(),
                ack.run_id.0,
                if ack.joined { "joined" } else { "started" }
            ))
        }
        op @ ("restart" | "stop" | "start") => {
            let name = actor()?;
            let operation = match op {
                "restart" => ActorOperation::Restart,
                "stop" => ActorOperation::Stop,
                _ => ActorOperation::Start,
            };
            let info = s.operate_actor(&name, operation).await.map_err(err)?;
            Ok(format!(
                "{name}: {:?}, {} restarts",
                info.state, info.restarts
            ))
        }
        "pause" => {
            let report = s.pause_syncs().await.map_err(err)?;
            Ok(format!(
                "every sync paused in {} ({} runs stopped at a page boundary)",
                dur(report.waited),
                report.acked.iter().map(|a| a.paused.len()).sum::<usize>()
            ))
        }
        "resume" => {
            s.resume_syncs().map_err(err)?;
            Ok("syncs resumed".into())
        }
        op @ ("enable" | "disable" | "interval") => {
            let kind = kind()?;
            let patch = match op {
                "enable" => SchedulePatch {
                    enabled: Some(true),
                    ..Default::default()
                },
                "disable" => SchedulePatch {
                    enabled: Some(false),
                    ..Default::default()
                },
                _ => SchedulePatch {
                    interval: Some(Duration::from_secs(
                        f.interval_secs.ok_or("no interval given")?,
                    )),
                    ..Default::default()
                },
            };
            let k = s.update_schedule(kind, patch).await.map_err(err)?;
            Ok(format!(
                "{}: every {}, {}",
                k.kind,
                dur(k.interval),
                if k.enabled { "enabled" } else { "disabled" }
            ))
        }
        op @ ("release_held" | "discard_held") => {
            let decision = if op == "release_held" {
                HeldDecision::Release
            } else {
                HeldDecision::Discard
            };
            let run = f.run.filter(|r| *r > 0).map(RunId);
            let out = s
                .decide_held(kind()?, f.scope.as_deref().unwrap_or(""), decision, run)
                .await
                .map_err(err)?;
            Ok(match decision {
                HeldDecision::Release => format!(
                    "{} of {}: {} of {} held rows marked deleted",
                    out.held.kind,
                    held_scope(f.scope.as_deref()),
                    out.deleted,
                    out.held.count
                ),
                HeldDecision::Discard => format!(
                    "{} of {}: the {} held rows stay",
                    out.held.kind,
                    held_scope(f.scope.as_deref()),
                    out.held.count
                ),
            })
        }
        op @ ("resolve_placed" | "resolve_failed") => {
            let id = f.placement.ok_or("no placement named")?;
            let resolution = if op == "resolve_placed" {
                Resolution::Placed {
                    order_number: f.order_number.clone().unwrap_or_default(),
                }
            } else {
                Resolution::Failed {
                    reason: f.reason.clone().unwrap_or_default(),
                }
            };
            let p = s
                .resolve_placement(id, resolution, &who.to_string())
                .await
                .map_err(err)?;
            Ok(format!("placement #{}: {:?}", p.id, p.state).to_lowercase())
        }
        other => Err(format!("unknown action {other:?}")),
    }
}

/// The evidence folder of the service's data folder (only read here).
fn evidence(dash: &Dash) -> EvidenceStore {
    EvidenceStore::new(
        dash.service.data().evidence_dir(),
        crate::erp::EvidenceBounds::default(),
    )
}

/// One kept snapshot of a changed ERP page: what was looked for, where, and its files.
async fn evidence_index(
    State(dash): State<Dash>,
    Path(id): Path<String>,
    parts: Parts,
) -> Response {
    if caller(&dash, &parts).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(meta) = evidence(&dash).meta(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let body = format!(
        "<h1>Evidence {id}</h1><p>Taken {at} at <code>{url}</code> (title “{title}”).</p>\
         <p>Looked for: <b>{looked}</b>, not found.</p>\
         <p><a href='{html}'>the page's HTML</a> ({hb} bytes, shown as text) · \
         <a href='{meta}'>meta.json</a></p><p><img alt=screenshot src='{png}' style='max-width:100%'></p>\
         <p><a href=/dashboard>back</a></p>",
        id = esc(&meta.id),
        at = esc(&meta.at),
        url = esc(&meta.url),
        title = esc(&meta.title),
        looked = esc(&meta.looked_for),
        hb = meta.html_bytes,
        html = crate::erp::evidence::HTML_FILE,
        meta = crate::erp::evidence::META_FILE,
        png = crate::erp::evidence::SCREENSHOT_FILE,
    );
    Html(shell("blackant — evidence", &body)).into_response()
}

/// A file of a snapshot, to operators only. The ERP's HTML is served as text in a sandbox: it
/// is a foreign page, and its scripts must never run with the dashboard's origin.
async fn evidence_file(
    State(dash): State<Dash>,
    Path((id, file)): Path<(String, String)>,
    parts: Parts,
) -> Response {
    if caller(&dash, &parts).is_none() {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(path) = evidence(&dash).file(&id, &file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let Ok(bytes) = tokio::fs::read(&path).await else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let kind = match file.as_str() {
        crate::erp::evidence::SCREENSHOT_FILE => "image/png",
        crate::erp::evidence::META_FILE => "application/json",
        _ => "text/plain; charset=utf-8",
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'",
            ),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        bytes,
    )
        .into_response()
}

/// The scope a held-deletions action names, in words.
fn held_scope(scope: Option<&str>) -> String {
    match scope.unwrap_or("") {
        "" => "the catalogue".into(),
        agent => agent.to_string(),
    }
}

// ---- HTML helpers -----------------------------------------------------------------------

/// Escape text for HTML content and quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn url_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A one-button form posting `op` with `fields` (to the confirmation page).
fn button(op: &str, fields: &[(&str, &str)], label: &str) -> String {
    let mut out = format!(
        "<form method=post action=/dashboard/action class=inline>\
         <input type=hidden name=op value={op}>"
    );
    for (name, value) in fields {
        let _ = write!(
            out,
            "<input type=hidden name={name} value='{}'>",
            esc(value)
        );
    }
    let _ = write!(out, "<button data-op={op}>{}</button></form>", esc(label));
    out
}

fn dur(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        format!("{ms} ms")
    } else if ms < 120_000 {
        format!("{:.1} s", d.as_secs_f64())
    } else if ms < 7_200_000 {
        format!("{} min", d.as_secs() / 60)
    } else {
        format!("{:.1} h", d.as_secs_f64() / 3600.0)
    }
}

fn ago(t: SystemTime) -> String {
    match SystemTime::now().duration_since(t) {
        Ok(d) => format!("{} ago", dur(d)),
        Err(_) => "just now".into(),
    }
}

fn until(t: SystemTime) -> String {
    match t.duration_since(SystemTime::now()) {
        Ok(d) => format!("in {}", dur(d)),
        Err(_) => "due".into(),
    }
}

fn login_form(note: &str) -> String {
    format!(
        "<h1>blackant-sync</h1><p>{}</p>\
         <form method=post action=/dashboard/login>\
         <input type=password name=token placeholder='operator token' autocomplete=off required> \
         <button>Sign in</button></form>",
        esc(note)
    )
}

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=en><head><meta charset=utf-8>\
         <meta name=viewport content='width=device-width,initial-scale=1'>\
         <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    )
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:8px;color:#222}\
header{display:flex;justify-content:space-between;align-items:center}h1{font-size:20px}\
h2{font-size:16px;margin:18px 0 6px;border-bottom:1px solid #ddd}\
section{overflow-x:auto}table{border-collapse:collapse;width:100%}\
td,th{padding:3px 6px;border-bottom:1px solid #eee;text-align:left;vertical-align:top}\
th{font-weight:600;background:#f6f6f6}.small{font-size:12px;color:#555}\
.err,.bad{color:#a00}.flash{background:#eef7ee;padding:6px}.flash.bad{background:#fbeaea}\
.attn{background:#fff6e0}tr.failed td{color:#a00}form.inline{display:inline}\
progress{width:110px}button{cursor:pointer}";

/// Live updates: progress bars and states in place; the other sections fetched again when a
/// run or a placement changes (at most every half second each).
const SCRIPT: &str = r#"<script>
(function(){
  var pending = {}, lat = window.blackantLatencies = [];
  function refresh(name){
    if (pending[name]) return;
    pending[name] = setTimeout(function(){
      fetch('/dashboard/part/' + name + location.search, {credentials:'same-origin'})
        .then(function(r){ return r.ok ? r.text() : null; })
        .then(function(h){ pending[name] = null; var el = document.getElementById(name);
          if (h && el) el.outerHTML = h; });
    }, 300);
  }
  var es = window.blackantEvents = new EventSource('/dashboard/events');
  es.addEventListener('progress', function(e){
    var d = JSON.parse(e.data), id = d.kind + '-' + d.scope;
    var bar = document.getElementById('p-' + id), t = document.getElementById('t-' + id);
    var s = document.getElementById('s-' + id);
    if (bar) { bar.max = d.pages; bar.value = d.page; }
    if (t) t.textContent = d.text;
    if (s) s.textContent = 'running';
    lat.push(Date.now() - d.at);
  });
  es.addEventListener('run', function(e){
    var d = JSON.parse(e.data), s = document.getElementById('s-' + d.kind + '-' + d.scope);
    if (s) s.textContent = d.state;
    refresh('queue');
    if (d.ended) { refresh('syncs'); refresh('held'); refresh('runs'); refresh('pause'); }
  });
  es.addEventListener('placement', function(){ refresh('placements'); });
  es.addEventListener('lagged', function(){
    ['pause','syncs','held','queue','placements','runs','actors'].forEach(refresh);
  });
})();
</script>"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_content_and_attributes() {
        assert_eq!(
            esc(r#"<b a='1' b="2">&"#),
            "&lt;b a=&#39;1&#39; b=&quot;2&quot;&gt;&amp;"
        );
    }

    #[test]
    fn a_post_from_another_site_is_not_same_origin() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "127.0.0.1:50052".parse().unwrap());
        assert!(same_origin(&h), "no Origin: a plain client");
        h.insert(header::ORIGIN, "http://127.0.0.1:50052".parse().unwrap());
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        assert!(!same_origin(&h));
    }

    #[test]
    fn the_token_comes_from_the_header_or_the_cookie() {
        let mut h = HeaderMap::new();
        assert_eq!(presented_token(&h), None);
        h.insert(
            header::COOKIE,
            "a=1; blackant_dashboard=tok; b=2".parse().unwrap(),
        );
        assert_eq!(presented_token(&h).as_deref(), Some("tok"));
        h.insert(header::AUTHORIZATION, "Bearer other".parse().unwrap());
        assert_eq!(presented_token(&h).as_deref(), Some("other"));
    }

    #[test]
    fn messages_survive_the_redirect() {
        assert_eq!(url_encode("a b&c/é"), "a+b%26c%2F%C3%A9");
    }
}
