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
    /// The private libvirtd's URI (`qemu:///system?socket=…`).
    pub libvirt_uri: String,
    pub redfish: RedfishEndpoint,
    pub ipmi: IpmiEndpoint,
    pub hosts: Vec<PowerHost>,
    /// The test guest with a QEMU guest agent (lab/lib/guest.sh); absent from a power lab
    /// started by a checkout without it.
    #[serde(default)]
    pub guest: Option<GuestImage>,
}

/// A kernel and an initramfs that boot to a running qemu-ga (the guest-agent monitor's tests).
#[derive(Clone, Debug, Deserialize)]
pub struct GuestImage {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
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
    /// Its domain's UUID.
    pub uuid: String,
    /// `on`, `off` or `unknown`, as libvirt reads the domain.
    pub power: String,
    pub redfish_system_id: String,
    pub ipmi_port: u16,
}

impl PowerLab {
    /// Reads `lab/lab power status --format json` (it changes nothing), or, for devices
    /// started by hand, the file `VIGIL_POWER_LAB_JSON` of the same shape.
    pub fn status() -> Result<PowerLab, LabError> {
        let args = ["power", "status", "--format", "json"];
        let command = format!("lab/lab {}", args.join(" "));
        let text = match std::env::var_os("VIGIL_POWER_LAB_JSON") {
            Some(path) => std::fs::read(&path).map_err(|source| LabError::Read {
                path: path.into(),
                source,
            })?,
            None => run(&script_path(), &args)?.stdout,
        };
        serde_json::from_slice(&text).map_err(|source| LabError::Parse { command, source })
    }

    /// `lab/lab power on HOST`: the domain running again (a test's or a benchmark's restore).
    pub fn power_on(host: &str) -> Result<(), LabError> {
        run(&script_path(), &["power", "on", host]).map(drop)
    }

    /// The power lab for the running test, or `None` after saying loudly that the test does
    /// not run (`VIGIL_POWER_LAB` is not 1; scripts/test sets it after `lab/lab power up`).
    pub fn for_test() -> Option<PowerLab> {
        if std::env::var("VIGIL_POWER_LAB").as_deref() != Ok("1") {
            crate::say(&format!(
                "\n!!! SKIPPED {}: VIGIL_POWER_LAB is not 1, so the lab's power devices \
                 were not used. Run `lab/lab power up`, then set VIGIL_POWER_LAB=1 !!!\n",
                crate::test_name()
            ));
            return None;
        }
        Some(PowerLab::status().expect("lab/lab power status"))
    }

    pub fn host(&self, name: &str) -> Option<&PowerHost> {
        self.hosts.iter().find(|h| h.name == name)
    }

    /// The power the domain of `host` has now: `on`, `off`, `unknown`, or `missing`.
    pub fn power_of(host: &str) -> Result<String, LabError> {
        let lab = PowerLab::status()?;
        Ok(lab
            .host(host)
            .map_or("missing".to_owned(), |h| h.power.clone()))
    }

    /// `[fencing]` TOML declaring the Redfish emulator (or a service at `url`) as device `bmc`,
    /// the one level of the hosts matching `hosts`. Policies are the caller's to add.
    pub fn redfish_fencing(&self, url: Option<&str>, hosts: &str) -> String {
        let r = &self.redfish;
        format!(
            r#"[fencing.devices.bmc]
driver = "redfish"
url = "{url}"
username = "{user}"
password_file = "{password}"
ca_file = "{ca}"

[[fencing.bindings]]
hosts = "{hosts}"
levels = ["bmc"]
"#,
            url = url.unwrap_or(&r.url),
            user = r.username,
            password = r.password_file.display(),
            ca = r.ca_file.display(),
        )
    }
}
