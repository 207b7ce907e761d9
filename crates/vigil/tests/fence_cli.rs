//! `vigil fence` against the lab's real power devices (`lab/lab power up`: a libvirt domain per
//! lab host behind sushy-tools' Redfish): status, off and on through a `[fencing]` topology,
//! and a configuration naming an unknown driver refused with one line. Gated by
//! `VIGIL_POWER_LAB=1` (scripts/test sets it); otherwise each test says loudly it did not run.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use vigil_lab::PowerLab;

/// The lab host these tests power off and on (the fencing crate's tests use the first one).
const HOST: &str = "compute3";

/// Held while a test reads or changes HOST's power: the tests of this file run in parallel.
static POWER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `vigil fence ARGS --config FILE`: (success, stdout, stderr).
fn fence(config: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("fence")
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("VIGIL_CONFIG")
        .output()
        .expect("running vigil fence");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn power_of(config: &Path) -> String {
    let (ok, out, err) = fence(
        config,
        &["status", HOST, "--segment", "s", "--format", "json"],
    );
    assert!(ok, "status failed: {out} {err}");
    let rows: Value = serde_json::from_str(&out).expect("status JSON");
    rows[0]["power"].as_str().expect("a power field").to_owned()
}

/// A configuration whose one Redfish device fences the lab's `compute*` hosts; the embedded
/// database in `dir`.
fn write_config(lab: &PowerLab, dir: &Path) -> std::path::PathBuf {
    let config = dir.join("vigil.toml");
    let text = format!(
        "data_dir = \"{}\"\n\n{}",
        dir.display(),
        lab.redfish_fencing(None, "compute*")
    );
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn fence_status_off_and_on_drive_a_real_redfish_device() {
    let Some(lab) = PowerLab::for_test() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&lab, dir.path());
    let _turn = POWER.lock().unwrap_or_else(|e| e.into_inner());
    assert_eq!(power_of(&config), "on");
    let (ok, out, err) = fence(&config, &["off", HOST, "--segment", "s"]);
    assert!(ok && out.contains("off, confirmed by bmc"), "{out} {err}");
    assert_eq!(power_of(&config), "off");
    let (ok, out, err) = fence(&config, &["on", HOST, "--segment", "s"]);
    assert!(ok && out.contains("on, by bmc"), "{out} {err}");
    assert_eq!(power_of(&config), "on");
}

#[test]
fn a_fencing_configuration_with_an_unknown_driver_is_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vigil.toml");
    std::fs::write(
        &config,
        "[fencing.devices.bmc]\ndriver = \"telnet\"\naddress = \"{host}\"\n",
    )
    .unwrap();
    let (ok, _, err) = fence(&config, &["status", HOST, "--segment", "s"]);
    assert!(!ok);
    assert!(err.contains("fencing") && err.contains("telnet"), "{err}");
}

/// `check` asks every host of the database: a host with a device reads `on`; a host no binding
/// names is an error row, and the exit status says a host is not covered.
#[tokio::test]
async fn fence_check_covers_every_host_of_the_database() {
    let Some(lab) = PowerLab::for_test() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(&lab, dir.path());
    let url = format!("sqlite:{}", dir.path().join("vigil.sqlite").display());
    let store = vigil_store::Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    let segment = store
        .segment_create(vigil_store::NewSegment {
            name: "s".into(),
            service_type: "COMPUTE".into(),
            enabled: true,
            description: None,
            recovery_method: vigil_domain::RecoveryMethod::Auto,
        })
        .await
        .unwrap();
    for name in [HOST, "storage1"] {
        let host = vigil_store::NewHost {
            name: name.into(),
            host_type: None,
            control_attributes: None,
            reserved: false,
            on_maintenance: false,
        };
        store.host_create(segment.uuid, host).await.unwrap();
    }
    store.close().await;
    let (ok, out, err) = {
        let _turn = POWER.lock().unwrap_or_else(|e| e.into_inner());
        fence(&config, &["check", "--format", "json"])
    };
    assert!(
        !ok,
        "a host without a device must fail the check: {out} {err}"
    );
    let rows: Value = serde_json::from_str(&out).expect("check JSON");
    let row = |host: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["host"] == host)
            .cloned()
            .unwrap_or_else(|| panic!("no row for {host}: {rows}"))
    };
    assert_eq!(row(HOST)["power"], "on", "{rows}");
    assert_eq!(row(HOST)["device"], "bmc", "{rows}");
    assert!(
        row("storage1")["error"]
            .as_str()
            .is_some_and(|e| e.contains("no device bound")),
        "{rows}"
    );
}
