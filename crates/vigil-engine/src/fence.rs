//! The fencing gate: before any instance of a failed host is rebuilt elsewhere, the host must be
//! known to be off, or the instance could run twice.

use async_trait::async_trait;

// The vocabulary lives in vigil-fence with the drivers; the engine's gate below is what the
// host flow calls until a `vigil_fence::Topology` is wired behind it.
pub use vigil_fence::{FenceError, PowerState};

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
