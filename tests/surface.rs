//! The surface clients and operators rely on: the read RPCs return the ERP's truth page by
//! page and only the caller's agent; every RPC checks its caller; health and reflection;
//! metrics an operator can scrape; no password in the logs.

use crate::util::*;
use archibald_sim::ReportKind;
use blackant::grpc::pb;
use blackant::grpc::pb::data_service_client::DataServiceClient;
use blackant::grpc::{AuthConfig, Role, TokenEntry};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use tonic::Code;
use tonic::transport::Channel;

const OPERATOR: &str = "op-token";
const SERVICE: &str = "svc-token";
const AGENT1: &str = "agent1-token";
const AGENT2: &str = "agent2-token";

fn auth() -> AuthConfig {
    AuthConfig::new(&[
        TokenEntry::for_token(OPERATOR, Role::Operator, None),
        TokenEntry::for_token(SERVICE, Role::Service, None),
        TokenEntry::for_token(AGENT1, Role::Agent, Some("agent1")),
        TokenEntry::for_token(AGENT2, Role::Agent, Some("agent2")),
    ])
    .expect("auth config")
}

/// A truth value as the API writes it: null is empty, numbers written out.
fn text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Sync one kind over gRPC as the operator and wait for its end.
async fn sync(ch: &Channel, kind: pb::SyncKind, user: &str) {
    let r = full_sync_on(ch, Some(OPERATOR), kind, user).await;
    assert!(r.ok, "the run failed: {}", r.error);
}

/// Every page of a listing, asserting each page's size and that tokens end.
async fn all_pages<T, F, Fut>(page_size: usize, mut page: F) -> Vec<T>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = (Vec<T>, String)>,
{
    let mut rows = Vec::new();
    let mut token = String::new();
    for _ in 0..10_000 {
        let (mut got, next) = page(token).await;
        assert!(got.len() <= page_size, "a page larger than asked");
        if !next.is_empty() {
            assert_eq!(got.len(), page_size, "only the last page may be short");
        }
        rows.append(&mut got);
        if next.is_empty() {
            return rows;
        }
        token = next;
    }
    panic!("the listing never ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_rpcs_return_the_erp_truth_page_by_page_and_only_the_callers_agent() {
    let h = Harness::start_with(Options {
        auth: auth(),
        agents: vec!["agent1".into(), "agent2".into()],
        ..Options::default()
    })
    .await;
    let ch = channel(h.addr).await;
    for (kind, user) in [
        (pb::SyncKind::Customers, "agent1"),
        (pb::SyncKind::Customers, "agent2"),
        (pb::SyncKind::Orders, "agent2"),
        (pb::SyncKind::Products, ""),
        (pb::SyncKind::Prices, ""),
    ] {
        sync(&ch, kind, user).await;
    }
    let data = DataServiceClient::new(ch.clone());

    // Customers: every page concatenated is the ERP's portfolio, field by field, no repeats.
    for (agent, token) in [("agent1", AGENT1), ("agent2", SERVICE)] {
        let got = all_pages(37, |page_token| {
            let mut data = data.clone();
            async move {
                let r = data
                    .list_customers(with_token(
                        Some(token),
                        pb::ListCustomersRequest {
                            agent: agent.into(),
                            page_size: 37,
                            page_token,
                            ..Default::default()
                        },
                    ))
                    .await
                    .expect("ListCustomers")
                    .into_inner();
                (r.customers, r.next_page_token)
            }
        })
        .await;
        let truth = truth(&h.sim, ReportKind::Customers, Some(agent));
        assert_eq!(got.len(), truth.len(), "{agent}: every customer once");
        let by_code: BTreeMap<&str, &pb::Customer> =
            got.iter().map(|c| (c.code.as_str(), c)).collect();
        assert_eq!(by_code.len(), got.len(), "{agent}: no duplicates");
        for t in &truth {
            let code = text(t.get("code"));
            let c = by_code
                .get(code.as_str())
                .unwrap_or_else(|| panic!("{agent}: customer {code} missing"));
            let fields: [(&str, &str); 13] = [
                ("name", &c.name),
                ("vat_number", &c.vat_number),
                ("fiscal_code", &c.fiscal_code),
                ("street", &c.street),
                ("postal_code", &c.postal_code),
                ("city", &c.city),
                ("province", &c.province),
                ("phone", &c.phone),
                ("email", &c.email),
                ("pec", &c.pec),
                ("sdi_code", &c.sdi_code),
                ("payment_terms", &c.payment_terms),
                ("last_order_date", &c.last_order_date),
            ];
            for (field, value) in fields {
                assert_eq!(value, text(t.get(field)), "{agent} {code} {field}");
            }
        }
        // No other agent's rows: agent1's codes and agent2's do not mix.
        let other = if agent == "agent1" {
            "agent2"
        } else {
            "agent1"
        };
        let other_codes: BTreeSet<String> = truth_codes(&h, other);
        let own_codes: BTreeSet<String> = truth.iter().map(|t| text(t.get("code"))).collect();
        for c in &got {
            assert!(
                own_codes.contains(&c.code) || !other_codes.contains(&c.code),
                "{agent} was served {}",
                c.code
            );
        }
    }

    // A filter narrows; a token from another query is refused, never a silent restart.
    let first = data
        .clone()
        .list_customers(with_token(
            Some(AGENT1),
            pb::ListCustomersRequest {
                agent: "agent1".into(),
                page_size: 5,
                ..Default::default()
            },
        ))
        .await
        .expect("first page")
        .into_inner();
    let city = first.customers[0].city.clone();
    let e = data
        .clone()
        .list_customers(with_token(
            Some(AGENT1),
            pb::ListCustomersRequest {
                agent: "agent1".into(),
                city: city.clone(),
                page_size: 5,
                page_token: first.next_page_token.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    let in_city = all_pages(1000, |page_token| {
        let mut data = data.clone();
        let city = city.to_lowercase();
        async move {
            let r = data
                .list_customers(with_token(
                    Some(AGENT1),
                    pb::ListCustomersRequest {
                        agent: "agent1".into(),
                        city,
                        page_size: 1000,
                        page_token,
                        ..Default::default()
                    },
                ))
                .await
                .expect("by city")
                .into_inner();
            (r.customers, r.next_page_token)
        }
    })
    .await;
    let expected = truth(&h.sim, ReportKind::Customers, Some("agent1"))
        .iter()
        .filter(|t| text(t.get("city")).eq_ignore_ascii_case(&city))
        .count();
    assert_eq!(in_city.len(), expected, "customers in {city}");

    // Orders: the agent's orders, all of them, with their lines.
    let orders = all_pages(50, |page_token| {
        let mut data = data.clone();
        async move {
            let r = data
                .list_orders(with_token(
                    Some(AGENT2),
                    pb::ListOrdersRequest {
                        agent: "agent2".into(),
                        page_size: 50,
                        page_token,
                        ..Default::default()
                    },
                ))
                .await
                .expect("ListOrders")
                .into_inner();
            (r.orders, r.next_page_token)
        }
    })
    .await;
    let truth_orders = truth(&h.sim, ReportKind::Orders, Some("agent2"));
    assert_eq!(orders.len(), truth_orders.len(), "every order once");
    let by_number: BTreeMap<&str, &pb::Order> = orders
        .iter()
        .map(|o| (o.order_number.as_str(), o))
        .collect();
    assert_eq!(by_number.len(), orders.len(), "no duplicate orders");
    for t in &truth_orders {
        let number = text(t.get("order_number"));
        let o = by_number
            .get(number.as_str())
            .unwrap_or_else(|| panic!("order {number} missing"));
        assert_eq!(o.agent, "agent2");
        for (field, value) in [
            ("order_date", &o.order_date),
            ("customer_code", &o.customer_code),
            ("status", &o.status),
            ("total_amount", &o.total_amount),
        ] {
            assert_eq!(*value, text(t.get(field)), "order {number} {field}");
        }
        assert!(!o.lines.is_empty(), "order {number} has its lines");
    }
    let one = &orders[orders.len() / 2];
    let got = data
        .clone()
        .get_order(with_token(
            Some(SERVICE),
            pb::GetOrderRequest {
                agent: "agent2".into(),
                order_number: one.order_number.clone(),
            },
        ))
        .await
        .expect("GetOrder")
        .into_inner();
    assert_eq!(&got, one);
    let e = data
        .clone()
        .get_order(with_token(
            Some(SERVICE),
            pb::GetOrderRequest {
                agent: "agent2".into(),
                order_number: "NO-SUCH-ORDER".into(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // The catalogue: every live product once, each price one the ERP lists for it.
    let products = all_pages(500, |page_token| {
        let mut data = data.clone();
        async move {
            let r = data
                .list_products(with_token(
                    Some(AGENT1),
                    pb::ListProductsRequest {
                        page_size: 500,
                        page_token,
                        ..Default::default()
                    },
                ))
                .await
                .expect("ListProducts")
                .into_inner();
            (r.products, r.next_page_token)
        }
    })
    .await;
    let truth_products = truth(&h.sim, ReportKind::Products, None);
    let codes: BTreeSet<&str> = products.iter().map(|p| p.code.as_str()).collect();
    let truth_codes: BTreeSet<String> =
        truth_products.iter().map(|t| text(t.get("code"))).collect();
    assert_eq!(codes.len(), products.len(), "no duplicate products");
    assert_eq!(
        codes,
        truth_codes.iter().map(String::as_str).collect(),
        "every product"
    );
    let price_rows: BTreeSet<(String, String, String, String)> =
        truth(&h.sim, ReportKind::Prices, None)
            .iter()
            .map(|t: &Map<String, Value>| {
                (
                    text(t.get("product_code")),
                    text(t.get("price_list")),
                    text(t.get("valid_from")),
                    text(t.get("unit_price")),
                )
            })
            .collect();
    let priced = products.iter().filter(|p| !p.prices.is_empty()).count();
    assert!(
        priced * 2 > products.len(),
        "most products have a price: {priced}"
    );
    for p in &products {
        for price in &p.prices {
            let key = (
                price.product_code.clone(),
                price.price_list.clone(),
                price.valid_from.clone(),
                price.unit_price.clone(),
            );
            assert!(price_rows.contains(&key), "{}: {key:?}", p.code);
        }
    }
    // Unmatched prices are for operators, and match no product.
    let e = data
        .clone()
        .list_unmatched_prices(with_token(
            Some(SERVICE),
            pb::ListUnmatchedPricesRequest::default(),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let unmatched = data
        .clone()
        .list_unmatched_prices(with_token(
            Some(OPERATOR),
            pb::ListUnmatchedPricesRequest {
                page_size: 1000,
                ..Default::default()
            },
        ))
        .await
        .expect("ListUnmatchedPrices")
        .into_inner();
    for price in &unmatched.prices {
        assert!(!codes.contains(price.product_code.as_str()), "{price:?}");
    }
    h.shutdown().await;
}

fn truth_codes(h: &Harness, agent: &str) -> BTreeSet<String> {
    truth(&h.sim, ReportKind::Customers, Some(agent))
        .iter()
        .map(|t| text(t.get("code")))
        .collect()
}

type Fut = Pin<Box<dyn Future<Output = Code> + Send>>;
type Call = Box<dyn Fn(Channel, Option<&'static str>) -> Fut>;

fn code<T>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match r {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    }
}

/// One RPC of the table: `$client` over the channel, `$method` with the message `$msg`
/// (built afresh for every call).
macro_rules! rpc {
    ($client:ty, $method:ident, $msg:expr) => {{
        let call: Call = Box::new(move |ch: Channel, token: Option<&'static str>| -> Fut {
            let msg = $msg;
            Box::pin(async move {
                let mut client = <$client>::new(ch);
                code(client.$method(with_token(token, msg)).await)
            })
        });
        call
    }};
}

/// Who an RPC of the table is for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    /// agent2's data, syncs, sessions or placements.
    Agent2,
    /// Anyone with a token (the catalogue).
    Anyone,
    /// Operators only.
    Admin,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_checks_its_caller() {
    type SyncApi = pb::sync_service_client::SyncServiceClient<Channel>;
    type DataApi = pb::data_service_client::DataServiceClient<Channel>;
    type OrderApi = pb::order_service_client::OrderServiceClient<Channel>;
    type AdminApi = pb::admin_service_client::AdminServiceClient<Channel>;
    type SchedulerApi = pb::scheduler_service_client::SchedulerServiceClient<Channel>;
    type PriorityApi = pb::priority_service_client::PriorityServiceClient<Channel>;
    let h = Harness::start_with(Options {
        auth: auth(),
        agents: vec!["agent1".into(), "agent2".into()],
        schedule: Some(blackant::service::ScheduleSettings::default()),
        ..Options::default()
    })
    .await;
    let ch = channel(h.addr).await;
    // agent2's portfolio and the catalogue, so a placement passes validation.
    sync(&ch, pb::SyncKind::Customers, "agent2").await;
    sync(&ch, pb::SyncKind::Products, "").await;
    let customer: &'static str = truth(&h.sim, ReportKind::Customers, Some("agent2"))[0]["code"]
        .as_str()
        .expect("a customer")
        .to_string()
        .leak();
    let (product, qty) = orderable(&h.sim, 0);
    let product: &'static str = product.leak();
    let password: &'static str = h
        .sim
        .accounts()
        .into_iter()
        .find(|a| a.username == "agent2")
        .expect("agent2's account")
        .password
        .leak();
    let kind = pb::SyncKind::Customers as i32;
    let duration = |secs| prost_types::Duration {
        seconds: secs,
        nanos: 0,
    };
    let table: Vec<(&str, Access, Code, Call)> = vec![
        (
            "RequestSync",
            Access::Agent2,
            Code::Ok,
            rpc!(
                SyncApi,
                request_sync,
                pb::RequestSyncRequest {
                    kind,
                    user: "agent2".into(),
                    ..Default::default()
                }
            ),
        ),
        (
            "GetSyncStatus",
            Access::Agent2,
            Code::Ok,
            rpc!(
                SyncApi,
                get_sync_status,
                pb::GetSyncStatusRequest {
                    kind,
                    user: "agent2".into(),
                }
            ),
        ),
        (
            "WatchSyncEvents",
            Access::Agent2,
            Code::Ok,
            rpc!(
                SyncApi,
                watch_sync_events,
                pb::WatchSyncEventsRequest {
                    kind,
                    user: "agent2".into(),
                    run_id: 0,
                }
            ),
        ),
        (
            "EnsureFresh",
            Access::Agent2,
            Code::Ok,
            rpc!(
                SyncApi,
                ensure_fresh,
                pb::EnsureFreshRequest {
                    kind,
                    user: "agent2".into(),
                    max_age: Some(duration(86_400)),
                    wait: false,
                }
            ),
        ),
        (
            "ListCustomers",
            Access::Agent2,
            Code::Ok,
            rpc!(
                DataApi,
                list_customers,
                pb::ListCustomersRequest {
                    agent: "agent2".into(),
                    ..Default::default()
                }
            ),
        ),
        (
            "ListOrders",
            Access::Agent2,
            Code::Ok,
            rpc!(
                DataApi,
                list_orders,
                pb::ListOrdersRequest {
                    agent: "agent2".into(),
                    ..Default::default()
                }
            ),
        ),
        (
            // Orders are not synced here: past the checks, the answer is "not in the replica".
            "GetOrder",
            Access::Agent2,
            Code::NotFound,
            rpc!(
                DataApi,
                get_order,
                pb::GetOrderRequest {
                    agent: "agent2".into(),
                    order_number: "ORD-1".into(),
                }
            ),
        ),
        (
            "ListProducts",
            Access::Anyone,
            Code::Ok,
            rpc!(DataApi, list_products, pb::ListProductsRequest::default()),
        ),
        (
            "ListUnmatchedPrices",
            Access::Admin,
            Code::Ok,
            rpc!(
                DataApi,
                list_unmatched_prices,
                pb::ListUnmatchedPricesRequest::default()
            ),
        ),
        (
            "PlaceOrder",
            Access::Agent2,
            Code::Ok,
            rpc!(
                OrderApi,
                place_order,
                pb::PlaceOrderRequest {
                    idempotency_key: "auth-table-1".into(),
                    user: "agent2".into(),
                    customer_code: customer.into(),
                    lines: vec![pb::OrderLine {
                        code: product.into(),
                        quantity: qty,
                    }],
                    notes: String::new(),
                    wait: false,
                }
            ),
        ),
        (
            "GetPlacement",
            Access::Agent2,
            Code::Ok,
            rpc!(
                OrderApi,
                get_placement,
                pb::GetPlacementRequest {
                    by: Some(pb::get_placement_request::By::IdempotencyKey(
                        "auth-table-1".into()
                    )),
                }
            ),
        ),
        (
            "ListPlacements",
            Access::Agent2,
            Code::Ok,
            rpc!(
                OrderApi,
                list_placements,
                pb::ListPlacementsRequest {
                    user: "agent2".into(),
                    ..Default::default()
                }
            ),
        ),
        (
            // Past the checks: the placement does not need an operator.
            "ResolvePlacement",
            Access::Admin,
            Code::FailedPrecondition,
            rpc!(
                OrderApi,
                resolve_placement,
                pb::ResolvePlacementRequest {
                    id: 1,
                    resolution: Some(pb::resolve_placement_request::Resolution::FailureReason(
                        "test".into()
                    )),
                }
            ),
        ),
        (
            "ListActors",
            Access::Admin,
            Code::Ok,
            rpc!(AdminApi, list_actors, pb::ListActorsRequest {}),
        ),
        (
            "StopActor",
            Access::Admin,
            Code::Ok,
            rpc!(
                AdminApi,
                stop_actor,
                pb::ActorRequest {
                    name: "ImageFetcher".into()
                }
            ),
        ),
        (
            "StartActor",
            Access::Admin,
            Code::Ok,
            rpc!(
                AdminApi,
                start_actor,
                pb::ActorRequest {
                    name: "ImageFetcher".into()
                }
            ),
        ),
        (
            "RestartActor",
            Access::Admin,
            Code::Ok,
            rpc!(
                AdminApi,
                restart_actor,
                pb::ActorRequest {
                    name: "ImageFetcher".into()
                }
            ),
        ),
        (
            "GetRunMetrics",
            Access::Admin,
            Code::Ok,
            rpc!(AdminApi, get_run_metrics, pb::GetRunMetricsRequest {}),
        ),
        (
            "ListHeldDeletions",
            Access::Admin,
            Code::Ok,
            rpc!(
                AdminApi,
                list_held_deletions,
                pb::ListHeldDeletionsRequest {}
            ),
        ),
        (
            "ReleaseHeldDeletions",
            Access::Admin,
            Code::NotFound,
            rpc!(
                AdminApi,
                release_held_deletions,
                pb::HeldDeletionsRequest {
                    kind: pb::SyncKind::Customers as i32,
                    user: "agent2".into(),
                    run_id: 0,
                }
            ),
        ),
        (
            "DiscardHeldDeletions",
            Access::Admin,
            Code::NotFound,
            rpc!(
                AdminApi,
                discard_held_deletions,
                pb::HeldDeletionsRequest {
                    kind: pb::SyncKind::Products as i32,
                    user: String::new(),
                    run_id: 0,
                }
            ),
        ),
        (
            "GetSchedules",
            Access::Admin,
            Code::Ok,
            rpc!(SchedulerApi, get_schedules, pb::GetSchedulesRequest {}),
        ),
        (
            "UpdateSchedule",
            Access::Admin,
            Code::Ok,
            rpc!(
                SchedulerApi,
                update_schedule,
                pb::UpdateScheduleRequest {
                    kind: pb::SyncKind::Invoices as i32,
                    priority: Some(3),
                    ..Default::default()
                }
            ),
        ),
        (
            "DisableSchedule",
            Access::Admin,
            Code::Ok,
            rpc!(
                SchedulerApi,
                disable_schedule,
                pb::ScheduleKindRequest {
                    kind: pb::SyncKind::Invoices as i32,
                }
            ),
        ),
        (
            "EnableSchedule",
            Access::Admin,
            Code::Ok,
            rpc!(
                SchedulerApi,
                enable_schedule,
                pb::ScheduleKindRequest {
                    kind: pb::SyncKind::Invoices as i32,
                }
            ),
        ),
        (
            "PauseSyncs",
            Access::Admin,
            Code::Ok,
            rpc!(PriorityApi, pause_syncs, pb::PauseSyncsRequest {}),
        ),
        (
            "ResumeSyncs",
            Access::Admin,
            Code::Ok,
            rpc!(PriorityApi, resume_syncs, pb::ResumeSyncsRequest {}),
        ),
        (
            "GetPauseMetrics",
            Access::Admin,
            Code::Ok,
            rpc!(
                PriorityApi,
                get_pause_metrics,
                pb::GetPauseMetricsRequest {}
            ),
        ),
        // Sessions last: closing one stops the agent's syncs.
        (
            "ReconnectSession",
            Access::Agent2,
            Code::Ok,
            rpc!(
                SyncApi,
                reconnect_session,
                pb::SessionRequest {
                    user: "agent2".into(),
                }
            ),
        ),
        (
            "CloseSession",
            Access::Agent2,
            Code::Ok,
            rpc!(
                SyncApi,
                close_session,
                pb::SessionRequest {
                    user: "agent2".into(),
                }
            ),
        ),
        (
            "OpenSession",
            Access::Agent2,
            Code::Ok,
            rpc!(
                SyncApi,
                open_session,
                pb::OpenSessionRequest {
                    user: "agent2".into(),
                    erp_username: "agent2".into(),
                    erp_password: password.into(),
                }
            ),
        ),
    ];
    // Every RPC of every service is in the table.
    let served: usize = [
        "SyncService",
        "DataService",
        "OrderService",
        "AdminService",
        "PriorityService",
        "SchedulerService",
    ]
    .iter()
    .map(|s| rpc_count(s))
    .sum();
    assert_eq!(table.len(), served, "the table covers every RPC");

    let mut failures = Vec::new();
    for (name, access, allowed, call) in &table {
        let callers: [(&str, Option<&'static str>, Code); 6] = [
            ("no token", None, Code::Unauthenticated),
            ("unknown token", Some("not-a-token"), Code::Unauthenticated),
            (
                "agent1",
                Some(AGENT1),
                match access {
                    Access::Anyone => *allowed,
                    Access::Agent2 | Access::Admin => Code::PermissionDenied,
                },
            ),
            (
                "agent2",
                Some(AGENT2),
                match access {
                    Access::Anyone | Access::Agent2 => *allowed,
                    Access::Admin => Code::PermissionDenied,
                },
            ),
            (
                "service",
                Some(SERVICE),
                match access {
                    Access::Anyone | Access::Agent2 => *allowed,
                    Access::Admin => Code::PermissionDenied,
                },
            ),
            ("operator", Some(OPERATOR), *allowed),
        ];
        for (who, token, expected) in callers {
            let got = call(ch.clone(), token).await;
            if got != expected {
                failures.push(format!("{name} as {who}: {got:?}, expected {expected:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    h.shutdown().await;
}

/// The number of RPCs `service` declares, from the descriptor the server reflects.
fn rpc_count(service: &str) -> usize {
    use prost::Message;
    let fds = prost_types::FileDescriptorSet::decode(pb::FILE_DESCRIPTOR_SET).expect("descriptor");
    fds.file
        .iter()
        .flat_map(|f| f.service.iter())
        .filter(|s| s.name() == service)
        .map(|s| s.method.len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_after_a_sync_and_a_pause_and_no_password_in_debug_logs() {
    // Debug logs of every crate, Chromium's protocol included, kept to be searched.
    let logs = Logs::capture(tracing::Level::DEBUG);
    // The recorder must be in place before anything is measured.
    assert!(blackant::http::prometheus().is_some());
    let h = Harness::start_with(Options {
        agents: vec!["agent2".into()],
        ..Options::default()
    })
    .await;
    let ch = channel(h.addr).await;
    // agent1 opens its session over gRPC, as the PWA backend does at login.
    let password = h
        .sim
        .accounts()
        .into_iter()
        .find(|a| a.username == "agent1")
        .expect("agent1's account")
        .password;
    let opened = pb::sync_service_client::SyncServiceClient::new(ch.clone())
        .open_session(pb::OpenSessionRequest {
            user: "agent1".into(),
            erp_username: "agent1".into(),
            erp_password: password.clone(),
        })
        .await
        .expect("OpenSession")
        .into_inner();
    assert_eq!(opened.syncs.len(), 2, "the login syncs start");
    sync(&ch, pb::SyncKind::Customers, "agent1").await;
    let paused = pb::priority_service_client::PriorityServiceClient::new(ch.clone())
        .pause_syncs(pb::PauseSyncsRequest {})
        .await
        .expect("PauseSyncs")
        .into_inner();
    assert!(paused.timed_out.is_empty());
    pb::priority_service_client::PriorityServiceClient::new(ch.clone())
        .resume_syncs(pb::ResumeSyncsRequest {})
        .await
        .expect("ResumeSyncs");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(blackant::http::serve(
        listener,
        h.service.clone(),
        None,
        async move {
            let _ = stopped.await;
        },
    ));
    let resp = reqwest::get(format!("http://{http}/metrics"))
        .await
        .expect("GET /metrics");
    assert_eq!(resp.status(), 200);
    let content_type = resp.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let body = resp.text().await.expect("body");
    let scrape = prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text format");

    let customers = [("kind", "customers"), ("outcome", "completed")];
    // The login's run, and the one asked for (or joined to it).
    let runs = sample(&scrape, "blackant_sync_runs_total", &customers).unwrap_or(0.0);
    assert!((1.0..=2.0).contains(&runs), "{body}");
    let timed = sample(&scrape, "blackant_sync_run_duration_seconds", &customers);
    assert_eq!(timed, Some(runs), "every run in the histogram: {body}");
    let truth = truth(&h.sim, ReportKind::Customers, Some("agent1")).len() as f64;
    assert_eq!(
        sample(
            &scrape,
            "blackant_sync_records_total",
            &[("kind", "customers"), ("change", "inserted")]
        ),
        Some(truth),
        "every customer inserted once"
    );
    assert_eq!(
        sample(&scrape, "blackant_pause_wait_seconds", &[]),
        Some(1.0),
        "one pause waited"
    );
    assert!(
        sample(&scrape, "blackant_db_writer_commit_seconds", &[]).unwrap_or(0.0) >= 1.0,
        "commits measured"
    );
    for gauge in [
        "blackant_db_writer_queue_depth",
        "blackant_browser_leases_in_use",
        "blackant_browser_leases_waiting",
        "blackant_browsers_running",
    ] {
        let v = sample(&scrape, gauge, &[]).unwrap_or_else(|| panic!("{gauge} missing"));
        assert!((0.0..100.0).contains(&v), "{gauge} = {v}");
    }
    assert_eq!(
        sample(&scrape, "blackant_breaker_state", &[("breaker", "erp")]),
        Some(0.0),
        "the ERP's breaker is closed"
    );
    assert_eq!(
        sample(
            &scrape,
            "blackant_placement_oldest_in_doubt_age_seconds",
            &[]
        ),
        Some(0.0)
    );
    // Health over HTTP for scripts and load balancers.
    let healthz = reqwest::get(format!("http://{http}/healthz"))
        .await
        .expect("GET /healthz");
    assert_eq!(healthz.status(), 200);
    let _ = stop.send(());
    server.await.expect("join").expect("HTTP server");
    h.shutdown().await;

    let text = logs.text();
    assert!(
        text.len() > 10_000,
        "debug logs were captured ({} bytes)",
        text.len()
    );
    assert!(
        !text.contains(&password),
        "the session password appears in the debug logs"
    );
}
