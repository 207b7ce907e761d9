//! The host monitor end to end: `vigil monitor host --driver pacemaker` running Debian's
//! `crm_mon` on prepared CIB files (vigil-monitor's `tests/cib/`), `vigil monitor send`
//! delivering to a real `vigil serve`: a cluster node that fails is one COMPUTE_HOST/STOPPED
//! notification with masakari-monitors' payload (`UNKNOWN`: a CIB file has no fence history),
//! and `vigil monitor status` shows the monitor and each node.
//!
//! Without `crm_mon` the test skips, loudly; with `VIGIL_REQUIRE_PACEMAKER=1` it fails.

mod support;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::api::Api;
use support::monitor::{client, first_notifications, sender, status, the_one_notification, vigil};
use support::Vigil;

fn cib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../vigil-monitor/tests/cib")
        .join(name)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_cluster_node_is_one_compute_host_stopped_notification() {
    if !vigil_lab::crm_mon_or_skip("a_failed_cluster_node_is_one_compute_host_stopped_notification")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = Vigil::start("serve", &d.join("data"), &[]);
    Api::new(api.url())
        .segment_named("cluster", "auto", &[("ctl3", false), ("compute1", false)])
        .await
        .unwrap();

    // The monitor reads a link the test points at one CIB, then another.
    let link = d.join("cib.xml");
    std::os::unix::fs::symlink(cib("healthy.xml"), &link).unwrap();
    let (outbox, state) = (d.join("outbox"), d.join("state"));
    // There before the monitor writes its status, so that `vigil monitor status` can wait.
    std::fs::create_dir(&state).unwrap();
    let arg = |p: &Path| p.to_str().unwrap().to_owned();
    let (outbox_arg, state_arg, link_arg) = (arg(&outbox), arg(&state), arg(&link));
    let _monitor = vigil(
        &[
            "monitor",
            "host",
            "--driver",
            "pacemaker",
            "--cib-file",
            &link_arg,
            "--outbox",
            &outbox_arg,
            "--state-dir",
            &state_arg,
            "--hostname",
            "ctl1",
            "--interval",
            "0.1",
            "--monitoring-samples",
            "2",
        ],
        d,
        "monitor.log",
    );
    let url = format!("{}/v1", api.url());
    let _sender = sender(&outbox_arg, &url, d);
    let wait_status = |what: &str, ok: &dyn Fn(&serde_json::Value) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = status(&state);
            if ok(&s["monitors"][0]) {
                return s;
            }
            assert!(Instant::now() < deadline, "{what}; status: {s:#}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    // Every node but this host is watched, all up.
    wait_status("the first look", &|m| {
        m["watching"]["nodes"]
            .as_array()
            .is_some_and(|n| n.len() == 4)
    });

    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(cib("ctl3-failed.xml"), &link).unwrap();
    let client = client(&url);
    first_notifications(&client, d).await;
    let seen = wait_status("the report delivered", &|m| m["outbox_pending"] == 0);
    // More looks at the same state report nothing more. Stored, so its hostname is one the API
    // knows (ctl3 or compute1; the status names it).
    let payload = serde_json::json!({"event": "STOPPED", "cluster_status": "OFFLINE",
        "host_status": "UNKNOWN"});
    the_one_notification(&client, Duration::from_secs(1), "COMPUTE_HOST", payload).await;
    let m = &seen["monitors"][0];
    assert_eq!(m["monitor"], "host");
    assert_eq!(m["hostname"], "ctl1");
    assert_eq!(m["reports_appended"], 1);
    assert_eq!(m["last_error"], serde_json::Value::Null);
    assert_eq!(m["watching"]["driver"], "pacemaker");
    assert_eq!(m["watching"]["quorum"], true);
    let ctl3 = m["watching"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "ctl3")
        .unwrap();
    assert_eq!(ctl3["known"], "down");
    assert_eq!(ctl3["up"], false);
    assert_eq!(ctl3["detail"], "offline, unclean");
}
