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
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

/// Keystone v3 credentials (`[openstack]` in Vigil's configuration): a password, or an
/// application credential, given here or taken from a named cloud of a `clouds.yaml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Credentials {
    /// A cloud of `clouds.yaml` (searched in `OS_CLIENT_CONFIG_FILE`, `./clouds.yaml`,
    /// `~/.config/openstack/`, `/etc/openstack/`); its values fill the fields left empty here.
    pub cloud: String,
    /// e.g. `http://keystone:5000/v3`; empty (and no cloud) means "not configured".
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
    /// Application credential (used instead of username/password when set).
    pub application_credential_id: String,
    pub application_credential_secret: String,
}

impl Default for Credentials {
    fn default() -> Self {
        Self {
            cloud: String::new(),
            auth_url: String::new(),
            username: String::new(),
            password: String::new(),
            project_name: String::new(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            region_name: String::new(),
            interface: "public".into(),
            application_credential_id: String::new(),
            application_credential_secret: String::new(),
        }
    }
}

impl Credentials {
    /// Whether Vigil has OpenStack credentials at all.
    pub fn is_configured(&self) -> bool {
        !self.auth_url.is_empty() || !self.cloud.is_empty()
    }

    /// Fills empty fields from the named cloud of the first `clouds.yaml` found.
    pub fn resolve_cloud(mut self) -> Result<Credentials, OsError> {
        if self.cloud.is_empty() {
            return Ok(self);
        }
        let mut candidates = Vec::new();
        if let Ok(p) = std::env::var("OS_CLIENT_CONFIG_FILE") {
            candidates.push(std::path::PathBuf::from(p));
        }
        candidates.push("clouds.yaml".into());
        if let Ok(home) = std::env::var("HOME") {
            candidates.push(std::path::Path::new(&home).join(".config/openstack/clouds.yaml"));
        }
        candidates.push("/etc/openstack/clouds.yaml".into());
        let path = candidates
            .into_iter()
            .find(|p| p.is_file())
            .ok_or_else(|| {
                OsError::Config(format!("no clouds.yaml found for cloud {}", self.cloud))
            })?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| OsError::Config(format!("reading {}: {e}", path.display())))?;
        let doc: Value = serde_yaml::from_str(&text)
            .map_err(|e| OsError::Config(format!("{}: {e}", path.display())))?;
        let cloud = &doc["clouds"][&self.cloud];
        if cloud.is_null() {
            return Err(OsError::Config(format!(
                "{} has no cloud named {}",
                path.display(),
                self.cloud
            )));
        }
        self.merge_cloud(cloud);
        Ok(self)
    }

    fn merge_cloud(&mut self, cloud: &Value) {
        let auth = &cloud["auth"];
        let fill = |field: &mut String, value: &Value| {
            if field.is_empty() {
                if let Some(v) = value.as_str() {
                    *field = v.to_owned();
                }
            }
        };
        fill(&mut self.auth_url, &auth["auth_url"]);
        fill(&mut self.username, &auth["username"]);
        fill(&mut self.password, &auth["password"]);
        fill(&mut self.project_name, &auth["project_name"]);
        fill(
            &mut self.application_credential_id,
            &auth["application_credential_id"],
        );
        fill(
            &mut self.application_credential_secret,
            &auth["application_credential_secret"],
        );
        fill(&mut self.region_name, &cloud["region_name"]);
        // Domain names and the interface have defaults; a cloud's values win over them.
        for (field, value) in [
            (&mut self.user_domain_name, &auth["user_domain_name"]),
            (&mut self.project_domain_name, &auth["project_domain_name"]),
            (&mut self.interface, &cloud["interface"]),
        ] {
            if let Some(v) = value.as_str() {
                *field = v.to_owned();
            }
        }
        if !self.auth_url.is_empty() && !self.auth_url.trim_end_matches('/').ends_with("/v3") {
            self.auth_url = format!("{}/v3", self.auth_url.trim_end_matches('/'));
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
    #[error("OpenStack configuration: {0}")]
    Config(String),
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
    /// A session for `creds`, with a named cloud's values filled in from `clouds.yaml`.
    pub fn new(creds: Credentials) -> Result<Session, OsError> {
        let creds = creds.resolve_cloud()?;
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

    /// Keeps a token ready in the background: authenticates now and again shortly before each
    /// expiry, so the first request after a quiet spell — a failed host's recovery — does not
    /// wait for Keystone, and bad credentials show in the log at start, not at the first
    /// failure. Requests still authenticate on their own if this falls behind. Ends when the
    /// session is dropped (Vigil's lives as long as its process).
    pub fn keep_token_fresh(self: &Arc<Self>) {
        let session = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut backoff = Duration::from_secs(1);
            loop {
                let Some(s) = session.upgrade() else { return };
                let wait = match s.token().await {
                    Ok(t) => {
                        backoff = Duration::from_secs(1);
                        // Just past the point where token() re-authenticates; not more
                        // often than every 30 s should Keystone hand out short-lived tokens.
                        (t.expires - EARLY - Utc::now())
                            .to_std()
                            .unwrap_or_default()
                            .max(Duration::from_secs(30))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "authenticating with Keystone, will retry");
                        let w = backoff;
                        backoff = (backoff * 2).min(Duration::from_secs(60));
                        w
                    }
                };
                drop(s);
                tokio::time::sleep(wait).await;
            }
        });
    }

    async fn invalidate(&self) {
        *self.token.lock().await = None;
    }

    async fn authenticate(&self) -> Result<Token, OsError> {
        let c = &self.creds;
        // An application credential carries its own scope; a password is scoped to the project.
        let body = if c.application_credential_id.is_empty() {
            json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": c.username, "domain": {"name": c.user_domain_name}, "password": c.password}}},
                "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}}
            }})
        } else {
            json!({"auth": {"identity": {
                "methods": ["application_credential"],
                "application_credential": {
                    "id": c.application_credential_id,
                    "secret": c.application_credential_secret}}}})
        };
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
    fn clouds_yaml_fills_what_the_config_leaves_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("clouds.yaml");
        std::fs::write(
            &file,
            "clouds:\n  prod:\n    region_name: R1\n    interface: internal\n    auth:\n      \
             auth_url: http://k:5000\n      username: vigil\n      password: pw\n      \
             project_name: service\n      user_domain_name: ops\n",
        )
        .unwrap();
        std::env::set_var("OS_CLIENT_CONFIG_FILE", &file);
        let c = Credentials {
            cloud: "prod".into(),
            password: "from-vigil".into(),
            ..Credentials::default()
        }
        .resolve_cloud()
        .unwrap();
        assert_eq!(c.auth_url, "http://k:5000/v3");
        assert_eq!(c.username, "vigil");
        assert_eq!(c.password, "from-vigil");
        assert_eq!(c.user_domain_name, "ops");
        assert_eq!(c.project_domain_name, "Default");
        assert_eq!(
            (c.region_name.as_str(), c.interface.as_str()),
            ("R1", "internal")
        );
        let missing = Credentials {
            cloud: "nope".into(),
            ..Credentials::default()
        }
        .resolve_cloud()
        .unwrap_err();
        assert!(
            missing.to_string().contains("no cloud named nope"),
            "{missing}"
        );
    }

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
