//! Figure 8: the operators' dashboard — the page's weight, the time from a progress event on
//! the bus to an open page showing it (p50 / p99, read in the pages themselves), and the
//! service's RSS with 20 dashboards open during a customer sync, beside the same sync with
//! none. Measured in a child process with the simulator in its own, so the RSS is the
//! service's alone; the 20 dashboards are pages of one headless Chromium, each in a context of
//! its own.

use crate::setup::{self, run_all};
use crate::table::{Table, ms, percentile, rss_mib};
use blackant::grpc::AuthConfig;
use blackant::records::Kind;
use blackant::service::Service;
use blackant_actors::browser_pool::{ChromiumConfig, ChromiumLauncher, Launcher};
use blackant_actors::run::{Mode, Scope};
use std::sync::Arc;
use std::time::Duration;

const DASHBOARDS: usize = 20;

/// Re-run this benchmark as a child doing only this figure.
pub fn in_child() {
    setup::in_child(&["--dashboard"], "the dashboard figure");
}

async fn customer_sync(service: &Service) -> f64 {
    run_all(
        service,
        &[(Kind::Customers, Scope::Agent("agent1".into()))],
        Mode::Full,
    )
    .await;
    rss_mib().0
}

/// `--dashboard`: the figure.
pub fn run() {
    let (mut sim, url, accounts) = setup::external_simulator(1);
    setup::runtime().block_on(async {
        let (service, _data) = setup::service_at(&url, &accounts, 1).await;
        let service = Arc::new(service);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(blackant::http::serve(
            listener,
            service.clone(),
            Some(AuthConfig::default()),
            std::future::pending(),
        ));

        // A first sync fills the tables the page shows; then one with no dashboard open.
        customer_sync(&service).await;
        let idle = rss_mib().0;
        let alone = customer_sync(&service).await;
        let page = reqwest::get(format!("{base}/dashboard"))
            .await
            .expect("GET /dashboard")
            .bytes()
            .await
            .expect("page");

        let launcher = ChromiumLauncher::new(ChromiumConfig::default());
        let browser = launcher.launch().await.expect("Chromium").browser;
        let mut pages = Vec::new();
        for n in 0..DASHBOARDS {
            // One browser context each, as 20 operators' browsers: a browser holds at most 6
            // connections per host over HTTP/1.1, and each open dashboard keeps one.
            let ctx = launcher
                .new_context(&browser, &format!("operator{n}"))
                .await
                .expect("context");
            let p = browser
                .new_page(&ctx, &format!("{base}/dashboard"))
                .await
                .expect("tab");
            p.wait_for_navigation().await.expect("loaded");
            let _: bool = p
                .evaluate(
                    "new Promise(function(r){ var es = window.blackantEvents;\
                     if (es.readyState === 1) r(true); else es.addEventListener('open', function(){ r(true); }); })",
                )
                .await
                .expect("live")
                .into_value()
                .expect("bool");
            pages.push(p);
        }
        let open = rss_mib().0;
        let watched = customer_sync(&service).await;
        let mut latencies = Vec::new();
        for p in &pages {
            let ms: Vec<f64> = p
                .evaluate("window.blackantLatencies")
                .await
                .expect("latencies")
                .into_value()
                .expect("numbers");
            latencies.extend(ms.into_iter().map(|m| Duration::from_micros((m.max(0.0) * 1e3) as u64)));
        }
        latencies.sort();
        launcher.close(Arc::new(browser)).await;

        Table::new(
            format!("8. Dashboard: {DASHBOARDS} pages open during a 5,700-customer sync"),
            &["", "value"],
        )
        .row(["page weight (HTML with inline CSS and script; nothing else is loaded)".to_string(), format!("{:.1} KiB", page.len() as f64 / 1024.0)])
        .row([format!("progress event → page, p50 ({} updates seen)", latencies.len()), ms(percentile(&latencies, 0.5))])
        .row(["progress event → page, p99".to_string(), ms(percentile(&latencies, 0.99))])
        .row(["service RSS idle".to_string(), format!("{idle:.0} MiB")])
        .row(["service RSS after a sync, no dashboard".to_string(), format!("{alone:.0} MiB")])
        .row([format!("service RSS with {DASHBOARDS} dashboards open"), format!("{open:.0} MiB")])
        .row([format!("service RSS after a sync watched by {DASHBOARDS} dashboards"), format!("{watched:.0} MiB")])
        .note("Latency: the event's time on the bus to the page's handler having updated the bar (millisecond clocks).")
        .print();
        service.begin_shutdown();
    });
    let _ = sim.kill();
    let _ = sim.wait();
}
