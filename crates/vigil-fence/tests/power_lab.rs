//! The drivers against real power emulators: sushy-tools (Redfish over HTTPS with basic auth)
//! and virtualbmc (IPMI), both driving the lab's libvirt domains, started by `lab/lab power up`.
//! Gated by `VIGIL_POWER_LAB=1`; without it each test says loudly that it did not run.
//! The tests turn lab domains off and on: run them under the lab lock like other lab tests.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use vigil_fence::drivers::agent::Agent;
use vigil_fence::drivers::ipmi::Ipmi;
use vigil_fence::drivers::redfish::{Redfish, RedfishOptions};
use vigil_fence::drivers::Named;
use vigil_fence::{FenceError, Fencer, PowerState, Secret};

const T: Duration = Duration::from_secs(60);

/// Held by every test that changes a domain's power: they share the lab's first host, and one
/// test's power-on would otherwise break another's power-off.
static POWER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The emulators' endpoints as these tests use them.
#[derive(Debug)]
struct PowerLab {
    redfish: RedfishLab,
    ipmi: BTreeMap<String, IpmiLab>,
}

#[derive(Debug)]
struct RedfishLab {
    url: String,
    ca_file: PathBuf,
    username: String,
    password_file: PathBuf,
    /// Host name → system id.
    systems: BTreeMap<String, String>,
}

#[derive(Debug)]
struct IpmiLab {
    address: String,
    port: u16,
    username: String,
    password_file: PathBuf,
}

/// `lab/lab power status --format json`, as far as these tests read it (lab/README.md).
#[derive(Debug, Deserialize)]
struct Status {
    redfish: StatusRedfish,
    ipmi: StatusIpmi,
    hosts: Vec<StatusHost>,
}

#[derive(Debug, Deserialize)]
struct StatusRedfish {
    url: String,
    ca_file: PathBuf,
    username: String,
    password_file: PathBuf,
}

#[derive(Debug, Deserialize)]
struct StatusIpmi {
    address: String,
    username: String,
    password_file: PathBuf,
}

#[derive(Debug, Deserialize)]
struct StatusHost {
    name: String,
    redfish_system_id: String,
    ipmi_port: u16,
}

impl From<Status> for PowerLab {
    fn from(s: Status) -> Self {
        let ipmi = s
            .hosts
            .iter()
            .map(|h| {
                let bmc = IpmiLab {
                    address: s.ipmi.address.clone(),
                    port: h.ipmi_port,
                    username: s.ipmi.username.clone(),
                    password_file: s.ipmi.password_file.clone(),
                };
                (h.name.clone(), bmc)
            })
            .collect();
        let systems = s
            .hosts
            .into_iter()
            .map(|h| (h.name, h.redfish_system_id))
            .collect();
        PowerLab {
            redfish: RedfishLab {
                url: s.redfish.url,
                ca_file: s.redfish.ca_file,
                username: s.redfish.username,
                password_file: s.redfish.password_file,
                systems,
            },
            ipmi,
        }
    }
}

/// The emulators' endpoints, or `None` (after saying so loudly) when the power lab is not
/// asked for. The one place that knows the lab's JSON: adapt here if it changes.
fn power_lab(test: &str) -> Option<PowerLab> {
    if std::env::var("VIGIL_POWER_LAB").as_deref() != Ok("1") {
        // Straight to stderr: the test harness captures `eprintln!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! SKIPPED {test}: VIGIL_POWER_LAB is not 1, so the Redfish/IPMI emulators were \
             not used. Run `lab/lab power up`, then VIGIL_POWER_LAB=1 cargo test -p vigil-fence \
             --test power_lab !!!\n"
        );
        return None;
    }
    // An emulator started by hand can be described in a file of the same shape instead.
    if let Ok(path) = std::env::var("VIGIL_POWER_LAB_JSON") {
        let text = std::fs::read(&path).expect("reading VIGIL_POWER_LAB_JSON");
        let status: Status = serde_json::from_slice(&text).expect("VIGIL_POWER_LAB_JSON");
        return Some(status.into());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = std::process::Command::new(root.join("lab/lab"))
        .args(["power", "status", "--format", "json"])
        .output()
        .expect("running lab/lab power status");
    assert!(
        out.status.success(),
        "lab/lab power status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status: Status =
        serde_json::from_slice(&out.stdout).expect("lab/lab power status --format json");
    Some(status.into())
}

fn redfish(lab: &RedfishLab, host: &str, ca: bool, insecure: bool) -> Named<Redfish> {
    let redfish = Redfish::new(RedfishOptions {
        url: lab.url.clone(),
        system_id: lab.systems.get(host).cloned(),
        username: lab.username.clone(),
        password: Secret::from_file(&lab.password_file),
        ca_file: ca.then(|| lab.ca_file.clone()),
        insecure,
    });
    Named::new("redfish", redfish.unwrap())
}

fn first_host(lab: &PowerLab) -> String {
    lab.redfish
        .systems
        .keys()
        .next()
        .expect("a lab host")
        .clone()
}

/// Off, status, on, status through one driver: the domain really changes state.
async fn cycle(device: &dyn Fencer, host: &str) {
    let _turn = POWER.lock().await;
    assert_eq!(device.off(host, None, T).await.unwrap(), PowerState::Off);
    assert_eq!(device.status(host, T).await.unwrap(), PowerState::Off);
    // Idempotent: a second power-off of an off host succeeds.
    assert_eq!(device.off(host, None, T).await.unwrap(), PowerState::Off);
    assert_eq!(device.on(host, T).await.unwrap(), PowerState::On);
    assert_eq!(device.status(host, T).await.unwrap(), PowerState::On);
}

#[tokio::test]
async fn redfish_with_a_ca_file_powers_a_domain_off_and_on() {
    let Some(lab) = power_lab("redfish_with_a_ca_file_powers_a_domain_off_and_on") else {
        return;
    };
    let host = first_host(&lab);
    cycle(&redfish(&lab.redfish, &host, true, false), &host).await;
}

#[tokio::test]
async fn redfish_finds_the_system_by_name_when_no_id_is_given() {
    let Some(lab) = power_lab("redfish_finds_the_system_by_name_when_no_id_is_given") else {
        return;
    };
    let host = first_host(&lab);
    let mut options = lab.redfish;
    options.systems.clear();
    let device = redfish(&options, &host, false, true);
    let _turn = POWER.lock().await;
    assert_eq!(device.status(&host, T).await.unwrap(), PowerState::On);
    let err = device.status("no-such-host", T).await.unwrap_err();
    assert!(matches!(err, FenceError::NoSuchHost { .. }), "{err:?}");
}

#[tokio::test]
async fn redfish_refuses_an_unknown_certificate_without_insecure() {
    let Some(lab) = power_lab("redfish_refuses_an_unknown_certificate_without_insecure") else {
        return;
    };
    let host = first_host(&lab);
    let err = redfish(&lab.redfish, &host, false, false)
        .status(&host, T)
        .await
        .unwrap_err();
    assert!(matches!(err, FenceError::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn redfish_reports_a_wrong_password_as_credentials() {
    let Some(lab) = power_lab("redfish_reports_a_wrong_password_as_credentials") else {
        return;
    };
    let host = first_host(&lab);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "wrong\n").unwrap();
    let mut device = lab.redfish;
    device.password_file = dir.path().join("pw");
    let _turn = POWER.lock().await;
    let err = redfish(&device, &host, true, false)
        .off(&host, None, T)
        .await
        .unwrap_err();
    assert!(matches!(err, FenceError::Credentials { .. }), "{err:?}");
}

#[tokio::test]
async fn ipmi_powers_a_domain_off_and_on_and_refuses_a_wrong_password() {
    let Some(lab) = power_lab("ipmi_powers_a_domain_off_and_on") else {
        return;
    };
    let (host, bmc) = lab.ipmi.iter().next().expect("an IPMI host");
    let mut device = Named::new(
        "ipmi",
        Ipmi {
            program: "ipmitool".into(),
            address: bmc.address.clone(),
            port: bmc.port,
            username: bmc.username.clone(),
            password: Secret::from_file(&bmc.password_file),
        },
    );
    cycle(&device, host).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "wrong\n").unwrap();
    device.driver.password = Secret::from_file(dir.path().join("pw"));
    let err = device.status(host, T).await.unwrap_err();
    assert!(matches!(err, FenceError::Credentials { .. }), "{err:?}");
}

#[tokio::test]
async fn fence_redfish_through_the_fence_agents_driver() {
    let Some(lab) = power_lab("fence_redfish_through_the_fence_agents_driver") else {
        return;
    };
    let host = first_host(&lab);
    let url = reqwest::Url::parse(&lab.redfish.url).unwrap();
    let system = &lab.redfish.systems[&host];
    let options = [
        ("ip", url.host_str().unwrap().to_owned()),
        ("ipport", url.port_or_known_default().unwrap().to_string()),
        ("ssl", "1".to_owned()),
        ("ssl_insecure", "1".to_owned()),
        ("username", lab.redfish.username.clone()),
        ("systems_uri", format!("/redfish/v1/Systems/{system}")),
    ];
    // Debian installs the agents in /usr/sbin, which a test's PATH may lack.
    let program = vigil_fence::config::agent_path("fence_redfish").expect("fence_redfish");
    let agent = Agent::new(
        program.to_string_lossy(),
        options
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        Some(Secret::from_file(&lab.redfish.password_file)),
    );
    let agent = Named::new("fence_redfish", agent);
    cycle(&agent, &host).await;
}
