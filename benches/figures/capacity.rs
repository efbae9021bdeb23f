//! Figure 10: how many agents one machine keeps fresh. The simulator at the scale of 100 and of
//! 500 agents (in its own process, `blackant sim --scale`), the service with 4 browsers (in a
//! child process, so the RSS is its own), and every agent's order sync with nothing changed in
//! Archibald — the sync that decides capacity, since orders are the 10-minute kind.
//!
//! `orders.db` starts as a first sync leaves it: every agent's orders with their lines, written
//! through the store's own upsert from the simulator's export of the same seed and scale (a
//! first sync of 200 agents reads ~19,000 detail pages, ~15 min here; what it leaves behind is
//! the same rows). The table checks it: a run that inserts or updates anything is reported.
//! Two rounds follow; the second is the steady state an interval sees.

use std::time::Duration;

use crate::setup;
use crate::table::{Table, descendants_pss_mib, ms, rss_mib};
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
        let runs: Vec<(Kind, Scope)> = names
            .iter()
            .map(|a| (Kind::Orders, Scope::Agent(a.clone())))
            .collect();
        let mut table = Table::new(
            format!(
                "10. capacity: {} agents' order syncs with nothing changed, {BROWSERS} browsers \
                 {}, {} tabs kept (simulator scale {scale}: {orders} orders in orders.db, \
                 seeded in {})",
                names.len(),
                match recycle_after.unwrap_or(blackant_actors::browser_pool::RECYCLE_AFTER_LEASES) {
                    0 => "never replaced".to_string(),
                    n => format!("replaced after {n} leases"),
                },
                idle_tabs.unwrap_or(blackant::erp::IDLE_TABS),
                ms(seeded_in)
            ),
            &[
                "",
                "wall",
                "browser-s per agent",
                "agents per 10 min",
                "written rows",
                "RSS MiB",
                "Chromium PSS MiB",
            ],
        );
        for round in ["first round after the first sync", "again (steady state)"] {
            let (wall, counts) = setup::run_all_counts(&service, &runs, Mode::Delta).await;
            let (rss, _) = rss_mib();
            table.row([
                round.to_string(),
                ms(wall),
                format!("{:.2}", per_agent_browser_seconds(wall, names.len())),
                format!("{:.0}", agents_per_interval(wall, names.len())),
                format!("{} ins / {} upd", counts.inserted, counts.updated),
                format!("{rss:.0} ({idle_rss:.0} idle)"),
                format!("{:.0}", descendants_pss_mib()),
            ]);
        }
        table.print();
        println!(
            "   browser-s per agent = wall × {BROWSERS} browsers ÷ agents (every browser busy \
             while runs wait); agents per 10 min = agents × 600 s ÷ wall"
        );
        service.shutdown().await;
    });
    let _ = sim.kill();
    let _ = sim.wait();
}

fn per_agent_browser_seconds(wall: Duration, agents: usize) -> f64 {
    wall.as_secs_f64() * BROWSERS as f64 / agents.max(1) as f64
}

fn agents_per_interval(wall: Duration, agents: usize) -> f64 {
    agents as f64 * 600.0 / wall.as_secs_f64().max(1e-9)
}

/// Writes every agent's orders and lines into `db` as a first sync would (records parsed from
/// the simulator's own export of the same seed and scale, lines from its truth): returns the
/// orders written.
fn seed_orders(db: &std::path::Path, scale: usize, agents: &[String]) -> usize {
    let world = generate(42, scale as u32);
    let mut conn = blackant_actors::db_writer::open_writer(
        db,
        blackant::store::schema::migrations(DataFile::Orders),
    )
    .expect("open orders.db");
    let spec = TableSpec::for_kind(Kind::Orders);
    let now = blackant::store::now_text();
    let mut orders = 0;
    for agent in agents {
        let table = world.table(ReportKind::Orders, agent);
        let pdf = render(&table, &table.display_rows(), &RenderOptions::default()).expect("render");
        let export = parse_export(Kind::Orders, &pdf.bytes).expect("parse the export");
        let rows: Vec<RowImage> = export.records().map(RowImage::from_record).collect();
        let lines = world.order_lines_truth(agent);
        let tx = conn.transaction().expect("begin");
        upsert_rows(&tx, &spec, Some(agent), &rows, &now).expect("upsert");
        for row in &rows {
            let lines: Vec<OrderLine> = lines
                .get(&row.key)
                .map(|ls| ls.iter().map(line_of).collect())
                .unwrap_or_default();
            replace_lines(&tx, agent, &row.key, &row.hash, &lines).expect("lines");
        }
        tx.commit().expect("commit");
        orders += rows.len();
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
