//! What the engine needs from Nova, and how Nova's answers are classified.
//!
//! The engine is written against this trait so the recovery logic reads as recovery, not HTTP;
//! the implementation over Keystone-authenticated REST is `vigil_openstack::nova`, and the
//! tests run it against the lab's real Nova.

use async_trait::async_trait;
use std::collections::BTreeMap;

/// A `nova-compute` service record.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// The service UUID (microversion ≥ 2.53).
    pub id: String,
    pub host: String,
    /// `enabled` or `disabled`.
    pub status: String,
    /// `up` or `down`.
    pub state: String,
    pub forced_down: bool,
    pub disabled_reason: Option<String>,
    /// The service's last heartbeat; it keeps reporting while forced down.
    pub updated_at: Option<vigil_domain::Timestamp>,
}

/// A server as the engine sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Server {
    pub id: String,
    pub name: String,
    /// `OS-EXT-SRV-ATTR:host`.
    pub host: Option<String>,
    /// `OS-EXT-STS:vm_state`: `active`, `stopped`, `error`, …
    pub vm_state: String,
    pub task_state: Option<String>,
    /// `status`: `ACTIVE`, `SHUTOFF`, `ERROR`, `REBUILD`, …
    pub status: String,
    pub metadata: BTreeMap<String, String>,
    /// Flavor extra specs.
    pub extra_specs: BTreeMap<String, String>,
}

/// An evacuation's migration record: Nova's authoritative progress of one move.
#[derive(Clone, Debug, PartialEq)]
pub struct Migration {
    pub id: i64,
    pub uuid: Option<String>,
    pub instance_uuid: String,
    pub source_compute: Option<String>,
    pub dest_compute: Option<String>,
    /// `accepted`, `pre-migrating`, `done`, `completed`, `error`, `failed`.
    pub status: String,
    pub created_at: Option<vigil_domain::Timestamp>,
}

impl Migration {
    /// The destination finished the rebuild (`completed` once the source cleaned up).
    pub fn succeeded(&self) -> bool {
        matches!(self.status.as_str(), "done" | "completed")
    }
    /// Nova gave up; it never reschedules an evacuation, so the engine must re-issue it.
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "error" | "failed")
    }
}

/// How a Nova call failed, in the terms that decide what the engine does next.
#[derive(Debug, thiserror::Error)]
pub enum NovaError {
    /// 400 "Compute service of X is still in use": Nova does not see the host down yet. Retry.
    #[error("Nova still considers the compute service in use: {0}")]
    ServiceInUse(String),
    /// 404: the server (or service) is gone.
    #[error("not found: {0}")]
    NotFound(String),
    /// 409: the server's state forbids the action.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Network errors, 5xx, Keystone hiccups: worth retrying.
    #[error("transient: {0}")]
    Transient(String),
    /// Anything else: a request Nova will keep refusing.
    #[error("Nova refused the request: {0}")]
    Rejected(String),
}

impl NovaError {
    pub fn is_transient(&self) -> bool {
        matches!(self, NovaError::Transient(_) | NovaError::ServiceInUse(_))
    }
}

#[async_trait]
pub trait Nova: Send + Sync {
    /// The `nova-compute` service on `host`, if Nova has one.
    async fn compute_service(&self, host: &str) -> Result<Option<Service>, NovaError>;
    /// How many `nova-scheduler` services Nova reports `up`: none means no evacuation could
    /// be placed, or that the engine sees a partitioned Nova.
    async fn schedulers_up(&self) -> Result<usize, NovaError>;
    /// Marks the service forced down and disabled with `reason`, in one call (µv 2.53).
    async fn force_down(&self, service_id: &str, reason: &str) -> Result<(), NovaError>;
    /// Enables the service (for reserved hosts and rejoin).
    async fn enable_service(&self, service_id: &str) -> Result<(), NovaError>;
    /// Disables the service with `reason`, leaving forced-down alone (process failure).
    async fn disable_service(&self, service_id: &str, reason: &str) -> Result<(), NovaError>;
    /// Clears forced-down. Nova refuses it (400) while evacuations from the host are `done`
    /// but not yet cleaned up (`completed`) by the returning nova-compute.
    async fn unforce_down(&self, service_id: &str) -> Result<(), NovaError>;
    /// Every evacuation migration away from `source`, any server, newest first. Not filtered
    /// with `changes-since`: Nova compares it with `updated_at`, which a just-accepted
    /// evacuation does not have yet.
    async fn evacuations_from(&self, source: &str) -> Result<Vec<Migration>, NovaError>;
    /// Cold-migrates a server; the scheduler chooses another host.
    async fn migrate_server(&self, server_id: &str) -> Result<(), NovaError>;
    /// Confirms a finished migration (`VERIFY_RESIZE`).
    async fn confirm_resize(&self, server_id: &str) -> Result<(), NovaError>;
    /// Every server whose host is `host`, all projects, following pages.
    async fn servers_on_host(&self, host: &str) -> Result<Vec<Server>, NovaError>;
    async fn server(&self, id: &str) -> Result<Option<Server>, NovaError>;
    /// Starts an evacuation; `target` pins the destination (validated by the scheduler);
    /// `stopped` asks for µv 2.95 semantics (the server ends STOPPED at the destination).
    async fn evacuate(
        &self,
        server_id: &str,
        target: Option<&str>,
        stopped: bool,
    ) -> Result<(), NovaError>;
    /// The evacuation migrations of `server_id` away from `source`, newest first.
    async fn evacuations(&self, server_id: &str, source: &str)
        -> Result<Vec<Migration>, NovaError>;
    /// Ids of the host aggregates `host` belongs to.
    async fn aggregates_of(&self, host: &str) -> Result<Vec<i64>, NovaError>;
    /// Adds `host` to an aggregate; already being a member is success.
    async fn aggregate_add_host(&self, aggregate: i64, host: &str) -> Result<(), NovaError>;
    async fn start_server(&self, server_id: &str) -> Result<(), NovaError>;
    async fn stop_server(&self, server_id: &str) -> Result<(), NovaError>;
    /// `os-resetState` to `active` or `error`.
    async fn reset_state(&self, server_id: &str, state: &str) -> Result<(), NovaError>;
}

impl vigil_domain::Classify for NovaError {
    fn class(&self) -> vigil_domain::ErrorClass {
        use vigil_domain::ErrorClass::*;
        match self {
            NovaError::ServiceInUse(_) | NovaError::Transient(_) => Transient,
            NovaError::NotFound(_) => Gone,
            NovaError::Conflict(_) => Conflict,
            NovaError::Rejected(_) => Fatal,
        }
    }
}
