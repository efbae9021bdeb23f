//! Figure 5: twenty agents' order syncs at once, 2 browsers, the simulator in its own process
//! (`blackant sim`) and this measurement in a child process, so the RSS is the service's alone.

use crate::setup::{self, run_all};
use crate::table::{Table, ms, rss_mib};
use archibald_sim::Role;
use blackant::records::Kind;
use blackant_actors::run::{Mode, Scope};

/// Re-run this benchmark as a child doing only the order load: detail pages one at a time
/// (before) and `erp.detail_pages_at_once` by default (after), each against a fresh simulator.
pub fn in_child(agents: usize) {
    for at_once in [1, blackant::erp::DETAIL_PAGES_AT_ONCE] {
        setup::in_child(
            &[
                "--order-load",
                &agents.to_string(),
                "--at-once",
                &at_once.to_string(),
            ],
            "the order load",
        );
    }
}

/// `--order-load N --at-once K`: start `blackant sim` with enough agents, then N agents' order
/// syncs at once, reading K detail pages at once per agent.
pub fn run(agents: usize, at_once: usize) {
    let (mut sim, url, accounts) = setup::external_simulator(agents.div_ceil(3));
    setup::runtime().block_on(async {
        let (service, _data) = setup::service_at_with(&url, &accounts, 2, |c| {
            setup::set_detail_pages_at_once(c, at_once)
        })
        .await;
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
                "5. {} agents' order syncs at once, 2 browsers, {at_once} detail page(s) at once \
                 per agent, simulator in its own process",
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
