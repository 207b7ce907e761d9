//! Fencing: proving a failed host is powered off before any of its instances is rebuilt
//! elsewhere, so that no instance ever runs twice against the same disks.
//!
//! A [`Fencer`] is one power device seen through one driver (Redfish, IPMI, a `fence_*` agent,
//! Pacemaker). A [`Topology`] orders a host's devices into levels, tried in turn until one
//! confirms the host off. [`config::FencingConfig`] declares devices once and binds them to
//! hosts by name pattern or segment.

pub mod config;
mod credentials;
pub mod drivers;
mod error;
mod process;
pub mod template;
pub mod topology;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

pub use credentials::Secret;
pub use error::FenceError;
pub use topology::{Fenced, Topology, TopologyError};

/// What a power device reports about a host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerState {
    Off,
    On,
    /// The device answered but its answer says neither: never taken as off.
    Unknown,
}

impl PowerState {
    pub fn as_str(self) -> &'static str {
        match self {
            PowerState::Off => "off",
            PowerState::On => "on",
            PowerState::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for PowerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a device is asked to do to a host's power.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Power off (idempotent). `since` is the failure time: a driver that keeps a history
    /// (Pacemaker) accepts a power-off completed after it instead of fencing again.
    Off { since: Option<DateTime<Utc>> },
    /// Power on (idempotent), for rejoin.
    On,
    /// Read the power state without changing it.
    Status,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Off { .. } => "off",
            Action::On => "on",
            Action::Status => "status",
        }
    }
}

/// One power device for a host, through one driver. Every call is bounded by its timeout, so a
/// hung BMC or agent cannot hold the recovery flow.
#[async_trait]
pub trait Fencer: Send + Sync {
    /// A short name for logs and `recovery_workflow_details`, such as `redfish:bmc`.
    fn name(&self) -> &str;

    /// Carries out `action` on `host` and returns the state the device reads afterwards; only
    /// [`PowerState::Off`] after [`Action::Off`] counts as fenced.
    async fn act(
        &self,
        host: &str,
        action: Action,
        timeout: Duration,
    ) -> Result<PowerState, FenceError>;

    async fn off(
        &self,
        host: &str,
        since: Option<DateTime<Utc>>,
        timeout: Duration,
    ) -> Result<PowerState, FenceError> {
        self.act(host, Action::Off { since }, timeout).await
    }

    async fn on(&self, host: &str, timeout: Duration) -> Result<PowerState, FenceError> {
        self.act(host, Action::On, timeout).await
    }

    async fn status(&self, host: &str, timeout: Duration) -> Result<PowerState, FenceError> {
        self.act(host, Action::Status, timeout).await
    }
}
