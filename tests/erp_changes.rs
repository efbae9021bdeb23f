//! When Archibald changes under the service (ERP.md, "When Archibald changes without notice"),
//! end to end: real Chromium, the simulator's changes, over gRPC. Columns are found by title
//! (added ones reported, reordered ones read exactly, renamed or removed ones refused with
//! nothing written); a complete-looking export that would delete a large share of a table
//! holds its deletions for an operator; a page that lost what a step looks for fails at once,
//! permanently, with its evidence kept for operators only.

use crate::util::*;
use archibald_sim::{AddedColumn, ErpChanges, ReportChange, ReportKind};
use blackant::grpc::pb::{self, SyncKind, SyncMode};
use blackant::grpc::{AuthConfig, Role, TokenEntry};
use blackant::records::Kind;
use std::collections::BTreeMap;

const EVERY_KIND: [(SyncKind, Kind, ReportKind, &str); 6] = [
    (SyncKind::Products, Kind::Products, ReportKind::Products, ""),
    (SyncKind::Prices, Kind::Prices, ReportKind::Prices, ""),
    (
        SyncKind::Customers,
        Kind::Customers,
        ReportKind::Customers,
        "agent1",
    ),
    // DDT and invoices before orders: an order sync is followed by the agent's DDT and
    // invoice syncs, which would otherwise race this test's own requests.
    (SyncKind::Ddt, Kind::Ddt, ReportKind::Ddt, "agent1"),
    (
        SyncKind::Invoices,
        Kind::Invoices,
        ReportKind::Invoices,
        "agent1",
    ),
    (SyncKind::Orders, Kind::Orders, ReportKind::Orders, "agent1"),
];

fn agent(user: &str) -> Option<&str> {
    (!user.is_empty()).then_some(user)
}

/// Every kind's report with three columns ERP.md does not know — first, in the middle (a
/// right-aligned amount), last — and its known columns in reverse order.
fn added_and_reordered() -> ErpChanges {
    let mut reports = BTreeMap::new();
    for (_, kind, report, _) in EVERY_KIND {
        let n = kind.columns().len();
        reports.insert(
            report,
            ReportChange {
                add: vec![
                    AddedColumn {
                        title: "Zona".into(),
                        at: Some(0),
                        numeric: false,
                    },
                    AddedColumn {
                        title: "Fido".into(),
                        at: Some(n / 2 + 1),
                        numeric: true,
                    },
                    AddedColumn {
                        title: "Note interne".into(),
                        at: None,
                        numeric: false,
                    },
                ],
                order: kind
                    .columns()
                    .iter()
                    .rev()
                    .map(|c| c.field.into())
                    .collect(),
                ..Default::default()
            },
        );
    }
    ErpChanges {
        reports,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn columns_are_read_by_title_in_every_kind_and_a_renamed_or_removed_one_writes_nothing() {
    let h = Harness::start_with(Options {
        agents: vec!["agent1".into()],
        ..Default::default()
    })
    .await;

    // Added columns anywhere and the known ones in another order: every record exact, the
    // unknown titles reported on the run (and nothing of their text in a known field).
    h.sim.set_changes(added_and_reordered());
    for (pb_kind, kind, report, user) in EVERY_KIND {
        let r = ok_result(&h.sync(pb_kind, user, SyncMode::Full).await);
        let mut reported = r.unknown_columns.clone();
        reported.sort();
        assert_eq!(reported, ["Fido", "Note interne", "Zona"], "{kind}: {r:?}");
        let want = truth(&h.sim, report, agent(user));
        let db = live_rows(&db_of(&h, kind, user), kind, agent(user));
        assert_equals_truth(&format!("{kind} with added columns"), kind, want, db);
    }
    let runs = h
        .service
        .recent_runs(
            blackant::store::ledger::RunFilter {
                kind: Some("customers".into()),
                ..Default::default()
            },
            1,
        )
        .await
        .expect("the run history");
    assert_eq!(
        runs[0].unknown_columns.len(),
        3,
        "kept in the history: {runs:?}"
    );

    // A known column renamed, then removed: the run fails permanently naming the title it
    // expected (and, renamed, the one it found); the replica is unchanged row by row.
    for (label, change) in [("renamed", true), ("removed", false)] {
        for (pb_kind, kind, report, user) in EVERY_KIND {
            let before = live_rows(&db_of(&h, kind, user), kind, agent(user));
            let column = kind.columns()[1];
            let mut c = ReportChange::default();
            if change {
                c.rename
                    .insert(column.field.into(), format!("{} bis", column.title));
            } else {
                c.remove.push(column.field.into());
            }
            h.sim.set_changes(ErpChanges {
                reports: BTreeMap::from([(report, c)]),
                ..Default::default()
            });
            let r = failed_result(&h.sync(pb_kind, user, SyncMode::Full).await);
            assert!(r.permanent, "{kind} {label}: permanent: {r:?}");
            assert!(
                r.error.contains(column.title),
                "{kind} {label}: names the expected title {:?}: {}",
                column.title,
                r.error
            );
            if change {
                assert!(
                    r.error.contains(&format!("{} bis", column.title)),
                    "{kind}: names the title found: {}",
                    r.error
                );
            }
            let after = live_rows(&db_of(&h, kind, user), kind, agent(user));
            assert_eq!(after, before, "{kind} {label}: the replica changed");
        }
    }

    // Values in a format the contract does not give: ISO dates, English numbers, a status it
    // does not list — the run fails naming page, row, column and value; nothing written.
    let formats = [
        (
            SyncKind::Customers,
            Kind::Customers,
            "agent1",
            ErpChanges {
                date_format: archibald_sim::DateFormat::Iso,
                ..Default::default()
            },
            "Ultimo ordine",
        ),
        (
            SyncKind::Prices,
            Kind::Prices,
            "",
            ErpChanges {
                number_format: archibald_sim::NumberFormat::English,
                ..Default::default()
            },
            "Prezzo unitario",
        ),
        (
            SyncKind::Products,
            Kind::Products,
            "",
            ErpChanges {
                status_renamed: BTreeMap::from([("Sospeso".to_string(), "Bloccato".to_string())]),
                ..Default::default()
            },
            "Bloccato",
        ),
    ];
    for (pb_kind, kind, user, change, named) in formats {
        let before = live_rows(&db_of(&h, kind, user), kind, agent(user));
        h.sim.set_changes(change);
        let r = failed_result(&h.sync(pb_kind, user, SyncMode::Full).await);
        assert!(r.permanent, "{kind}: {r:?}");
        assert!(
            r.error.contains("page ") && r.error.contains(named),
            "{kind}: names the page and {named:?}: {}",
            r.error
        );
        let after = live_rows(&db_of(&h, kind, user), kind, agent(user));
        assert_eq!(after, before, "{kind}: the replica changed");
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_export_showing_a_tenth_holds_its_deletions_until_an_operator_releases_or_discards_them()
{
    let h = Harness::start_with(Options {
        agents: vec!["agent1".into()],
        ..Default::default()
    })
    .await;
    let db = h.customers_db("agent1");
    let live = || live_rows(&db, Kind::Customers, Some("agent1")).len() as u64;
    ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    let all = live();
    assert!(all > 1_000, "a big portfolio: {all}");

    // Three customers removed in the ERP: below the threshold, deleted at once.
    let removed = h.sim.remove_customers("agent1", 3);
    let r = ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    assert_eq!(counts(&r).3, 3, "{r:?}");
    assert_eq!(r.held_deletions, 0);
    let all = live();
    let deleted = deleted_rows(&db, Kind::Customers, Some("agent1"));
    for code in &removed {
        assert!(deleted.iter().any(|d| d["code"] == *code), "{code} deleted");
    }

    // A saved filter left on the view: the export looks complete and shows a tenth.
    let filtered = |share: f64| ErpChanges {
        saved_filters: BTreeMap::from([(ReportKind::Customers, share)]),
        ..Default::default()
    };
    h.sim.set_changes(filtered(0.1));
    let held = ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    let (inserted, updated, shown, deleted) = counts(&held);
    assert_eq!(
        (inserted, updated, deleted),
        (0, 0, 0),
        "nothing deleted: {held:?}"
    );
    assert!(
        shown.abs_diff(all / 10) <= 1,
        "the view shows a tenth: {shown} of {all}"
    );
    assert_eq!(held.held_deletions, all - shown, "{held:?}");
    assert!(held.held_reason.contains('%'), "why: {}", held.held_reason);
    assert_eq!(live(), all, "every row still live");
    // The process's recorder first (a gauge set before it exists goes nowhere).
    blackant::http::prometheus().expect("the Prometheus recorder installs");
    h.service.refresh_state_metrics().await;
    let gauge = scrape_metrics()
        .samples
        .into_iter()
        .find(|s| {
            s.metric == "blackant_held_deletions" && s.labels.get("kind") == Some("customers")
        })
        .map(|s| match s.value {
            prometheus_parse::Value::Gauge(v) => v,
            other => panic!("a gauge: {other:?}"),
        });
    assert_eq!(gauge, Some((all - shown) as f64));
    let status = h.status(SyncKind::Customers, "agent1").await;
    assert_eq!(
        status.held_deletions,
        all - shown,
        "status shows it: {status:?}"
    );

    // Over gRPC: listed with the run that held it.
    let mut admin = pb::admin_service_client::AdminServiceClient::new(channel(h.addr).await);
    let list = admin
        .list_held_deletions(pb::ListHeldDeletionsRequest {})
        .await
        .expect("ListHeldDeletions")
        .into_inner()
        .held;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].user, "agent1");
    assert_eq!(list[0].count, all - shown);
    let first_run = list[0].run_id;

    // The next complete export recomputes the set: rows that came back leave it.
    h.sim.set_changes(filtered(0.5));
    let again = ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    let shown_half = counts(&again).2;
    assert!(
        shown_half.abs_diff(all / 2) <= 1,
        "half: {shown_half} of {all}"
    );
    assert_eq!(again.held_deletions, all - shown_half, "{again:?}");
    let req = |run_id: i64| pb::HeldDeletionsRequest {
        kind: SyncKind::Customers as i32,
        user: "agent1".into(),
        run_id,
    };
    // Decided on the set as first seen: refused, it was recomputed since.
    let stale = admin
        .release_held_deletions(req(first_run))
        .await
        .expect_err("a stale set is not released");
    assert_eq!(stale.code(), tonic::Code::FailedPrecondition, "{stale:?}");
    assert_eq!(live(), all);

    // Released: exactly the held rows marked deleted; the replica is the view.
    let released = admin
        .release_held_deletions(req(0))
        .await
        .expect("released")
        .into_inner();
    assert_eq!(released.deleted, all - shown_half);
    assert_eq!(live(), shown_half);
    // What stays is what the view showed, each row as the ERP has it.
    let want = truth(&h.sim, ReportKind::Customers, Some("agent1"));
    for row in live_rows(&db, Kind::Customers, Some("agent1")) {
        assert!(want.contains(&row), "a row the ERP does not have: {row:?}");
    }
    let none = admin
        .discard_held_deletions(req(0))
        .await
        .expect_err("nothing held any more");
    assert_eq!(none.code(), tonic::Code::NotFound, "{none:?}");

    // The filter removed: every customer back. A tenth again, discarded: every row kept.
    h.sim.set_changes(ErpChanges::default());
    ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    assert_equals_truth(
        "filter removed",
        Kind::Customers,
        truth(&h.sim, ReportKind::Customers, Some("agent1")),
        live_rows(&db, Kind::Customers, Some("agent1")),
    );
    h.sim.set_changes(filtered(0.1));
    let held = ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    assert_eq!(held.held_deletions, all - shown);
    let discarded = admin
        .discard_held_deletions(req(0))
        .await
        .expect("discarded")
        .into_inner();
    assert_eq!(discarded.deleted, 0);
    assert_eq!(discarded.held.map(|h| h.count), Some(all - shown));
    assert_eq!(live(), all, "every row kept");
    let list = admin
        .list_held_deletions(pb::ListHeldDeletionsRequest {})
        .await
        .expect("ListHeldDeletions")
        .into_inner()
        .held;
    assert!(list.is_empty(), "{list:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_deletions_are_decided_by_operators_only() {
    let operator = "operator-token-0123456789abcdef";
    let agent_token = "agent1-token-0123456789abcdef";
    let h = Harness::start_with(Options {
        agents: vec!["agent1".into()],
        auth: AuthConfig::new(&[
            TokenEntry::for_token(operator, Role::Operator, None),
            TokenEntry::for_token(agent_token, Role::Agent, Some("agent1")),
        ])
        .expect("tokens"),
        ..Default::default()
    })
    .await;
    let mut admin = pb::admin_service_client::AdminServiceClient::new(channel(h.addr).await);
    let req = pb::HeldDeletionsRequest {
        kind: SyncKind::Customers as i32,
        user: "agent1".into(),
        run_id: 0,
    };
    let refused = |e: &tonic::Status| {
        matches!(
            e.code(),
            tonic::Code::PermissionDenied | tonic::Code::Unauthenticated
        )
    };
    for token in [None, Some(agent_token)] {
        let e = admin
            .release_held_deletions(with_token(token, req.clone()))
            .await
            .expect_err("refused");
        assert!(refused(&e), "{token:?}: {e:?}");
        let e = admin
            .list_held_deletions(with_token(token, pb::ListHeldDeletionsRequest {}))
            .await
            .expect_err("refused");
        assert!(refused(&e), "{token:?}: {e:?}");
    }
    let e = admin
        .release_held_deletions(with_token(Some(operator), req))
        .await
        .expect_err("nothing held");
    assert_eq!(e.code(), tonic::Code::NotFound, "{e:?}");
    let bad = admin
        .release_held_deletions(with_token(
            Some(operator),
            pb::HeldDeletionsRequest {
                kind: SyncKind::Products as i32,
                user: "agent1".into(),
                run_id: 0,
            },
        ))
        .await
        .expect_err("a catalogue kind has no agent");
    assert_eq!(bad.code(), tonic::Code::InvalidArgument, "{bad:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_that_lost_what_a_step_looks_for_fails_at_once_with_its_evidence_for_operators_only()
{
    let operator = "operator-token-0123456789abcdef";
    let agent_token = "agent1-token-0123456789abcdef";
    let page_timeout = std::time::Duration::from_secs(60);
    let h = Harness::start_with(Options {
        agents: vec!["agent1".into()],
        // Far above the element wait (3 s): a step that waited for the page timeout shows.
        page_timeout: Some(page_timeout),
        ..Default::default()
    })
    .await;
    ok_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    ok_result(&h.sync(SyncKind::Products, "", SyncMode::Full).await);
    let before = live_rows(&h.customers_db("agent1"), Kind::Customers, Some("agent1"));

    // The export button relabelled.
    h.sim.set_changes(ErpChanges {
        export_button_label: Some("Scarica PDF".into()),
        ..Default::default()
    });
    let r = failed_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    assert!(r.permanent, "{r:?}");
    assert!(
        r.error.contains("Esporta PDF"),
        "names what it looked for: {}",
        r.error
    );
    assert!(r.error.contains("/clienti"), "names the page: {}", r.error);
    let took = r.duration.map(|d| d.seconds).unwrap_or_default();
    assert!(
        took < page_timeout.as_secs() as i64,
        "failed within the element wait, not the page timeout: {took} s"
    );
    assert!(!r.evidence.is_empty(), "evidence kept: {r:?}");
    let evidence = h.data.path().join("evidence").join(&r.evidence);
    let html = std::fs::read_to_string(evidence.join("page.html")).expect("the page's HTML");
    assert!(html.contains("Scarica PDF"), "the page as it was");
    let png = std::fs::read(evidence.join("screenshot.png")).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert_eq!(
        live_rows(&h.customers_db("agent1"), Kind::Customers, Some("agent1")),
        before
    );

    // Served over the HTTP port to an operator, as text; to nobody else.
    let auth = AuthConfig::new(&[
        TokenEntry::for_token(operator, Role::Operator, None),
        TokenEntry::for_token(agent_token, Role::Agent, Some("agent1")),
    ])
    .expect("tokens");
    let (url, _stop) = serve_http(h.service.clone(), auth).await;
    let http = reqwest::Client::new();
    let file = format!("{url}/dashboard/evidence/{}/page.html", r.evidence);
    for token in [None, Some(agent_token)] {
        let mut get = http.get(&file);
        if let Some(t) = token {
            get = get.bearer_auth(t);
        }
        let resp = get.send().await.expect("answer");
        assert_eq!(resp.status(), 401, "{token:?}");
    }
    let resp = http
        .get(&file)
        .bearer_auth(operator)
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/plain"),
        "the foreign page is shown as text, never run"
    );
    assert!(resp.text().await.expect("body").contains("Scarica PDF"));
    for bad in ["..%2F..%2Fblackant.lock", "nope"] {
        let resp = http
            .get(format!("{url}/dashboard/evidence/{bad}/page.html"))
            .bearer_auth(operator)
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), 404, "{bad}");
    }
    let index = http
        .get(format!("{url}/dashboard/evidence/{}/", r.evidence))
        .bearer_auth(operator)
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("body");
    assert!(
        index.contains("Esporta PDF"),
        "what was looked for: {index}"
    );

    // The login form without a password field (a new sign-on page): the next login fails
    // the same way.
    h.sim.set_changes(ErpChanges {
        login_without_password: true,
        ..Default::default()
    });
    h.sim.expire_sessions();
    let r = failed_result(&h.sync(SyncKind::Customers, "agent1", SyncMode::Full).await);
    assert!(r.permanent, "{r:?}");
    assert!(r.error.contains("password field"), "{}", r.error);
    assert!(!r.evidence.is_empty(), "{r:?}");

    // The detail page's lines table with its code column retitled: the orders sync (reading
    // the lines of every new order) fails the same way, writing nothing.
    h.sim.set_changes(ErpChanges {
        detail_code_title: Some("Cod. art.".into()),
        ..Default::default()
    });
    let r = failed_result(&h.sync(SyncKind::Orders, "agent1", SyncMode::Full).await);
    assert!(r.permanent, "{r:?}");
    assert!(r.error.contains("Codice articolo"), "{}", r.error);
    assert!(!r.evidence.is_empty(), "{r:?}");
    assert!(
        live_rows(
            &db_of(&h, Kind::Orders, "agent1"),
            Kind::Orders,
            Some("agent1")
        )
        .is_empty(),
        "no order written without its lines"
    );

    // The order form with a renamed label: the placement fails before any click, naming it.
    h.sim.set_changes(ErpChanges {
        order_form_labels: BTreeMap::from([("Quantità".to_string(), "Q.tà".to_string())]),
        ..Default::default()
    });
    let (code, quantity) = orderable(&h.sim, 0);
    let customer = before[0]["code"].as_str().expect("a code").to_string();
    let placed = orders_client(h.addr)
        .await
        .place_order(pb::PlaceOrderRequest {
            idempotency_key: "erp-changed-1".into(),
            user: "agent1".into(),
            customer_code: customer,
            lines: vec![pb::OrderLine { code, quantity }],
            notes: String::new(),
            wait: true,
        })
        .await
        .expect("PlaceOrder")
        .into_inner()
        .placement
        .expect("a placement");
    assert_eq!(
        placed.state,
        pb::PlacementState::Failed as i32,
        "{placed:?}"
    );
    assert!(placed.reason.contains("Quantità"), "{}", placed.reason);
    assert!(
        h.sim.orders_with_reference(&placed.reference).is_empty(),
        "nothing submitted"
    );
    h.shutdown().await;
}
