//! The `vigil-monitor` binary, as a compute node runs it: its process monitor restarts a
//! process, reports the one it cannot restart to the outbox, and its sender delivers that
//! report and one appended by `vigil-monitor notify` to a real `vigil serve`. `status` shows
//! the monitor.

mod common;

use common::vigil::Vigil;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_vigil-monitor");
const HOST: &str = "compute-bin";

/// A `vigil-monitor` subcommand running until dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(args: &[&str], log: &std::path::Path) -> Running {
    let log = std::fs::File::create(log).unwrap();
    Running(
        Command::new(BIN)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_monitor_binary_watches_reports_and_delivers() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let vigil = Vigil::start(&[]).await;
    vigil.register(HOST).await;

    // A process whose restart command fails: reported once the retries are spent.
    std::fs::write(
        path("process_list.yaml"),
        "-\n    process_name: /usr/bin/vigil-test-never-running\n    start_command: 'false'\n    \
         restart_command: 'false'\n    run_as_root: False\n",
    )
    .unwrap();
    let (outbox, state, list) = (path("outbox"), path("state"), path("process_list.yaml"));
    let common = ["--outbox", &outbox, "--state-dir", &state];
    let process_args = [
        &["process", "--config", &list][..],
        &common,
        &[
            "--hostname",
            HOST,
            "--check-interval",
            "0.2",
            "--restart-retries",
            "1",
            "--restart-interval",
            "0.1",
        ],
    ]
    .concat();
    let _process = start(&process_args, &dir.path().join("process.log"));
    let notified = Command::new(BIN)
        .args(["notify", "--outbox", &outbox, "--type", "COMPUTE_HOST"])
        .args(["--hostname", HOST])
        .args([
            "--payload",
            r#"{"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}"#,
        ])
        .status()
        .unwrap();
    assert!(notified.success());
    let base = vigil.base.clone();
    let _send = start(
        &[
            "send",
            "--outbox",
            &outbox,
            "--url",
            &base,
            "--poll-interval-ms",
            "100",
        ],
        &dir.path().join("send.log"),
    );

    let want = [
        ("COMPUTE_HOST".to_owned(), HOST.to_owned(), "STOPPED"),
        ("PROCESS".to_owned(), HOST.to_owned(), "STOPPED"),
    ];
    let mut got = Vec::new();
    for _ in 0..300 {
        got = vigil.reports().await;
        if got.len() >= want.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut seen: Vec<_> = got
        .iter()
        .map(|(kind, host, payload)| {
            (
                kind.clone(),
                host.clone(),
                payload["event"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    seen.sort();
    let want: Vec<_> = want
        .iter()
        .map(|(k, h, e)| (k.clone(), h.clone(), (*e).to_owned()))
        .collect();
    assert_eq!(seen, want, "{got:?}");
    let process = got.iter().find(|(k, ..)| k == "PROCESS").unwrap();
    assert_eq!(
        process.2,
        json!({"process_name": "vigil-test-never-running", "event": "STOPPED"})
    );

    // Delivered means acknowledged in the outbox too, a moment after the API stored it.
    let mut status = serde_json::Value::Null;
    for _ in 0..50 {
        let out = Command::new(BIN)
            .args(["status", "--state-dir", &state])
            .output()
            .unwrap();
        assert!(out.status.success());
        status = serde_json::from_slice(&out.stdout).unwrap();
        if status["monitors"][0]["outbox_pending"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status["monitors"].as_array().unwrap().len(), 1, "{status}");
    assert_eq!(status["monitors"][0]["outbox_pending"], 0, "{status}");
}
