//! Who is calling: turns a request's headers into a `RequestContext`, or refuses it with 401
//! (503 when Keystone cannot be asked; tokens validated earlier keep working from the cache
//! until they expire, so a Keystone outage spares callers already known).
//!
//! `noauth` makes every caller an admin (local use and tests, like Masakari's `noauth2`);
//! `keystone` validates `X-Auth-Token` against Keystone v3 with a service token.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The identity a request acts with; policy rules are evaluated against it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestContext {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
    pub is_admin: bool,
}

/// Why a request could not be authenticated (401, except `Keystone`: 503).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the request carries no X-Auth-Token")]
    MissingToken,
    #[error("the token is not valid")]
    InvalidToken,
    /// Keystone could not be asked (down, or our own service credentials were refused).
    #[error("validating the token with Keystone")]
    Keystone(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// How requests are authenticated; chosen by `auth_strategy` in the configuration.
#[derive(Clone)]
pub enum Authenticator {
    NoAuth,
    Keystone(Arc<Keystone>),
}

impl Authenticator {
    pub fn keystone(session: Arc<vigil_openstack::Session>) -> Self {
        Authenticator::Keystone(Arc::new(Keystone {
            session,
            cache: Mutex::default(),
        }))
    }

    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<RequestContext, AuthError> {
        match self {
            Authenticator::NoAuth => Ok(noauth_context(headers)),
            Authenticator::Keystone(k) => k.authenticate(headers).await,
        }
    }
}

/// Validated tokens are kept until they expire (at most this many; then the cache restarts).
const CACHE_LIMIT: usize = 10_000;

/// Who a token is, and until when.
type Cached = (RequestContext, chrono::DateTime<chrono::Utc>);

/// Token validation against Keystone v3 with Vigil's own service token.
pub struct Keystone {
    session: Arc<vigil_openstack::Session>,
    /// SHA-256 of the token → who it is and until when; tokens themselves are not kept.
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

impl Keystone {
    async fn authenticate(&self, headers: &HeaderMap) -> Result<RequestContext, AuthError> {
        let token = headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::MissingToken)?;
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = chrono::Utc::now();
        if let Some((ctx, expires)) = self.cache.lock().expect("not poisoned").get(&key) {
            if *expires > now {
                return Ok(ctx.clone());
            }
        }
        let info = self
            .session
            .validate_token(token)
            .await
            .map_err(|e| AuthError::Keystone(Box::new(e)))?
            .ok_or(AuthError::InvalidToken)?;
        if info.user_id.is_none() {
            return Err(AuthError::InvalidToken);
        }
        let ctx = RequestContext {
            is_admin: info.roles.iter().any(|r| r == "admin"),
            user_id: info.user_id,
            project_id: info.project_id,
            roles: info.roles,
        };
        let mut cache = self.cache.lock().expect("not poisoned");
        if cache.len() >= CACHE_LIMIT {
            cache.retain(|_, (_, expires)| *expires > now);
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
        }
        cache.insert(key, (ctx.clone(), info.expires));
        Ok(ctx)
    }
}

/// Every caller is an admin; the project comes from `X-Project-Id` when given, as in Masakari.
fn noauth_context(headers: &HeaderMap) -> RequestContext {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    RequestContext {
        user_id: header("x-user-id"),
        project_id: header("x-project-id"),
        roles: vec!["admin".to_owned()],
        is_admin: true,
    }
}
