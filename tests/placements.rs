//! Placing orders through the whole service (issue: placing orders exactly once): real
//! Chromium driving the simulator's order form, the outbox in sync.db, the OrderPlacer under
//! Priority, over gRPC. Each test checks the simulator's own count of orders carrying the
//! placement's reference: exactly one.

use crate::util::*;
use archibald_sim::ReportKind;
use blackant::grpc::pb::{self, PlacementState};
use blackant::records::Kind;
use blackant_actors::events::EventBody;

/// A request to place `lines` for `agent`'s first customer.
fn order(
    sim: &archibald_sim::SimHandle,
    key: &str,
    agent: &str,
    lines: &[(String, i64)],
) -> pb::PlaceOrderRequest {
    let customer = sim.truth(ReportKind::Customers, Some(agent))[0]["code"]
        .as_str()
        .unwrap()
        .to_string();
    pb::PlaceOrderRequest {
        idempotency_key: key.into(),
        user: agent.into(),
        customer_code: customer,
        lines: lines
            .iter()
            .map(|(code, quantity)| pb::OrderLine {
                code: code.clone(),
                quantity: *quantity,
            })
            .collect(),
        notes: "Consegna al mattino, citofonare Rossi".into(),
        wait: true,
    }
}

/// Wait until `orders.db` holds `agent`'s order `number` (the follow-up order sync after the
/// placement brings it, once the ERP has indexed it): on each completed order run of the
/// agent, look.
async fn in_orders_db(
    h: &Harness,
    events: &mut blackant_actors::events::EventSubscription,
    agent: &str,
    number: &str,
) {
    let db = h.data.path().join("orders.db");
    // The file may exist before its tables do (its writer migrates it): not there yet.
    let has = || {
        blackant_actors::db_writer::open_reader(&db)
            .ok()
            .and_then(|conn| blackant::store::lookups::has_order(&conn, agent, number).ok())
            .unwrap_or(false)
    };
    while !has() {
        wait_event(events, |e| {
            e.kind == "orders"
                && e.scope.agent() == Some(agent)
                && matches!(e.body, EventBody::Completed { .. })
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_placement_ends_placed_exactly_once_and_the_order_reaches_orders_db() {
    let h = Harness::start().await;
    let agent = "agent3";
    let lines = vec![orderable(&h.sim, 0), orderable(&h.sim, 1)];
    let mut events = h.service.subscribe();
    // Right after login: the replicas know neither the customer nor the products yet, so
    // they are refreshed once before the order is judged.
    let req = order(&h.sim, "first-order-1", agent, &lines);
    let placed = orders_client(h.addr)
        .await
        .place_order(req.clone())
        .await
        .expect("PlaceOrder")
        .into_inner();
    assert!(placed.created);
    let p = placed.placement.expect("placement");
    assert_eq!(
        PlacementState::try_from(p.state),
        Ok(PlacementState::Placed),
        "{}",
        p.reason
    );
    assert_eq!(p.attempts, 1);
    assert!(
        p.reference.starts_with("BA") && p.reference.len() == 18,
        "{}",
        p.reference
    );
    // Exactly one order in Archibald with its reference.
    assert_eq!(
        h.sim.orders_with_reference(&p.reference),
        std::slice::from_ref(&p.order_number)
    );

    // orders.db has it after the follow-up order sync, with its lines and reference.
    in_orders_db(&h, &mut events, agent, &p.order_number).await;
    let db = h.data.path().join("orders.db");
    let row = live_rows(&db, Kind::Orders, Some(agent))
        .into_iter()
        .find(|o| o["order_number"] == p.order_number.as_str())
        .expect("in orders.db");
    assert_eq!(row["customer_reference"], p.reference.as_str());
    assert_eq!(row["customer_code"], req.customer_code.as_str());
    let truth = h.sim.order_lines_truth(agent);
    let lines_in_erp = &truth[&p.order_number];
    assert_eq!(lines_in_erp.len(), 2);
    for ((code, qty), line) in lines.iter().zip(lines_in_erp) {
        assert_eq!(line["product_code"], code.as_str());
        assert_eq!(line["quantity"], *qty);
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let stored: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM order_lines WHERE user_id = ?1 AND order_number = ?2",
            [agent, p.order_number.as_str()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, 2, "its lines too");

    // The same key and order again: the same placement, nothing placed again.
    let again = orders_client(h.addr)
        .await
        .place_order(req)
        .await
        .expect("PlaceOrder again")
        .into_inner();
    assert!(!again.created);
    assert_eq!(again.placement.unwrap().id, p.id);
    assert_eq!(h.sim.orders_with_reference(&p.reference).len(), 1);
    h.shutdown().await;
}

/// The placement's states in the order the bus told them (from its accepted state on).
async fn path_of(
    events: &mut blackant_actors::events::Subscription<
        blackant_actors::order_placer::PlacementEvent,
    >,
    id: u64,
) -> Vec<blackant_actors::order_placer::PlacementState> {
    use blackant_actors::order_placer::PlacementState as S;
    let mut path = vec![S::Accepted];
    loop {
        let e = tokio::time::timeout(PATIENCE, events.recv())
            .await
            .expect("the placement moves in time")
            .expect("bus open");
        if e.placement.id as u64 != id || e.from == e.placement.state {
            continue;
        }
        path.push(e.placement.state);
        if e.placement.state.is_settled() {
            return path;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_confirmations_errors_before_creation_and_mid_form_expiry_all_end_placed_once() {
    use blackant_actors::order_placer::PlacementState as S;
    let h = Harness::start().await;
    let agent = "agent2";
    let lines = vec![orderable(&h.sim, 2)];
    let mut client = orders_client(h.addr).await;
    // Replicas first, so each placement goes straight to the form.
    ok_result(
        &h.sync(pb::SyncKind::Customers, agent, pb::SyncMode::Full)
            .await,
    );
    ok_result(&h.sync(pb::SyncKind::Products, "", pb::SyncMode::Full).await);
    let cases = [
        // Created, then the connection drops: found by its reference once indexed.
        (
            "lost",
            archibald_sim::Faults {
                lose_next_confirmations: 1,
                ..Default::default()
            },
            vec![S::Accepted, S::Submitting, S::InDoubt, S::Placed],
        ),
        // A 500 before anything is created: nothing found after the lag, submitted again.
        (
            "refused",
            archibald_sim::Faults {
                fail_next_submits: 1,
                ..Default::default()
            },
            vec![
                S::Accepted,
                S::Submitting,
                S::InDoubt,
                S::Accepted,
                S::Submitting,
                S::Placed,
            ],
        ),
        // The session dies while the form is filled: logged in again, placed once.
        (
            "expired",
            archibald_sim::Faults {
                expire_next_forms: 1,
                ..Default::default()
            },
            vec![S::Accepted, S::Submitting, S::Placed],
        ),
    ];
    for (name, faults, expected) in cases {
        h.sim.set_faults(faults);
        let mut moves = h.service.subscribe_placements();
        let mut req = order(&h.sim, &format!("fault-{name}"), agent, &lines);
        req.wait = false;
        let accepted = client
            .place_order(req)
            .await
            .expect("PlaceOrder")
            .into_inner()
            .placement
            .unwrap();
        let path = path_of(&mut moves, accepted.id).await;
        assert_eq!(path, expected, "{name}");
        let p = client
            .get_placement(pb::GetPlacementRequest {
                by: Some(pb::get_placement_request::By::Id(accepted.id)),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            PlacementState::try_from(p.state),
            Ok(PlacementState::Placed),
            "{name}"
        );
        assert_eq!(
            h.sim.orders_with_reference(&p.reference),
            std::slice::from_ref(&p.order_number),
            "{name}: exactly one order in Archibald"
        );
        // Every move is on record, with its cause.
        assert_eq!(p.transitions.len(), expected.len(), "{name}");
        assert!(p.transitions.iter().all(|t| !t.cause.is_empty()));
    }
    let stats = h.sim.stats();
    assert_eq!(
        (
            stats.confirmations_lost,
            stats.submits_failed,
            stats.forms_expired
        ),
        (1, 1, 1),
        "each fault fired"
    );
    assert_eq!(stats.orders_created, 3);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn placements_of_two_agents_are_serialized_and_every_sync_pauses_for_each_also_when_it_fails()
{
    use blackant_actors::order_placer::PlacementState as S;
    let h = Harness::start().await;
    for agent in ["agent2", "agent3"] {
        ok_result(
            &h.sync(pb::SyncKind::Customers, agent, pb::SyncMode::Full)
                .await,
        );
    }
    ok_result(&h.sync(pb::SyncKind::Products, "", pb::SyncMode::Full).await);
    // A long sync runs meanwhile: it must stop for every placement and go on after.
    let mut runs = h.service.subscribe();
    let long = h
        .service
        .request_sync(
            Kind::Customers,
            blackant_actors::run::Scope::Agent("agent1".into()),
            blackant_actors::run::Mode::Full,
            blackant_actors::run::Trigger::Manual,
        )
        .await
        .unwrap();
    wait_event(&mut runs, |e| {
        e.run_id == long.run_id && matches!(e.body, EventBody::Started { .. })
    })
    .await;
    let mut moves = h.service.subscribe_placements();
    let line = orderable(&h.sim, 3);
    let (a, b) = tokio::join!(
        async {
            orders_client(h.addr)
                .await
                .place_order(order(
                    &h.sim,
                    "pair-a",
                    "agent2",
                    std::slice::from_ref(&line),
                ))
                .await
        },
        async {
            orders_client(h.addr)
                .await
                .place_order(order(
                    &h.sim,
                    "pair-b",
                    "agent3",
                    std::slice::from_ref(&line),
                ))
                .await
        }
    );
    let mut ids = Vec::new();
    for r in [a, b] {
        let p = r.expect("PlaceOrder").into_inner().placement.unwrap();
        assert_eq!(
            PlacementState::try_from(p.state),
            Ok(PlacementState::Placed),
            "{}",
            p.reason
        );
        assert_eq!(h.sim.orders_with_reference(&p.reference).len(), 1);
        ids.push(p.id as i64);
    }
    // Serialized: one placement's submission and confirmation come before the other's.
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|(_, st): &&(i64, S)| *st == S::Placed)
        .count()
        < 2
    {
        let e = moves.recv().await.expect("bus open");
        if ids.contains(&e.placement.id) && e.from != e.placement.state {
            seen.push((e.placement.id, e.placement.state));
        }
    }
    let firsts: Vec<i64> = seen.iter().map(|(id, _)| *id).collect();
    let switches = firsts.windows(2).filter(|w| w[0] != w[1]).count();
    assert_eq!(switches, 1, "no interleaving: {seen:?}");

    // A product Archibald refuses (no price in its base list): rejected with its message.
    let unpriced = {
        let matches = h.sim.price_matches_truth();
        let priced: std::collections::HashSet<String> =
            matches.values().flatten().cloned().collect();
        h.sim
            .truth(archibald_sim::ReportKind::Products, None)
            .into_iter()
            .find(|p| p["status"] == "Attivo" && !priced.contains(p["code"].as_str().unwrap()))
            .map(|p| {
                let m = p["qty_multiple"].as_i64().unwrap().max(1);
                let min = p["min_qty"].as_i64().unwrap().max(1);
                (
                    p["code"].as_str().unwrap().to_string(),
                    (min + m - 1) / m * m,
                )
            })
            .expect("an Attivo product without a price")
    };
    let rejected = orders_client(h.addr)
        .await
        .place_order(order(&h.sim, "rejected-1", "agent2", &[unpriced]))
        .await
        .expect("PlaceOrder")
        .into_inner()
        .placement
        .unwrap();
    assert_eq!(
        PlacementState::try_from(rejected.state),
        Ok(PlacementState::Rejected)
    );
    assert!(
        rejected.reason.contains("Listino"),
        "Archibald's own message: {}",
        rejected.reason
    );
    // The long sync was paused and resumed (for each placement), and ends; nothing stays
    // paused after the rejection either.
    let mut paused = 0;
    let mut resumed = 0;
    loop {
        let e = wait_event(&mut runs, |e| e.run_id == long.run_id).await;
        match e.body {
            EventBody::Paused => paused += 1,
            EventBody::Resumed => resumed += 1,
            ref b if b.is_terminal() => break,
            _ => {}
        }
    }
    assert!(
        paused >= 1 && resumed == paused,
        "paused {paused}, resumed {resumed}"
    );
    for (kind, status) in h.service.status().await {
        assert!(!status.expect("status").paused, "{kind} still paused");
    }
    let pauses = h.service.pause_metrics().await.unwrap().pauses;
    assert!(pauses >= 3, "a pause per placement step: {pauses}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_names_one_order_and_bad_orders_are_refused_before_any_erp_page() {
    let h = Harness::start().await;
    let agent = "agent3";
    ok_result(
        &h.sync(pb::SyncKind::Customers, agent, pb::SyncMode::Full)
            .await,
    );
    ok_result(&h.sync(pb::SyncKind::Products, "", pb::SyncMode::Full).await);
    let line = orderable(&h.sim, 4);
    let good = order(&h.sim, "dup-1", agent, std::slice::from_ref(&line));

    // Twenty identical calls at once: one placement, one order.
    let calls = (0..20).map(|_| {
        let req = good.clone();
        async move { orders_client(h.addr).await.place_order(req).await }
    });
    let answers = futures::future::join_all(calls).await;
    let mut ids = std::collections::HashSet::new();
    let mut created = 0;
    for a in answers {
        let a = a.expect("PlaceOrder").into_inner();
        created += usize::from(a.created);
        let p = a.placement.unwrap();
        assert_eq!(
            PlacementState::try_from(p.state),
            Ok(PlacementState::Placed)
        );
        ids.insert(p.id);
    }
    assert_eq!((ids.len(), created), (1, 1), "one placement");
    let reference = blackant::service::reference_for("dup-1", 0);
    assert_eq!(
        h.sim.orders_with_reference(&reference).len(),
        1,
        "one order"
    );

    // The same key with other lines: refused, naming the key.
    let mut other = good.clone();
    other.lines[0].quantity *= 2;
    let e = orders_client(h.addr)
        .await
        .place_order(other)
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::FailedPrecondition);
    assert!(e.message().contains("dup-1"), "{}", e.message());

    // Bad orders: refused before any order form is opened.
    let forms_before = h.sim.stats().order_forms;
    let created_before = h.sim.stats().orders_created;
    let products = h.sim.truth(archibald_sim::ReportKind::Products, None);
    let suspended = products
        .iter()
        .find(|p| p["status"] != "Attivo")
        .map(|p| p["code"].as_str().unwrap().to_string())
        .unwrap();
    let rule = |p: &serde_json::Map<String, serde_json::Value>, f: &str| p[f].as_i64().unwrap_or(1);
    // A product whose minimum is above its multiple (ordering the multiple is too few), and
    // one sold in packs (one more than a valid quantity is not a multiple).
    let minned = products
        .iter()
        .find(|p| p["status"] == "Attivo" && rule(p, "min_qty") > rule(p, "qty_multiple"))
        .expect("a product with a minimum above its multiple");
    let packed = products
        .iter()
        .find(|p| p["status"] == "Attivo" && rule(p, "qty_multiple") > 1)
        .expect("a product sold in packs");
    let (minned_code, below) = (
        minned["code"].as_str().unwrap().to_string(),
        rule(minned, "qty_multiple"),
    );
    let m = rule(packed, "qty_multiple");
    let (packed_code, odd) = (
        packed["code"].as_str().unwrap().to_string(),
        (rule(packed, "min_qty") + m - 1) / m * m + 1,
    );
    let foreign = h
        .sim
        .truth(archibald_sim::ReportKind::Customers, Some("agent1"))[0]["code"]
        .as_str()
        .unwrap()
        .to_string();
    let with = |f: &dyn Fn(&mut pb::PlaceOrderRequest)| {
        let mut r = good.clone();
        r.idempotency_key = format!("bad-{}", rand_key());
        f(&mut r);
        r
    };
    let cases: Vec<(&str, pb::PlaceOrderRequest, tonic::Code, &str)> = vec![
        (
            "no lines",
            with(&|r| r.lines.clear()),
            tonic::Code::InvalidArgument,
            "lines",
        ),
        (
            "zero",
            with(&|r| r.lines[0].quantity = 0),
            tonic::Code::InvalidArgument,
            "lines[0].quantity",
        ),
        (
            "negative",
            with(&|r| r.lines[0].quantity = -6),
            tonic::Code::InvalidArgument,
            "lines[0].quantity",
        ),
        (
            "unknown product",
            with(&|r| r.lines[0].code = "ZZ.NOPE.000".into()),
            tonic::Code::InvalidArgument,
            "lines[0].code",
        ),
        (
            "not Attivo",
            with(&|r| r.lines[0].code = suspended.clone()),
            tonic::Code::InvalidArgument,
            "lines[0].code",
        ),
        (
            "below the minimum",
            with(&|r| {
                r.lines.push(pb::OrderLine {
                    code: minned_code.clone(),
                    quantity: below,
                })
            }),
            tonic::Code::InvalidArgument,
            "lines[1].quantity",
        ),
        (
            "not a multiple",
            with(&|r| {
                r.lines[0] = pb::OrderLine {
                    code: packed_code.clone(),
                    quantity: odd,
                }
            }),
            tonic::Code::InvalidArgument,
            "lines[0].quantity",
        ),
        (
            "another agent's customer",
            with(&|r| r.customer_code = foreign.clone()),
            tonic::Code::InvalidArgument,
            "customer_code",
        ),
        (
            "unknown agent",
            with(&|r| r.user = "agent99".into()),
            tonic::Code::NotFound,
            "agent99",
        ),
    ];
    for (name, req, code, names) in cases {
        let e = orders_client(h.addr)
            .await
            .place_order(req)
            .await
            .expect_err(name);
        assert_eq!(e.code(), code, "{name}: {}", e.message());
        assert!(e.message().contains(names), "{name}: {}", e.message());
    }
    assert_eq!(
        h.sim.stats().order_forms,
        forms_before,
        "no order form opened"
    );
    assert_eq!(h.sim.stats().orders_created, created_before);
    h.shutdown().await;
}

/// A key no other test uses.
fn rand_key() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}
