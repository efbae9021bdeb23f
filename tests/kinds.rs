//! The other five kinds end to end (issue: the other five syncs): products and prices into
//! `products.db`, orders, DDT and invoices into `orders.db` tagged with their agent — real
//! Chromium, real simulator, over gRPC, compared with the simulator's truth field by field.

use crate::util::*;
use archibald_sim::ReportKind;
use blackant::grpc::pb::{SyncKind, SyncMode};
use blackant::records::Kind;

const PER_AGENT: [(SyncKind, Kind, ReportKind); 3] = [
    (SyncKind::Orders, Kind::Orders, ReportKind::Orders),
    (SyncKind::Ddt, Kind::Ddt, ReportKind::Ddt),
    (SyncKind::Invoices, Kind::Invoices, ReportKind::Invoices),
];

const CATALOGUE: [(SyncKind, Kind, ReportKind); 2] = [
    (SyncKind::Products, Kind::Products, ReportKind::Products),
    (SyncKind::Prices, Kind::Prices, ReportKind::Prices),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_equals_the_erp_per_agent_and_an_unchanged_resync_writes_nothing() {
    let h = Harness::start().await;

    for (pb_kind, kind, report) in CATALOGUE {
        let first = ok_result(&h.sync(pb_kind, "", SyncMode::Full).await);
        let want = truth(&h.sim, report, None);
        assert!(
            want.len() >= 5_000,
            "{kind}: the catalogue is big ({})",
            want.len()
        );
        assert_eq!(
            counts(&first).0,
            want.len() as u64,
            "{kind}: every record inserted"
        );
        let db = live_rows(&db_of(&h, kind, ""), kind, None);
        assert_equals_truth(&format!("{kind} full sync"), kind, want, db);
    }

    for agent in ["agent1", "agent2"] {
        for (pb_kind, kind, report) in PER_AGENT {
            let first = ok_result(&h.sync(pb_kind, agent, SyncMode::Full).await);
            let want = truth(&h.sim, report, Some(agent));
            assert!(!want.is_empty(), "{kind}: {agent} has records in the ERP");
            assert_eq!(
                counts(&first).0,
                want.len() as u64,
                "{kind} {agent}: every record inserted"
            );
            let db = live_rows(&db_of(&h, kind, agent), kind, Some(agent));
            assert_equals_truth(&format!("{kind} {agent} full sync"), kind, want, db);
        }
    }

    // Neither agent's rows hold the other's data: agent1's sync left agent2's rows alone and
    // each agent's rows are exactly its own portfolio (checked above); no row of one agent's
    // documents carries a number of the other agent's.
    for (_, kind, report) in PER_AGENT {
        let theirs = truth(&h.sim, report, Some("agent2"));
        let field = kind.columns()[0].field;
        let mine = live_rows(&db_of(&h, kind, "agent1"), kind, Some("agent1"));
        for r in &theirs {
            assert!(
                !mine.iter().any(|m| m[field] == r[field]),
                "{kind}: agent2's {} is among agent1's rows",
                r[field]
            );
        }
    }

    // An unchanged re-sync writes 0 rows: a full one re-reads and finds every row unchanged,
    // a delta one sees the byte-identical export and does nothing at all.
    let mut all: Vec<(SyncKind, &str)> = CATALOGUE.iter().map(|(k, _, _)| (*k, "")).collect();
    all.extend(PER_AGENT.iter().map(|(k, _, _)| (*k, "agent1")));
    all.push((SyncKind::Customers, "agent1"));
    for (pb_kind, agent) in all {
        if pb_kind == SyncKind::Customers {
            ok_result(&h.sync(pb_kind, agent, SyncMode::Full).await);
        }
        let full = ok_result(&h.sync(pb_kind, agent, SyncMode::Full).await);
        let (ins, upd, _, del) = counts(&full);
        assert_eq!(
            (ins, upd, del),
            (0, 0, 0),
            "{pb_kind:?}: a full re-sync of unchanged data writes nothing"
        );
        let delta = ok_result(&h.sync(pb_kind, agent, SyncMode::Delta).await);
        assert!(
            delta.unchanged_export,
            "{pb_kind:?}: the delta sees the same export"
        );
        assert_eq!(counts(&delta), (0, 0, 0, 0), "{pb_kind:?}");
    }
    h.shutdown().await;
}
