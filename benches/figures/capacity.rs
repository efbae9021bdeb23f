//! Figure 10: how many agents one machine keeps fresh. The simulator at the scale of 100 and of
//! 500 agents (in its own process, `blackant sim --scale`), the service with 4 browsers (in a
//! child process, so the RSS is its own), and every agent's syncs with nothing changed in
//! Archibald: the order sync (the 10-minute kind, which decides capacity) twice, then the DDT
//! and invoice syncs. Each round waits for the syncs that follow its runs too (an order sync
//! that changed something is followed by its agent's DDT and invoices, at a lower priority
//! than other agents' order syncs: a round that ended with the order syncs would leave them
//! running into the next one). The notes add it up per agent and per order interval: DDT and
//! invoices after every order sync (as before) or on their own schedule.
//!
//! `orders.db` starts as a first sync leaves it: every agent's orders with their lines, DDT and
//! invoices, written through the store's own upsert from the simulator's export of the same
//! seed and scale (a first sync of 200 agents reads ~19,000 detail pages, ~15 min here; what it
//! leaves behind is the same rows). The table checks it: a run that inserts or updates
//! anything is reported.

use std::time::Duration;

use crate::setup;
use crate::table::{Table, cpu_seconds, descendants_cpu_seconds, descendants_pss_mib, ms, rss_mib};
use archibald_sim::Role;
use archibald_sim::data::generate::generate;
use archibald_sim::report::ReportKind;
use archibald_sim::report::pdf::{RenderOptions, render};
use blackant::kinds::DataFile;
use blackant::records::order_lines::{LINE_COLUMNS, OrderLine};
use blackant::records::value::{Value, ValueType};
use blackant::records::{Kind, parse_export};
use blackant::store::orders::replace_lines;
use blackant::store::tables::{RowImage, TableSpec, upsert_rows};
use blackant_actors::run::{Mode, Scope};

/// Browsers of the service in this figure.
const BROWSERS: usize = 4;

/// Re-run this benchmark as a child measuring `agents` agents.
pub fn in_child(agents: usize) {
    setup::in_child(&["--capacity", &agents.to_string()], "the capacity figure");
}

/// `--capacity N [--recycle-after L] [--idle-tabs T]`: N agents' unchanged order syncs with 4
/// browsers, each browser replaced after L leases, T logged-in tabs kept between syncs (the
/// service's defaults unless given).
pub fn run(agents: usize, recycle_after: Option<u32>, idle_tabs: Option<usize>) {
    let scale = agents.div_ceil(3);
    let (mut sim, url, accounts) = setup::external_simulator(scale);
    let names: Vec<String> = accounts
        .iter()
        .filter(|a| a.role == Role::Agent)
        .take(agents)
        .map(|a| a.username.clone())
        .collect();
    let data = tempfile::tempdir().expect("data dir");
    let seeding = std::time::Instant::now();
    let orders = seed_orders(
        &data.path().join(DataFile::Orders.file_name(None)),
        scale,
        &names,
    );
    let seeded_in = seeding.elapsed();
    setup::runtime().block_on(async {
        let (service, _data) = setup::service_in_with(&url, &accounts, BROWSERS, data, |c| {
            if let Some(leases) = recycle_after {
                setup::set_recycle_after(c, leases);
            }
            if let Some(tabs) = idle_tabs {
                setup::set_idle_tabs(c, tabs);
            }
        })
        .await;
        let (idle_rss, _) = rss_mib();
        let runs = |kind: Kind| -> Vec<(Kind, Scope)> {
            names
                .iter()
                .map(|a| (kind, Scope::Agent(a.clone())))
                .collect()
        };
        let mut table = Table::new(
            format!(
                "10. capacity: {} agents' syncs with nothing changed, {BROWSERS} browsers {}, {} \
                 tabs kept (simulator scale {scale}: {orders} orders, their DDT and invoices in \
                 orders.db, seeded in {})",
                names.len(),
                match recycle_after.unwrap_or(blackant_actors::browser_pool::RECYCLE_AFTER_LEASES) {
                    0 => "never replaced".to_string(),
                    n => format!("replaced after {n} leases"),
                },
                idle_tabs.unwrap_or(blackant::erp::IDLE_TABS),
                ms(seeded_in)
            ),
            &[
                "every agent's",
                "wall",
                "browser-s per agent",
                "written rows",
                "RSS MiB",
                "Chromium PSS MiB",
                "CPU-s per agent: service / Chromium / simulator",
            ],
        );
        let sim_pid = sim.id();
        let cpu = || {
            [
                cpu_seconds(std::process::id(), false),
                descendants_cpu_seconds(),
                cpu_seconds(sim_pid, true),
            ]
        };
        // Browser-seconds per agent of the steady order, DDT and invoice syncs.
        let mut steady = std::collections::HashMap::new();
        for (label, kind) in [
            ("order sync, first after start", Kind::Orders),
            ("order sync, again (steady state)", Kind::Orders),
            ("DDT sync", Kind::Ddt),
            ("invoice sync", Kind::Invoices),
        ] {
            let before = cpu();
            let (wall, counts, follow_ups) =
                setup::run_all_with_follow_ups(&service, &runs(kind), Mode::Delta).await;
            let after = cpu();
            let per_agent = |i: usize| (after[i] - before[i]) / names.len().max(1) as f64;
            let browser_s = per_agent_browser_seconds(wall, names.len());
            steady.insert(kind, browser_s);
            let (rss, _) = rss_mib();
            table.row([
                label.to_string(),
                ms(wall),
                format!("{browser_s:.2}"),
                format!(
                    "{} ins / {} upd",
                    counts.inserted + follow_ups.inserted,
                    counts.updated + follow_ups.updated
                ),
                format!("{rss:.0} ({idle_rss:.0} idle)"),
                format!("{:.0}", descendants_pss_mib()),
                format!(
                    "{:.2} / {:.2} / {:.2}",
                    per_agent(0),
                    per_agent(1),
                    per_agent(2)
                ),
            ]);
        }
        // An agent's browser time per order interval: its order sync, and its DDT and invoice
        // syncs after every order sync (before) or on their own schedule (after, when the
        // order sync changed nothing).
        let interval = Kind::Orders.spec().interval_minutes as f64;
        let share = |k: Kind| interval / k.spec().interval_minutes as f64;
        let [orders, ddt, invoices] =
            [Kind::Orders, Kind::Ddt, Kind::Invoices].map(|k| steady.get(&k).copied().unwrap_or(0.0));
        for (label, per_agent) in [
            (
                "before: DDT and invoices after every order sync",
                orders + ddt + invoices,
            ),
            (
                "after: DDT and invoices after an order sync that changed something, else on their own schedule",
                orders + ddt * share(Kind::Ddt) + invoices * share(Kind::Invoices),
            ),
        ] {
            table.note(format!(
                "{label}: {per_agent:.2} browser-s per agent every {interval:.0} min → {:.0} agents with {BROWSERS} browsers",
                BROWSERS as f64 * interval * 60.0 / per_agent.max(1e-9)
            ));
        }
        // What the browsers cost between syncs (kept tabs are live renderers).
        const IDLE: Duration = Duration::from_secs(10);
        let before = cpu();
        tokio::time::sleep(IDLE).await;
        let after = cpu();
        table.note(format!(
            "idle for {} s after: Chromium used {:.1} % of one core",
            IDLE.as_secs(),
            (after[1] - before[1]) * 100.0 / IDLE.as_secs_f64()
        ));
        table.print();
        println!(
            "   browser-s per agent = wall × {BROWSERS} browsers ÷ agents (every browser busy \
             while runs wait); agents = {BROWSERS} browsers × the interval ÷ browser-s per \
             agent; CPU-s from /proc (this machine has 2 cores: the three together are at most \
             2 × wall)"
        );
        service.shutdown().await;
    });
    let _ = sim.kill();
    let _ = sim.wait();
}

fn per_agent_browser_seconds(wall: Duration, agents: usize) -> f64 {
    wall.as_secs_f64() * BROWSERS as f64 / agents.max(1) as f64
}

/// Writes every agent's orders and lines, DDT and invoices into `db` as a first sync would
/// (records parsed from the simulator's own export of the same seed and scale, lines from its
/// truth): returns the orders written.
fn seed_orders(db: &std::path::Path, scale: usize, agents: &[String]) -> usize {
    let world = generate(42, scale as u32);
    let mut conn = blackant_actors::db_writer::open_writer(
        db,
        blackant::store::schema::migrations(DataFile::Orders),
    )
    .expect("open orders.db");
    let now = blackant::store::now_text();
    let mut orders = 0;
    for agent in agents {
        let tx = conn.transaction().expect("begin");
        for (report, kind) in [
            (ReportKind::Orders, Kind::Orders),
            (ReportKind::Ddt, Kind::Ddt),
            (ReportKind::Invoices, Kind::Invoices),
        ] {
            let table = world.table(report, agent);
            let pdf =
                render(&table, &table.display_rows(), &RenderOptions::default()).expect("render");
            let export = parse_export(kind, &pdf.bytes).expect("parse the export");
            let rows: Vec<RowImage> = export.records().map(RowImage::from_record).collect();
            upsert_rows(&tx, &TableSpec::for_kind(kind), Some(agent), &rows, &now).expect("upsert");
            if kind != Kind::Orders {
                continue;
            }
            let lines = world.order_lines_truth(agent);
            for row in &rows {
                let lines: Vec<OrderLine> = lines
                    .get(&row.key)
                    .map(|ls| ls.iter().map(line_of).collect())
                    .unwrap_or_default();
                replace_lines(&tx, agent, &row.key, &row.hash, &lines).expect("lines");
            }
            orders += rows.len();
        }
        tx.commit().expect("commit");
    }
    orders
}

/// A canonical JSON line (the simulator's truth) as the reader's typed line.
fn line_of(json: &serde_json::Map<String, serde_json::Value>) -> OrderLine {
    let values = LINE_COLUMNS
        .iter()
        .map(|c| match (c.ty, json.get(c.field)) {
            (_, None | Some(serde_json::Value::Null)) => Value::Null,
            (ValueType::Int, Some(v)) => Value::Int(v.as_i64().expect("an integer")),
            (ValueType::Decimal, Some(v)) => Value::Decimal(v.as_str().expect("a decimal").into()),
            (_, Some(v)) => Value::Text(v.as_str().expect("a text").into()),
        })
        .collect();
    OrderLine { values }
}
