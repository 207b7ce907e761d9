//! The drivers against real power emulators: sushy-tools (Redfish over HTTPS with basic auth)
//! and virtualbmc (IPMI), both driving the lab's libvirt domains, started by `lab/lab power up`.
//! Gated by `VIGIL_POWER_LAB=1`; without it each test says loudly that it did not run.
//! The tests turn lab domains off and on: run them under the lab lock like other lab tests.

mod common;

use std::time::Duration;
use vigil_fence::drivers::agent::Agent;
use vigil_fence::drivers::ipmi::Ipmi;
use vigil_fence::drivers::redfish::{Redfish, RedfishOptions};
use vigil_fence::drivers::Named;
use vigil_fence::{FenceError, Fencer, PowerState, Secret};
use vigil_lab::PowerLab;

const T: Duration = Duration::from_secs(60);

/// Held by every test that changes a domain's power: they share the lab's first host, and one
/// test's power-on would otherwise break another's power-off.
static POWER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The emulator's Redfish service for `host`, by system id, trusting the lab's CA.
fn redfish_options(lab: &PowerLab, host: &str) -> RedfishOptions {
    RedfishOptions {
        url: lab.redfish.url.clone(),
        system_id: lab.host(host).map(|h| h.redfish_system_id.clone()),
        username: lab.redfish.username.clone(),
        password: Secret::from_file(&lab.redfish.password_file),
        ca_file: Some(lab.redfish.ca_file.clone()),
        insecure: false,
    }
}

fn redfish(options: RedfishOptions) -> Named<Redfish> {
    Named::new("redfish", Redfish::new(options).unwrap())
}

/// The power lab and its first host, the one these tests power off and on; `None` (said
/// loudly by `PowerLab::for_test`) when the lab is not up.
fn lab_and_host() -> Option<(PowerLab, String)> {
    let lab = PowerLab::for_test()?;
    let host = lab.hosts.first().expect("a lab host").name.clone();
    Some((lab, host))
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
    let Some((lab, host)) = lab_and_host() else {
        return;
    };
    cycle(&redfish(redfish_options(&lab, &host)), &host).await;
}

#[tokio::test]
async fn redfish_finds_the_system_by_name_when_no_id_is_given() {
    let Some((lab, host)) = lab_and_host() else {
        return;
    };
    let options = RedfishOptions {
        system_id: None,
        ca_file: None,
        insecure: true,
        ..redfish_options(&lab, &host)
    };
    let device = redfish(options);
    let _turn = POWER.lock().await;
    assert_eq!(device.status(&host, T).await.unwrap(), PowerState::On);
    let err = device.status("no-such-host", T).await.unwrap_err();
    assert!(matches!(err, FenceError::NoSuchHost { .. }), "{err:?}");
}

#[tokio::test]
async fn redfish_refuses_an_unknown_certificate_without_insecure() {
    let Some((lab, host)) = lab_and_host() else {
        return;
    };
    let options = RedfishOptions {
        ca_file: Some(lab.redfish.untrusted_ca_file.clone()),
        ..redfish_options(&lab, &host)
    };
    let err = redfish(options).status(&host, T).await.unwrap_err();
    assert!(matches!(err, FenceError::Tls { .. }), "{err:?}");
}

#[tokio::test]
async fn redfish_reports_a_wrong_password_as_credentials() {
    let Some((lab, host)) = lab_and_host() else {
        return;
    };
    let (_dir, password) = common::password_file("wrong");
    let options = RedfishOptions {
        password,
        ..redfish_options(&lab, &host)
    };
    let _turn = POWER.lock().await;
    let err = redfish(options).off(&host, None, T).await.unwrap_err();
    assert!(matches!(err, FenceError::Credentials { .. }), "{err:?}");
}

#[tokio::test]
async fn ipmi_powers_a_domain_off_and_on_and_refuses_a_wrong_password() {
    let Some(lab) = PowerLab::for_test() else {
        return;
    };
    let host = lab.hosts.first().expect("an IPMI host");
    let mut device = Named::new(
        "ipmi",
        Ipmi {
            program: "ipmitool".into(),
            address: lab.ipmi.address.clone(),
            port: host.ipmi_port,
            username: lab.ipmi.username.clone(),
            password: Secret::from_file(&lab.ipmi.password_file),
        },
    );
    let host = &host.name;
    cycle(&device, host).await;
    let (_dir, password) = common::password_file("wrong");
    device.driver.password = password;
    let err = device.status(host, T).await.unwrap_err();
    assert!(matches!(err, FenceError::Credentials { .. }), "{err:?}");
}

#[tokio::test]
async fn fence_redfish_through_the_fence_agents_driver() {
    let Some((lab, host)) = lab_and_host() else {
        return;
    };
    let url = reqwest::Url::parse(&lab.redfish.url).unwrap();
    let system = &lab.host(&host).expect("the host").redfish_system_id;
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
