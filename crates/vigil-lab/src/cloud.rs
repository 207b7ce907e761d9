//! The lab's Nova for tests: the shared client (`vigil_openstack::nova::Compute`) with an admin
//! session, typed server ids, and waits for a state that end at a deadline.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use vigil_openstack::nova::{Compute, Server, ServerCreate, Service};
use vigil_openstack::{OsError, Session};

use crate::wait::{self, Check};
use crate::LabEnv;

/// A failed call to the lab's cloud, or a state it did not reach.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error("connecting to the lab's Keystone")]
    Connect {
        #[source]
        source: OsError,
    },
    /// A Nova call failed; which one is in the source's message.
    #[error("the lab's Nova refused or did not answer")]
    Nova {
        #[source]
        source: OsError,
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

impl CloudError {
    /// A call that may well pass if made again: Nova or Keystone restarting, a connection
    /// reset, a 5xx. Tests stop and start the lab's services on purpose.
    pub fn is_transient(&self) -> bool {
        use vigil_domain::{Classify, ErrorClass};
        match self {
            CloudError::Connect { source } | CloudError::Nova { source } => {
                source.class() == ErrorClass::Transient
            }
            _ => false,
        }
    }
}

fn nova(source: OsError) -> CloudError {
    CloudError::Nova { source }
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

/// Whether Nova's service group considers a service alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceState {
    Up,
    Down,
}

impl ServiceState {
    /// Nova's word for it in `state`.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceState::Up => "up",
            ServiceState::Down => "down",
        }
    }
}

fn summary(server: &Server) -> String {
    format!(
        "{} on {} (task {})",
        server.status,
        server.host.as_deref().unwrap_or("no host"),
        server.task_state.as_deref().unwrap_or("none")
    )
}

/// An admin session on the lab's Nova.
#[derive(Clone)]
pub struct Cloud {
    nova: Compute,
}

impl Cloud {
    /// Authenticates as the lab's admin (so bad credentials fail here, not at the first call).
    pub async fn connect(env: &LabEnv) -> Result<Cloud, CloudError> {
        let session = Session::new(env.credentials.clone())
            .map(Arc::new)
            .map_err(|source| CloudError::Connect { source })?;
        session
            .auth_token()
            .await
            .map_err(|source| CloudError::Connect { source })?;
        Ok(Cloud {
            nova: Compute::new(session),
        })
    }

    /// The Nova client itself, for calls the waits below do not wrap.
    pub fn nova(&self) -> &Compute {
        &self.nova
    }

    /// The admin token, for the lab's other OpenStack APIs (the real Masakari).
    pub async fn token(&self) -> Result<String, CloudError> {
        self.nova
            .session()
            .auth_token()
            .await
            .map_err(|source| CloudError::Connect { source })
    }

    /// Boots one server and returns its id at once (it is still BUILD).
    pub async fn server_create(&self, spec: &ServerCreate) -> Result<ServerId, CloudError> {
        self.nova
            .server_create(spec)
            .await
            .map(ServerId)
            .map_err(nova)
    }

    /// The server, or `None` once Nova no longer knows it.
    pub async fn server_get(&self, id: &ServerId) -> Result<Option<Server>, CloudError> {
        self.nova.server(&id.0).await.map_err(nova)
    }

    pub async fn server_delete(&self, id: &ServerId) -> Result<(), CloudError> {
        self.nova.server_delete(&id.0).await.map_err(nova)
    }

    /// Asks Nova to rebuild the server of a down host elsewhere (the scheduler picks the host).
    pub async fn server_evacuate(&self, id: &ServerId) -> Result<(), CloudError> {
        self.nova
            .server_evacuate(&id.0, None, false)
            .await
            .map_err(nova)
    }

    /// `os-resetState` to `active` or `error`.
    pub async fn server_reset_state(&self, id: &ServerId, state: &str) -> Result<(), CloudError> {
        self.nova
            .server_reset_state(&id.0, state)
            .await
            .map_err(nova)
    }

    /// `GET` any compute path as JSON: for tests that inspect what Nova recorded (instance
    /// actions, migrations).
    pub async fn compute_get(&self, path: &str) -> Result<Value, CloudError> {
        self.nova.get(path).await.map_err(nova)
    }

    /// Enables or disables a host's nova-compute service (as an operator does with reserved
    /// hosts, which stay disabled until a recovery needs them).
    pub async fn compute_service_set_enabled(
        &self,
        host: &str,
        enabled: bool,
    ) -> Result<(), CloudError> {
        let service = self.compute_service(host).await?;
        let done = match enabled {
            true => self.nova.service_enable(&service.id).await,
            false => {
                let reason = "reserved for recovery";
                self.nova.service_disable(&service.id, reason).await
            }
        };
        done.map_err(nova)
    }

    pub async fn compute_services(&self) -> Result<Vec<Service>, CloudError> {
        self.nova.compute_services().await.map_err(nova)
    }

    pub async fn compute_service(&self, host: &str) -> Result<Service, CloudError> {
        self.nova
            .compute_service(host)
            .await
            .map_err(nova)?
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
                let fault = server.fault.unwrap_or_else(|| "no fault".into());
                return Err(CloudError::ServerFailed {
                    id: id.clone(),
                    fault,
                });
            }
            Ok(match done(&server) {
                true => Check::Done(server),
                false => Check::Pending(summary(&server)),
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
                Some(server) => Check::Pending(summary(&server)),
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
    ) -> Result<Service, CloudError> {
        let what = format!("nova-compute on {host} {state:?}");
        wait::until(&what, timeout, || async {
            let service = self.compute_service(host).await?;
            Ok(match service.state == state.as_str() {
                true => Check::Done(service),
                false => Check::Pending(format!("{}, {}", service.state, service.status)),
            })
        })
        .await
    }
}
