//! An order-placing world of processes: `blackant sim` standing in for Archibald, a config
//! naming some agents and the service account, a data folder that outlives each `blackant
//! serve`, and what a PWA knows — agents' passwords, a customer of each, orderable lines.

use super::process::*;
use blackant::grpc::pb;
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
                 [schedule]\nenabled = false\n\
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
}
