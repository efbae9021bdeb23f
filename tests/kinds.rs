//! The other five kinds end to end (issue: the other five syncs): products and prices into
//! `products.db`, orders, DDT and invoices into `orders.db` tagged with their agent — real
//! Chromium, real simulator, over gRPC, compared with the simulator's truth field by field.

use crate::util::*;
use archibald_sim::ReportKind;
use blackant::grpc::pb::{self, SyncKind, SyncMode};
use blackant::records::Kind;
use blackant_actors::events::EventBody;
use blackant_actors::run::Trigger;
use blackant_actors::run::{RunId, Scope};

/// DDT and invoices before orders: an order sync is followed by the agent's DDT and invoice
/// syncs, which would otherwise race this test's own first DDT and invoice requests.
const PER_AGENT: [(SyncKind, Kind, ReportKind); 3] = [
    (SyncKind::Ddt, Kind::Ddt, ReportKind::Ddt),
    (SyncKind::Invoices, Kind::Invoices, ReportKind::Invoices),
    (SyncKind::Orders, Kind::Orders, ReportKind::Orders),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_documents_are_matched_once_their_orders_arrive_and_ddt_and_invoices_follow_changed_orders()
 {
    let h = Harness::start().await;
    let orphans = |view: &str| -> i64 {
        let conn = rusqlite::Connection::open(db_of(&h, Kind::Orders, "agent3")).unwrap();
        conn.query_row(
            &format!("SELECT count(*) FROM {view} WHERE user_id = 'agent3'"),
            [],
            |r| r.get(0),
        )
        .unwrap()
    };

    // DDT and invoices first: their orders are not known yet, so every one is an orphan, kept.
    let ddt = ok_result(&h.sync(SyncKind::Ddt, "agent3", SyncMode::Full).await);
    let invoices = ok_result(&h.sync(SyncKind::Invoices, "agent3", SyncMode::Full).await);
    assert!(
        counts(&ddt).0 > 0 && counts(&invoices).0 > 0,
        "agent3 has DDT and invoices"
    );
    assert_eq!(orphans("orphan_ddts"), counts(&ddt).0 as i64);
    assert_eq!(orphans("orphan_invoices"), counts(&invoices).0 as i64);

    // The order sync brings their orders: no orphan is left, and the agent's DDT and invoice
    // syncs follow on their own.
    let mut events = h.service.subscribe();
    ok_result(&h.sync(SyncKind::Orders, "agent3", SyncMode::Full).await);
    assert_eq!(orphans("orphan_ddts"), 0);
    assert_eq!(orphans("orphan_invoices"), 0);
    // Both follow-ups are queued with the FollowUp trigger and complete.
    let mut follow_ups: Vec<(String, RunId)> = Vec::new();
    let mut ended = Vec::new();
    while ended.len() < 2 {
        let e = wait_event(&mut events, |e| e.scope == Scope::Agent("agent3".into())).await;
        if let EventBody::Queued { trigger } = e.body
            && (e.kind == "ddt" || e.kind == "invoices")
        {
            assert_eq!(trigger, Trigger::FollowUp, "{}", e.kind);
            follow_ups.push((e.kind.clone(), e.run_id));
        }
        if e.body.is_terminal() && follow_ups.iter().any(|(_, r)| *r == e.run_id) {
            assert!(
                matches!(e.body, EventBody::Completed { .. }),
                "{} follow-up: {:?}",
                e.kind,
                e.body
            );
            ended.push(e.kind.clone());
        }
    }
    ended.sort();
    assert_eq!(ended, ["ddt", "invoices"]);

    // An order sync that changes nothing is followed by nothing (DDT and invoices keep their
    // own schedule); the next one that brings a new order is followed again. The reactor
    // handles events in bus order, so a follow-up of the unchanged run would be queued before
    // the changed run's end.
    let mut events = h.service.subscribe();
    let unchanged = ok_result(&h.sync(SyncKind::Orders, "agent3", SyncMode::Delta).await);
    assert_eq!(counts(&unchanged), (0, 0, 0, 0));
    h.sim.add_orders("agent3", 1);
    let changed = ok_result(&h.sync(SyncKind::Orders, "agent3", SyncMode::Delta).await);
    assert_eq!(counts(&changed).0, 1, "the new order");
    let mut ended_orders = 0;
    let mut queued = Vec::new();
    while queued.len() < 2 {
        let e = wait_event(&mut events, |e| e.scope == Scope::Agent("agent3".into())).await;
        if e.kind == "orders" && e.body.is_terminal() {
            ended_orders += 1;
        }
        if let EventBody::Queued {
            trigger: Trigger::FollowUp,
        } = e.body
        {
            assert_eq!(
                ended_orders, 2,
                "{} was queued as a follow-up of the unchanged order sync",
                e.kind
            );
            queued.push(e.kind.clone());
        }
    }
    queued.sort();
    assert_eq!(queued, ["ddt", "invoices"]);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_lines_are_read_from_the_detail_pages_of_new_or_changed_orders_only() {
    let h = Harness::start().await;
    ok_result(&h.sync(SyncKind::Orders, "agent2", SyncMode::Full).await);
    let want = h.sim.order_lines_truth("agent2");
    assert!(
        want.values().all(|l| !l.is_empty()),
        "every order has lines"
    );
    assert_eq!(
        stored_lines(&db_of(&h, Kind::Orders, "agent2"), "agent2"),
        want,
        "the lines equal the detail pages, field by field"
    );

    // Nothing changed: not one detail page is opened again.
    let pages = h.sim.stats().order_pages;
    ok_result(&h.sync(SyncKind::Orders, "agent2", SyncMode::Full).await);
    assert_eq!(h.sim.stats().order_pages, pages);

    // Three new orders and one cancelled: exactly their four detail pages are read (the first
    // one twice: opened, then fetched to compare its HTML with what it shows).
    let cancelled = h.sim.cancel_orders("agent2", 1);
    let added = h.sim.add_orders("agent2", 3);
    assert_eq!((added.len(), cancelled.len()), (3, 1));
    let r = ok_result(&h.sync(SyncKind::Orders, "agent2", SyncMode::Delta).await);
    assert_eq!((counts(&r).0, counts(&r).1), (3, 1));
    assert_eq!(h.sim.stats().order_pages, pages + 5);
    assert_eq!(
        stored_lines(&db_of(&h, Kind::Orders, "agent2"), "agent2"),
        h.sim.order_lines_truth("agent2")
    );
    h.shutdown().await;
}

/// The detail pages read so far by this process: (fetched, rendered).
fn detail_pages_read() -> (f64, f64) {
    counted_by_how(blackant::syncs::DETAIL_PAGES_TOTAL, ["fetched", "rendered"])
}

/// An agent's detail pages are read several at once, never more at once than
/// `erp.detail_pages_at_once`, each exactly once: fetched from one tab after the first one was
/// opened (the default; that one is fetched once more, to compare) and opened in several tabs
/// (`erp.render_detail_pages`). Every ERP answer takes 150 ms here, and the simulator counts
/// the detail requests it is answering at the same time (their wait included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_pages_are_read_concurrently_and_never_more_at_once_than_the_bound() {
    for render in [false, true] {
        let h = Harness::start_with(Options {
            faults: archibald_sim::Faults {
                latency: std::time::Duration::from_millis(150),
                ..Default::default()
            },
            detail_pages_at_once: 3,
            render_detail_pages: render,
            agents: vec!["agent3".into()],
            ..Options::default()
        })
        .await;
        let before = detail_pages_read();
        ok_result(&h.sync(SyncKind::Orders, "agent3", SyncMode::Full).await);
        let after = detail_pages_read();
        let want = h.sim.order_lines_truth("agent3");
        let stats = h.sim.stats();
        assert_eq!(
            stats.order_pages,
            want.len() as u64 + u64::from(!render),
            "rendered {render}: each detail page once (the first twice when fetching)"
        );
        assert!(
            (2..=3).contains(&stats.order_pages_peak),
            "rendered {render}: detail pages at once: {} (bound 3, {} pages)",
            stats.order_pages_peak,
            want.len()
        );
        let (fetched, rendered) = (after.0 - before.0, after.1 - before.1);
        let all = want.len() as f64;
        if render {
            assert_eq!(
                (fetched, rendered),
                (0.0, all),
                "every page opened in a tab"
            );
        } else {
            assert_eq!(
                (fetched, rendered),
                (all - 1.0, 1.0),
                "the first page opened, every other one fetched"
            );
        }
        assert_eq!(
            stored_lines(&db_of(&h, Kind::Orders, "agent3"), "agent3"),
            want,
            "rendered {render}: the lines read in parallel equal the detail pages"
        );
        h.shutdown().await;
    }
}

/// Where a page's HTML does not read as the page shows, the pages are opened in tabs, and the
/// lines are still those the user sees: rows drawn by a script after load (the fetched HTML has
/// none), text hidden by the page's style sheet (in the HTML, not on the page); and when the
/// session expires in the middle of the sync, the fetched page that is the login form is
/// opened instead, which logs in again, and fetching goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_pages_whose_html_reads_otherwise_than_shown_are_opened_in_tabs() {
    let h = Harness::start_with(Options {
        detail_pages_at_once: 2,
        ..Options::default()
    })
    .await;
    let cases = [
        (
            "agent3",
            archibald_sim::Faults {
                detail_lines_by_script: true,
                ..Default::default()
            },
        ),
        (
            "agent2",
            archibald_sim::Faults {
                detail_hidden_text: true,
                ..Default::default()
            },
        ),
        // agent1 has the most orders (~200): its session dies a few times among them.
        (
            "agent1",
            archibald_sim::Faults {
                session_expiry_after_requests: Some(60),
                ..Default::default()
            },
        ),
    ];
    for (agent, faults) in cases {
        h.sim.set_faults(faults.clone());
        let (pages, logins) = (h.sim.stats().order_pages, h.sim.stats().logins);
        let before = detail_pages_read();
        ok_result(&h.sync(SyncKind::Orders, agent, SyncMode::Full).await);
        let (fetched, rendered) = {
            let after = detail_pages_read();
            (after.0 - before.0, after.1 - before.1)
        };
        let want = h.sim.order_lines_truth(agent);
        let all = want.len() as f64;
        assert_eq!(
            stored_lines(&db_of(&h, Kind::Orders, agent), agent),
            want,
            "{faults:?}: the lines are those shown"
        );
        let requested = h.sim.stats().order_pages - pages;
        if faults.detail_lines_by_script || faults.detail_hidden_text {
            assert_eq!((fetched, rendered), (0.0, all), "every page opened");
            assert_eq!(
                requested,
                want.len() as u64 + 1,
                "each page once, the first fetched once more to compare"
            );
        } else {
            let relogins = h.sim.stats().logins - logins;
            assert!(
                relogins >= 2,
                "the session expired during the sync: {relogins} logins"
            );
            assert!(
                rendered >= 2.0 && fetched >= all / 2.0 && fetched + rendered >= all,
                "fetched {fetched}, rendered {rendered} of {all}: pages are fetched again \
                 once a page opened in a tab logged in"
            );
        }
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_order_sync_per_agent_requests_for_the_same_agent_join_and_two_agents_run_side_by_side()
{
    let h = Harness::start_with(Options {
        browsers: 2,
        ..Options::default()
    })
    .await;
    // The same agent twice at once: one run, both callers get its result.
    let (x, y) = tokio::join!(
        h.sync(SyncKind::Orders, "agent1", SyncMode::Full),
        h.sync(SyncKind::Orders, "agent1", SyncMode::Full)
    );
    assert_eq!(x.run_id, y.run_id, "one run");
    let mut outcomes = [x.outcome, y.outcome];
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            pb::request_sync_response::Outcome::Started as i32,
            pb::request_sync_response::Outcome::Joined as i32
        ]
    );
    assert_eq!(
        ok_result(&x).counts,
        ok_result(&y).counts,
        "both callers get the run's result"
    );

    // Two agents at once: both complete, each in its own OrderSync actor.
    let (one, two) = tokio::join!(
        h.sync(SyncKind::Orders, "agent2", SyncMode::Full),
        h.sync(SyncKind::Orders, "agent3", SyncMode::Full)
    );
    assert_ne!(one.run_id, two.run_id);
    for (agent, r) in [("agent2", &one), ("agent3", &two)] {
        ok_result(r);
        let db = live_rows(&db_of(&h, Kind::Orders, agent), Kind::Orders, Some(agent));
        assert_equals_truth(
            &format!("orders {agent}"),
            Kind::Orders,
            truth(&h.sim, ReportKind::Orders, Some(agent)),
            db,
        );
    }
    let tree = h.service.supervisor().list_tree().await.expect("tree");
    let registry = tree
        .iter()
        .find(|c| c.name == "OrderSyncRegistry")
        .expect("the registry is in the tree");
    assert_eq!(
        registry.children.len(),
        3,
        "one OrderSync actor per agent: {:?}",
        registry.children
    );
    h.shutdown().await;
}

/// One row of DESIGN.md's schedule: kind, per agent, interval and stagger in minutes,
/// priority, the kinds it runs after.
type DesignRow = (&'static str, bool, u64, u64, u8, &'static [&'static str]);

/// DESIGN.md's table ("Syncs, triggers and schedule"), copied here on purpose.
const DESIGN: [DesignRow; 6] = [
    ("orders", true, 10, 0, 4, &[]),
    ("customers", true, 30, 5, 3, &[]),
    ("prices", false, 30, 10, 5, &["products"]),
    ("invoices", true, 30, 15, 4, &["orders"]),
    ("ddt", true, 45, 20, 2, &["orders"]),
    ("products", false, 90, 30, 2, &[]),
];

/// The kind table against everything that depends on it: a seventh kind fails here until it
/// has an actor in the tree, a table in its data file, DESIGN.md's schedule and a proto value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_kind_table_describes_every_kind() {
    use blackant::kinds::KINDS;
    use blackant_actors::root::ChildState;
    let h = Harness::start().await;
    let tree = h.service.actors().await.expect("the actor tree");
    let files = tempfile::tempdir().unwrap();
    assert_eq!(KINDS.len(), Kind::ALL.len(), "one spec per kind");
    assert_eq!(DESIGN.len(), KINDS.len(), "DESIGN.md schedules every kind");
    for spec in &KINDS {
        let kind = spec.kind;
        // An actor in the tree, running, named by the table.
        let actor = tree
            .iter()
            .find(|c| c.name == spec.actor)
            .unwrap_or_else(|| panic!("{kind}: no actor {} in {tree:?}", spec.actor));
        assert_eq!(actor.state, ChildState::Running, "{kind}");

        // A data file that holds its table, with the kind's fields and bookkeeping.
        let path = files.path().join(spec.file.file_name(Some("agent1")));
        let conn = blackant_actors::db_writer::open_writer(
            &path,
            blackant::store::schema::migrations(spec.file),
        )
        .expect("the data file opens with its migrations");
        let columns: Vec<String> = conn
            .prepare(&format!("PRAGMA table_info({})", spec.table))
            .unwrap()
            .query_map([], |r| r.get(1))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let fields = kind.columns().iter().map(|c| c.field);
        for column in fields.chain([spec.key_column, "hash", "deleted_at"]) {
            assert!(
                columns.iter().any(|c| c == column),
                "{kind}: {} has no column {column}",
                spec.table
            );
        }

        // DESIGN.md's default schedule.
        let (_, per_agent, interval, stagger, priority, after) = DESIGN
            .iter()
            .find(|d| d.0 == kind.name())
            .unwrap_or_else(|| panic!("DESIGN.md has no schedule for {kind}"));
        let schedule = blackant::service::default_schedule(kind);
        assert_eq!(spec.per_agent, *per_agent, "{kind}");
        assert_eq!(schedule.interval.as_secs(), interval * 60, "{kind}");
        assert_eq!(schedule.stagger.as_secs(), stagger * 60, "{kind}");
        assert_eq!(schedule.priority, *priority, "{kind}");
        let runs_after: Vec<&str> = spec.after.iter().map(|k| k.name()).collect();
        assert_eq!(runs_after, *after, "{kind}");

        // The gRPC conversions round-trip it.
        let proto = blackant::grpc::kind_to_proto(kind);
        assert_ne!(proto, SyncKind::Unspecified, "{kind} has a proto value");
        assert_eq!(
            blackant::grpc::kind_from_proto(proto as i32).expect("known"),
            kind
        );
    }
    // And the status report has a row for each: the catalogue's, and each agent's.
    let statuses = h
        .client
        .clone()
        .get_sync_status(pb::GetSyncStatusRequest::default())
        .await
        .expect("GetSyncStatus")
        .into_inner()
        .statuses;
    for spec in &KINDS {
        let rows = statuses
            .iter()
            .filter(|s| s.kind == blackant::grpc::kind_to_proto(spec.kind) as i32)
            .count();
        let expected = if spec.per_agent {
            h.sim.agents().len()
        } else {
            1
        };
        assert_eq!(rows, expected, "{}", spec.kind);
    }
    h.shutdown().await;
}
