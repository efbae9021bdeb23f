//! `blackant sim`: the Archibald simulator alone, for demos and for driving it with curl
//! (its `/_sim` control endpoints are listed in the `archibald-sim` crate docs).

use anyhow::{Context, Result};
use clap::Args;
use std::net::SocketAddr;

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Listen address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Data seed (same seed → same data and byte-identical exports).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Size multiplier (agents and records).
    #[arg(long, default_value_t = 1)]
    scale: u32,
}

pub async fn run(args: SimArgs) -> Result<()> {
    let sim = archibald_sim::Simulator::start(archibald_sim::SimConfig {
        seed: args.seed,
        scale: args.scale,
        listen: args.listen,
        ..Default::default()
    })
    .await
    .context("starting the simulator")?;
    println!("Archibald simulator at {}", sim.base_url());
    for a in sim.accounts() {
        println!(
            "  {:<10} {:<8} password {}",
            a.username,
            format!("{:?}", a.role).to_lowercase(),
            a.password
        );
    }
    println!(
        "controls: {}/_sim/... (see the archibald-sim crate docs); Ctrl-C stops",
        sim.base_url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}
