//! The fencing gate: before any instance of a failed host is rebuilt elsewhere, the host must be
//! known to be off, or the instance could run twice.
//!
//! `Gate` puts `[fencing]` (the devices and topologies of `vigil-fence`) behind the host flow:
//! a host with devices bound is fenced level by level until one confirms it off; a host without
//! is refused in a `required` segment and trusted to the monitor in a `trust-monitor` one
//! (Masakari's behaviour, and the default).

use async_trait::async_trait;
use vigil_domain::{Classify, ErrorClass, Host, Timestamp};
use vigil_fence::config::{ConfigError, FencingConfig, Policy};
use vigil_fence::TopologyError;

pub use vigil_fence::{FenceError, PowerState};

/// How the gate failed to fence or read a host.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error("building the fencing topology of {host}")]
    Topology {
        host: String,
        #[source]
        source: ConfigError,
    },
    // Boxed: a topology's error carries every level's reason and the devices' output.
    #[error(transparent)]
    Fence(Box<TopologyError>),
    #[error(transparent)]
    Device(Box<FenceError>),
}

impl From<TopologyError> for GateError {
    fn from(e: TopologyError) -> Self {
        GateError::Fence(Box::new(e))
    }
}

impl From<FenceError> for GateError {
    fn from(e: FenceError) -> Self {
        GateError::Device(Box::new(e))
    }
}

impl Classify for GateError {
    fn class(&self) -> ErrorClass {
        match self {
            GateError::Topology { .. } => ErrorClass::Fatal,
            GateError::Fence(e) => e.class(),
            GateError::Device(e) => e.class(),
        }
    }
}

/// How fencing let a host's recovery through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FenceReport {
    /// A device confirmed the host off; false when the segment trusts the monitor instead.
    pub confirmed_off: bool,
    /// How, for `recovery_workflow_details`.
    pub message: String,
}

#[async_trait]
pub trait Fencer: Send + Sync {
    /// A short name for logs and `recovery_workflow_details`.
    fn name(&self) -> &str;
    /// Powers the host, failed at `since`, off (idempotent) and confirms it is off; says how.
    async fn fence(&self, host: &Host, since: Timestamp) -> Result<FenceReport, GateError>;
    /// Asks the host's power state without changing it.
    async fn power_state(&self, host: &Host) -> Result<PowerState, GateError>;
    /// Powers the host back on (idempotent), for rejoin; says how.
    async fn power_on(&self, host: &Host) -> Result<String, GateError>;
}

/// `[fencing]` behind the host flow.
pub struct Gate {
    config: FencingConfig,
}

impl Gate {
    /// `config` must have passed its `check()` (the binary checks it at start).
    pub fn new(config: FencingConfig) -> Gate {
        Gate { config }
    }

    fn topology(&self, host: &Host) -> Result<vigil_fence::Topology, GateError> {
        self.config
            .topology(&host.name, &host.segment.name)
            .map_err(|source| GateError::Topology {
                host: host.name.clone(),
                source,
            })
    }
}

#[async_trait]
impl Fencer for Gate {
    fn name(&self) -> &str {
        "fencing"
    }

    async fn fence(&self, host: &Host, since: Timestamp) -> Result<FenceReport, GateError> {
        let topology = self.topology(host)?;
        if topology.levels.is_empty() {
            return match self.config.policy(&host.segment.name) {
                Policy::Required => Err(TopologyError::NoDevice {
                    host: host.name.clone(),
                }
                .into()),
                Policy::TrustMonitor => Ok(FenceReport {
                    confirmed_off: false,
                    message: format!(
                        "no fencing device bound to {}: segment {} trusts the monitor that it \
                         is down",
                        host.name, host.segment.name
                    ),
                }),
            };
        }
        let fenced = topology
            .fence(&host.name, Some(since.naive().and_utc()))
            .await?;
        Ok(FenceReport {
            confirmed_off: true,
            message: fenced.to_string(),
        })
    }

    /// Off as soon as one level reads off; a host without devices is `Unknown`, never off.
    /// When every level failed to answer, the last failure: the flow retries later.
    async fn power_state(&self, host: &Host) -> Result<PowerState, GateError> {
        let topology = self.topology(host)?;
        let mut state = PowerState::Unknown;
        let mut last_error = None;
        let mut answered = false;
        for (_, answer) in topology.status(&host.name).await {
            match answer {
                Ok(PowerState::Off) => return Ok(PowerState::Off),
                Ok(s) => {
                    answered = true;
                    if s == PowerState::On {
                        state = s;
                    }
                }
                Err(e) => last_error = Some(e),
            }
        }
        match last_error {
            Some(e) if !answered => Err(e.into()),
            _ => Ok(state),
        }
    }

    /// Through the first level that reads the host on afterwards; a host without devices is
    /// left to the operator.
    async fn power_on(&self, host: &Host) -> Result<String, GateError> {
        let topology = self.topology(host)?;
        if topology.levels.is_empty() {
            return Ok(format!(
                "no fencing device bound to {}: powering it on is the operator's",
                host.name
            ));
        }
        let device = topology.on(&host.name).await?;
        Ok(format!("on, by {device}"))
    }
}
