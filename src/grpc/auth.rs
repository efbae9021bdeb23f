//! Bearer tokens → principals. Owns the rule of who may reach what: an operator everything,
//! an internal service every agent's data, syncs and placements (but not admin), an agent only
//! its own (catalogue status and data are readable by all). Does not know the RPCs' business.
//!
//! Tokens are configured as their SHA-256 (`blackant token hash`), never in clear: a presented
//! token is hashed and compared with every configured hash in constant time. With no token
//! configured the server runs open (every caller is an operator) and says so at startup:
//! convenient with the embedded simulator on loopback, never what production should do.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use subtle::ConstantTimeEq;
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Operator,
    Service,
    Agent,
}

/// One configured token (`[[auth.tokens]]` in the config file).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// The token's SHA-256, 64 hex digits (`blackant token hash`).
    #[serde(default)]
    pub sha256: String,
    /// A token in clear: refused, with what to write instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub role: Role,
    /// The agent id, for `role = "agent"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

impl TokenEntry {
    /// The entry of `token` (hashed here) for `role`.
    pub fn for_token(token: &str, role: Role, agent: Option<&str>) -> TokenEntry {
        TokenEntry {
            sha256: hash_token(token),
            token: None,
            role,
            agent: agent.map(str::to_string),
        }
    }
}

/// The SHA-256 of a token, as configured: 64 lowercase hex digits.
pub fn hash_token(token: &str) -> String {
    blackant_actors::digest::hex(&Sha256::digest(token.trim().as_bytes()))
}

/// Token table; empty = open server.
#[derive(Debug, Clone, Default)]
pub struct AuthConfig {
    tokens: Arc<Vec<([u8; 32], Principal)>>,
}

/// A token entry that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthConfigError {
    #[error("token #{0}: role \"agent\" needs an `agent` id")]
    AgentMissing(usize),
    #[error("token #{0}: only role \"agent\" takes an `agent` id")]
    AgentNotAllowed(usize),
    #[error(
        "token #{0} is written in clear: store its SHA-256 instead \
         (`sha256 = \"…\"`, printed by `blackant token hash`)"
    )]
    ClearText(usize),
    #[error("token #{0}: `sha256` must be 64 hex digits (`blackant token hash` prints it)")]
    BadHash(usize),
    #[error("token #{0} is listed twice")]
    Duplicate(usize),
}

/// 64 hex digits → 32 bytes.
fn parse_hash(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

impl AuthConfig {
    pub fn new(entries: &[TokenEntry]) -> Result<Self, AuthConfigError> {
        let mut tokens: Vec<([u8; 32], Principal)> = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            if e.token.is_some() {
                return Err(AuthConfigError::ClearText(i + 1));
            }
            let hash = parse_hash(&e.sha256).ok_or(AuthConfigError::BadHash(i + 1))?;
            let principal = match (e.role, &e.agent) {
                (Role::Agent, Some(a)) => Principal::Agent(a.clone()),
                (Role::Agent, None) => return Err(AuthConfigError::AgentMissing(i + 1)),
                (_, Some(_)) => return Err(AuthConfigError::AgentNotAllowed(i + 1)),
                (Role::Operator, None) => Principal::Operator,
                (Role::Service, None) => Principal::Service,
            };
            if tokens.iter().any(|(h, _)| *h == hash) {
                return Err(AuthConfigError::Duplicate(i + 1));
            }
            tokens.push((hash, principal));
        }
        Ok(Self {
            tokens: Arc::new(tokens),
        })
    }

    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Who presents `token` (anyone is an operator when no token is configured); `None` for
    /// an unknown token. For other front doors than gRPC (the dashboard).
    pub fn principal_for(&self, token: Option<&str>) -> Option<Principal> {
        if self.is_open() {
            return Some(Principal::Operator);
        }
        self.principal_of(token?)
    }

    /// The principal of a presented token: its hash compared with every configured one in
    /// constant time (no early exit, no comparison that stops at the first differing byte).
    fn principal_of(&self, token: &str) -> Option<Principal> {
        let presented: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
        let mut found = None;
        for (hash, principal) in self.tokens.iter() {
            if bool::from(hash.ct_eq(&presented)) {
                found = Some(principal.clone());
            }
        }
        found
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
            self.principal_of(token)
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
            TokenEntry::for_token("op", Role::Operator, None),
            TokenEntry::for_token("a1", Role::Agent, Some("agent1")),
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
        let agent_without_id = TokenEntry::for_token("x", Role::Agent, None);
        assert!(AuthConfig::new(&[agent_without_id]).is_err());
        let dup = TokenEntry::for_token("x", Role::Operator, None);
        assert!(AuthConfig::new(&[dup.clone(), dup]).is_err());
        let mut clear = TokenEntry::for_token("x", Role::Operator, None);
        clear.token = Some("x".into());
        let e = AuthConfig::new(&[clear]).unwrap_err().to_string();
        assert!(e.contains("blackant token hash"), "{e}");
        let mut short = TokenEntry::for_token("x", Role::Operator, None);
        short.sha256.truncate(10);
        assert!(matches!(
            AuthConfig::new(&[short]),
            Err(AuthConfigError::BadHash(1))
        ));
    }

    #[test]
    fn the_hash_is_sha256_in_hex() {
        // echo -n abc | sha256sum
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hash_token(" abc\n"),
            hash_token("abc"),
            "surrounding blanks ignored"
        );
    }
}
