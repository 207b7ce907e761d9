//! The fencing gate: before any instance of a failed host is rebuilt elsewhere, the host must be
//! known to be off, or the instance could run twice.

use async_trait::async_trait;
use vigil_domain::{Classify, ErrorClass};

/// What a fencing driver reports about a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PowerState {
    Off,
    On,
    Unknown,
}

/// How a fencing operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    /// The power device did not answer.
    #[error("the power device of {host} is unreachable")]
    Unreachable {
        host: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("the power device of {host} refused the credentials")]
    Credentials { host: String },
    #[error("{host} was not confirmed off within {secs} s")]
    TimedOut { host: String, secs: u64 },
    /// The device answered with an error.
    #[error("the power device of {host} failed: {detail}")]
    Device { host: String, detail: String },
}

impl Classify for FenceError {
    fn class(&self) -> ErrorClass {
        match self {
            FenceError::Unreachable { .. } | FenceError::TimedOut { .. } => ErrorClass::Transient,
            FenceError::Credentials { .. } | FenceError::Device { .. } => ErrorClass::Fatal,
        }
    }
}

#[async_trait]
pub trait Fencer: Send + Sync {
    /// A short name for logs and `recovery_workflow_details`.
    fn name(&self) -> &str;
    /// Powers the host off (idempotent) and confirms it is off; says how.
    async fn fence(&self, host: &str) -> Result<String, FenceError>;
    /// Asks the host's power state without changing it.
    async fn power_state(&self, host: &str) -> Result<PowerState, FenceError>;
}

/// Masakari's behaviour: no power control; a `host_status: NORMAL` report from the monitor is
/// taken as proof the host is down. Used until a fencing driver is configured.
pub struct TrustMonitor;

#[async_trait]
impl Fencer for TrustMonitor {
    fn name(&self) -> &str {
        "trust-monitor"
    }
    async fn fence(&self, host: &str) -> Result<String, FenceError> {
        Ok(format!(
            "no fencing driver configured: trusting the monitor that {host} is down"
        ))
    }
    async fn power_state(&self, _host: &str) -> Result<PowerState, FenceError> {
        Ok(PowerState::Unknown)
    }
}
