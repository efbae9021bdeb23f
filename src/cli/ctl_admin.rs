//! `blackant ctl watch | actors | restart | stop | start | pause | resume | schedules |
//! schedule`: what an operator does from a terminal — every run live with progress bars, the
//! actor tree, actor operations, pausing every sync, reading and changing schedules. Tables
//! for people, JSON with `--json`. Glue over the public gRPC API only.

use super::progress::RunBars;
use super::rpc::{authed, rpc_error};
use anyhow::{Context, Result, bail};
use blackant::grpc::pb;
use blackant::records::Kind;
use clap::{Args, ValueEnum};
use serde_json::{Value, json};
use tonic::transport::Channel;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ActorOp {
    Restart,
    Stop,
    Start,
}

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// customers, products, prices, orders, ddt, invoices.
    kind: Kind,
    /// Run every this long: `90s`, `30m`, `4h`, `1d`.
    #[arg(long, value_parser = parse_duration)]
    interval: Option<prost_types::Duration>,
    /// Spread each agent's run over this long.
    #[arg(long, value_parser = parse_duration)]
    stagger: Option<prost_types::Duration>,
    /// Random extra delay, at most this long.
    #[arg(long, value_parser = parse_duration)]
    jitter: Option<prost_types::Duration>,
    /// Lower runs first when several are due.
    #[arg(long)]
    priority: Option<u32>,
    /// Run by schedule again.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Stop running by schedule (requests still run).
    #[arg(long)]
    disable: bool,
}

/// `90s`, `30m`, `4h`, `1d` (or plain seconds).
fn parse_duration(text: &str) -> Result<prost_types::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let n: i64 = number
        .parse()
        .map_err(|_| format!("{text:?}: a number then s, m, h or d"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{text:?}: the unit is s, m, h or d")),
    };
    Ok(prost_types::Duration { seconds, nanos: 0 })
}

fn secs(d: &Option<prost_types::Duration>) -> f64 {
    d.as_ref()
        .map(|d| d.seconds as f64 + d.nanos as f64 / 1e9)
        .unwrap_or(0.0)
}

fn lower(name: &str, prefix: &str) -> String {
    name.trim_start_matches(prefix).to_lowercase()
}

/// A proto kind as operators write it (`customers`).
pub(super) fn kind_name(kind: i32) -> String {
    pb::SyncKind::try_from(kind)
        .map(|k| lower(k.as_str_name(), "SYNC_KIND_"))
        .unwrap_or_default()
}

fn actor_json(a: &pb::Actor) -> Value {
    fn node(n: &pb::ActorNode) -> Value {
        json!({"name": n.name, "id": n.id, "children": n.children.iter().map(node).collect::<Vec<_>>()})
    }
    json!({
        "name": a.name,
        "state": pb::actor::State::try_from(a.state).map(|s| lower(s.as_str_name(), "STATE_")).unwrap_or_default(),
        "restarts": a.restarts,
        "last_failure": a.last_failure,
        "started_at": a.started_at.as_ref().map(|t| t.seconds),
        "actor_id": a.actor_id,
        "children": a.children.iter().map(node).collect::<Vec<_>>(),
    })
}

fn print_actor(a: &pb::Actor) {
    let v = actor_json(a);
    println!(
        "{:<28} {:<11} {:>8}  {}",
        a.name,
        v["state"].as_str().unwrap_or(""),
        a.restarts,
        a.last_failure
    );
    fn children(nodes: &[pb::ActorNode], depth: usize) {
        for n in nodes {
            println!("{}└ {}", "  ".repeat(depth), n.name);
            children(&n.children, depth + 1);
        }
    }
    children(&a.children, 1);
}

/// Every run of every kind and agent, live, until Ctrl-C or the service stops.
pub async fn watch(channel: Channel, token: &Option<String>, json: bool) -> Result<()> {
    let mut stream = pb::sync_service_client::SyncServiceClient::new(channel)
        .watch_sync_events(authed(token, pb::WatchSyncEventsRequest::default())?)
        .await
        .map_err(|s| rpc_error(&s))?
        .into_inner();
    let mut bars = RunBars::new();
    loop {
        let next = tokio::select! {
            next = stream.message() => next.map_err(|s| rpc_error(&s))?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let Some(e) = next else {
            eprintln!("the service ended the stream (shutting down)");
            return Ok(());
        };
        if json {
            println!(
                "{}",
                json!({"run_id": e.run_id, "kind": kind_name(e.kind), "agent": e.user, "event": format!("{:?}", e.event)})
            );
        } else {
            bars.show(&e);
        }
    }
}

pub async fn actors(channel: Channel, token: &Option<String>, json: bool) -> Result<()> {
    let actors = pb::admin_service_client::AdminServiceClient::new(channel)
        .list_actors(authed(token, pb::ListActorsRequest {})?)
        .await
        .map_err(|s| rpc_error(&s))?
        .into_inner()
        .actors;
    if json {
        for a in &actors {
            println!("{}", actor_json(a));
        }
        return Ok(());
    }
    println!(
        "{:<28} {:<11} {:>8}  LAST FAILURE",
        "ACTOR", "STATE", "RESTARTS"
    );
    for a in &actors {
        print_actor(a);
    }
    Ok(())
}

pub async fn operate(
    channel: Channel,
    token: &Option<String>,
    json: bool,
    op: ActorOp,
    name: String,
) -> Result<()> {
    let mut client = pb::admin_service_client::AdminServiceClient::new(channel);
    let req = authed(token, pb::ActorRequest { name })?;
    let resp = match op {
        ActorOp::Restart => client.restart_actor(req).await,
        ActorOp::Stop => client.stop_actor(req).await,
        ActorOp::Start => client.start_actor(req).await,
    }
    .map_err(|s| rpc_error(&s))?
    .into_inner();
    let actor = resp
        .actor
        .context("the service answered without the actor")?;
    if json {
        println!("{}", actor_json(&actor));
    } else {
        print_actor(&actor);
    }
    Ok(())
}

pub async fn pause(channel: Channel, token: &Option<String>, json: bool) -> Result<()> {
    let r = pb::priority_service_client::PriorityServiceClient::new(channel)
        .pause_syncs(authed(token, pb::PauseSyncsRequest {})?)
        .await
        .map_err(|s| rpc_error(&s))?
        .into_inner();
    if json {
        let acked: Vec<Value> = r
            .acked
            .iter()
            .map(|a| json!({"name": a.name, "waited_s": secs(&a.waited), "paused_runs": a.paused_runs}))
            .collect();
        println!(
            "{}",
            json!({"waited_s": secs(&r.waited), "acked": acked, "timed_out": r.timed_out})
        );
    } else {
        let runs: usize = r.acked.iter().map(|a| a.paused_runs.len()).sum();
        println!(
            "every sync paused in {:.1} ms ({runs} runs stopped at a page boundary); `blackant ctl resume` to go on",
            secs(&r.waited) * 1000.0
        );
    }
    if !r.timed_out.is_empty() {
        bail!("did not acknowledge in time: {}", r.timed_out.join(", "));
    }
    Ok(())
}

pub async fn resume(channel: Channel, token: &Option<String>, json: bool) -> Result<()> {
    pb::priority_service_client::PriorityServiceClient::new(channel)
        .resume_syncs(authed(token, pb::ResumeSyncsRequest {})?)
        .await
        .map_err(|s| rpc_error(&s))?;
    if json {
        println!("{}", json!({"resumed": true}));
    } else {
        println!("syncs resumed");
    }
    Ok(())
}

fn schedule_json(s: &pb::Schedule) -> Value {
    json!({
        "kind": kind_name(s.kind),
        "interval_s": secs(&s.interval),
        "stagger_s": secs(&s.stagger),
        "jitter_s": secs(&s.jitter),
        "priority": s.priority,
        "enabled": s.enabled,
        "after": s.after.iter().map(|k| kind_name(*k)).collect::<Vec<_>>(),
        "next": s.next.iter().map(|p| json!({"agent": p.user, "at": p.at.as_ref().map(|t| t.seconds)})).collect::<Vec<_>>(),
        "queued": s.queued,
        "running": s.running,
    })
}

fn print_schedule(s: &pb::Schedule) {
    println!(
        "{:<10} {:>9.0} {:>9.0} {:>8.0} {:>8} {:<8} {}",
        kind_name(s.kind),
        secs(&s.interval),
        secs(&s.stagger),
        secs(&s.jitter),
        s.priority,
        if s.enabled { "yes" } else { "no" },
        s.running.join(", ")
    );
}

const SCHEDULE_HEADER: &str = "KIND       INTERVAL_S STAGGER_S JITTER_S PRIORITY ENABLED  RUNNING";

pub async fn schedules(channel: Channel, token: &Option<String>, json: bool) -> Result<()> {
    let list = pb::scheduler_service_client::SchedulerServiceClient::new(channel)
        .get_schedules(authed(token, pb::GetSchedulesRequest {})?)
        .await
        .map_err(|s| rpc_error(&s))?
        .into_inner()
        .schedules;
    if json {
        for s in &list {
            println!("{}", schedule_json(s));
        }
        return Ok(());
    }
    println!("{SCHEDULE_HEADER}");
    for s in &list {
        print_schedule(s);
    }
    Ok(())
}

pub async fn schedule(
    channel: Channel,
    token: &Option<String>,
    json: bool,
    a: ScheduleArgs,
) -> Result<()> {
    let req = pb::UpdateScheduleRequest {
        kind: blackant::grpc::kind_to_proto(a.kind) as i32,
        interval: a.interval,
        stagger: a.stagger,
        jitter: a.jitter,
        priority: a.priority,
        enabled: if a.enable {
            Some(true)
        } else if a.disable {
            Some(false)
        } else {
            None
        },
    };
    let s = pb::scheduler_service_client::SchedulerServiceClient::new(channel)
        .update_schedule(authed(token, req)?)
        .await
        .map_err(|s| rpc_error(&s))?
        .into_inner();
    if json {
        println!("{}", schedule_json(&s));
    } else {
        println!("{SCHEDULE_HEADER}");
        print_schedule(&s);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_operators_write_them() {
        assert_eq!(parse_duration("90").unwrap().seconds, 90);
        assert_eq!(parse_duration("30m").unwrap().seconds, 1800);
        assert_eq!(parse_duration("4h").unwrap().seconds, 14_400);
        assert_eq!(parse_duration("1d").unwrap().seconds, 86_400);
        assert!(parse_duration("4 weeks").is_err());
        assert!(parse_duration("h").is_err());
    }
}
