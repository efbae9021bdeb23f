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
