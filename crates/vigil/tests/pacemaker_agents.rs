//! What Pacemaker runs of Vigil's besides fence_vigil: the resource agent of `vigil alerter`
//! (contrib/pacemaker/alerter), through resource-agents' own `ocf-tester` (meta-data,
//! validate-all, start, monitor, stop, each twice where the OCF rules say it must be
//! idempotent), and the alert agent `vigil-pacemaker-alert` with a real API behind it.

mod support;

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
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    // Endpoints nobody listens on: the alerter runs (and retries) all the same. Once with
    // each driver.
    let vigil_driver = vec!["url=http://127.0.0.1:9/v1".to_owned()];
    let https_driver = vec![
        "driver=https".to_owned(),
        "endpoint=https://127.0.0.1:9/host-failure".to_owned(),
        option("bearer_token_file", &token.to_string_lossy()),
        "on_shared_storage=true".to_owned(),
    ];
    for driver in [vigil_driver, https_driver] {
        let mut tester = Command::new("ocf-tester");
        tester
            .args(["-n", "vigil-alerter-test"])
            .args(["-o", &option("binary", VIGIL)])
            .args(["-o", &option("pidfile", &pidfile.to_string_lossy())])
            .args(["-o", &option("logfile", &logfile.to_string_lossy())]);
        for o in &driver {
            tester.args(["-o", o]);
        }
        let out = tester.arg(AGENT).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{driver:?}: {text}");
        assert!(text.contains("passed all tests"), "{driver:?}: {text}");
        assert!(!pidfile.exists(), "{driver:?}: the pid file outlived stop");
    }
    let log = std::fs::read_to_string(&logfile).unwrap();
    assert!(
        !log.contains("error: ") && !log.contains("Error: "),
        "the alerter refused its options: {log}"
    );

    // Without an address or a cloud, or the https driver without an endpoint, or an unknown
    // driver, it is not configured.
    for vars in [
        &[][..],
        &[("OCF_RESKEY_driver", "https")],
        &[
            ("OCF_RESKEY_driver", "mail"),
            ("OCF_RESKEY_url", "http://127.0.0.1:9/v1"),
        ],
    ] {
        let invalid = Command::new(AGENT)
            .arg("validate-all")
            .env("OCF_RESKEY_binary", VIGIL)
            .envs(vars.iter().copied())
            .status()
            .unwrap();
        assert_eq!(invalid.code(), Some(6), "{vars:?}");
    }
}

/// `vigil-pacemaker-alert` as Pacemaker runs it (a path, no arguments, `CRM_alert_*`
/// variables, the outbox as the recipient): a fenced node becomes one `COMPUTE_HOST` report
/// that `vigil monitor send` delivers; a resource alert and a failed fencing add nothing, and
/// the same fencing alerted on two nodes is stored once.
#[tokio::test]
async fn the_alert_agent_reports_a_fenced_node_once() {
    let dir = tempfile::tempdir().unwrap();
    let agent = dir.path().join("vigil-pacemaker-alert");
    std::os::unix::fs::symlink(VIGIL, &agent).unwrap();
    let outbox = dir.path().join("outbox");
    let alert = |vars: &[(&str, &str)]| {
        let status = Command::new(&agent)
            .env("CRM_alert_recipient", &outbox)
            .env("CRM_alert_timestamp_epoch", "1764500000")
            .env("CRM_alert_timestamp_usec", "123456")
            .envs(vars.iter().copied())
            .status()
            .unwrap();
        assert!(status.success(), "{vars:?}");
    };
    let fenced = [
        ("CRM_alert_kind", "fencing"),
        ("CRM_alert_node", "compute1"),
        ("CRM_alert_task", "reboot"),
        ("CRM_alert_rc", "0"),
    ];
    alert(&[
        ("CRM_alert_kind", "resource"),
        ("CRM_alert_node", "compute1"),
    ]);
    alert(&[
        ("CRM_alert_kind", "fencing"),
        ("CRM_alert_node", "compute1"),
        ("CRM_alert_rc", "1"),
    ]);
    // Every node of the cluster runs its alerts: two appends of one event.
    alert(&fenced);
    alert(&fenced);

    let vigil = support::Vigil::start("serve", &dir.path().join("data"), &[]);
    let api = support::api::Api::new(vigil.url());
    api.segment("auto", &[("compute1", false)]).await.unwrap();
    let url = format!("{}/v1", vigil.url());
    let _sender = support::monitor::sender(&outbox.to_string_lossy(), &url, dir.path());
    std::fs::write(dir.path().join("monitor.log"), "").unwrap();
    let client = support::monitor::client(&url);
    support::monitor::first_notifications(&client, dir.path()).await;
    let n = support::monitor::the_one_notification(
        &client,
        std::time::Duration::from_secs(2),
        "COMPUTE_HOST",
        serde_json::json!({"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "NORMAL"}),
    )
    .await;
    assert_eq!(n.generated_time.as_micros(), 1_764_500_000_123_456);
}
