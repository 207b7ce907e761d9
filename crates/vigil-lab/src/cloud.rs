//! A small Nova client for tests: a Keystone token, servers, compute services, evacuation.

use std::fmt;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::wait::{self, Check};
use crate::LabEnv;

/// The compute microversion of every request: 2.74 lets a create name its host, and from 2.95
/// on an evacuated server stays SHUTOFF on its new host; 2.94 keeps its state (ACTIVE).
pub const COMPUTE_MICROVERSION: &str = "2.94";

const HTTP_TIMEOUT: Duration = Duration::from_secs(60);

/// A failed call to the lab's cloud.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("{method} {url} was not answered")]
    Send {
        method: Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{method} {url} answered {status}: {body}")]
    Status {
        method: Method,
        url: String,
        status: StatusCode,
        body: String,
    },
    #[error("the answer of {url} is not the expected JSON")]
    Decode {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("Keystone issued no token (no X-Subject-Token header)")]
    NoToken,
    #[error("the service catalog has no public {service_type} endpoint in {region}")]
    NoEndpoint {
        service_type: &'static str,
        region: String,
    },
    #[error("server {id} went to ERROR: {fault}")]
    ServerFailed { id: ServerId, fault: String },
    #[error("no nova-compute service on host {host}")]
    NoComputeService { host: String },
    #[error("waited {waited:?} for {what}; last seen: {last}")]
    Timeout {
        what: String,
        waited: Duration,
        last: String,
    },
}

/// A Nova server's id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(transparent)]
pub struct ServerId(pub String);

impl fmt::Display for ServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What tests look at in a server.
#[derive(Clone, Debug, Deserialize)]
pub struct Server {
    pub id: ServerId,
    pub name: String,
    /// `BUILD`, `ACTIVE`, `REBUILD`, `SHUTOFF`, `ERROR`, …
    pub status: String,
    #[serde(rename = "OS-EXT-SRV-ATTR:host")]
    pub host: Option<String>,
    #[serde(rename = "OS-EXT-STS:task_state")]
    pub task_state: Option<String>,
    #[serde(default)]
    pub fault: Option<Value>,
}

impl Server {
    fn summary(&self) -> String {
        format!(
            "{} on {} (task {})",
            self.status,
            self.host.as_deref().unwrap_or("no host"),
            self.task_state.as_deref().unwrap_or("none")
        )
    }
}

/// Whether Nova's service group considers a service alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    Up,
    Down,
}

/// A row of `GET /os-services`.
#[derive(Clone, Debug, Deserialize)]
pub struct ComputeService {
    /// The service's UUID (microversion 2.53 and later).
    pub id: String,
    pub host: String,
    pub state: ServiceState,
    /// `enabled` or `disabled`.
    pub status: String,
    pub forced_down: bool,
}

/// A server to boot: no network, the lab's image and flavor.
#[derive(Clone, Debug)]
pub struct ServerCreate {
    pub name: String,
    pub image: String,
    pub flavor: String,
    /// Pins the server to a compute host (admin only).
    pub host: Option<String>,
    pub metadata: serde_json::Map<String, Value>,
}

impl ServerCreate {
    pub fn new(env: &LabEnv, name: impl Into<String>) -> Self {
        ServerCreate {
            name: name.into(),
            image: env.image.clone(),
            flavor: env.flavor.clone(),
            host: None,
            metadata: serde_json::Map::new(),
        }
    }

    pub fn on_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Adds a server metadata item (e.g. `HA_Enabled`, `HA_Priority`).
    pub fn meta(mut self, key: &str, value: &str) -> Self {
        self.metadata.insert(key.into(), json!(value));
        self
    }
}

/// An admin session on the lab's Nova.
#[derive(Clone, Debug)]
pub struct Cloud {
    http: reqwest::Client,
    token: String,
    compute_url: String,
}

impl Cloud {
    /// Gets a project-scoped admin token from Keystone and Nova's public endpoint.
    pub async fn connect(env: &LabEnv) -> Result<Cloud, CloudError> {
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .build()
            .expect("a client without custom TLS settings always builds");
        let c = &env.credentials;
        let url = format!("{}/auth/tokens", c.auth_url.trim_end_matches('/'));
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "password": c.password,
                "domain": {"name": c.user_domain_name}}}},
            "scope": {"project": {"name": c.project_name,
                "domain": {"name": c.project_domain_name}}}}});
        let response = send(http.post(&url).json(&body), Method::POST, &url).await?;
        let token = response
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .ok_or(CloudError::NoToken)?
            .to_owned();
        let body: TokenBody = decode(response, &url).await?;
        let compute_url = body
            .token
            .catalog
            .iter()
            .filter(|s| s.service_type == "compute")
            .flat_map(|s| &s.endpoints)
            .find(|e| e.interface == "public" && e.region_id == c.region_name)
            .map(|e| e.url.trim_end_matches('/').to_owned())
            .ok_or_else(|| CloudError::NoEndpoint {
                service_type: "compute",
                region: c.region_name.clone(),
            })?;
        Ok(Cloud {
            http,
            token,
            compute_url,
        })
    }

    async fn nova(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Response, CloudError> {
        let url = format!("{}{path}", self.compute_url);
        let mut request = self
            .http
            .request(method.clone(), &url)
            .header("X-Auth-Token", &self.token)
            .header(
                "OpenStack-API-Version",
                format!("compute {COMPUTE_MICROVERSION}"),
            );
        if let Some(body) = body {
            request = request.json(&body);
        }
        send(request, method, &url).await
    }

    /// Boots one server and returns its id at once (it is still BUILD).
    pub async fn server_create(&self, spec: &ServerCreate) -> Result<ServerId, CloudError> {
        let mut server = json!({
            "name": spec.name, "imageRef": spec.image, "flavorRef": spec.flavor,
            "networks": "none",
        });
        if let Some(host) = &spec.host {
            server["host"] = json!(host);
        }
        if !spec.metadata.is_empty() {
            server["metadata"] = Value::Object(spec.metadata.clone());
        }
        let response = self
            .nova(Method::POST, "/servers", Some(json!({ "server": server })))
            .await?;
        let created: ServerBody<Created> = decode(response, "/servers").await?;
        Ok(created.server.id)
    }

    /// The server, or `None` once Nova no longer knows it.
    pub async fn server_get(&self, id: &ServerId) -> Result<Option<Server>, CloudError> {
        let path = format!("/servers/{id}");
        match self.nova(Method::GET, &path, None).await {
            Ok(response) => Ok(Some(
                decode::<ServerBody<Server>>(response, &path).await?.server,
            )),
            Err(CloudError::Status {
                status: StatusCode::NOT_FOUND,
                ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn server_delete(&self, id: &ServerId) -> Result<(), CloudError> {
        self.nova(Method::DELETE, &format!("/servers/{id}"), None)
            .await
            .map(drop)
    }

    /// Asks Nova to rebuild the server of a down host elsewhere (the scheduler picks the host).
    pub async fn server_evacuate(&self, id: &ServerId) -> Result<(), CloudError> {
        let body = json!({"evacuate": {}});
        self.nova(Method::POST, &format!("/servers/{id}/action"), Some(body))
            .await
            .map(drop)
    }

    /// `GET` any compute path at the lab's microversion, as JSON: for tests that inspect what
    /// Nova recorded (instance actions, migrations).
    pub async fn compute_get(&self, path: &str) -> Result<Value, CloudError> {
        let response = self.nova(Method::GET, path, None).await?;
        decode(response, path).await
    }

    /// Any compute request at the lab's microversion; the answer's JSON (`null` when empty).
    /// For harnesses that drive Nova directly (force-down, multi-create).
    pub async fn compute_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, CloudError> {
        let response = self.nova(method, path, body).await?;
        let bytes = response
            .bytes()
            .await
            .map_err(|source| CloudError::Decode {
                url: path.to_owned(),
                source,
            })?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// The admin token, for the lab's other OpenStack APIs (the real Masakari).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// `POST` a server action (e.g. `{"os-resetState": {"state": "error"}}`).
    pub async fn server_action(&self, id: &ServerId, body: Value) -> Result<(), CloudError> {
        self.nova(Method::POST, &format!("/servers/{id}/action"), Some(body))
            .await
            .map(drop)
    }

    /// Enables or disables a host's nova-compute service (as an operator does with reserved
    /// hosts, which stay disabled until a recovery needs them).
    pub async fn compute_service_set_enabled(
        &self,
        host: &str,
        enabled: bool,
    ) -> Result<(), CloudError> {
        let service = self.compute_service(host).await?;
        let body = if enabled {
            json!({"status": "enabled"})
        } else {
            json!({"status": "disabled", "disabled_reason": "reserved for recovery"})
        };
        self.nova(
            Method::PUT,
            &format!("/os-services/{}", service.id),
            Some(body),
        )
        .await
        .map(drop)
    }

    pub async fn compute_services(&self) -> Result<Vec<ComputeService>, CloudError> {
        let path = "/os-services?binary=nova-compute";
        let response = self.nova(Method::GET, path, None).await?;
        Ok(decode::<ServicesBody>(response, path).await?.services)
    }

    pub async fn compute_service(&self, host: &str) -> Result<ComputeService, CloudError> {
        self.compute_services()
            .await?
            .into_iter()
            .find(|s| s.host == host)
            .ok_or_else(|| CloudError::NoComputeService { host: host.into() })
    }

    /// Waits until the server satisfies DONE; a server in ERROR ends the wait with its fault.
    pub async fn wait_server(
        &self,
        id: &ServerId,
        what: &str,
        timeout: Duration,
        done: impl Fn(&Server) -> bool,
    ) -> Result<Server, CloudError> {
        wait::until(&format!("server {id} {what}"), timeout, || async {
            let Some(server) = self.server_get(id).await? else {
                return Ok(Check::Pending("no such server".into()));
            };
            if server.status == "ERROR" {
                let fault = server
                    .fault
                    .as_ref()
                    .map_or("no fault".into(), Value::to_string);
                return Err(CloudError::ServerFailed {
                    id: id.clone(),
                    fault,
                });
            }
            Ok(match done(&server) {
                true => Check::Done(server),
                false => Check::Pending(server.summary()),
            })
        })
        .await
    }

    pub async fn wait_server_active(
        &self,
        id: &ServerId,
        timeout: Duration,
    ) -> Result<Server, CloudError> {
        self.wait_server(id, "ACTIVE", timeout, |s| {
            s.status == "ACTIVE" && s.task_state.is_none()
        })
        .await
    }

    pub async fn wait_server_gone(
        &self,
        id: &ServerId,
        timeout: Duration,
    ) -> Result<(), CloudError> {
        wait::until(&format!("server {id} deleted"), timeout, || async {
            Ok(match self.server_get(id).await? {
                None => Check::Done(()),
                Some(server) => Check::Pending(server.summary()),
            })
        })
        .await
    }

    /// Waits until Nova reports HOST's nova-compute in STATE.
    pub async fn wait_compute_state(
        &self,
        host: &str,
        state: ServiceState,
        timeout: Duration,
    ) -> Result<ComputeService, CloudError> {
        let what = format!("nova-compute on {host} {state:?}");
        wait::until(&what, timeout, || async {
            let service = self.compute_service(host).await?;
            Ok(match service.state == state {
                true => Check::Done(service),
                false => Check::Pending(format!("{:?}, {}", service.state, service.status)),
            })
        })
        .await
    }
}

async fn send(request: RequestBuilder, method: Method, url: &str) -> Result<Response, CloudError> {
    let response = request.send().await.map_err(|source| CloudError::Send {
        method: method.clone(),
        url: url.to_owned(),
        source,
    })?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = response.text().await.unwrap_or_default();
    Err(CloudError::Status {
        method,
        url: url.to_owned(),
        status,
        body,
    })
}

async fn decode<T: serde::de::DeserializeOwned>(
    response: Response,
    url: &str,
) -> Result<T, CloudError> {
    response.json().await.map_err(|source| CloudError::Decode {
        url: url.to_owned(),
        source,
    })
}

#[derive(Deserialize)]
struct TokenBody {
    token: Token,
}

#[derive(Deserialize)]
struct Token {
    catalog: Vec<CatalogEntry>,
}

#[derive(Deserialize)]
struct CatalogEntry {
    #[serde(rename = "type")]
    service_type: String,
    endpoints: Vec<Endpoint>,
}

#[derive(Deserialize)]
struct Endpoint {
    interface: String,
    region_id: String,
    url: String,
}

#[derive(Deserialize)]
struct ServerBody<T> {
    server: T,
}

#[derive(Deserialize)]
struct Created {
    id: ServerId,
}

#[derive(Deserialize)]
struct ServicesBody {
    services: Vec<ComputeService>,
}
