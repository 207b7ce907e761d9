//! `Session`: one Keystone token and catalog, shared by every caller of a process, and the one
//! path every request takes (token, endpoint, a single re-authentication on a 401).

use chrono::Utc;
use reqwest::{Method, Response, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

use crate::error::refusal;
use crate::token::{auth_request, parse_token, select_endpoint, token_info, Token, TokenInfo};
use crate::{Credentials, Exchange, OsError};

/// An authenticated session, shared by all callers (cheap to share behind an `Arc`).
pub struct Session {
    http: reqwest::Client,
    creds: Credentials,
    token: Mutex<Option<Token>>,
}

/// Re-authenticate this long before the token expires, so no request carries a dying token.
const EARLY: chrono::Duration = chrono::Duration::seconds(120);

/// Where a request goes: a path under a catalog endpoint (or an absolute URL, as Nova's
/// `next` links are), or a path under Keystone's `auth_url`.
enum Target<'a> {
    Service {
        service_type: &'a str,
        path: &'a str,
    },
    Identity(&'a str),
}

impl Session {
    /// A session for `creds`, with a named cloud's values filled in from `clouds.yaml`.
    /// Trusts the credentials' `cafile` besides the system's certificates.
    pub fn new(creds: Credentials) -> Result<Session, OsError> {
        let creds = creds.resolve_cloud()?;
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60));
        if let Some(path) = &creds.cafile {
            http = crate::tls::trust_ca_file(http, path)
                .map_err(|source| OsError::CaFile { source })?;
        }
        let http = http
            .build()
            .map_err(|source| OsError::HttpClient { source })?;
        Ok(Session {
            http,
            creds,
            token: Mutex::new(None),
        })
    }

    /// A session whose requests, Keystone's included, go through `http`: one that trusts a
    /// private CA, for instance.
    pub fn with_http_client(creds: Credentials, http: reqwest::Client) -> Result<Session, OsError> {
        Ok(Session {
            http,
            creds: creds.resolve_cloud()?,
            token: Mutex::new(None),
        })
    }

    /// The credentials, with a named cloud's values filled in.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
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

    /// Our current token, for an OpenStack API this crate has no client for (the bench asks
    /// the real Masakari with it).
    pub async fn auth_token(&self) -> Result<String, OsError> {
        Ok(self.token().await?.value)
    }

    /// The base URL requests for `service_type` go to: an `endpoint_override`, else the
    /// catalog's entry for our interface and region.
    pub async fn endpoint(&self, service_type: &str) -> Result<String, OsError> {
        select_endpoint(&self.token().await?.catalog, service_type, &self.creds)
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
                        tracing::warn!(error = %vigil_domain::ErrorChain(&e), "authenticating with Keystone, will retry");
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

    async fn authenticate(&self) -> Result<Token, OsError> {
        let url = self.identity_url("/auth/tokens");
        let failed = |source| OsError::Authenticate {
            url: url.clone(),
            source,
        };
        let body = auth_request(&self.creds);
        let resp = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| failed(Exchange::Send(e)))?;
        if !resp.status().is_success() {
            return Err(failed(refusal(resp).await));
        }
        let value = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| failed(Exchange::NoSubjectToken))?;
        let doc = json_body(resp).await.map_err(failed)?;
        parse_token(value, &doc).map_err(failed)
    }

    fn identity_url(&self, path: &str) -> String {
        format!("{}{path}", self.creds.auth_url.trim_end_matches('/'))
    }

    /// Sends a JSON request to a service and returns the JSON answer (`Null` for no body).
    /// `microversion` is a header name and value, e.g. `("X-OpenStack-Nova-API-Version",
    /// "2.53")`; `path` is under the service's endpoint, or an absolute URL.
    pub async fn request(
        &self,
        service_type: &str,
        method: Method,
        path: &str,
        microversion: Option<(&str, &str)>,
        body: Option<&Value>,
    ) -> Result<Value, OsError> {
        let target = Target::Service { service_type, path };
        let headers: Vec<_> = microversion.into_iter().collect();
        let (url, resp) = self.send(&method, target, &headers, body).await?;
        let failed = |source| OsError::Request {
            method: method.clone(),
            url: url.clone(),
            source,
        };
        if !resp.status().is_success() {
            return Err(failed(refusal(resp).await));
        }
        json_body(resp).await.map_err(failed)
    }

    /// Sends a JSON request like [`Session::request`] and hands back the answer whatever its
    /// status, with the URL it went to: for a caller that reads a refusal's body itself.
    /// `headers` are added to the token and `Accept`.
    pub async fn send_json(
        &self,
        service_type: &str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(String, Response), OsError> {
        let target = Target::Service { service_type, path };
        self.send(&method, target, headers, body).await
    }

    /// Validates a caller's token with our own token as the service token. `None`: Keystone
    /// does not know it (invalid, expired or revoked).
    pub async fn validate_token(&self, subject: &str) -> Result<Option<TokenInfo>, OsError> {
        let target = Target::Identity("/auth/tokens");
        let headers = [("X-Subject-Token", subject)];
        let (url, resp) = self.send(&Method::GET, target, &headers, None).await?;
        let failed = |source| OsError::Request {
            method: Method::GET,
            url: url.clone(),
            source,
        };
        match resp.status() {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => {
                let doc = json_body(resp).await.map_err(failed)?;
                token_info(&doc).map(Some).map_err(failed)
            }
            _ => Err(failed(refusal(resp).await)),
        }
    }

    /// The one request path: our token, the target's URL, the request; a 401 means the token
    /// was revoked or expired early, so it re-authenticates once and sends again. Any other
    /// answer is the caller's to read.
    async fn send(
        &self,
        method: &Method,
        target: Target<'_>,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<(String, Response), OsError> {
        let mut refused = false;
        loop {
            let token = self.token().await?;
            let url = match target {
                Target::Service { path, .. } if path.starts_with("http") => path.to_owned(),
                Target::Service { service_type, path } => {
                    let base = select_endpoint(&token.catalog, service_type, &self.creds)?;
                    format!("{}{path}", base.trim_end_matches('/'))
                }
                Target::Identity(path) => self.identity_url(path),
            };
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("X-Auth-Token", &token.value)
                .header("Accept", "application/json");
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req.send().await.map_err(|e| OsError::Request {
                method: method.clone(),
                url: url.clone(),
                source: Exchange::Send(e),
            })?;
            if resp.status() == StatusCode::UNAUTHORIZED && !refused {
                refused = true;
                *self.token.lock().await = None;
                continue;
            }
            return Ok((url, resp));
        }
    }
}

/// A response's JSON body; an empty body (a 202's, a 204's) reads as `Null`.
async fn json_body(resp: Response) -> Result<Value, Exchange> {
    let bytes = resp.bytes().await.map_err(Exchange::Read)?;
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(Exchange::Decode)
}
