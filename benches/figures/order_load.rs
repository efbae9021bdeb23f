//! Figure 5: twenty agents' order syncs at once, 2 browsers, the simulator in its own process
//! (`blackant sim`) and this measurement in a child process, so the RSS is the service's alone.

use crate::setup::{self, run_all};
use crate::table::{Table, ms, rss_mib};
use archibald_sim::Role;
use blackant::records::Kind;
use blackant_actors::run::{Mode, Scope};

/// Re-run this benchmark as a child doing only the order load.
pub fn in_child(agents: usize) {
    setup::in_child(&["--order-load", &agents.to_string()], "the order load");
}

/// `--order-load N`: start `blackant sim` with enough agents, then N agents' order syncs at once.
pub fn run(agents: usize) {
    let (mut sim, url, accounts) = setup::external_simulator(agents.div_ceil(3));
    setup::runtime().block_on(async {
        let (service, _data) = setup::service_at(&url, &accounts, 2).await;
        let (idle_rss, _) = rss_mib();
        let runs: Vec<(Kind, Scope)> = accounts
            .iter()
            .filter(|a| a.role == Role::Agent)
            .take(agents)
            .map(|a| (Kind::Orders, Scope::Agent(a.username.clone())))
            .collect();
        let (first, orders) = run_all(&service, &runs, Mode::Full).await;
        let (_, first_peak) = rss_mib();
        let (again, _) = run_all(&service, &runs, Mode::Delta).await;
        let (after, peak) = rss_mib();
        Table::new(
            format!(
                "5. {} agents' order syncs at once, 2 browsers, simulator in its own process",
                runs.len()
            ),
            &["", "wall", "RSS MiB", "peak MiB"],
        )
        .row([
            format!("first sync ({orders} orders, each one's detail page)"),
            ms(first),
            format!("{idle_rss:.0} idle"),
            format!("{first_peak:.0}"),
        ])
        .row([
            "again, nothing changed".to_string(),
            ms(again),
            format!("{after:.0}"),
            format!("{peak:.0}"),
        ])
        .print();
        service.shutdown().await;
    });
    let _ = sim.kill();
    let _ = sim.wait();
}
