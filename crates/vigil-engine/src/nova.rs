//! What the engine needs from Nova, and how Nova's answers are classified.
//!
//! The engine is written against this trait so the recovery logic reads as recovery, not HTTP;
//! `nova_rest` implements it with `vigil_openstack::nova::Compute`, the Nova client every
//! crate shares (the types below are that client's), and the tests run it against the lab's
//! real Nova.

use async_trait::async_trait;
use vigil_domain::{Classify, ErrorClass};
use vigil_openstack::OsError;

pub use vigil_openstack::nova::{Migration, Server, Service};

/// How a Nova call failed, sorted by its retry class (`vigil_domain::Classify`) into what the
/// engine does next. Each variant is the client's error itself: message and causes unchanged.
#[derive(Debug, thiserror::Error)]
pub enum NovaError {
    /// 404: the server (or service) is gone.
    #[error(transparent)]
    NotFound(OsError),
    /// 409: the server's state forbids the action.
    #[error(transparent)]
    Conflict(OsError),
    /// Network errors, 5xx, 429, Keystone hiccups, and Nova not yet seeing a host down
    /// ("Compute service of X is still in use"): worth retrying.
    #[error(transparent)]
    Transient(OsError),
    /// Anything else: a request Nova will keep refusing.
    #[error(transparent)]
    Rejected(OsError),
}

impl From<OsError> for NovaError {
    fn from(e: OsError) -> Self {
        match e.class() {
            ErrorClass::Gone => NovaError::NotFound(e),
            ErrorClass::Conflict => NovaError::Conflict(e),
            ErrorClass::Transient => NovaError::Transient(e),
            ErrorClass::Fatal => NovaError::Rejected(e),
        }
    }
}

impl Classify for NovaError {
    fn class(&self) -> ErrorClass {
        match self {
            NovaError::NotFound(_) => ErrorClass::Gone,
            NovaError::Conflict(_) => ErrorClass::Conflict,
            NovaError::Transient(_) => ErrorClass::Transient,
            NovaError::Rejected(_) => ErrorClass::Fatal,
        }
    }
}

impl NovaError {
    pub fn is_transient(&self) -> bool {
        self.class() == ErrorClass::Transient
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
