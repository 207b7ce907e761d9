//! The resource agent Pacemaker runs `vigil alerter` with (contrib/pacemaker/alerter), through
//! resource-agents' own `ocf-tester`: meta-data, validate-all, start, monitor, stop, and each
//! twice where the OCF rules say it must be idempotent.

use std::path::Path;
use std::process::Command;

const AGENT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../contrib/pacemaker/alerter"
);
const VIGIL: &str = env!("CARGO_BIN_EXE_vigil");

#[test]
fn the_alerter_resource_agent_passes_ocf_tester() {
    let test = "the_alerter_resource_agent_passes_ocf_tester";
    if !Path::new("/usr/sbin/ocf-tester").exists() {
        assert_ne!(
            std::env::var("VIGIL_REQUIRE_PACEMAKER").as_deref(),
            Ok("1"),
            "ocf-tester (resource-agents) is not installed, and VIGIL_REQUIRE_PACEMAKER=1"
        );
        eprintln!("\n*** SKIPPED {test}: ocf-tester is not installed (apt-get install resource-agents) ***\n");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let option = |name: &str, value: &str| format!("{name}={value}");
    let pidfile = dir.path().join("alerter.pid");
    let logfile = dir.path().join("alerter.log");
    // An API nobody listens on: the alerter runs (and retries) all the same.
    let out = Command::new("ocf-tester")
        .args(["-n", "vigil-alerter-test"])
        .args(["-o", &option("binary", VIGIL)])
        .args(["-o", "url=http://127.0.0.1:9/v1"])
        .args(["-o", &option("pidfile", &pidfile.to_string_lossy())])
        .args(["-o", &option("logfile", &logfile.to_string_lossy())])
        .arg(AGENT)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("passed all tests"), "{text}");
    assert!(!pidfile.exists(), "the pid file outlived stop");

    // Without an address or a cloud it is not configured.
    let invalid = Command::new(AGENT)
        .arg("validate-all")
        .env("OCF_RESKEY_binary", VIGIL)
        .status()
        .unwrap();
    assert_eq!(invalid.code(), Some(6));
}
