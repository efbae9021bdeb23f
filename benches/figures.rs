//! `make bench`: the figures the issues ask for, measured side by side in ONE run on this
//! machine (release build, medians; the machine is shared and noisy, so only ratios between
//! things measured together and medians mean anything). Not a test: it asserts nothing, it
//! prints a table. Speed targets live here, never in timed tests.
//!
//! 1. PDF parsing: our reader vs `pdftotext -layout` (poppler) on the SAME files — the
//!    simulator's 5,700-customer export (≈300 pages) and every committed fixture of other
//!    producers (Chromium, ReportLab, fpdf2).
//! 2. Hash-gated upsert of 5,700 customers, one transaction per page as the sync does:
//!    first load, unchanged re-run (rows written must be 0), 25 edited.
//! 3. End-to-end customer sync of agent1 against the embedded simulator at zero latency,
//!    through the real service (BrowserPool with Chromium, DbWriters, SyncActor), split by stage
//!    from the run's own events, cold (Chromium launch + login) and warm.
//!
//! Run alone: `cargo bench --bench figures [-- --quick]`.

use archibald_sim::data::generate::generate;
use archibald_sim::report::ReportKind;
use archibald_sim::report::pdf::{RenderOptions, render};
use archibald_sim::{Role, SimConfig, Simulator};
use blackant::erp::{Credentials, ErpConfig};
use blackant::records::{Kind, parse_export};
use blackant::service::{Service, ServiceConfig, SourceConfig};
use blackant::store::DataDir;
use blackant::store::tables::{self, RowImage, TableSpec};
use blackant::syncs::CredentialStore;
use blackant_actors::browser_pool::ChromiumConfig;
use blackant_actors::db_writer::open_writer;
use blackant_actors::events::{EventBody, Mode, Scope, SyncEvent};
use blackant_actors::supervision::RestartPolicy;
use blackant_actors::sync::{RetryPolicy, Trigger};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Median of `n` timed calls of `f` (after one warm-up call).
fn time_n<T>(n: usize, mut f: impl FnMut() -> T) -> Duration {
    std::hint::black_box(f());
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                std::hint::black_box(f());
                t.elapsed()
            })
            .collect(),
    )
}

fn pdftotext(file: &Path) -> Option<()> {
    let ok = Command::new("pdftotext")
        .args(["-layout", "-q"])
        .arg(file)
        .arg("/dev/null")
        .status()
        .ok()?
        .success();
    ok.then_some(())
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 11 };
    let tmp = tempfile::tempdir().expect("temp dir");

    // ---- 1. parsing ------------------------------------------------------------------
    println!("== 1. PDF parsing: blackant vs pdftotext -layout (same file, median of {reps})");
    let world = generate(SimConfig::default().seed, 1);
    let table = world.table(ReportKind::Customers, "agent1");
    let big = render(&table, &table.display_rows(), &RenderOptions::default()).expect("render");
    let big_path = tmp.path().join("customers-agent1.pdf");
    std::fs::write(&big_path, &big.bytes).expect("write export");
    let mut files: Vec<(String, Kind, PathBuf)> = vec![(
        "simulator customers agent1".into(),
        Kind::Customers,
        big_path.clone(),
    )];
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/pdfs");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&fixtures)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.sort();
    for path in names {
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".pdf"))
        else {
            continue;
        };
        let Some(kind) = stem.split('-').next().and_then(Kind::from_name) else {
            continue;
        };
        if stem.contains("archibald-sim") {
            continue; // the simulator's own writer is measured on the big export above
        }
        files.push((stem.to_string(), kind, path.clone()));
    }
    let have_pdftotext = pdftotext(&big_path).is_some();
    if !have_pdftotext {
        println!("   (pdftotext not found: run `make bench`, which installs poppler-utils)");
    }
    println!(
        "   {:<36} {:>6} {:>6} {:>11} {:>11} {:>8}",
        "file", "pages", "rows", "blackant", "pdftotext", "ratio"
    );
    for (label, kind, path) in &files {
        let bytes = std::fs::read(path).expect("read pdf");
        let parsed = match parse_export(*kind, &bytes) {
            Ok(p) => p,
            Err(e) => {
                println!("   {label:<36} parse error: {e}");
                continue;
            }
        };
        let ours = time_n(reps, || {
            parse_export(*kind, &bytes).map(|p| p.record_count())
        });
        let theirs = have_pdftotext.then(|| time_n(reps.min(7), || pdftotext(path)));
        println!(
            "   {:<36} {:>6} {:>6} {:>11} {:>11} {:>8}",
            label,
            parsed.completeness.physical_pages,
            parsed.record_count(),
            ms(ours),
            theirs.map(ms).unwrap_or_else(|| "-".into()),
            theirs
                .map(|t| format!("{:.1}x", t.as_secs_f64() / ours.as_secs_f64()))
                .unwrap_or_else(|| "-".into()),
        );
    }
    println!("   ratio = pdftotext time / blackant time (above 1: we are faster)");

    // ---- 2. upserts ------------------------------------------------------------------
    println!(
        "\n== 2. hash-gated upsert of 5,700 customers, one transaction per page (median of {reps})"
    );
    let parsed = parse_export(Kind::Customers, &big.bytes).expect("parse the export");
    let pages: Vec<Vec<RowImage>> = parsed
        .pages
        .iter()
        .map(|p| p.records.iter().map(RowImage::from_record).collect())
        .collect();
    let mut edited = pages.clone();
    for row in edited.iter_mut().flatten().step_by(228).take(25) {
        row.hash = format!("edited-{}", row.hash);
    }
    let spec = TableSpec::for_kind(Kind::Customers);
    let apply = |conn: &mut rusqlite::Connection, pages: &[Vec<RowImage>]| {
        let before = conn.total_changes();
        let mut counts = tables::RowCounts::default();
        for page in pages {
            let tx = conn.transaction().expect("tx");
            counts.add(
                tables::upsert_rows(&tx, &spec, Some("agent1"), page, "2026-12-01T00:00:00Z")
                    .expect("upsert"),
            );
            tx.commit().expect("commit");
        }
        (counts, conn.total_changes() - before)
    };
    let fresh_db = |i: usize| {
        let path = tmp.path().join(format!("upsert-{i}.db"));
        open_writer(&path, TableSpec::migrations(Kind::Customers)).expect("open db")
    };
    let mut first = Vec::new();
    let mut unchanged = Vec::new();
    let mut changed = Vec::new();
    let mut last = None;
    for i in 0..reps {
        let mut conn = fresh_db(i);
        let t = Instant::now();
        let a = apply(&mut conn, &pages);
        first.push(t.elapsed());
        let t = Instant::now();
        let b = apply(&mut conn, &pages);
        unchanged.push(t.elapsed());
        let t = Instant::now();
        let c = apply(&mut conn, &edited);
        changed.push(t.elapsed());
        last = Some((a, b, c));
    }
    // The same rows in ONE transaction: what the page commits cost on top.
    let mut single = Vec::new();
    for i in 0..reps {
        let mut conn = fresh_db(reps + i);
        let all: Vec<RowImage> = pages.iter().flatten().cloned().collect();
        let t = Instant::now();
        apply(&mut conn, std::slice::from_ref(&all));
        single.push(t.elapsed());
    }
    let (a, b, c) = last.expect("ran");
    let row = |label: &str, d: Vec<Duration>, (counts, written): (tables::RowCounts, u64)| {
        println!(
            "   {label:<26} {:>10}   inserted {:>5} updated {:>3} unchanged {:>5}   rows written {written}",
            ms(median(d)),
            counts.inserted,
            counts.updated,
            counts.unchanged
        );
    };
    row("first load", first, a);
    row("unchanged re-sync", unchanged, b);
    row("25 edited", changed, c);
    println!(
        "   first load in ONE transaction: {} (the page commits cost the difference)",
        ms(median(single))
    );
    let hashing = time_n(reps, || {
        parsed.records().map(|r| r.md5()[0] as u64).sum::<u64>()
    });
    println!("   MD5 of the 5,700 canonical records: {}", ms(hashing));

    // ---- 3. end to end ---------------------------------------------------------------
    println!("\n== 3. end-to-end customer sync of agent1 (simulator, zero latency, real Chromium)");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(end_to_end(if quick { 2 } else { 5 }));
}

/// Stage split of one run, from its events' timestamps.
struct Stages {
    wall: Duration,
    prepare: Duration,
    pages: Duration,
    finish: Duration,
    records: u64,
}

async fn end_to_end(warm_runs: usize) {
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let credentials = CredentialStore::new();
    for a in sim.accounts() {
        let scope = match a.role {
            Role::Service => Scope::Catalogue,
            Role::Agent => Scope::Agent(a.username.clone()),
        };
        credentials.set(scope, Credentials::new(&a.username, &a.password));
    }
    let data = tempfile::tempdir().expect("data dir");
    let service = Service::start(
        ServiceConfig {
            data: DataDir::new(data.path()),
            source: SourceConfig::Erp {
                erp: ErpConfig::new(sim.base_url()),
                chromium: ChromiumConfig::default(),
                browsers: 1,
            },
            agents: sim.agents(),
            retry: RetryPolicy::default(),
            restart: RestartPolicy::default(),
            order_sync_idle: blackant::service::DEFAULT_ORDER_SYNC_IDLE,
        },
        credentials,
    )
    .await
    .expect("service");

    let run = async |mode: Mode| -> Stages {
        let mut events = service.subscribe();
        let requested = Instant::now();
        let ack = service
            .request_sync(
                Kind::Customers,
                Scope::Agent("agent1".into()),
                mode,
                Trigger::Manual,
            )
            .await
            .expect("request");
        let mut seen: Vec<SyncEvent> = Vec::new();
        loop {
            let e = events.recv().await.expect("events");
            if e.run_id != ack.run_id {
                continue;
            }
            let end = e.body.is_terminal();
            seen.push(e);
            if end {
                break;
            }
        }
        let wall = requested.elapsed();
        let at = |pred: &dyn Fn(&EventBody) -> bool, last: bool| -> SystemTime {
            let mut it = seen.iter().filter(|e| pred(&e.body)).map(|e| e.at);
            if last { it.last() } else { it.next() }.expect("event")
        };
        let since = |a: SystemTime, b: SystemTime| b.duration_since(a).unwrap_or_default();
        let started = at(&|b| matches!(b, EventBody::Started { .. }), false);
        let end = at(&|b| b.is_terminal(), true);
        let EventBody::Completed { counts, .. } = &seen.last().expect("end").body else {
            panic!("the run failed: {:?}", seen.last())
        };
        let records = counts.inserted + counts.updated + counts.unchanged;
        if seen
            .iter()
            .any(|e| matches!(e.body, EventBody::Progress { .. }))
        {
            let first_page = at(&|b| matches!(b, EventBody::Progress { .. }), false);
            let last_page = at(&|b| matches!(b, EventBody::Progress { .. }), true);
            Stages {
                wall,
                prepare: since(started, first_page),
                pages: since(first_page, last_page),
                finish: since(last_page, end),
                records,
            }
        } else {
            Stages {
                wall,
                prepare: since(started, end),
                pages: Duration::ZERO,
                finish: Duration::ZERO,
                records,
            }
        }
    };

    println!("   prepare = lease browser + (login) + export download + parse + keep export");
    println!("   pages   = first page applied → last page applied (one transaction each)");
    println!("   finish  = deletions + completion record");
    let print = |label: &str, s: &Stages| {
        println!(
            "   {label:<30} wall {:>10}  prepare {:>10}  pages {:>9}  finish {:>8}  ({} records)",
            ms(s.wall),
            ms(s.prepare),
            ms(s.pages),
            ms(s.finish),
            s.records
        );
    };
    let cold = run(Mode::Full).await;
    print("cold (Chromium launch, login)", &cold);
    let mut warm = Vec::new();
    for _ in 0..warm_runs {
        warm.push(run(Mode::Full).await);
    }
    let med = |f: fn(&Stages) -> Duration| median(warm.iter().map(f).collect());
    let warm_median = Stages {
        wall: med(|s| s.wall),
        prepare: med(|s| s.prepare),
        pages: med(|s| s.pages),
        finish: med(|s| s.finish),
        records: warm[0].records,
    };
    print(&format!("warm full, median of {warm_runs}"), &warm_median);
    let delta = run(Mode::Delta).await;
    print("delta, export unchanged", &delta);
    service.shutdown().await;
    sim.shutdown().await;
}
