//! Figures 4, 4a, 4b: all six kinds for agent1 at once; a delta sync with nothing changed per
//! kind beside the same export downloaded alone; pause latency with all six running.

use crate::setup::{self, every_kind_of, run_all};
use crate::table::{Table, median, ms, percentile};
use blackant::service::Agents;
use blackant::syncs::{ErpSource, ExportSource};
use blackant_actors::events::EventBody;
use blackant_actors::run::{Mode, Trigger};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn six_kinds() {
    let mut table = Table::new(
        "4. all six kinds for agent1 at once, 2 browsers (order lines included)",
        &["", "wall", "records inserted"],
    );
    // Each variant against a fresh simulator (its rendered exports are cached per data version).
    let several = blackant::erp::DETAIL_PAGES_AT_ONCE;
    for (at_once, render) in [(1, true), (several, true), (several, false)] {
        let sim = setup::simulator().await;
        let (service, _data) = setup::service_with(&sim, 2, |c| {
            setup::set_detail_pages_at_once(c, at_once);
            setup::set_render_detail_pages(c, render);
        })
        .await;
        let how = if render {
            "opened in tabs"
        } else {
            "fetched after the first"
        };
        setup::browsers_launched(&service, 2).await;
        let runs = every_kind_of("agent1");
        let (first, records) = run_all(&service, &runs, Mode::Full).await;
        let (again, _) = run_all(&service, &runs, Mode::Delta).await;
        table
            .row([
                format!(
                    "first sync, {at_once} detail page(s) at once, {how} (logins, 6 exports, ~200 \
                     order detail pages)"
                ),
                ms(first),
                records.to_string(),
            ])
            .row([
                "again, nothing changed (6 exports, no parsing, no writes)".to_string(),
                ms(again),
                "0".to_string(),
            ]);
        service.shutdown().await;
        sim.shutdown().await;
    }
    table
        .note("browsers launched at start and waited for before the first sync")
        .print();
}

/// Per kind, alternately: the export downloaded alone through the service's own BrowserPool
/// (lease, page, export button, PDF bytes), and a whole delta sync finding that export
/// byte-identical (request, ledger row, lease, download, MD5, no parse, no write, completion).
/// The difference is what a delta check costs beyond the ERP's own time (goal: ≤ 50 ms).
pub async fn delta_per_kind(reps: usize) {
    let sim = setup::simulator().await;
    let (service, _data) = setup::service(&sim, 1).await;
    let runs = every_kind_of("agent1");
    run_all(&service, &runs, Mode::Full).await;
    let (agent_ids, credentials) = blackant::sim_kit::sessions(&sim.accounts(), &[]);
    let agents = Agents::new(agent_ids, Default::default()).expect("agents");
    for (scope, c) in credentials {
        match scope.agent() {
            Some(a) => agents.open_session(a, c).expect("session"),
            None => agents.set_service_account(c),
        }
    }
    let mut erp = blackant::erp::ErpConfig::new(sim.base_url());
    erp.page_timeout = Duration::from_secs(120);
    let source = ErpSource::new(
        service.directory().clone(),
        blackant::service::BROWSER_POOL,
        erp,
        Arc::new(agents.clone()),
        agents.breakers().clone(),
    );
    let mut table = Table::new(
        "4a. delta sync with nothing changed, per kind, vs the same export downloaded alone",
        &[
            "kind",
            "export alone",
            "delta sync",
            "overhead",
            "paired med.",
        ],
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
            if !kind.spec().followed_by.is_empty() {
                // Its follow-ups take the browser next: let them end before the next
                // measurement.
                let mut follow_ups = HashSet::new();
                let mut ended = 0;
                while ended < kind.spec().followed_by.len() {
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
        table.row([
            kind.name().to_string(),
            ms(a),
            ms(d),
            format!("{:+.1} ms", d.as_secs_f64() * 1e3 - a.as_secs_f64() * 1e3),
            format!("{paired:+.1} ms"),
        ]);
    }
    table
        .note(format!(
            "medians of {reps}, alternating export alone / delta sync"
        ))
        .print();
    service.shutdown().await;
    sim.shutdown().await;
}

/// Pause and resume `n` times while all six kinds run full syncs (restarted as they end).
pub async fn pause_latency(n: usize) {
    let sim = setup::simulator().await;
    let (service, _data) = setup::service(&sim, 2).await;
    let kinds = every_kind_of("agent1");
    let mut waits = Vec::with_capacity(n);
    let mut slowest: BTreeMap<String, usize> = Default::default();
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
    working.sort();
    Table::new(
        "4b. pause latency with all six syncs running (Priority: pause, then resume)",
        &["pauses", "runs working (median)", "p50", "p99", "max"],
    )
    .row([
        n.to_string(),
        working[working.len() / 2].to_string(),
        ms(percentile(&waits, 0.50)),
        ms(percentile(&waits, 0.99)),
        ms(*waits.last().expect("pauses")),
    ])
    .note(format!("the sync each pause waited for last: {slowest:?}"))
    .print();
    service.shutdown().await;
    sim.shutdown().await;
}
