//! The `[fencing]` configuration: devices declared once (a driver, a URL or address template,
//! where the password lives), bound to hosts by name pattern or segment as ordered levels, and a
//! per-segment policy saying whether a host without a working device may be trusted.
//!
//! ```toml
//! [fencing.devices.bmc]
//! driver = "redfish"
//! url = "https://{host}-bmc.example.com"
//! username = "admin"
//! password_file = "/etc/vigil/bmc.password"
//! ca_file = "/etc/vigil/bmc-ca.pem"
//!
//! [[fencing.bindings]]
//! hosts = "compute*"
//! levels = ["bmc"]
//!
//! [fencing.segments.rack1]
//! fencing = "required"
//! ```

use crate::drivers::{agent::Agent, ipmi::Ipmi, pacemaker::Pacemaker, redfish, Named};
use crate::template::{expand, glob};
use crate::topology::{Level, Topology};
use crate::{Fencer, Secret};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FencingConfig {
    /// Devices by name. Default: none.
    #[serde(default)]
    pub devices: BTreeMap<String, Device>,
    /// Which devices fence which hosts, first matching binding wins. Default: none.
    #[serde(default)]
    pub bindings: Vec<Binding>,
    /// Policies by segment name; a segment not listed gets `trust-monitor`.
    #[serde(default)]
    pub segments: BTreeMap<String, SegmentPolicy>,
}

/// One power device, by driver.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "kebab-case")]
pub enum Device {
    Redfish(RedfishDevice),
    Ipmi(IpmiDevice),
    FenceAgents(AgentDevice),
    Pacemaker(PacemakerDevice),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedfishDevice {
    /// The service root, e.g. `https://{host}-bmc.example.com`.
    pub url: String,
    /// The system id under `/redfish/v1/Systems/` (may hold `{host}`). Default: the member
    /// whose `Name`, `HostName` or `Id` is the host name.
    pub system_id: Option<String>,
    pub username: String,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    /// A PEM file of CAs the BMC's certificate must chain to. Default: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate. Default: false.
    #[serde(default)]
    pub insecure: bool,
    /// Default: 60 s.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpmiDevice {
    /// The BMC's address, e.g. `{host}-ipmi.example.com`.
    pub address: String,
    /// Default: 623.
    #[serde(default = "default_ipmi_port")]
    pub port: u16,
    pub username: String,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    /// Default: `ipmitool` on the PATH.
    #[serde(default = "default_ipmitool")]
    pub program: String,
    /// Default: 60 s.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentDevice {
    /// The agent: a name on the PATH (`fence_redfish`) or a path.
    pub agent: String,
    /// Options passed on stdin as `key=value`; values may hold `{host}`. `plug` defaults to
    /// the host name.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
    /// Default: 60 s.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacemakerDevice {
    /// Default: `stonith_admin` on the PATH.
    #[serde(default = "default_stonith_admin")]
    pub program: String,
    /// Default: 120 s: Pacemaker runs its own topology within it.
    #[serde(default = "default_pacemaker_timeout")]
    pub timeout_secs: u64,
}

/// Devices for the hosts a pattern or a segment names, as ordered levels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    /// A glob on host names (`compute*`).
    pub hosts: Option<String>,
    /// A segment name.
    pub segment: Option<String>,
    /// Device names, level 1 first.
    pub levels: Vec<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// A host without a device that confirms it off fails the recovery.
    Required,
    /// Masakari's behaviour: the monitor's word is enough when no device is bound.
    #[default]
    TrustMonitor,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentPolicy {
    #[serde(default)]
    pub fencing: Policy,
}

fn default_timeout() -> u64 {
    60
}
fn default_pacemaker_timeout() -> u64 {
    120
}
fn default_ipmi_port() -> u16 {
    623
}
fn default_ipmitool() -> String {
    "ipmitool".into()
}
fn default_stonith_admin() -> String {
    "stonith_admin".into()
}

/// A configuration refused at start; each reads as one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("fencing device {device}: {problem}")]
    Device { device: String, problem: String },
    #[error("fencing binding {index}: {problem}")]
    Binding { index: usize, problem: String },
}

fn secret(file: &Option<PathBuf>, env: &Option<String>) -> Secret {
    Secret {
        password_file: file.clone(),
        password_env: env.clone(),
    }
}

impl Device {
    fn timeout(&self) -> Duration {
        Duration::from_secs(match self {
            Device::Redfish(d) => d.timeout_secs,
            Device::Ipmi(d) => d.timeout_secs,
            Device::FenceAgents(d) => d.timeout_secs,
            Device::Pacemaker(d) => d.timeout_secs,
        })
    }

    fn secret(&self) -> Option<Secret> {
        match self {
            Device::Redfish(d) => Some(secret(&d.password_file, &d.password_env)),
            Device::Ipmi(d) => Some(secret(&d.password_file, &d.password_env)),
            Device::FenceAgents(d) if d.password_file.is_some() || d.password_env.is_some() => {
                Some(secret(&d.password_file, &d.password_env))
            }
            Device::FenceAgents(_) | Device::Pacemaker(_) => None,
        }
    }

    /// Everything that can be known wrong before the day the device is needed.
    fn check(&self) -> Result<(), String> {
        let templates: Vec<&str> = match self {
            Device::Redfish(d) => [Some(d.url.as_str()), d.system_id.as_deref()]
                .into_iter()
                .flatten()
                .collect(),
            Device::Ipmi(d) => vec![d.address.as_str()],
            Device::FenceAgents(d) => d.options.values().map(String::as_str).collect(),
            Device::Pacemaker(_) => vec![],
        };
        for t in templates {
            expand(t, "host").map_err(|e| e.to_string())?;
        }
        if let Some(secret) = self.secret() {
            secret
                .read()
                .map_err(|e| vigil_domain::ErrorChain(&e).to_string())?;
        }
        if let Device::Redfish(d) = self {
            if let Some(ca) = &d.ca_file {
                std::fs::metadata(ca)
                    .map_err(|e| format!("reading the CA file {}: {e}", ca.display()))?;
            }
        }
        if let Device::FenceAgents(d) = self {
            if agent_path(&d.agent).is_none() {
                return Err(format!("the agent {} is not installed", d.agent));
            }
            if d.options.contains_key("password") {
                return Err("give the agent's password by password_file or password_env".into());
            }
        }
        Ok(())
    }

    /// The driver for this device, named after it.
    pub fn build(&self, name: &str) -> Result<Arc<dyn Fencer>, String> {
        Ok(match self {
            Device::Redfish(d) => Arc::new(Named::new(
                name,
                redfish::Redfish::new(redfish::RedfishOptions {
                    url: d.url.clone(),
                    system_id: d.system_id.clone(),
                    username: d.username.clone(),
                    password: secret(&d.password_file, &d.password_env),
                    ca_file: d.ca_file.clone(),
                    insecure: d.insecure,
                })
                .map_err(|e| vigil_domain::ErrorChain(&e).to_string())?,
            )),
            Device::Ipmi(d) => Arc::new(Named::new(
                name,
                Ipmi {
                    program: d.program.clone(),
                    address: d.address.clone(),
                    port: d.port,
                    username: d.username.clone(),
                    password: secret(&d.password_file, &d.password_env),
                },
            )),
            Device::FenceAgents(d) => Arc::new(Named::new(
                name,
                Agent::new(
                    agent_path(&d.agent)
                        .map_or(d.agent.clone(), |p| p.to_string_lossy().into_owned()),
                    d.options.clone().into_iter().collect(),
                    self.secret(),
                ),
            )),
            Device::Pacemaker(d) => Arc::new(Named::new(
                name,
                Pacemaker {
                    program: d.program.clone(),
                },
            )),
        })
    }
}

/// Where `agent` is: a path to a file, or a name on the PATH or in /usr/sbin, where Debian's
/// fence-agents put them (often not on a service's PATH).
pub fn agent_path(agent: &str) -> Option<PathBuf> {
    if agent.contains('/') {
        return Some(PathBuf::from(agent)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(agent))
        .find(|p| p.is_file())
}

impl FencingConfig {
    /// Refuses, with one line, what would fail later: a bad template, an unreadable password
    /// or CA file, a binding naming no host or an unknown device. Unknown drivers and fields
    /// are already refused when the TOML is read.
    pub fn check(&self) -> Result<(), ConfigError> {
        for (name, device) in &self.devices {
            device.check().map_err(|problem| ConfigError::Device {
                device: name.clone(),
                problem,
            })?;
        }
        for (index, b) in self.bindings.iter().enumerate() {
            let problem = |p: String| ConfigError::Binding { index, problem: p };
            if b.hosts.is_some() == b.segment.is_some() {
                return Err(problem("give exactly one of hosts and segment".into()));
            }
            if b.levels.is_empty() {
                return Err(problem("no levels".into()));
            }
            if let Some(unknown) = b.levels.iter().find(|l| !self.devices.contains_key(*l)) {
                return Err(problem(format!("unknown device {unknown}")));
            }
        }
        Ok(())
    }

    /// The policy for a segment.
    pub fn policy(&self, segment: &str) -> Policy {
        self.segments
            .get(segment)
            .map_or(Policy::default(), |p| p.fencing)
    }

    /// The device names bound to a host, level 1 first: the first binding that matches.
    pub fn levels_for(&self, host: &str, segment: &str) -> Option<&[String]> {
        self.bindings
            .iter()
            .find(|b| {
                b.hosts.as_deref().is_some_and(|p| glob(p, host))
                    || b.segment.as_deref() == Some(segment)
            })
            .map(|b| b.levels.as_slice())
    }

    /// The topology for a host (empty when nothing is bound). Call after [`Self::check`].
    pub fn topology(&self, host: &str, segment: &str) -> Result<Topology, ConfigError> {
        let mut levels = Vec::new();
        for name in self.levels_for(host, segment).unwrap_or_default() {
            let device = self.devices.get(name).ok_or_else(|| ConfigError::Device {
                device: name.clone(),
                problem: "not declared".into(),
            })?;
            let built = device.build(name).map_err(|problem| ConfigError::Device {
                device: name.clone(),
                problem,
            })?;
            levels.push(Level {
                device: built,
                timeout: device.timeout(),
            });
        }
        Ok(Topology::new(levels))
    }
}
