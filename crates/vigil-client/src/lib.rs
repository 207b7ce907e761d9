//! A typed client of the Masakari v1 API for senders: the monitors' dispatcher and `vigil
//! notify` report through it, to Vigil or to Masakari.
//!
//! Two ways in. `noauth`: the API's address as given, the project id in the URL when the API
//! wants one (`/v1/<project>/notifications`, as Masakari's noauth2 does) and an optional
//! `X-Auth-Token`. `keystone`: a `vigil_openstack::Session` (a `clouds.yaml` cloud, a password
//! or an application credential) gives the token, and the address is the catalog's
//! `instance-ha` endpoint unless one is given. Either way a CA file may be added to the
//! certificates trusted, Keystone's connections included.
//!
//! A call returns the typed body on success; otherwise a [`ClientError`] that keeps the
//! status and the whole body of a refusal ([`ClientError::answered`]), so a sender can tell a
//! duplicate (409) from another refusal and keep the API's words. It never retries: that is
//! the sender's policy (`vigil-outbox`).

mod error;

pub use error::ClientError;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use vigil_openstack::{Credentials, Session};
use vigil_wire::{
    CreateNotification, HostBody, Item, List, NotificationBody, SegmentBody, VMoveBody,
};

/// The microversion asked for. A report's body has not changed since 1.0, and every Masakari
/// serves 1.0.
pub const MICROVERSION: &str = "instance-ha 1.0";
/// A notification's `recovery_workflow_details` (its steps and their progress) came in 1.1.
const WITH_PROGRESS: &str = "instance-ha 1.1";
/// Vmoves, the instances a host recovery moves, came in 1.3.
const WITH_VMOVES: &str = "instance-ha 1.3";
const VERSION_HEADER: &str = "OpenStack-API-Version";
/// The service type of Masakari (and Vigil) in Keystone's catalog.
pub const SERVICE_TYPE: &str = "instance-ha";

/// How to reach the API (a monitor's `[api]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientConfig {
    /// The API's v1 address, e.g. `https://controller:15868/v1`. Needed with noauth; with
    /// Keystone, empty means the catalog's `instance-ha` endpoint.
    pub url: String,
    pub auth: AuthMode,
    /// The project id to put in the URL (`<url>/<project_id>/notifications`); empty: none
    /// (Vigil accepts both; Masakari's catalog endpoints already end with it).
    pub project_id: String,
    /// noauth: an `X-Auth-Token` to send (Masakari's noauth2 reads `user:project` from it);
    /// empty: none.
    pub token: String,
    /// keystone: the credentials, as in `[openstack]` (a `cloud` of `clouds.yaml`, a
    /// password, or an application credential).
    pub openstack: Credentials,
    /// A PEM file of CA certificates trusted besides the built-in roots, for the API and
    /// Keystone.
    pub ca_file: Option<PathBuf>,
    /// The longest one request may take, in seconds.
    pub timeout_secs: u64,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            auth: AuthMode::NoAuth,
            project_id: String::new(),
            token: String::new(),
            openstack: Credentials::default(),
            ca_file: None,
            timeout_secs: 30,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    NoAuth,
    Keystone,
}

/// A client of one Masakari API; cheap to clone.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    route: Route,
}

#[derive(Clone)]
enum Route {
    NoAuth {
        base: String,
        token: Option<String>,
    },
    /// `base` empty: the catalog's endpoint.
    Keystone {
        session: Arc<Session>,
        base: String,
    },
}

/// A successful answer, before its body is read as a type.
struct Reply {
    method: Method,
    url: String,
    status: u16,
    body: String,
}

impl Client {
    /// The client `config` describes. With Keystone, nothing is asked of Keystone yet: the
    /// first call authenticates.
    pub fn from_config(config: &ClientConfig) -> Result<Client, ClientError> {
        let http = http_client(config)?;
        let base = join(&config.url, &config.project_id);
        let route = match config.auth {
            AuthMode::NoAuth if config.url.is_empty() => return Err(ClientError::NoUrl),
            AuthMode::NoAuth => Route::NoAuth {
                base,
                token: Some(config.token.clone()).filter(|t| !t.is_empty()),
            },
            AuthMode::Keystone => {
                let session = Session::with_http_client(config.openstack.clone(), http.clone())
                    .map_err(|source| ClientError::Session {
                        source: Box::new(source),
                    })?;
                Route::Keystone {
                    session: Arc::new(session),
                    base,
                }
            }
        };
        Ok(Client { http, route })
    }

    /// A client on a session the process already has (its token shared with other callers);
    /// `url` as in [`ClientConfig::url`], project id included if wanted.
    pub fn with_session(session: Arc<Session>, url: &str) -> Client {
        Client {
            http: reqwest::Client::new(),
            route: Route::Keystone {
                session,
                base: url.trim_end_matches('/').to_owned(),
            },
        }
    }

    /// The Keystone session, when there is one (to keep its token fresh in the background).
    pub fn session(&self) -> Option<&Arc<Session>> {
        match &self.route {
            Route::Keystone { session, .. } => Some(session),
            Route::NoAuth { .. } => None,
        }
    }

    /// `POST /v1/notifications`: reports a failure. The API answers 202 with the stored
    /// notification; a 409 means it has this report already (see [`ClientError::is_duplicate`]).
    pub async fn create_notification(
        &self,
        report: &CreateNotification,
    ) -> Result<NotificationBody, ClientError> {
        let body = serde_json::json!({ "notification": report });
        let reply = self
            .call(Method::POST, "/notifications", Some(&body), MICROVERSION)
            .await?;
        reply.decode::<Item<NotificationBody>>().map(|i| i.0)
    }

    /// `GET /v1/notifications` with `query` (e.g. `[("status", "new")]`), every page.
    pub async fn list_notifications(
        &self,
        query: &[(&str, &str)],
    ) -> Result<Vec<NotificationBody>, ClientError> {
        self.list("/notifications", query, MICROVERSION).await
    }

    /// `GET /v1/notifications/{id}` at microversion 1.1, with the recovery's steps and their
    /// progress details (`recovery_workflow_details`).
    pub async fn notification(&self, id: &str) -> Result<NotificationBody, ClientError> {
        let path = format!("/notifications/{id}");
        let reply = self.call(Method::GET, &path, None, WITH_PROGRESS).await?;
        reply.decode::<Item<NotificationBody>>().map(|i| i.0)
    }

    /// `GET /v1/notifications/{id}/vmoves` at microversion 1.3, every page: the instances a
    /// host recovery moves, as far as it got.
    pub async fn vmoves(&self, id: &str) -> Result<Vec<VMoveBody>, ClientError> {
        self.list(&format!("/notifications/{id}/vmoves"), &[], WITH_VMOVES)
            .await
    }

    /// `GET /v1/segments`, every page.
    pub async fn list_segments(&self) -> Result<Vec<SegmentBody>, ClientError> {
        self.list("/segments", &[], MICROVERSION).await
    }

    /// `GET /v1/segments/{segment}/hosts` with `query` (e.g. `[("name", "compute1")]`), every
    /// page.
    pub async fn list_hosts(
        &self,
        segment: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<HostBody>, ClientError> {
        self.list(&format!("/segments/{segment}/hosts"), query, MICROVERSION)
            .await
    }

    /// A collection under `path` with `query`, following `next` links to the last page.
    async fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        version: &'static str,
    ) -> Result<Vec<T>, ClientError>
    where
        List<T>: serde::de::DeserializeOwned,
    {
        let mut path = path.to_owned();
        if !query.is_empty() {
            path.push('?');
            path.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(query)
                    .finish(),
            );
        }
        let mut all = Vec::new();
        loop {
            let page = self
                .call(Method::GET, &path, None, version)
                .await?
                .decode::<List<T>>()?;
            all.extend(page.items);
            match page.links.into_iter().flatten().find(|l| l.rel == "next") {
                Some(next) => path = next.href,
                None => return Ok(all),
            }
        }
    }

    /// One request at microversion `version`; `path` is under the API's address (or an
    /// absolute URL, as `next` links are). Any status but a success is an error that keeps
    /// the body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        version: &'static str,
    ) -> Result<Reply, ClientError> {
        let (url, resp) = match &self.route {
            Route::NoAuth { base, token } => {
                let url = absolute(base, path);
                let mut req = self
                    .http
                    .request(method.clone(), &url)
                    .header(VERSION_HEADER, version)
                    .header(reqwest::header::ACCEPT, "application/json");
                if let Some(t) = token {
                    req = req.header("X-Auth-Token", t);
                }
                if let Some(b) = body {
                    req = req.json(b);
                }
                let resp = req.send().await.map_err(|source| ClientError::Send {
                    method: method.clone(),
                    url: url.clone(),
                    source,
                })?;
                (url, resp)
            }
            Route::Keystone { session, base } => {
                let target = if base.is_empty() {
                    path.to_owned()
                } else {
                    absolute(base, path)
                };
                session
                    .send_json(
                        SERVICE_TYPE,
                        method.clone(),
                        &target,
                        &[(VERSION_HEADER, version)],
                        body,
                    )
                    .await
                    .map_err(|source| ClientError::Keystone {
                        method: method.clone(),
                        path: target.clone(),
                        source: Box::new(source),
                    })?
            }
        };
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|source| ClientError::Read {
            method: method.clone(),
            url: url.clone(),
            status,
            source,
        })?;
        if !(200..300).contains(&status) {
            return Err(ClientError::Refused {
                method,
                url,
                status,
                body: text,
            });
        }
        Ok(Reply {
            method,
            url,
            status,
            body: text,
        })
    }
}

impl Reply {
    fn decode<T: serde::de::DeserializeOwned>(self) -> Result<T, ClientError> {
        serde_json::from_str(&self.body).map_err(|source| ClientError::Decode {
            method: self.method,
            url: self.url,
            status: self.status,
            source,
        })
    }
}

/// The HTTP client: the CA file added, the timeout set, redirects not followed (a redirect
/// is a wrong address to report, and following one would turn a POST into a GET).
fn http_client(config: &ClientConfig) -> Result<reqwest::Client, ClientError> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5).min(Duration::from_secs(config.timeout_secs)))
        .timeout(Duration::from_secs(config.timeout_secs))
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &config.ca_file {
        builder = vigil_openstack::tls::trust_ca_file(builder, path).map_err(ClientError::Ca)?;
    }
    builder
        .build()
        .map_err(|source| ClientError::HttpClient { source })
}

/// `url` with `/project` appended when there is one.
fn join(url: &str, project: &str) -> String {
    let url = url.trim_end_matches('/');
    if project.is_empty() {
        url.to_owned()
    } else {
        format!("{url}/{project}")
    }
}

fn absolute(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        path.to_owned()
    } else {
        format!("{base}{path}")
    }
}
