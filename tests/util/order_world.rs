//! An order-placing world of processes: `blackant sim` standing in for Archibald, a config
//! naming some agents and the service account, a data folder that outlives each `blackant
//! serve`, and what a PWA knows — agents' passwords, a customer of each, orderable lines.

use super::PATIENCE;
use super::process::*;
use blackant::grpc::pb::{self, PlacementState};
use std::collections::BTreeMap;

pub struct OrderWorld {
    pub sim: String,
    pub config: std::path::PathBuf,
    pub data: std::path::PathBuf,
    service_password: String,
    /// (agent, password).
    pub agents: Vec<(String, String)>,
    /// A customer of each agent.
    pub customers: BTreeMap<String, String>,
    /// Active, priced products with a quantity their rules accept.
    pub lines: Vec<(String, i64)>,
    _sim: Proc,
    _dir: tempfile::TempDir,
}

impl OrderWorld {
    /// The simulator (seed 42, orders indexed after its default lag) and a config for
    /// `agents`; the service waits `index_lag_secs` before trusting a search that found nothing.
    pub async fn start(agents: &[&str], index_lag_secs: u64) -> OrderWorld {
        Self::start_with(agents, index_lag_secs, "[schedule]\nenabled = false\n").await
    }

    /// [`Self::start`] with `sections` (TOML tables, `[schedule]` among them) added to the
    /// config.
    pub async fn start_with(agents: &[&str], index_lag_secs: u64, sections: &str) -> OrderWorld {
        let (sim_proc, sim) = sim();
        let accounts: Vec<serde_json::Value> = sim_json(&sim, "accounts").await;
        let password_of = |user: &str| password_of(&accounts, user);
        let service_account = accounts
            .iter()
            .find(|a| a["role"] == "service")
            .and_then(|a| a["username"].as_str())
            .expect("service account")
            .to_string();
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("blackant.toml");
        let names: Vec<String> = agents.iter().map(|a| format!("{a:?}")).collect();
        std::fs::write(
            &config,
            format!(
                "agents = [{}]\n\
                 [erp]\nbase_url = \"{sim}\"\nservice_user = \"{service_account}\"\n\
                 {sections}\
                 [retry]\nmax_attempts = 3\nbase_ms = 50\nmax_ms = 500\n\
                 [orders]\nindex_lag_secs = {index_lag_secs}\nstep_timeout_secs = 60\n",
                names.join(", ")
            ),
        )
        .unwrap();
        let mut customers = BTreeMap::new();
        for a in agents {
            let c: Vec<serde_json::Map<String, serde_json::Value>> =
                sim_json(&sim, &format!("truth/customers?agent={a}")).await;
            customers.insert(a.to_string(), c[0]["code"].as_str().unwrap().to_string());
        }
        let lines: Vec<(String, i64)> = sim_json(&sim, "orderable?n=5").await;
        OrderWorld {
            config,
            data: dir.path().join("data"),
            service_password: password_of(&service_account),
            agents: agents
                .iter()
                .map(|a| (a.to_string(), password_of(a)))
                .collect(),
            customers,
            lines,
            sim,
            _sim: sim_proc,
            _dir: dir,
        }
    }

    /// `blackant serve` on the world's config and data folder; its address.
    pub fn serve(&self) -> (Proc, String) {
        self.serve_env(&[])
    }

    /// [`Self::serve`] with these environment variables (settings overriding the config).
    pub fn serve_env(&self, env: &[(&str, &str)]) -> (Proc, String) {
        let mut all = vec![(
            blackant::config::SERVICE_PASSWORD_ENV,
            self.service_password.as_str(),
        )];
        all.extend_from_slice(env);
        serve_env(&self.config, &self.data, &all)
    }

    /// What the PWA does when the service comes back: each agent's session opens again.
    pub async fn open_sessions(&self, addr: &str) {
        let mut c = client(addr).await;
        for (user, password) in &self.agents {
            c.open_session(pb::OpenSessionRequest {
                user: user.clone(),
                erp_username: user.clone(),
                erp_password: password.clone(),
            })
            .await
            .expect("OpenSession");
        }
    }

    /// The `n`th order of key `key`: agents, customers and lines in turn.
    pub fn request(&self, key: &str, n: usize) -> pb::PlaceOrderRequest {
        let (agent, customer) = self
            .customers
            .iter()
            .nth(n % self.customers.len())
            .expect("an agent");
        let (code, quantity) = self.lines[n % self.lines.len()].clone();
        pb::PlaceOrderRequest {
            idempotency_key: key.into(),
            user: agent.clone(),
            customer_code: customer.clone(),
            lines: vec![pb::OrderLine { code, quantity }],
            notes: format!("order {n} of the test"),
            wait: false,
        }
    }

    /// Archibald's orders carrying this reference in "Rif. cliente".
    pub async fn orders_with_reference(&self, reference: &str) -> Vec<String> {
        sim_json(&self.sim, &format!("orders/with-reference?ref={reference}")).await
    }

    /// Wait (bounded, on the event stream) until no placement is accepted, submitting or in
    /// doubt any more.
    pub async fn settle(&self, addr: &str) {
        let mut c = orders(addr).await;
        let mut events = all_events(addr).await;
        let in_flight = [
            PlacementState::Accepted,
            PlacementState::Submitting,
            PlacementState::InDoubt,
        ];
        loop {
            let pending = c
                .list_placements(pb::ListPlacementsRequest {
                    states: in_flight.iter().map(|s| *s as i32).collect(),
                    page_size: 500,
                    ..Default::default()
                })
                .await
                .expect("ListPlacements")
                .into_inner()
                .placements;
            if pending.is_empty() {
                break;
            }
            // Wait for the next placement to move.
            loop {
                let e = tokio::time::timeout(PATIENCE, events.message())
                    .await
                    .expect("placements keep moving")
                    .expect("stream")
                    .expect("open");
                if matches!(e.event, Some(pb::sync_event::Event::Placement(_))) {
                    break;
                }
            }
        }
    }
}
