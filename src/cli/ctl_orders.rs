//! `blackant ctl place`, `ctl placements` and `ctl resolve`: placing an order from a JSON file
//! and following it, listing placements, deciding one that needs an operator. Glue over the
//! public `OrderService` only; it must NOT judge an order itself (the service validates).

use super::rpc::{authed, rpc_error, watch_if};
use anyhow::{Context, Result, bail};
use blackant::grpc::pb::order_service_client::OrderServiceClient;
use blackant::grpc::pb::sync_service_client::SyncServiceClient;
use blackant::grpc::pb::{self, PlacementState};
use clap::Args;
use serde::Deserialize;
use std::path::PathBuf;
use tonic::transport::Channel;

#[derive(Debug, Args)]
pub struct PlaceArgs {
    /// The agent placing the order.
    #[arg(long)]
    user: String,
    /// The order, as JSON: {"customer_code": "…", "lines": [{"code": "…", "quantity": 6}],
    /// "notes": "…", "idempotency_key": "…"} (notes and key optional); `-` reads stdin.
    order: PathBuf,
    /// The idempotency key (overrides the file's). Without either, one is derived from the
    /// agent and the file's content: running the same command twice places ONE order.
    #[arg(long)]
    key: Option<String>,
    /// Follow the placement until it ends; exit status 1 unless it ends placed.
    #[arg(long)]
    watch: bool,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// One agent's placements (default: every agent's; operators and services only).
    #[arg(long, default_value = "")]
    user: String,
    /// Only these states (repeatable): accepted, submitting, in_doubt, placed, rejected,
    /// failed, needs_operator.
    #[arg(long = "state", value_parser = parse_state)]
    states: Vec<PlacementState>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The placement (a NEEDS_OPERATOR one).
    id: u64,
    /// It is this Archibald order.
    #[arg(long, conflicts_with = "fail", required_unless_present = "fail")]
    order: Option<String>,
    /// Give it up, for this reason.
    #[arg(long)]
    fail: Option<String>,
}

/// The order file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderFile {
    customer_code: String,
    lines: Vec<LineFile>,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineFile {
    code: String,
    quantity: i64,
}

fn parse_state(s: &str) -> Result<PlacementState, String> {
    let name = format!(
        "PLACEMENT_STATE_{}",
        s.trim().replace('-', "_").to_uppercase()
    );
    PlacementState::from_str_name(&name)
        .filter(|s| *s != PlacementState::Unspecified)
        .ok_or_else(|| format!("unknown state {s:?}"))
}

/// `placed`, `in_doubt`, …
pub(super) fn state_name(value: i32) -> String {
    PlacementState::try_from(value)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("PLACEMENT_STATE_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| format!("state {value}"))
}

fn when(t: Option<prost_types::Timestamp>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn settled(state: i32) -> bool {
    !matches!(
        PlacementState::try_from(state),
        Ok(PlacementState::Accepted | PlacementState::Submitting | PlacementState::InDoubt)
    )
}

/// Exit 0 when placed; an error naming the state and the reason otherwise.
fn ended(p: &pb::Placement) -> Result<()> {
    if p.state == PlacementState::Placed as i32 {
        println!(
            "placement {} placed as Archibald order {}",
            p.id, p.order_number
        );
        return Ok(());
    }
    bail!(
        "placement {} ended {}: {}",
        p.id,
        state_name(p.state),
        p.reason
    )
}

pub async fn place(channel: Channel, token: &Option<String>, args: PlaceArgs) -> Result<()> {
    let raw = if args.order.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("reading the order from stdin")?
    } else {
        std::fs::read_to_string(&args.order)
            .with_context(|| format!("reading {}", args.order.display()))?
    };
    let file: OrderFile = serde_json::from_str(&raw)
        .with_context(|| format!("{} is not an order file", args.order.display()))?;
    let key = args.key.or(file.idempotency_key).unwrap_or_else(|| {
        let digest = blackant_actors::digest::md5_hex(format!("{}\n{raw}", args.user).as_bytes());
        format!("ctl-{}", &digest[..20])
    });
    // Watch first, then place: no transition of this placement can be missed.
    let filter = pb::WatchSyncEventsRequest {
        user: args.user.clone(),
        ..Default::default()
    };
    let mut sync_client = SyncServiceClient::new(channel.clone());
    let mut events = watch_if(args.watch, &mut sync_client, token, filter).await?;
    let req = pb::PlaceOrderRequest {
        idempotency_key: key.clone(),
        user: args.user,
        customer_code: file.customer_code,
        lines: file
            .lines
            .into_iter()
            .map(|l| pb::OrderLine {
                code: l.code,
                quantity: l.quantity,
            })
            .collect(),
        notes: file.notes,
        wait: false,
    };
    let answer = OrderServiceClient::new(channel)
        .place_order(authed(token, req)?)
        .await
        .map_err(|s| rpc_error(&s))?
        .into_inner();
    let p = answer
        .placement
        .context("the service answered no placement")?;
    eprintln!(
        "placement {} (key {key}, reference {}): {}{}",
        p.id,
        p.reference,
        state_name(p.state),
        if answer.created {
            ""
        } else {
            " — this key was already placed or in flight"
        }
    );
    let Some(events) = events.as_mut() else {
        return Ok(());
    };
    if settled(p.state) {
        return ended(&p);
    }
    while let Some(e) = events.message().await.map_err(|s| rpc_error(&s))? {
        let Some(pb::sync_event::Event::Placement(change)) = e.event else {
            continue;
        };
        let Some(now) = change.placement.filter(|n| n.id == p.id) else {
            continue;
        };
        eprintln!(
            "  {} {} → {} (attempt {}) {}",
            when(now.updated_at),
            state_name(change.from),
            state_name(now.state),
            now.attempts,
            change.cause
        );
        if settled(now.state) {
            return ended(&now);
        }
    }
    bail!("the event stream ended before placement {} did", p.id)
}

pub async fn list(channel: Channel, token: &Option<String>, args: ListArgs) -> Result<()> {
    let mut client = OrderServiceClient::new(channel);
    let mut rows = Vec::new();
    let mut page_token = String::new();
    while rows.len() < args.limit {
        let req = pb::ListPlacementsRequest {
            user: args.user.clone(),
            states: args.states.iter().map(|s| *s as i32).collect(),
            page_size: (args.limit - rows.len()).min(500) as u32,
            page_token,
        };
        let page = client
            .list_placements(authed(token, req)?)
            .await
            .map_err(|s| rpc_error(&s))?
            .into_inner();
        rows.extend(page.placements);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    println!(
        "{:>6} {:<24} {:<10} {:<14} {:<12} {:>3} {:<19} REASON",
        "ID", "KEY", "AGENT", "STATE", "ORDER", "TRY", "UPDATED (UTC)"
    );
    for p in rows.iter().take(args.limit) {
        println!(
            "{:>6} {:<24} {:<10} {:<14} {:<12} {:>3} {:<19} {}",
            p.id,
            p.idempotency_key,
            p.user,
            state_name(p.state),
            p.order_number,
            p.attempts,
            when(p.updated_at),
            p.reason
        );
    }
    Ok(())
}

pub async fn resolve(channel: Channel, token: &Option<String>, args: ResolveArgs) -> Result<()> {
    use pb::resolve_placement_request::Resolution;
    let resolution = match (args.order, args.fail) {
        (Some(order), _) => Resolution::OrderNumber(order),
        (None, Some(reason)) => Resolution::FailureReason(reason),
        (None, None) => bail!("say --order NUMBER or --fail REASON"),
    };
    let req = pb::ResolvePlacementRequest {
        id: args.id,
        resolution: Some(resolution),
    };
    let p = OrderServiceClient::new(channel)
        .resolve_placement(authed(token, req)?)
        .await
        .map_err(|s| rpc_error(&s))?
        .into_inner();
    println!(
        "placement {} is now {} {}",
        p.id,
        state_name(p.state),
        if p.order_number.is_empty() {
            p.reason
        } else {
            p.order_number
        }
    );
    Ok(())
}
