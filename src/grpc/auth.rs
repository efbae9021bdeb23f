//! Bearer tokens → principals. Owns the rule of who may reach what: an operator everything,
//! an internal service every agent's data and syncs (but not admin), an agent only its own
//! data and syncs (catalogue status is readable by all). Does not know the RPCs' business.
//!
//! With no token configured the server runs open (every caller is an operator) and says so
//! at startup: convenient with the embedded simulator, never what production should do.

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use tonic::{Request, Status};

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Operator,
    /// An internal service (the PWA backend): any agent's data and syncs, no admin.
    Service,
    Agent(String),
}

impl Principal {
    /// May this caller see and sync `user`'s data?
    pub fn may_access_agent(&self, user: &str) -> bool {
        match self {
            Principal::Operator | Principal::Service => true,
            Principal::Agent(me) => me == user,
        }
    }

    /// May this caller start catalogue syncs (products, prices)?
    pub fn may_sync_catalogue(&self) -> bool {
        matches!(self, Principal::Operator | Principal::Service)
    }

    pub fn is_operator(&self) -> bool {
        matches!(self, Principal::Operator)
    }
}

/// The role a configured token grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Operator,
    Service,
    Agent,
}

/// One configured token (`[[auth.tokens]]` in the config file).
#[derive(Debug, Clone, Deserialize)]
pub struct TokenEntry {
    pub token: String,
    pub role: Role,
    /// The agent id, for `role = "agent"`.
    #[serde(default)]
    pub agent: Option<String>,
}

/// Token table; empty = open server.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    tokens: Arc<HashMap<String, Principal>>,
}

/// A token entry that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("token #{0}: role \"agent\" needs an `agent` id")]
    AgentMissing(usize),
    #[error("token #{0}: only role \"agent\" takes an `agent` id")]
    AgentNotAllowed(usize),
    #[error("token #{0} is empty")]
    Empty(usize),
    #[error("token #{0} is listed twice")]
    Duplicate(usize),
}

impl AuthConfig {
    pub fn new(entries: &[TokenEntry]) -> Result<Self, AuthConfigError> {
        let mut tokens = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if e.token.trim().is_empty() {
                return Err(AuthConfigError::Empty(i + 1));
            }
            let principal = match (e.role, &e.agent) {
                (Role::Agent, Some(a)) => Principal::Agent(a.clone()),
                (Role::Agent, None) => return Err(AuthConfigError::AgentMissing(i + 1)),
                (_, Some(_)) => return Err(AuthConfigError::AgentNotAllowed(i + 1)),
                (Role::Operator, None) => Principal::Operator,
                (Role::Service, None) => Principal::Service,
            };
            if tokens.insert(e.token.clone(), principal).is_some() {
                return Err(AuthConfigError::Duplicate(i + 1));
            }
        }
        Ok(Self {
            tokens: Arc::new(tokens),
        })
    }

    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The interceptor: resolves `authorization: Bearer <token>` and stores the principal in
    /// the request's extensions.
    pub fn intercept(&self, mut req: Request<()>) -> Result<Request<()>, Status> {
        let principal = if self.is_open() {
            Principal::Operator
        } else {
            let header = req.metadata().get("authorization").ok_or_else(|| {
                Status::unauthenticated("missing `authorization: Bearer <token>` metadata")
            })?;
            let value = header
                .to_str()
                .map_err(|_| Status::unauthenticated("the authorization metadata is not text"))?;
            let token = value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
                .ok_or_else(|| {
                    Status::unauthenticated("the authorization metadata must be `Bearer <token>`")
                })?;
            self.tokens
                .get(token.trim())
                .cloned()
                .ok_or_else(|| Status::unauthenticated("unknown token"))?
        };
        req.extensions_mut().insert(principal);
        Ok(req)
    }
}

/// The caller of a request that went through the interceptor.
pub fn principal<T>(req: &Request<T>) -> Result<Principal, Status> {
    req.extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::internal("request reached a service without passing authentication"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> AuthConfig {
        AuthConfig::new(&[
            TokenEntry {
                token: "op".into(),
                role: Role::Operator,
                agent: None,
            },
            TokenEntry {
                token: "a1".into(),
                role: Role::Agent,
                agent: Some("agent1".into()),
            },
        ])
        .unwrap()
    }

    fn call(auth: &AuthConfig, header: Option<&str>) -> Result<Principal, Status> {
        let mut req = Request::new(());
        if let Some(h) = header {
            req.metadata_mut()
                .insert("authorization", h.parse().unwrap());
        }
        let req = auth.intercept(req)?;
        principal(&req)
    }

    #[test]
    fn tokens_map_to_principals_and_bad_ones_are_unauthenticated() {
        let a = auth();
        assert_eq!(call(&a, Some("Bearer op")).unwrap(), Principal::Operator);
        assert_eq!(
            call(&a, Some("Bearer a1")).unwrap(),
            Principal::Agent("agent1".into())
        );
        for bad in [None, Some("Bearer nope"), Some("op"), Some("Basic b3A=")] {
            assert_eq!(
                call(&a, bad).unwrap_err().code(),
                tonic::Code::Unauthenticated,
                "{bad:?}"
            );
        }
        assert_eq!(
            call(&AuthConfig::default(), None).unwrap(),
            Principal::Operator,
            "open server"
        );
    }

    #[test]
    fn agents_reach_only_their_own_data() {
        let p = Principal::Agent("agent1".into());
        assert!(p.may_access_agent("agent1"));
        assert!(!p.may_access_agent("agent2"));
        assert!(!p.may_sync_catalogue());
        assert!(Principal::Service.may_access_agent("agent2") && !Principal::Service.is_operator());
    }

    #[test]
    fn inconsistent_token_entries_are_refused() {
        let agent_without_id = TokenEntry {
            token: "x".into(),
            role: Role::Agent,
            agent: None,
        };
        assert!(AuthConfig::new(&[agent_without_id]).is_err());
        let dup = TokenEntry {
            token: "x".into(),
            role: Role::Operator,
            agent: None,
        };
        assert!(AuthConfig::new(&[dup.clone(), dup]).is_err());
    }
}
