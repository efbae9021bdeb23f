//! `blackant ctl deletions [list | release | discard]`: the deletions a complete export held for
//! an operator (it would have marked more of a table deleted than `[deletes]` allows). `list`
//! shows every held set with the run that held it; `release KIND` marks its rows deleted,
//! `discard KIND` keeps them all. Glue over AdminService only: it decides nothing itself.

use super::ctl_admin::kind_name;
use super::rpc::{authed, rpc_error};
use anyhow::Result;
use blackant::grpc::pb;
use blackant::records::Kind;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use tonic::transport::Channel;

#[derive(Debug, Subcommand)]
pub enum DeletionsCommand {
    /// Every held set: kind, agent, the run that held it, how many rows and why.
    List,
    /// Mark the held rows deleted (those still live).
    Release(DecideArgs),
    /// Keep every held row; the next complete export judges again.
    Discard(DecideArgs),
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// customers, products, prices, orders, ddt, invoices.
    kind: Kind,
    /// The agent, for per-agent kinds.
    #[arg(long, default_value = "")]
    agent: String,
    /// The run that held the set as `list` showed it: refused if another run has recomputed the
    /// set since (0 or absent: whichever run holds it now).
    #[arg(long, default_value_t = 0)]
    run: i64,
}

const HEADER: &str = "KIND       AGENT        RUN     ROWS  HELD_AT               REASON";

pub async fn run(
    channel: Channel,
    token: &Option<String>,
    json: bool,
    command: Option<DeletionsCommand>,
) -> Result<()> {
    let mut client = pb::admin_service_client::AdminServiceClient::new(channel);
    let (release, a) = match command.unwrap_or(DeletionsCommand::List) {
        DeletionsCommand::List => {
            let held = client
                .list_held_deletions(authed(token, pb::ListHeldDeletionsRequest {})?)
                .await
                .map_err(|s| rpc_error(&s))?
                .into_inner()
                .held;
            if json {
                for h in &held {
                    println!("{}", held_json(h));
                }
            } else if held.is_empty() {
                println!("no deletions held");
            } else {
                println!("{HEADER}");
                for h in &held {
                    print_held(h);
                }
            }
            return Ok(());
        }
        DeletionsCommand::Release(a) => (true, a),
        DeletionsCommand::Discard(a) => (false, a),
    };
    let req = authed(
        token,
        pb::HeldDeletionsRequest {
            kind: blackant::grpc::kind_to_proto(a.kind) as i32,
            user: a.agent,
            run_id: a.run,
        },
    )?;
    let resp = if release {
        client.release_held_deletions(req).await
    } else {
        client.discard_held_deletions(req).await
    }
    .map_err(|s| rpc_error(&s))?
    .into_inner();
    let held = resp.held.unwrap_or_default();
    if json {
        println!(
            "{}",
            json!({"decision": if release { "release" } else { "discard" },
                   "held": held_json(&held), "deleted": resp.deleted})
        );
    } else if release {
        println!(
            "released: {} of {} held rows of {} marked deleted (run {})",
            resp.deleted,
            held.count,
            scope_name(&held),
            held.run_id
        );
    } else {
        println!(
            "discarded: the {} held rows of {} stay (run {})",
            held.count,
            scope_name(&held),
            held.run_id
        );
    }
    Ok(())
}

fn scope_name(h: &pb::HeldDeletions) -> String {
    if h.user.is_empty() {
        kind_name(h.kind)
    } else {
        format!("{} of {}", kind_name(h.kind), h.user)
    }
}

fn held_at(h: &pb::HeldDeletions) -> String {
    h.held_at
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}

fn held_json(h: &pb::HeldDeletions) -> Value {
    json!({
        "kind": kind_name(h.kind),
        "agent": h.user,
        "run_id": h.run_id,
        "rows": h.count,
        "held_at": held_at(h),
        "reason": h.reason,
    })
}

fn print_held(h: &pb::HeldDeletions) {
    println!(
        "{:<10} {:<12} {:>5} {:>8}  {:<20}  {}",
        kind_name(h.kind),
        if h.user.is_empty() { "-" } else { &h.user },
        h.run_id,
        h.count,
        held_at(h),
        h.reason
    );
}
