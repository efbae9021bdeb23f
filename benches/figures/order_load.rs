//! Figure 5: twenty agents' order syncs at once, 2 browsers, the simulator in its own process
//! (`blackant sim`) and this measurement in a child process, so the RSS is the service's alone.

use crate::setup::{self, run_all};
use crate::table::{Table, ms, rss_mib};
use archibald_sim::Role;
use blackant::records::Kind;
use blackant_actors::run::{Mode, Scope};

/// Re-run this benchmark as a child doing only the order load, `erp.detail_pages_at_once` (by
/// default) at a time: every detail page opened in a tab (before), then fetched from its HTML
/// after the first (after, the default), each against a fresh simulator.
pub fn in_child(agents: usize) {
    let at_once = blackant::erp::DETAIL_PAGES_AT_ONCE.to_string();
    let agents = agents.to_string();
    for render in [true, false] {
        let mut args = vec!["--order-load", &agents, "--at-once", &at_once];
        if render {
            args.push("--render");
        }
        setup::in_child(&args, "the order load");
    }
}

/// `--order-load N --at-once K [--render]`: start `blackant sim` with enough agents, then N
/// agents' order syncs at once, reading K detail pages at once per agent (each opened in a tab
/// with `--render`).
pub fn run(agents: usize, at_once: usize, render: bool) {
    let (mut sim, url, accounts) = setup::external_simulator(agents.div_ceil(3));
    setup::runtime().block_on(async {
        let (service, _data) = setup::service_at_with(&url, &accounts, 2, |c| {
            setup::set_detail_pages_at_once(c, at_once);
            setup::set_render_detail_pages(c, render);
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
                 per agent, {}, simulator in its own process",
                runs.len(),
                if render {
                    "each opened in a tab"
                } else {
                    "fetched from their HTML after the first"
                }
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
