//! `blackant ctl`: a gRPC client for operators — status of every sync, requesting a sync with a
//! live progress bar; in `ctl_admin` watching every run, the actor tree and its operations,
//! pauses and schedules; in `ctl_deletions` the deletions held for an operator; in `ctl_data` a look at the replicas; in `ctl_orders` placing and
//! following orders. Talks only to the public gRPC API (what any client could do). Errors are
//! one line naming the gRPC code; `--json` prints JSON for scripts.

use super::ctl_admin::{self, ActorOp, ScheduleArgs};
use super::ctl_data::{self, CustomersArgs, OrderArgs, OrdersArgs, ProductsArgs};
use super::ctl_deletions::{self, DeletionsCommand};
use super::ctl_orders::{self, ListArgs, PlaceArgs, ResolveArgs};
use super::progress::{Ended, RunBars};
use super::rpc::{authed, rpc_error, watch_if};
use anyhow::{Context, Result, bail};
use blackant::grpc::pb;
use blackant::grpc::pb::sync_service_client::SyncServiceClient;
use blackant::records::Kind;
use clap::{Args, Subcommand};
use tonic::transport::Channel;

#[derive(Debug, Args)]
pub struct CtlArgs {
    /// The service's gRPC address.
    #[arg(long, env = "BLACKANT_ADDR", default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// Bearer token (when the service has tokens configured).
    #[arg(long, env = "BLACKANT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print JSON (one object per line) instead of tables, for scripts.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: CtlCommand,
}

#[derive(Debug, Subcommand)]
enum CtlCommand {
    /// State, progress, last success and last error of every sync.
    Status,
    /// Request a sync (or join the one running); `--watch` shows its progress until it ends.
    Sync(SyncArgs),
    /// Place an order from a JSON file; `--watch` follows it until it ends.
    Place(PlaceArgs),
    /// Placements, newest first: an agent's, or by state.
    Placements(ListArgs),
    /// Decide a placement that needs an operator: it is an order, or it failed.
    Resolve(ResolveArgs),
    /// Every run of every kind and agent, live with progress bars, until Ctrl-C.
    Watch,
    /// The actor tree: state, restarts, last failure (operators).
    Actors,
    /// Restart, stop or start an actor by the name `ctl actors` shows (operators).
    Actor { op: ActorOp, name: String },
    /// Pause every sync at its page boundary (operators); `resume` undoes it.
    Pause,
    /// Resume the syncs paused by `pause` (operators).
    Resume,
    /// Every kind's schedule (operators).
    Schedules,
    /// Change one kind's schedule (operators); what is not given stays.
    Schedule(ScheduleArgs),
    /// Deletions held for an operator: list (the default), release or discard (operators).
    Deletions {
        #[command(subcommand)]
        command: Option<DeletionsCommand>,
    },
    /// An agent's customers from the replica.
    Customers(CustomersArgs),
    /// The catalogue with the prices in force today.
    Products(ProductsArgs),
    /// An agent's orders with their lines, DDTs and invoices.
    Orders(OrdersArgs),
    /// One of an agent's orders in full.
    Order(OrderArgs),
}

#[derive(Debug, Args)]
struct SyncArgs {
    /// customers, products, prices, orders, ddt, invoices.
    kind: Kind,
    /// The agent, for per-agent kinds.
    #[arg(long, default_value = "")]
    user: String,
    /// Re-read everything even if the export did not change.
    #[arg(long)]
    full: bool,
    /// Show progress until the run ends; exit status 1 if it failed.
    #[arg(long)]
    watch: bool,
    /// Free text stored with the request.
    #[arg(long, default_value = "ctl")]
    reason: String,
}

pub async fn run(args: CtlArgs) -> Result<()> {
    let channel = Channel::from_shared(args.addr.clone())
        .with_context(|| format!("bad address {}", args.addr))?
        .connect()
        .await
        .with_context(|| format!("cannot reach blackant at {}", args.addr))?;
    let token = &args.token;
    let json = args.json;
    match args.command {
        CtlCommand::Status => status(&mut SyncServiceClient::new(channel), token, json).await,
        CtlCommand::Sync(s) => sync(&mut SyncServiceClient::new(channel), token, s).await,
        CtlCommand::Place(p) => ctl_orders::place(channel, token, p).await,
        CtlCommand::Placements(l) => ctl_orders::list(channel, token, l).await,
        CtlCommand::Resolve(r) => ctl_orders::resolve(channel, token, r).await,
        CtlCommand::Watch => ctl_admin::watch(channel, token, json).await,
        CtlCommand::Actors => ctl_admin::actors(channel, token, json).await,
        CtlCommand::Actor { op, name } => ctl_admin::operate(channel, token, json, op, name).await,
        CtlCommand::Pause => ctl_admin::pause(channel, token, json).await,
        CtlCommand::Resume => ctl_admin::resume(channel, token, json).await,
        CtlCommand::Schedules => ctl_admin::schedules(channel, token, json).await,
        CtlCommand::Schedule(a) => ctl_admin::schedule(channel, token, json, a).await,
        CtlCommand::Deletions { command } => {
            ctl_deletions::run(channel, token, json, command).await
        }
        CtlCommand::Customers(a) => ctl_data::customers(channel, token, json, a).await,
        CtlCommand::Products(a) => ctl_data::products(channel, token, json, a).await,
        CtlCommand::Orders(a) => ctl_data::orders(channel, token, json, a).await,
        CtlCommand::Order(a) => ctl_data::order(channel, token, json, a).await,
    }
}

/// A sync state as operators read it (`running`).
fn state_name(state: i32) -> String {
    pb::sync_status::State::try_from(state)
        .map(|k| k.as_str_name().trim_start_matches("STATE_").to_lowercase())
        .unwrap_or_default()
}

async fn status(
    client: &mut SyncServiceClient<Channel>,
    token: &Option<String>,
    json: bool,
) -> Result<()> {
    let resp = client
        .get_sync_status(authed(token, pb::GetSyncStatusRequest::default())?)
        .await
        .map_err(|s| rpc_error(&s))?
        .into_inner();
    if json {
        for s in &resp.statuses {
            let state = state_name(s.state);
            println!(
                "{}",
                serde_json::json!({
                    "kind": ctl_admin::kind_name(s.kind),
                    "agent": s.user,
                    "state": state,
                    "page": s.progress.as_ref().map(|p| p.page),
                    "pages": s.progress.as_ref().map(|p| p.pages),
                    "last_success": s.last_success.as_ref().map(|t| t.seconds),
                    "next_run": s.next_run.as_ref().map(|t| t.seconds),
                    "last_error": s.last_error,
                })
            );
        }
        return Ok(());
    }
    println!(
        "{:<10} {:<10} {:<10} {:>9} {:<23} {:<23} LAST ERROR",
        "KIND", "AGENT", "STATE", "PROGRESS", "LAST SUCCESS (UTC)", "NEXT RUN (UTC)"
    );
    let when = |t: Option<prost_types::Timestamp>, none: &str| {
        t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| none.into())
    };
    for s in resp.statuses {
        let kind = ctl_admin::kind_name(s.kind);
        let state = state_name(s.state);
        let progress = s
            .progress
            .filter(|p| p.pages > 0)
            .map(|p| format!("{}/{}", p.page, p.pages))
            .unwrap_or_default();
        let last = when(s.last_success, "never");
        let next = when(s.next_run, "-");
        println!(
            "{kind:<10} {:<10} {state:<10} {progress:>9} {last:<23} {next:<23} {}",
            s.user, s.last_error
        );
    }
    if !resp.placements.is_empty() {
        let counts: Vec<String> = resp
            .placements
            .iter()
            .map(|c| format!("{} {}", c.count, ctl_orders::state_name(c.state)))
            .collect();
        println!("\nplacements: {}", counts.join(", "));
        let waiting = resp
            .placements
            .iter()
            .any(|c| c.state == pb::PlacementState::NeedsOperator as i32);
        if waiting {
            println!("an operator must decide: blackant ctl placements --state needs_operator");
        }
    }
    Ok(())
}

async fn sync(
    client: &mut SyncServiceClient<Channel>,
    token: &Option<String>,
    args: SyncArgs,
) -> Result<()> {
    let kind = blackant::grpc::kind_to_proto(args.kind) as i32;
    // Watch first (filtered on kind and agent), then ask: no event of the run can be missed.
    let filter = pb::WatchSyncEventsRequest {
        kind,
        user: args.user.clone(),
        run_id: 0,
    };
    let mut events = watch_if(args.watch, client, token, filter).await?;
    let req = pb::RequestSyncRequest {
        kind,
        user: args.user.clone(),
        mode: if args.full {
            pb::SyncMode::Full
        } else {
            pb::SyncMode::Delta
        } as i32,
        reason: args.reason,
        wait: false,
    };
    let ack = client
        .request_sync(authed(token, req)?)
        .await
        .map_err(|s| rpc_error(&s))?
        .into_inner();
    let outcome = pb::request_sync_response::Outcome::try_from(ack.outcome)
        .map(|o| {
            o.as_str_name()
                .trim_start_matches("OUTCOME_")
                .to_lowercase()
        })
        .unwrap_or_default();
    eprintln!("run {} ({outcome})", ack.run_id);
    let Some(events) = events.as_mut() else {
        return Ok(());
    };
    let mut bars = RunBars::new();
    while let Some(e) = events.message().await.map_err(|s| rpc_error(&s))? {
        if e.run_id != ack.run_id && e.missed == 0 {
            continue;
        }
        match bars.show(&e) {
            Some(Ended::Ok) => return Ok(()),
            Some(Ended::Failed(r)) => bail!("run {} failed: {}", ack.run_id, r.error),
            None => {}
        }
    }
    bail!("the event stream ended before run {} did", ack.run_id)
}
