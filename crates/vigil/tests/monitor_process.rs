//! The process monitor end to end: `vigil monitor process` watching a process it cannot
//! restart, `vigil monitor send` delivering its outbox to a real `vigil serve` (no
//! authentication): the API receives exactly one PROCESS/STOPPED notification, with the
//! payload masakari-monitors sends, and `vigil monitor status` shows it all.

mod support;

use std::time::{Duration, Instant};
use support::api::Api;
use support::monitor::{client, first_notifications, sender, status, the_one_notification, vigil};
use support::Vigil;

const HOST: &str = "compute-1";

#[tokio::test(flavor = "multi_thread")]
async fn a_process_that_cannot_be_restarted_is_one_process_stopped_notification() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let api = Vigil::start("serve", &d.join("data"), &[]);
    Api::new(api.url())
        .segment_named("process", "auto", &[(HOST, false)])
        .await
        .unwrap();

    // A process that never runs, with start and restart commands that fail.
    let name = format!("vigil-e2e-absent-{}", std::process::id());
    let list = d.join("process_list.yaml");
    std::fs::write(
        &list,
        format!(
            "-\n    process_name: /usr/sbin/{name}\n    start_command: /bin/false\n    \
             pre_start_command:\n    post_start_command:\n    restart_command: /bin/false\n    \
             pre_restart_command:\n    post_restart_command:\n    run_as_root: False\n"
        ),
    )
    .unwrap();
    let outbox = d.join("outbox");
    let state = d.join("state");
    let (outbox_arg, state_arg, list_arg) = (
        outbox.to_str().unwrap(),
        state.to_str().unwrap(),
        list.to_str().unwrap(),
    );
    let _monitor = vigil(
        &[
            "monitor",
            "process",
            "--config",
            list_arg,
            "--outbox",
            outbox_arg,
            "--state-dir",
            state_arg,
            "--hostname",
            HOST,
            "--check-interval",
            "0.1",
            "--restart-interval",
            "0.1",
        ],
        d,
        "monitor.log",
    );
    let url = format!("{}/v1", api.url());
    let _sender = sender(outbox_arg, &url, d);

    let client = client(&url);
    first_notifications(&client, d).await;
    // Past the report, the monitor keeps checking (and reports nothing more).
    let deadline = Instant::now() + Duration::from_secs(30);
    let seen = loop {
        let s = status(&state);
        let m = &s["monitors"][0];
        if m["outbox_pending"] == 0 && m["watching"][0]["phase"] == "reported" {
            break s;
        }
        assert!(Instant::now() < deadline, "status: {s:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let payload = serde_json::json!({"process_name": name, "event": "STOPPED"});
    the_one_notification(&client, Duration::from_secs(1), "PROCESS", payload).await;
    let m = &seen["monitors"][0];
    assert_eq!(m["monitor"], "process");
    assert_eq!(m["hostname"], HOST);
    assert_eq!(m["reports_appended"], 1);
    assert_eq!(m["outbox_dead_letters"], 0);
    assert_eq!(m["last_error"], serde_json::Value::Null);
}
