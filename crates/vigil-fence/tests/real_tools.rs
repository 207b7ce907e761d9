//! The IPMI and fence-agents drivers through the real tools (Debian's `ipmitool` and
//! `fence_redfish`) aimed at a port where no BMC listens: what a dead BMC looks like through each
//! driver, and that the deadline holds even though ipmitool itself retries for 20 s.

mod common;

use std::io::Write;
use std::time::Duration;
use vigil_fence::config::agent_path;
use vigil_fence::drivers::agent::Agent;
use vigil_fence::drivers::ipmi::Ipmi;
use vigil_fence::drivers::Named;
use vigil_fence::Fencer;

/// A local port just released: nothing answers there, TCP or UDP.
fn dead_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn installed(program: &str) -> bool {
    let found = agent_path(program).is_some();
    if !found {
        // Straight to stderr: the test harness captures `eprintln!` of passing tests.
        let _ = writeln!(
            std::io::stderr(),
            "\n!!! SKIPPED {}: {program} is not installed (.ci/run installs it) !!!\n",
            vigil_lab::test_name()
        );
    }
    found
}

#[tokio::test]
async fn ipmitool_against_a_dead_bmc_is_stopped_at_the_deadline() {
    if !installed("ipmitool") {
        return;
    }
    let (_dir, password) = common::password_file("pw");
    let bmc = Named::new(
        "ipmi",
        Ipmi {
            program: "ipmitool".into(),
            address: "127.0.0.1".into(),
            port: dead_port(),
            username: "admin".into(),
            password,
        },
    );
    common::off_times_out(&bmc, Duration::from_secs(2), Duration::from_secs(10)).await;
}

#[tokio::test]
async fn fence_redfish_against_a_dead_bmc_fails_with_its_reason() {
    if !installed("fence_redfish") {
        return;
    }
    let (_dir, password) = common::password_file("pw");
    let options = [
        ("ip", "127.0.0.1".to_owned()),
        ("ipport", dead_port().to_string()),
        ("ssl_insecure", "1".to_owned()),
        ("username", "admin".to_owned()),
    ];
    let program = agent_path("fence_redfish").expect("fence_redfish is installed");
    let agent = Named::new(
        "fence_redfish",
        Agent::new(
            program.to_string_lossy(),
            options
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            Some(password),
        ),
    );
    let err = agent
        .status("c1", Duration::from_secs(30))
        .await
        .unwrap_err();
    common::assert_agent_failed(&err, "Failed");
}
