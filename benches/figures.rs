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
//! 4. All six kinds for agent1 at once, then a delta sync with nothing changed per kind beside
//!    the same export downloaded alone (4a), pause latency with all six running (4b).
//! 5. Twenty agents' order syncs at once (simulator in its own process), memory included.
//!
//! Run alone: `cargo bench --bench figures [-- --quick | --delta-only [--reps N]]`.

use archibald_sim::data::generate::generate;
use archibald_sim::report::ReportKind;
use archibald_sim::report::pdf::{RenderOptions, render};
use archibald_sim::{Role, SimConfig, Simulator};
use blackant::erp::{Credentials, ErpConfig};
use blackant::records::{Kind, parse_export};
use blackant::service::{Service, ServiceConfig, SourceConfig};
use blackant::store::DataDir;
use blackant::store::prices::ProductIndex;
use blackant::store::tables::{self, RowImage, TableSpec};
use blackant::syncs::CredentialStore;
use blackant_actors::browser_pool::ChromiumConfig;
use blackant_actors::db_writer::open_writer;
use blackant_actors::events::{EventBody, SyncEvent};
use blackant_actors::run::Trigger;
use blackant_actors::run::{Mode, Scope};
use blackant_actors::supervision::RestartPolicy;
use blackant_actors::sync::RetryPolicy;
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
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--order-load") {
        let n = args.get(i + 1).and_then(|n| n.parse().ok()).unwrap_or(20);
        return order_load(n);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let reps = if quick { 3 } else { 11 };
    if args.iter().any(|a| a == "--delta-only") {
        let reps = args
            .iter()
            .position(|a| a == "--reps")
            .and_then(|i| args.get(i + 1)?.parse().ok())
            .unwrap_or(reps);
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        println!(
            "== 4a. delta sync with nothing changed, per kind, vs the same export downloaded alone"
        );
        return rt.block_on(delta_per_kind(reps));
    }
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

    // ---- 2b. price matching --------------------------------------------------------------
    println!(
        "\n== 2b. price matching (code, normalised code, name, normalised name), median of {reps}"
    );
    let products = || {
        world
            .products
            .iter()
            .map(|p| (p.code.as_str(), Some(p.name.as_str())))
    };
    let index = ProductIndex::new(products());
    let rows: Vec<(&str, &str)> = world
        .prices
        .iter()
        .map(|p| (p.product_code.as_str(), p.product_name.as_str()))
        .collect();
    let all = time_n(reps, || {
        rows.iter()
            .filter(|(c, n)| index.find(c, Some(n)).is_some())
            .count()
    });
    let differ = world
        .prices
        .iter()
        .filter(|p| {
            index
                .find(&p.product_code, Some(&p.product_name))
                .map(|(c, _)| c.to_string())
                != p.real_product
        })
        .count();
    let build = time_n(reps, || ProductIndex::new(products()));
    println!(
        "   {} rows against {} products: {:.0} ns per item ({} in all; index build {}); {} matched unlike the ERP",
        rows.len(),
        world.products.len(),
        all.as_secs_f64() * 1e9 / rows.len() as f64,
        ms(all),
        ms(build),
        differ
    );

    // ---- 3.-5. through the real service ---------------------------------------------------
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("\n== 3. end-to-end customer sync of agent1 (simulator, zero latency, real Chromium)");
    rt.block_on(end_to_end(if quick { 2 } else { 5 }));
    println!("\n== 4. all six kinds for agent1 at once, 2 browsers (order lines included)");
    rt.block_on(six_kinds());
    println!(
        "\n== 4a. delta sync with nothing changed, per kind, vs the same export downloaded alone"
    );
    rt.block_on(delta_per_kind(if quick { 3 } else { 15 }));
    println!("\n== 4b. pause latency with all six syncs running (Priority: pause, then resume)");
    rt.block_on(pause_latency(if quick { 10 } else { 60 }));
    drop(rt);
    println!("\n== 5. 20 agents' order syncs at once, 2 browsers, simulator in its own process");
    order_load_in_child(if quick { 6 } else { 20 });
}

/// Per kind, alternately: the export downloaded alone through the service's own BrowserPool
/// (lease, page, export button, PDF bytes), and a whole delta sync finding that export
/// byte-identical (request, ledger row, lease, download, MD5, no parse, no write, completion).
/// The difference is what a delta check costs beyond the ERP's own time (goal: ≤ 50 ms).
async fn delta_per_kind(reps: usize) {
    use blackant::syncs::ExportSource;
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let (service, _data) = start_service(&sim, 1).await;
    let runs = every_kind_of("agent1");
    run_all(&service, &runs, Mode::Full).await;
    let mut erp = ErpConfig::new(sim.base_url());
    erp.page_timeout = Duration::from_secs(120);
    let source = blackant::syncs::ErpSource::new(
        service.directory().clone(),
        blackant::service::BROWSER_POOL,
        erp,
        service.credentials().clone(),
        std::sync::Arc::new(blackant::syncs::breaker::Breakers::new(Default::default())),
    );
    println!(
        "   {:<10} {:>12} {:>14} {:>10} {:>12}   (medians of {reps}, alternating)",
        "kind", "export alone", "delta sync", "overhead", "paired med."
    );
    for (kind, scope) in &runs {
        let (mut alone, mut delta) = (Vec::new(), Vec::new());
        for _ in 0..reps {
            let t = Instant::now();
            let bytes = source
                .export(*kind, scope, tokio_util::sync::CancellationToken::new())
                .await
                .expect("export");
            alone.push(t.elapsed());
            assert!(!bytes.is_empty());
            let mut events = service.subscribe();
            let t = Instant::now();
            let ack = service
                .request_sync(*kind, scope.clone(), Mode::Delta, Trigger::Manual)
                .await
                .expect("request");
            let end = events.wait_for_run(ack.run_id).await.expect("events");
            delta.push(t.elapsed());
            match end.body {
                EventBody::Completed {
                    unchanged_export: true,
                    ..
                } => {}
                other => panic!("{kind}: expected an unchanged export, got {other:?}"),
            }
            if *kind == Kind::Orders {
                // Its DDT and invoice follow-ups take the browser next: let them end before
                // the next measurement.
                let mut follow_ups = std::collections::HashSet::new();
                let mut ended = 0;
                while ended < 2 {
                    let e = events.recv().await.expect("events");
                    if matches!(
                        e.body,
                        EventBody::Queued {
                            trigger: Trigger::FollowUp
                        }
                    ) {
                        follow_ups.insert(e.run_id);
                    } else if e.body.is_terminal() && follow_ups.contains(&e.run_id) {
                        ended += 1;
                    }
                }
            }
        }
        // Paired: each delta sync against the download just before it (same machine state).
        let mut pairs: Vec<f64> = alone
            .iter()
            .zip(&delta)
            .map(|(a, d)| d.as_secs_f64() * 1e3 - a.as_secs_f64() * 1e3)
            .collect();
        pairs.sort_by(f64::total_cmp);
        let paired = pairs[pairs.len() / 2];
        let (a, d) = (median(alone), median(delta));
        println!(
            "   {:<10} {:>12} {:>14} {:>10} {:>12}",
            kind.name(),
            ms(a),
            ms(d),
            format!("{:+.1} ms", d.as_secs_f64() * 1e3 - a.as_secs_f64() * 1e3),
            format!("{paired:+.1} ms")
        );
    }
    service.shutdown().await;
    sim.shutdown().await;
}

/// The service against `sim`'s accounts, with `browsers` Chromium processes.
async fn start_service(
    sim: &archibald_sim::SimHandle,
    browsers: usize,
) -> (Service, tempfile::TempDir) {
    let accounts: Vec<(String, String, bool)> = sim
        .accounts()
        .into_iter()
        .map(|a| (a.username, a.password, a.role == Role::Service))
        .collect();
    start_service_at(sim.base_url(), &accounts, browsers).await
}

/// The service against the ERP at `url`; accounts are (user, password, is the service account).
async fn start_service_at(
    url: &str,
    accounts: &[(String, String, bool)],
    browsers: usize,
) -> (Service, tempfile::TempDir) {
    let credentials = CredentialStore::new();
    let mut agents = Vec::new();
    for (user, password, service) in accounts {
        let scope = if *service {
            Scope::Catalogue
        } else {
            Scope::Agent(user.clone())
        };
        if !service {
            agents.push(user.clone());
        }
        credentials.set(scope, Credentials::new(user, password));
    }
    let data = tempfile::tempdir().expect("data dir");
    let mut erp = ErpConfig::new(url);
    erp.page_timeout = Duration::from_secs(120);
    let service = Service::start(
        ServiceConfig {
            data: DataDir::new(data.path()),
            source: SourceConfig::Erp {
                erp,
                chromium: ChromiumConfig::default(),
                browsers,
            },
            agents,
            retry: RetryPolicy::default(),
            restart: RestartPolicy::default(),
            order_sync_idle: blackant::service::DEFAULT_ORDER_SYNC_IDLE,
            schedule: None,
            breaker: Default::default(),
        },
        credentials,
    )
    .await
    .expect("service");
    (service, data)
}

/// Request every `(kind, scope)` at once and wait until all have ended; the wall time and
/// the records inserted.
async fn run_all(service: &Service, runs: &[(Kind, Scope)], mode: Mode) -> (Duration, u64) {
    let mut events = service.subscribe();
    let t = Instant::now();
    let mut pending = std::collections::HashSet::new();
    for (kind, scope) in runs {
        let ack = service
            .request_sync(*kind, scope.clone(), mode, Trigger::Manual)
            .await
            .expect("request");
        pending.insert(ack.run_id);
    }
    let mut inserted = 0;
    while !pending.is_empty() {
        let e = events.recv().await.expect("events");
        if e.body.is_terminal() && pending.remove(&e.run_id) {
            match &e.body {
                EventBody::Completed { counts, .. } => inserted += counts.inserted,
                other => panic!("{} {} failed: {other:?}", e.kind, e.scope),
            }
        }
    }
    (t.elapsed(), inserted)
}

/// Every kind once: per-agent kinds for `agent`, catalogue kinds for the catalogue.
fn every_kind_of(agent: &str) -> Vec<(Kind, Scope)> {
    Kind::ALL
        .iter()
        .map(|k| {
            let scope = if blackant::service::per_agent(*k) {
                Scope::Agent(agent.into())
            } else {
                Scope::Catalogue
            };
            (*k, scope)
        })
        .collect()
}

async fn six_kinds() {
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let (service, _data) = start_service(&sim, 2).await;
    let runs = every_kind_of("agent1");
    let (first, records) = run_all(&service, &runs, Mode::Full).await;
    let (again, _) = run_all(&service, &runs, Mode::Delta).await;
    println!("   {records} records inserted");
    println!(
        "   first sync (Chromium launch, logins, 6 exports, ~200 order detail pages): wall {}",
        ms(first)
    );
    println!(
        "   again, nothing changed (6 exports, no parsing, no writes):              wall {}",
        ms(again)
    );
    service.shutdown().await;
    sim.shutdown().await;
}

/// Pause and resume `n` times while all six kinds run full syncs (restarted as they end).
async fn pause_latency(n: usize) {
    let sim = Simulator::start(SimConfig::default())
        .await
        .expect("simulator");
    let (service, _data) = start_service(&sim, 2).await;
    let kinds = every_kind_of("agent1");
    let mut waits = Vec::with_capacity(n);
    let mut slowest: std::collections::BTreeMap<String, usize> = Default::default();
    let mut working = Vec::with_capacity(n);
    for _ in 0..n {
        // Keep every kind busy: a request joins a running run or starts a new full one.
        for (kind, scope) in &kinds {
            service
                .request_sync(*kind, scope.clone(), Mode::Full, Trigger::Manual)
                .await
                .expect("request");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        let report = service.pause_syncs().await.expect("pause");
        waits.push(report.waited);
        working.push(report.acked.iter().map(|a| a.paused.len()).sum::<usize>());
        if let Some(s) = report.slowest {
            *slowest.entry(s).or_default() += 1;
        }
        service.resume_syncs().expect("resume");
    }
    waits.sort();
    let pct = |p: f64| waits[((p * waits.len() as f64).ceil() as usize).clamp(1, waits.len()) - 1];
    working.sort();
    println!(
        "   {n} pauses, {} runs working at the median pause: p50 {}  p99 {}  max {}",
        working[working.len() / 2],
        ms(pct(0.50)),
        ms(pct(0.99)),
        ms(*waits.last().expect("pauses"))
    );
    println!("   the sync each pause waited for last: {slowest:?}");
    service.shutdown().await;
    sim.shutdown().await;
}

/// (VmRSS, VmHWM) of this process in MiB, from /proc.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Re-run this benchmark as a child doing only the order load, so that its RSS is the
/// service's alone (the simulator runs as `blackant sim` in a third process, Chromium in its own).
fn order_load_in_child(agents: usize) {
    let exe = std::env::current_exe().expect("own path");
    let out = Command::new(exe)
        .arg("--order-load")
        .arg(agents.to_string())
        .output()
        .expect("run the order load");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        println!(
            "   the order load failed: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
}

/// `--order-load N`: start `blackant sim` with enough agents, then N agents' order syncs at once.
fn order_load(agents: usize) {
    let blackant = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent()?.parent().map(|d| d.join("blackant")))
        .filter(|p| p.exists())
        .expect("target/release/blackant (make bench builds it)");
    let scale = agents.div_ceil(3).to_string();
    let mut sim = Command::new(blackant)
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "42",
            "--scale",
            &scale,
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start blackant sim");
    let mut url = String::new();
    let mut accounts = Vec::new();
    {
        use std::io::BufRead;
        let stdout = sim.stdout.take().expect("sim stdout");
        for line in std::io::BufReader::new(stdout).lines() {
            let line = line.expect("sim output");
            if let Some(u) = line.strip_prefix("Archibald simulator at ") {
                url = u.trim().to_string();
            } else if line.starts_with("controls:") {
                break;
            } else if let [user, role, "password", password] =
                line.split_whitespace().collect::<Vec<_>>()[..]
            {
                accounts.push((user.to_string(), password.to_string(), role == "service"));
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (service, _data) = start_service_at(&url, &accounts, 2).await;
        let (idle_rss, _) = rss_mib();
        let runs: Vec<(Kind, Scope)> = accounts
            .iter()
            .filter(|(_, _, service)| !service)
            .take(agents)
            .map(|(u, _, _)| (Kind::Orders, Scope::Agent(u.clone())))
            .collect();
        let (first, orders) = run_all(&service, &runs, Mode::Full).await;
        let (_, first_peak) = rss_mib();
        let (again, _) = run_all(&service, &runs, Mode::Delta).await;
        let (after, peak) = rss_mib();
        println!(
            "   {} agents, first sync ({orders} orders, each one's detail page): wall {}, service RSS peak {:.0} MiB (idle {:.0} MiB)",
            runs.len(),
            ms(first),
            first_peak,
            idle_rss
        );
        println!("   again, nothing changed: wall {}, RSS now {:.0} MiB, peak {:.0} MiB", ms(again), after, peak);
        service.shutdown().await;
    });
    let _ = sim.kill();
    let _ = sim.wait();
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
    let (service, _data) = start_service(&sim, 1).await;

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
