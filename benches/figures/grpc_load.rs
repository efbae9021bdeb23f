//! Figure 9 (issue 12, capacity): 200 concurrent gRPC clients for 60 s, each cycling through a
//! status call, an EnsureFresh of its agent's customers (fresh: answered without a run) and a
//! 50-row page of those customers — p50 / p99 per call, errors, calls per second and the
//! service's RSS. In a child process with the simulator in its own, so the RSS is the
//! service's alone; the clients share the two cores with the service.

use crate::setup::{self, run_all};
use crate::table::{Table, ms, percentile, rss_mib};
use blackant::grpc::{AuthConfig, pb};
use blackant::records::Kind;
use blackant_actors::run::{Mode, Scope};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 200;

/// Re-run this benchmark as a child doing only this figure.
pub fn in_child(secs: u64) {
    setup::in_child(&["--grpc-load", &secs.to_string()], "the gRPC load");
}

/// What one client saw: latencies per call kind, and errors.
#[derive(Default)]
struct Seen {
    status: Vec<Duration>,
    fresh: Vec<Duration>,
    page: Vec<Duration>,
    errors: u64,
}

/// `--grpc-load SECS`: the figure.
pub fn run(secs: u64) {
    let (mut sim, url, accounts) = setup::external_simulator(1);
    setup::runtime().block_on(async {
        let (service, _data) = setup::service_at(&url, &accounts, 2).await;
        run_all(
            &service,
            &[(Kind::Customers, Scope::Agent("agent1".into()))],
            Mode::Full,
        )
        .await;
        let service = Arc::new(service);
        let addr = crate::reads::serve(service.clone(), AuthConfig::default()).await;
        let idle = rss_mib().0;
        let until = Instant::now() + Duration::from_secs(secs);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CLIENTS {
            let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
                .expect("uri")
                .connect()
                .await
                .expect("connect");
            tasks.push(tokio::spawn(async move {
                let mut sync = pb::sync_service_client::SyncServiceClient::new(channel.clone());
                let mut data = pb::data_service_client::DataServiceClient::new(channel);
                let mut seen = Seen::default();
                let mut token = String::new();
                while Instant::now() < until {
                    let t = Instant::now();
                    match sync
                        .get_sync_status(pb::GetSyncStatusRequest::default())
                        .await
                    {
                        Ok(_) => seen.status.push(t.elapsed()),
                        Err(_) => seen.errors += 1,
                    }
                    let t = Instant::now();
                    let fresh = pb::EnsureFreshRequest {
                        kind: pb::SyncKind::Customers as i32,
                        user: "agent1".into(),
                        ..Default::default()
                    };
                    match sync.ensure_fresh(fresh).await {
                        Ok(_) => seen.fresh.push(t.elapsed()),
                        Err(_) => seen.errors += 1,
                    }
                    let t = Instant::now();
                    let page = pb::ListCustomersRequest {
                        agent: "agent1".into(),
                        page_size: 50,
                        page_token: std::mem::take(&mut token),
                        ..Default::default()
                    };
                    match data.list_customers(page).await {
                        Ok(r) => {
                            seen.page.push(t.elapsed());
                            token = r.into_inner().next_page_token;
                        }
                        Err(_) => seen.errors += 1,
                    }
                }
                seen
            }));
        }
        let mut all = Seen::default();
        let mut peak: f64 = 0.0;
        for t in tasks {
            let s = t.await.expect("client");
            all.status.extend(s.status);
            all.fresh.extend(s.fresh);
            all.page.extend(s.page);
            all.errors += s.errors;
            peak = peak.max(rss_mib().0);
        }
        let wall = started.elapsed().as_secs_f64();
        let mut t = Table::new(
            format!("9. {CLIENTS} concurrent gRPC clients for {secs} s (RSS: the service alone)"),
            &["call", "calls", "p50", "p99", "calls/s"],
        );
        for (name, mut v) in [
            ("GetSyncStatus", all.status),
            ("EnsureFresh (fresh)", all.fresh),
            ("ListCustomers, 50 rows", all.page),
        ] {
            v.sort();
            t.row([
                name.to_string(),
                v.len().to_string(),
                ms(percentile(&v, 0.5)),
                ms(percentile(&v, 0.99)),
                format!("{:.0}", v.len() as f64 / wall),
            ]);
        }
        t.note(format!(
            "errors {}; service RSS {idle:.0} MiB before, {peak:.0} MiB at the end",
            all.errors
        ))
        .note("Closed loop: each client sends its next call when the last answered.")
        .print();
        service.begin_shutdown();
    });
    let _ = sim.kill();
    let _ = sim.wait();
}
