//! Figure 7: the read surface under load — a 50-row page of an agent's 5,700 customers and of
//! the 6,000 products with their prices, 50 concurrent clients (each its own connection, an
//! agent's token), p50 / p99 and the service's RSS; and the cost of auth and of the metrics
//! recorder on a status call, with and without, in the same run. Measured in a child process
//! with the simulator in its own, so the RSS is the service's alone.

use crate::setup::{self, run_all};
use crate::table::{Table, ms, percentile, rss_mib};
use blackant::grpc::pb;
use blackant::grpc::{AuthConfig, Role, TokenEntry};
use blackant::records::Kind;
use blackant::service::Service;
use blackant_actors::run::{Mode, Scope};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

const CLIENTS: usize = 50;
const PAGE: i32 = 50;
const TOKEN: &str = "bench-agent1";

/// Re-run this benchmark as a child doing only this figure.
pub fn in_child(calls_per_client: usize) {
    setup::in_child(&["--reads", &calls_per_client.to_string()], "the read load");
}

/// The gRPC server of `service` on 127.0.0.1:0, for the rest of the process; its address.
pub async fn serve(service: Arc<Service>, auth: AuthConfig) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(blackant::grpc::serve(
        listener,
        service,
        auth,
        None,
        std::future::pending(),
    ));
    addr
}

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect")
}

fn authed<T>(msg: T, token: Option<&str>) -> tonic::Request<T> {
    let mut req = tonic::Request::new(msg);
    if let Some(t) = token {
        req.metadata_mut().insert(
            "authorization",
            format!("Bearer {t}").parse().expect("ascii"),
        );
    }
    req
}

/// `n` sequential status calls; their latencies, sorted.
async fn status_calls(addr: SocketAddr, token: Option<&str>, n: usize) -> Vec<Duration> {
    let mut client = pb::sync_service_client::SyncServiceClient::new(channel(addr).await);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client
            .get_sync_status(authed(pb::GetSyncStatusRequest::default(), token))
            .await
            .expect("status");
        out.push(t.elapsed());
    }
    out.sort();
    out
}

/// `clients` clients at once, each walking pages `calls` times; every call's latency, sorted,
/// the peak RSS seen and the calls per second.
async fn load(
    addr: SocketAddr,
    clients: usize,
    calls: usize,
    products: bool,
) -> (Vec<Duration>, f64, f64) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let ch = channel(addr).await;
        tasks.push(tokio::spawn(async move {
            let mut client = pb::data_service_client::DataServiceClient::new(ch);
            let mut token = String::new();
            let mut out = Vec::with_capacity(calls);
            for _ in 0..calls {
                let t = Instant::now();
                let next = if products {
                    let r = client
                        .list_products(authed(
                            pb::ListProductsRequest {
                                page_size: PAGE,
                                page_token: token.clone(),
                                ..Default::default()
                            },
                            Some(TOKEN),
                        ))
                        .await
                        .expect("ListProducts")
                        .into_inner();
                    assert_eq!(r.products.len(), PAGE as usize);
                    r.next_page_token
                } else {
                    let r = client
                        .list_customers(authed(
                            pb::ListCustomersRequest {
                                agent: "agent1".into(),
                                page_size: PAGE,
                                page_token: token.clone(),
                                ..Default::default()
                            },
                            Some(TOKEN),
                        ))
                        .await
                        .expect("ListCustomers")
                        .into_inner();
                    assert_eq!(r.customers.len(), PAGE as usize);
                    r.next_page_token
                };
                out.push(t.elapsed());
                token = next;
            }
            out
        }));
    }
    let mut peak: f64 = 0.0;
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
        peak = peak.max(rss_mib().0);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort();
    (all, peak, rate)
}

/// `--reads N`: the figure, N calls per client.
pub fn run(calls: usize) {
    let (mut sim, url, accounts) = setup::external_simulator(1);
    setup::runtime().block_on(async {
        let (service, _data) = setup::service_at(&url, &accounts, 2).await;
        let runs = [
            (Kind::Customers, Scope::Agent("agent1".into())),
            (Kind::Products, Scope::Catalogue),
            (Kind::Prices, Scope::Catalogue),
        ];
        run_all(&service, &runs, Mode::Full).await;
        let service = Arc::new(service);
        let open = serve(service.clone(), AuthConfig::default()).await;
        let auth = AuthConfig::new(&[TokenEntry::for_token(
            TOKEN,
            Role::Agent,
            Some("agent1"),
        )])
        .expect("auth");
        let guarded = serve(service.clone(), auth).await;

        // Status: no auth and no recorder first; then the recorder installed, with and without
        // auth alternating.
        let n = 300;
        let bare = status_calls(open, None, n).await;
        let recorder = blackant::http::prometheus().is_some();
        let mut plain = Vec::new();
        let mut with_auth = Vec::new();
        for _ in 0..3 {
            plain.extend(status_calls(open, None, n).await);
            with_auth.extend(status_calls(guarded, Some(TOKEN), n).await);
        }
        plain.sort();
        with_auth.sort();

        let (idle, _) = rss_mib();
        let (one_customers, _, one_customers_rate) = load(guarded, 1, calls * 5, false).await;
        let (one_products, _, one_products_rate) = load(guarded, 1, calls * 5, true).await;
        let (customers, customers_peak, customers_rate) =
            load(guarded, CLIENTS, calls, false).await;
        let (products, products_peak, products_rate) = load(guarded, CLIENTS, calls, true).await;
        let mut t = Table::new(
            format!(
                "7. Read RPCs: {CLIENTS} concurrent clients, {PAGE}-row pages, agent token (RSS: the service alone)"
            ),
            &["", "calls", "p50", "p99", "calls/s", "RSS MiB"],
        );
        t.row([
            "ListCustomers (5,700 customers), 1 client".to_string(),
            one_customers.len().to_string(),
            ms(percentile(&one_customers, 0.5)),
            ms(percentile(&one_customers, 0.99)),
            format!("{one_customers_rate:.0}"),
            format!("{idle:.0} idle"),
        ])
        .row([
            format!("ListCustomers, {CLIENTS} clients"),
            customers.len().to_string(),
            ms(percentile(&customers, 0.5)),
            ms(percentile(&customers, 0.99)),
            format!("{customers_rate:.0}"),
            format!("{customers_peak:.0}"),
        ])
        .row([
            "ListProducts with prices (6,000), 1 client".to_string(),
            one_products.len().to_string(),
            ms(percentile(&one_products, 0.5)),
            ms(percentile(&one_products, 0.99)),
            format!("{one_products_rate:.0}"),
            String::new(),
        ])
        .row([
            format!("ListProducts with prices, {CLIENTS} clients"),
            products.len().to_string(),
            ms(percentile(&products, 0.5)),
            ms(percentile(&products, 0.99)),
            format!("{products_rate:.0}"),
            format!("{products_peak:.0}"),
        ])
        .row([
            "GetSyncStatus: no auth, no metrics recorder".to_string(),
            bare.len().to_string(),
            ms(percentile(&bare, 0.5)),
            ms(percentile(&bare, 0.99)),
            String::new(),
            String::new(),
        ])
        .row([
            format!(
                "GetSyncStatus: no auth, metrics recorder {}",
                if recorder { "on" } else { "(not installed)" }
            ),
            plain.len().to_string(),
            ms(percentile(&plain, 0.5)),
            ms(percentile(&plain, 0.99)),
            String::new(),
            String::new(),
        ])
        .row([
            "GetSyncStatus: token checked, metrics recorder on".to_string(),
            with_auth.len().to_string(),
            ms(percentile(&with_auth, 0.5)),
            ms(percentile(&with_auth, 0.99)),
            String::new(),
            String::new(),
        ])
        .note("Each page is one read snapshot on a blocking thread (never through a DbWriter).")
        .note("The clients run in this process: on 2 cores they share the CPU with the service.")
        .note("Status calls are sequential on one connection; the auth rows alternate, same run.")
        .print();
        service.begin_shutdown();
    });
    let _ = sim.kill();
    let _ = sim.wait();
}
