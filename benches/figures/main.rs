//! `make bench`: the figures the issues ask for, measured side by side in ONE run on this
//! machine (release build, medians; the machine is shared and noisy, so only ratios between
//! things measured together and medians mean anything). Not a test: it asserts nothing, it
//! prints tables. Speed targets live here, never in timed tests.
//!
//! One module per figure, each printing through `table::Table`:
//! 1. `parse`: PDF parsing vs `pdftotext -layout` on the same files.
//! 2. `upsert`: the hash-gated upsert of 5,700 customers; 2b. `matching`: price matching.
//! 3. `end_to_end`: one customer sync through the real service, split by stage.
//! 4. `kinds`: all six kinds at once; 4a. a delta sync with nothing changed per kind beside its
//!    export downloaded alone; 4b. pause latency with all six running.
//! 5. `order_load`: twenty agents' order syncs at once, memory included, detail pages opened in
//!    tabs (several at once) and fetched from their HTML.
//! 6. `placement`: placing orders — the placer's overhead beyond the ERP's time, placements
//!    per minute, PlaceOrder → `orders.db`.
//! 7. `reads`: read RPCs under 50 concurrent clients, and auth's and metrics' cost on a status
//!    call.
//! 8. `dashboard`: the dashboard's weight, event → page latency, RSS with 20 pages open.
//! 9. `grpc_load`: 200 concurrent gRPC clients on status, EnsureFresh and reads for 60 s.
//! 10. `capacity`: 100 and 500 agents' unchanged order syncs, then DDT and invoice syncs, with 4
//!     browsers: browser-seconds and CPU per agent, browser time per agent and agents per
//!     machine at a 10-minute interval.
//! 11. `page_changed`: a run whose page lost what a step looks for, to its permanent failure,
//!     beside the same run on the unchanged page; the evidence folder's bound.
//!
//! Run alone: `cargo bench --bench figures [-- --quick | --delta-only [--reps N] |
//! --placement-only | --page-changed-only | --reads-only | --parse-only | --upsert-only | --end-to-end-only |
//! --kinds-only | --order-load AGENTS [--at-once K] [--render] | --dashboard | --grpc-load SECS |
//! --capacity AGENTS [--recycle-after L] [--idle-tabs T] | --parse-file PDF [KIND] [TIMES]` (the last parses one file again and
//! again with nothing else running, for a profiler: `perf record --call-graph dwarf`).

mod capacity;
mod dashboard;
mod end_to_end;
mod grpc_load;
mod kinds;
mod matching;
mod order_load;
mod page_changed;
mod parse;
mod placement;
mod reads;
mod setup;
mod table;
mod upsert;

/// The allocator the `blackant` binary ships with (src/main.rs), so the figures measured in
/// this process are the service's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use archibald_sim::data::generate::generate;
use archibald_sim::report::ReportKind;
use archibald_sim::report::pdf::{RenderOptions, render};
use blackant::records::{Kind, parse_export};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--order-load") {
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(20);
        let at_once = args
            .iter()
            .position(|a| a == "--at-once")
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(blackant::erp::DETAIL_PAGES_AT_ONCE);
        let render = args.iter().any(|a| a == "--render");
        return order_load::run(n, at_once, render);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 11 };
    let runtime = setup::runtime;
    if let Some(i) = args.iter().position(|a| a == "--reads") {
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(40);
        return reads::run(n);
    }
    if let Some(i) = args.iter().position(|a| a == "--grpc-load") {
        let secs = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(60);
        return grpc_load::run(secs);
    }
    if let Some(i) = args.iter().position(|a| a == "--capacity") {
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(100);
        let recycle = args
            .iter()
            .position(|a| a == "--recycle-after")
            .and_then(|i| args.get(i + 1)?.parse().ok());
        let idle_tabs = args
            .iter()
            .position(|a| a == "--idle-tabs")
            .and_then(|i| args.get(i + 1)?.parse().ok());
        return capacity::run(n, recycle, idle_tabs);
    }
    if let Some(i) = args.iter().position(|a| a == "--parse-file") {
        let path = args.get(i + 1).expect("--parse-file PDF [KIND] [TIMES]");
        let kind = args.get(i + 2).and_then(|k| Kind::from_name(k));
        let times = args.get(i + 3).and_then(|n| n.parse().ok()).unwrap_or(50);
        return parse::repeat(path.as_ref(), kind.unwrap_or(Kind::Customers), times);
    }
    if args.iter().any(|a| a == "--dashboard") {
        return dashboard::run();
    }
    if args.iter().any(|a| a == "--end-to-end-only") {
        return runtime().block_on(end_to_end::run(if quick { 2 } else { 5 }));
    }
    if args.iter().any(|a| a == "--kinds-only") {
        return runtime().block_on(kinds::six_kinds());
    }
    if args.iter().any(|a| a == "--reads-only") {
        return reads::in_child(if quick { 10 } else { 40 });
    }
    if args.iter().any(|a| a == "--page-changed-only") {
        return runtime().block_on(page_changed::run(if quick { 3 } else { 11 }));
    }
    if args.iter().any(|a| a == "--placement-only") {
        return runtime().block_on(placement::run(
            if quick { 10 } else { 60 },
            if quick { 2 } else { 5 },
        ));
    }
    if args.iter().any(|a| a == "--delta-only") {
        let reps = args
            .iter()
            .position(|a| a == "--reps")
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(reps);
        return runtime().block_on(kinds::delta_per_kind(reps));
    }
    let tmp = tempfile::tempdir().expect("temp dir");

    // The simulator's 5,700-customer export, the input of figures 1 and 2.
    let world = generate(42, 1);
    let table = world.table(ReportKind::Customers, "agent1");
    let big = render(&table, &table.display_rows(), &RenderOptions::default()).expect("render");
    let big_path = tmp.path().join("customers-agent1.pdf");
    std::fs::write(&big_path, &big.bytes).expect("write export");
    let parsed = parse_export(Kind::Customers, &big.bytes).expect("parse the export");
    if args.iter().any(|a| a == "--parse-only") {
        return parse::run(&big_path, reps);
    }
    if args.iter().any(|a| a == "--upsert-only") {
        return upsert::run(&parsed, tmp.path(), reps);
    }

    parse::run(&big_path, reps);
    upsert::run(&parsed, tmp.path(), reps);
    matching::run(&world, reps);

    let rt = runtime();
    rt.block_on(end_to_end::run(if quick { 2 } else { 5 }));
    rt.block_on(kinds::six_kinds());
    rt.block_on(kinds::delta_per_kind(if quick { 3 } else { 15 }));
    rt.block_on(kinds::pause_latency(if quick { 10 } else { 60 }));
    rt.block_on(placement::run(
        if quick { 10 } else { 60 },
        if quick { 2 } else { 5 },
    ));
    rt.block_on(page_changed::run(if quick { 3 } else { 11 }));
    drop(rt);
    order_load::in_child(if quick { 6 } else { 20 });
    reads::in_child(if quick { 10 } else { 40 });
    dashboard::in_child();
    grpc_load::in_child(if quick { 10 } else { 60 });
    for agents in if quick { vec![30] } else { vec![100, 500] } {
        capacity::in_child(agents);
    }
}
