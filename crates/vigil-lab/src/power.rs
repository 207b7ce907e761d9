//! The lab's power devices (`lab/lab power up`): one libvirt domain per fake compute behind
//! sushy-tools' Redfish and virtualbmc's IPMI, as `lab/lab power status --format json`
//! describes them (lab/README.md). The one place outside the script that knows that JSON.

use serde::Deserialize;
use std::path::PathBuf;

use crate::{run, script_path, LabError};

/// The power lab's endpoints and hosts.
#[derive(Clone, Debug, Deserialize)]
pub struct PowerLab {
    /// Whether every service of the power lab runs.
    pub ready: bool,
    pub redfish: RedfishEndpoint,
    pub ipmi: IpmiEndpoint,
    pub hosts: Vec<PowerHost>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RedfishEndpoint {
    /// The service root, e.g. `https://127.0.0.1:15870`.
    pub url: String,
    /// The CA that signed the emulator's certificate.
    pub ca_file: PathBuf,
    /// A CA that did not: a client trusting only it must refuse the emulator.
    pub untrusted_ca_file: PathBuf,
    pub username: String,
    pub password_file: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
pub struct IpmiEndpoint {
    pub address: String,
    pub username: String,
    pub password_file: PathBuf,
}

#[derive(Clone, Debug, Deserialize)]
pub struct PowerHost {
    /// The fake compute's name, which is also its domain's.
    pub name: String,
    /// `on`, `off` or `unknown`, as libvirt reads the domain.
    pub power: String,
    pub redfish_system_id: String,
    pub ipmi_port: u16,
}

impl PowerLab {
    /// Reads `lab/lab power status --format json` (it changes nothing).
    pub fn status() -> Result<PowerLab, LabError> {
        let args = ["power", "status", "--format", "json"];
        let out = run(&script_path(), &args)?;
        serde_json::from_slice(&out.stdout).map_err(|source| LabError::Parse {
            command: format!("lab/lab {}", args.join(" ")),
            source,
        })
    }

    /// `lab/lab power on HOST`: the domain running again (a test's or a benchmark's restore).
    pub fn power_on(host: &str) -> Result<(), LabError> {
        run(&script_path(), &["power", "on", host]).map(drop)
    }

    pub fn host(&self, name: &str) -> Option<&PowerHost> {
        self.hosts.iter().find(|h| h.name == name)
    }
}
