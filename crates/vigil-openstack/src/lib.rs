//! A small OpenStack client: Keystone v3 password authentication, the service catalog, token
//! reuse until shortly before expiry, and JSON requests with microversion headers.
//!
//! Why not the `openstack_sdk` crate: Vigil needs a handful of Nova calls with explicit
//! microversions, its own error classification (retry, gone, conflict) and one token shared by
//! every engine task; a thin layer over reqwest keeps that visible in one file. Everything
//! OpenStack-specific stays behind `Session`, so swapping the implementation later is local.

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::sync::Mutex;

/// Keystone v3 password credentials (`[openstack]` in Vigil's configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Credentials {
    /// e.g. `http://keystone:5000/v3`; empty means "not configured".
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// Empty: any region.
    pub region_name: String,
    /// `public`, `internal` or `admin`.
    pub interface: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            auth_url: String::new(),
            username: String::new(),
            password: String::new(),
            project_name: String::new(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            region_name: String::new(),
            interface: "public".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OsError {
    /// The server could not be reached or the connection broke: worth retrying.
    #[error("{what}: {source}")]
    Transport {
        what: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Keystone refused our credentials: {0}")]
    Unauthorized(String),
    #[error("the service catalog has no {0} endpoint for this interface and region")]
    NoEndpoint(String),
    /// The service answered with an error status; `message` is from its error body.
    #[error("{status}: {message}")]
    Status { status: StatusCode, message: String },
    #[error("unexpected response: {0}")]
    Protocol(String),
}

impl OsError {
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            OsError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
    /// Transport failures and 5xx answers: the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        match self {
            OsError::Transport { .. } => true,
            OsError::Status { status, .. } => status.is_server_error(),
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
struct Endpoint {
    service_type: String,
    interface: String,
    region: String,
    url: String,
}

#[derive(Clone, Debug)]
struct Token {
    value: String,
    expires: DateTime<Utc>,
    catalog: Vec<Endpoint>,
}

/// An authenticated session, shared by all callers (cheap to share behind an `Arc`).
pub struct Session {
    http: reqwest::Client,
    creds: Credentials,
    token: Mutex<Option<Token>>,
}

/// Re-authenticate this long before the token expires, so no request carries a dying token.
const EARLY: chrono::Duration = chrono::Duration::seconds(120);

impl Session {
    pub fn new(creds: Credentials) -> Result<Session, OsError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|source| OsError::Transport {
                what: "building the HTTP client".into(),
                source,
            })?;
        Ok(Session {
            http,
            creds,
            token: Mutex::new(None),
        })
    }

    /// A valid token and catalog; one Keystone request at a time (the lock makes concurrent
    /// callers wait for the same authentication instead of each starting one).
    async fn token(&self) -> Result<Token, OsError> {
        let mut guard = self.token.lock().await;
        if let Some(t) = guard.as_ref() {
            if t.expires - EARLY > Utc::now() {
                return Ok(t.clone());
            }
        }
        let fresh = self.authenticate().await?;
        *guard = Some(fresh.clone());
        Ok(fresh)
    }

    async fn invalidate(&self) {
        *self.token.lock().await = None;
    }

    async fn authenticate(&self) -> Result<Token, OsError> {
        let c = &self.creds;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "domain": {"name": c.user_domain_name}, "password": c.password}}},
            "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}}
        }});
        let url = format!("{}/auth/tokens", c.auth_url.trim_end_matches('/'));
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|source| OsError::Transport {
                what: format!("POST {url}"),
                source,
            })?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED {
            return Err(OsError::Unauthorized(error_message(resp).await));
        }
        if !status.is_success() {
            return Err(OsError::Status {
                status,
                message: error_message(resp).await,
            });
        }
        let value = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| OsError::Protocol("Keystone sent no X-Subject-Token".into()))?;
        let doc: Value = resp.json().await.map_err(|source| OsError::Transport {
            what: "reading the token".into(),
            source,
        })?;
        parse_token(value, &doc)
    }

    /// The URL of `service_type` for our interface and region.
    pub async fn endpoint(&self, service_type: &str) -> Result<String, OsError> {
        let token = self.token().await?;
        select_endpoint(&token.catalog, service_type, &self.creds)
    }

    /// Sends a JSON request to a service and returns the JSON answer (`Null` for no body).
    /// `microversion` is a header name and value, e.g. `("X-OpenStack-Nova-API-Version",
    /// "2.53")`. A 401 re-authenticates once (the token was revoked or expired early).
    pub async fn request(
        &self,
        service_type: &str,
        method: Method,
        path: &str,
        microversion: Option<(&str, &str)>,
        body: Option<&Value>,
    ) -> Result<Value, OsError> {
        for attempt in 0..2 {
            let token = self.token().await?;
            let base = select_endpoint(&token.catalog, service_type, &self.creds)?;
            let url = if path.starts_with("http") {
                path.to_owned()
            } else {
                format!("{}{path}", base.trim_end_matches('/'))
            };
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("X-Auth-Token", &token.value)
                .header("Accept", "application/json");
            if let Some((name, value)) = microversion {
                req = req.header(name, value);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|source| OsError::Transport {
                what: format!("{method} {url}"),
                source,
            })?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                self.invalidate().await;
                continue;
            }
            if !status.is_success() {
                return Err(OsError::Status {
                    status,
                    message: error_message(resp).await,
                });
            }
            let bytes = resp.bytes().await.map_err(|source| OsError::Transport {
                what: format!("reading {method} {url}"),
                source,
            })?;
            if bytes.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&bytes)
                .map_err(|e| OsError::Protocol(format!("{method} {url}: {e}")));
        }
        Err(OsError::Unauthorized("the token was refused twice".into()))
    }
}

/// What Keystone says about a user's token (`GET /v3/auth/tokens`).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenInfo {
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
    pub expires: DateTime<Utc>,
}

impl Session {
    /// Validates a caller's token with our own token as the service token. `None`: Keystone
    /// does not know it (invalid, expired or revoked).
    pub async fn validate_token(&self, subject: &str) -> Result<Option<TokenInfo>, OsError> {
        let url = format!("{}/auth/tokens", self.creds.auth_url.trim_end_matches('/'));
        for attempt in 0..2 {
            let token = self.token().await?;
            let resp = self
                .http
                .get(&url)
                .header("X-Auth-Token", &token.value)
                .header("X-Subject-Token", subject)
                .send()
                .await
                .map_err(|source| OsError::Transport {
                    what: format!("GET {url}"),
                    source,
                })?;
            match resp.status() {
                StatusCode::NOT_FOUND => return Ok(None),
                StatusCode::UNAUTHORIZED if attempt == 0 => {
                    self.invalidate().await;
                    continue;
                }
                s if s.is_success() => {
                    let doc: Value = resp.json().await.map_err(|source| OsError::Transport {
                        what: "reading a validated token".into(),
                        source,
                    })?;
                    return token_info(&doc).map(Some);
                }
                status => {
                    return Err(OsError::Status {
                        status,
                        message: error_message(resp).await,
                    })
                }
            }
        }
        Err(OsError::Unauthorized(
            "our service token was refused twice".into(),
        ))
    }
}

fn token_info(doc: &Value) -> Result<TokenInfo, OsError> {
    let t = &doc["token"];
    let expires = t["expires_at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| OsError::Protocol("token without a readable expires_at".into()))?;
    Ok(TokenInfo {
        user_id: t["user"]["id"].as_str().map(str::to_owned),
        project_id: t["project"]["id"].as_str().map(str::to_owned),
        roles: t["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["name"].as_str().map(str::to_owned))
            .collect(),
        expires,
    })
}

fn parse_token(value: String, doc: &Value) -> Result<Token, OsError> {
    let t = &doc["token"];
    let expires = t["expires_at"]
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| OsError::Protocol("token without a readable expires_at".into()))?;
    let mut catalog = Vec::new();
    for service in t["catalog"].as_array().into_iter().flatten() {
        let service_type = service["type"].as_str().unwrap_or_default();
        for e in service["endpoints"].as_array().into_iter().flatten() {
            catalog.push(Endpoint {
                service_type: service_type.to_owned(),
                interface: e["interface"].as_str().unwrap_or_default().to_owned(),
                region: e["region_id"]
                    .as_str()
                    .or_else(|| e["region"].as_str())
                    .unwrap_or_default()
                    .to_owned(),
                url: e["url"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    Ok(Token {
        value,
        expires,
        catalog,
    })
}

fn select_endpoint(
    catalog: &[Endpoint],
    service_type: &str,
    creds: &Credentials,
) -> Result<String, OsError> {
    catalog
        .iter()
        .find(|e| {
            e.service_type == service_type
                && e.interface == creds.interface
                && (creds.region_name.is_empty() || e.region == creds.region_name)
        })
        .map(|e| e.url.clone())
        .ok_or_else(|| OsError::NoEndpoint(service_type.to_owned()))
}

/// The message of an OpenStack error body (`{"badRequest": {"message": …}}`, Keystone's
/// `{"error": {"message": …}}`), or the raw text.
async fn error_message(resp: reqwest::Response) -> String {
    let text = resp.text().await.unwrap_or_default();
    serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            v.as_object()
                .and_then(|o| o.values().next().cloned())
                .and_then(|inner| {
                    inner
                        .get("message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
        })
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_catalogs_are_read() {
        let doc = json!({"token": {"expires_at": "2026-11-25T03:00:00.000000Z", "catalog": [
            {"type": "compute", "endpoints": [
                {"interface": "internal", "region_id": "RegionOne", "url": "http://n:8774/v2.1/i"},
                {"interface": "public", "region_id": "RegionTwo", "url": "http://n2:8774/v2.1"},
                {"interface": "public", "region_id": "RegionOne", "url": "http://n:8774/v2.1"}]}]}});
        let t = parse_token("tok".into(), &doc).unwrap();
        assert_eq!(t.expires.to_rfc3339(), "2026-11-25T03:00:00+00:00");
        let mut creds = Credentials {
            region_name: "RegionOne".into(),
            ..Credentials::default()
        };
        assert_eq!(
            select_endpoint(&t.catalog, "compute", &creds).unwrap(),
            "http://n:8774/v2.1"
        );
        creds.interface = "internal".into();
        assert_eq!(
            select_endpoint(&t.catalog, "compute", &creds).unwrap(),
            "http://n:8774/v2.1/i"
        );
        assert!(matches!(
            select_endpoint(&t.catalog, "image", &creds),
            Err(OsError::NoEndpoint(_))
        ));
    }
}
