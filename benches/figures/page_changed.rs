//! Figure 11: when Archibald's pages change — how long a run takes to fail permanently when a
//! step does not find what it looks for (the export button relabelled, the detail page's lines
//! table retitled), beside the same kinds' successful runs on the unchanged ERP; and the
//! evidence folder's bound (200 snapshots, 500 MB) holding while 1,000 snapshots are written.

use crate::setup;
use crate::table::{Table, median, ms};
use archibald_sim::ErpChanges;
use blackant::erp::{EvidenceBounds, EvidenceStore};
use blackant::records::Kind;
use blackant_actors::events::EventBody;
use blackant_actors::run::{Mode, Scope, Trigger};
use std::time::{Duration, Instant};

/// Request `kind` for agent1 (full) and wait for its end: wall time, and whether it failed
/// permanently (with evidence).
async fn one_run(service: &blackant::service::Service, kind: Kind) -> (Duration, bool) {
    let mut events = service.subscribe();
    let t = Instant::now();
    let ack = service
        .request_sync(
            kind,
            Scope::Agent("agent1".into()),
            Mode::Full,
            Trigger::Manual,
        )
        .await
        .expect("request");
    loop {
        let e = events.recv().await.expect("events");
        if e.run_id != ack.run_id || !e.body.is_terminal() {
            continue;
        }
        let failed = match &e.body {
            EventBody::Failed {
                permanent, notes, ..
            } => *permanent && notes.evidence.is_some(),
            _ => false,
        };
        return (t.elapsed(), failed);
    }
}

pub async fn run(reps: usize) {
    let sim = setup::simulator().await;
    let (service, _data) = setup::service(&sim, 1).await;
    setup::browsers_launched(&service, 1).await;
    // A first run of each kind, so that what follows is the steady state (a logged-in
    // context, the orders known: their detail pages are read only when they changed).
    for kind in [Kind::Customers, Kind::Orders] {
        one_run(&service, kind).await;
    }
    let mut table = Table::new(
        format!("11. a page that changed: request → permanent failure, median of {reps}"),
        &[
            "step",
            "changed page",
            "unchanged page",
            "failed with evidence",
        ],
    );
    let cases = [
        (
            "export button (customers)",
            Kind::Customers,
            ErpChanges {
                export_button_label: Some("Scarica PDF".into()),
                ..Default::default()
            },
        ),
        (
            "detail lines table (orders)",
            Kind::Orders,
            ErpChanges {
                detail_code_title: Some("Cod. art.".into()),
                ..Default::default()
            },
        ),
    ];
    for (label, kind, change) in cases {
        let mut changed = Vec::new();
        let mut unchanged = Vec::new();
        let mut with_evidence = 0;
        for _ in 0..reps {
            sim.set_changes(change.clone());
            if kind == Kind::Orders {
                // New orders, so the sync reads detail pages at all.
                sim.add_orders("agent1", 2);
            }
            let (took, failed) = one_run(&service, kind).await;
            changed.push(took);
            with_evidence += usize::from(failed);
            sim.set_changes(ErpChanges::default());
            unchanged.push(one_run(&service, kind).await.0);
        }
        table.row([
            label.to_string(),
            ms(median(changed)),
            ms(median(unchanged)),
            format!("{with_evidence} of {reps}"),
        ]);
    }
    table
        .note(format!(
            "element wait {:?}: a missing element fails once it has passed, the page kept as \
             evidence (HTML, screenshot); the unchanged page's run does the whole export or \
             detail read",
            blackant::erp::ELEMENT_WAIT
        ))
        .print();
    service.shutdown().await;
    sim.shutdown().await;
    evidence_bound().await;
}

/// 1,000 snapshots of 300 KB (HTML and PNG) written one after another: what the folder keeps.
async fn evidence_bound() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bounds = EvidenceBounds::default();
    let store = EvidenceStore::new(dir.path().join("evidence"), bounds);
    let html = vec![b'x'; 100 << 10];
    let png = vec![0u8; 200 << 10];
    let t = Instant::now();
    for i in 0..1000 {
        store
            .write(
                &format!("button {i}"),
                "http://erp/clienti",
                "Clienti",
                &html,
                &png,
            )
            .await
            .expect("write");
    }
    let took = t.elapsed();
    let kept = store.list().len();
    let bytes: u64 = walk_size(&dir.path().join("evidence"));
    Table::new(
        "11b. the evidence folder's bound (1,000 snapshots of 300 KB written)",
        &["kept", "bound", "size", "bound", "per snapshot"],
    )
    .row([
        kept.to_string(),
        bounds.max_files.to_string(),
        format!("{:.1} MB", bytes as f64 / 1e6),
        format!("{} MB", bounds.max_bytes >> 20),
        ms(took / 1000),
    ])
    .print();
}

fn walk_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}
