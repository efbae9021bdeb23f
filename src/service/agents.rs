//! The agents the service knows, their ERP sessions and the circuit breakers — ONE source of
//! truth: an agent is known once configured or once its session was opened, and stays known
//! after `CloseSession` (its data is still there and readable); only its credentials go.
//!
//! Credentials (agents' own, and the service account's for the catalogue) live in memory only:
//! they are never logged (`Credentials`' `Debug` redacts the password), written, or returned.
//! Owns the rule "a new session resets the account's login breaker" and the status view of
//! the breakers. Must NOT start syncs (the facade decides what a session triggers).

use crate::erp::Credentials;
use crate::store::paths::validate_user;
use crate::syncs::CredentialSource;
use crate::syncs::breaker::{self, BreakerPolicy, BreakerState, Breakers};
use blackant_actors::run::Scope;
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

#[derive(Debug, Default)]
struct Inner {
    service_account: Option<Credentials>,
    /// Every known agent, with its credentials while its session is open.
    agents: BTreeMap<String, Option<Credentials>>,
}

/// Known agents, sessions and breakers. Clones share the same state.
#[derive(Debug, Clone)]
pub struct Agents {
    inner: Arc<RwLock<Inner>>,
    breakers: Arc<Breakers>,
}

/// An agent id that cannot be used (it becomes part of file names).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid agent id {id:?}: use letters, digits, '.', '_' or '-' (at most 64, not starting with '.')"
)]
pub struct InvalidAgentId {
    /// The id as given, cut to a short prefix.
    pub id: String,
}

impl InvalidAgentId {
    fn new(id: &str) -> Self {
        Self {
            id: super::clip(id),
        }
    }
}

impl Agents {
    /// The agents of the configuration (known, no session yet) and the breakers' policy.
    pub fn new(
        configured: impl IntoIterator<Item = String>,
        breaker: BreakerPolicy,
    ) -> Result<Agents, InvalidAgentId> {
        let mut agents = BTreeMap::new();
        for id in configured {
            validate_user(&id).map_err(|_| InvalidAgentId::new(&id))?;
            agents.insert(id, None);
        }
        Ok(Agents {
            inner: Arc::new(RwLock::new(Inner {
                service_account: None,
                agents,
            })),
            breakers: Arc::new(Breakers::new(breaker)),
        })
    }

    /// The breakers every ERP call goes through.
    pub fn breakers(&self) -> &Arc<Breakers> {
        &self.breakers
    }

    /// The account catalogue syncs log in with.
    pub fn set_service_account(&self, credentials: Credentials) {
        self.write().service_account = Some(credentials);
    }

    /// Every known agent, sorted.
    pub fn known(&self) -> Vec<String> {
        self.read().agents.keys().cloned().collect()
    }

    /// Whether `agent` is known.
    pub fn is_known(&self, agent: &str) -> bool {
        self.read().agents.contains_key(agent)
    }

    /// Agents whose session is open (their credentials are held), sorted: the ones the
    /// Scheduler syncs.
    pub fn with_session(&self) -> Vec<String> {
        self.read()
            .agents
            .iter()
            .filter(|(_, c)| c.is_some())
            .map(|(a, _)| a.clone())
            .collect()
    }

    /// An agent's session opens: hold its credentials (memory only), know the agent from now
    /// on, and give its account's login breaker a fresh start (new credentials deserve a try).
    pub fn open_session(
        &self,
        agent: &str,
        credentials: Credentials,
    ) -> Result<(), InvalidAgentId> {
        validate_user(agent).map_err(|_| InvalidAgentId::new(agent))?;
        self.breakers
            .success(&breaker::login_key(&credentials.username));
        self.write()
            .agents
            .insert(agent.to_string(), Some(credentials));
        Ok(())
    }

    /// An agent's session closes: forget its credentials (the agent stays known). True if a
    /// session was open.
    pub fn close_session(&self, agent: &str) -> bool {
        self.write()
            .agents
            .get_mut(agent)
            .and_then(Option::take)
            .is_some()
    }

    /// The worse of the ERP's breaker and the breaker of the account `scope` logs in with.
    pub fn breaker_state(&self, scope: &Scope) -> BreakerState {
        let erp = self.breakers.state(breaker::ERP);
        let login = self.credentials(scope).map_or(BreakerState::Closed, |c| {
            self.breakers.state(&breaker::login_key(&c.username))
        });
        erp.max(login)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl CredentialSource for Agents {
    fn credentials(&self, scope: &Scope) -> Option<Credentials> {
        let inner = self.read();
        match scope {
            Scope::Catalogue => inner.service_account.clone(),
            Scope::Agent(a) => inner.agents.get(a).cloned().flatten(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_agent_stays_known_after_its_session_closes_and_only_open_sessions_are_scheduled() {
        let agents = Agents::new(["agent1".to_string()], BreakerPolicy::default()).unwrap();
        assert_eq!(agents.known(), ["agent1"]);
        assert!(
            agents.with_session().is_empty(),
            "configured, no session yet"
        );
        agents
            .open_session("agent2", Credentials::new("agent2", "pw"))
            .unwrap();
        assert_eq!(agents.known(), ["agent1", "agent2"]);
        assert_eq!(agents.with_session(), ["agent2"]);
        assert!(agents.close_session("agent2"));
        assert!(!agents.close_session("agent2"), "closed already");
        assert!(agents.is_known("agent2"), "still known: its data is there");
        assert!(agents.with_session().is_empty());
        assert!(agents.credentials(&Scope::Agent("agent2".into())).is_none());
        let err = agents
            .open_session("../x", Credentials::new("x", "pw"))
            .unwrap_err();
        assert!(err.to_string().contains("../x"), "{err}");
        assert!(!agents.is_known("../x"));
    }

    #[test]
    fn a_huge_agent_id_is_quoted_short() {
        let id = "a".repeat(1 << 20);
        let err = Agents::new([id], BreakerPolicy::default()).unwrap_err();
        assert!(err.to_string().len() < 300);
    }
}
