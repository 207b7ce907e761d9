//! The monitors' outbox end to end: 1,000 reports appended while the API is down, then a
//! `vigil monitor send` killed with SIGKILL at random points and started again, over and over,
//! while the API runs; in the end the API holds exactly the 1,000 notifications and the
//! outbox is empty. A report sent but not acknowledged before a kill is sent again, and the
//! API's duplicate detection (409) makes it count once.
//!
//! `VIGIL_OUTBOX_E2E_REPORTS` sets another number of reports.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::api::Api;
use support::Vigil;
use vigil_client::{Client, ClientConfig};
use vigil_domain::{NotificationType, Timestamp};
use vigil_outbox::{Event, Outbox};

const HOST: &str = "compute-1";

fn instance(i: usize) -> String {
    format!("6d1a1b3e-0000-4000-8000-{i:012}")
}

fn payload(i: usize) -> String {
    format!(
        r#"{{"event": "LIFECYCLE", "instance_uuid": "{}", "vir_domain_event": "STOPPED_FAILED"}}"#,
        instance(i)
    )
}

/// `vigil monitor send` draining `outbox` to `url`, retrying fast; its log goes to `log`.
fn sender(outbox: &Path, url: &str, log: &Path, drain: bool) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigil"));
    command
        .args(["monitor", "send", "--outbox"])
        .arg(outbox)
        .args(["--url", &format!("{url}/v1")])
        .args(["--initial-delay-ms", "20", "--max-delay-ms", "200"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap());
    if drain {
        command.arg("--drain");
    }
    command.spawn().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_arrive_exactly_once_through_a_sender_killed_at_random_points() {
    let reports: usize = std::env::var("VIGIL_OUTBOX_E2E_REPORTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let outbox_dir = dir.path().join("outbox");

    // The API knows the host; then it stops.
    let api = Vigil::start("serve", &data, &[]);
    Api::new(api.url())
        .segment_named("outbox", "auto", &[(HOST, false)])
        .await
        .unwrap();
    let stopped_url = api.url();
    drop(api);

    // The reports, while the API is down: a few through `vigil notify`, the rest through the
    // crate (a process each would take most of the test's time).
    let by_cli = 5.min(reports);
    for i in 0..by_cli {
        let status = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["notify", "--outbox"])
            .arg(&outbox_dir)
            .args(["--type", "VM", "--hostname", HOST, "--payload", &payload(i)])
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "vigil notify {i}");
    }
    let outbox = Outbox::open(&outbox_dir).unwrap();
    for i in by_cli..reports {
        let payload: serde_json::Value = serde_json::from_str(&payload(i)).unwrap();
        let event = Event {
            notification_type: NotificationType::Vm,
            hostname: HOST.into(),
            generated_time: Timestamp::now(),
            payload: payload.as_object().unwrap().clone(),
        };
        outbox.append_blocking(&event).unwrap();
    }
    assert_eq!(outbox.pending().unwrap().len(), reports);

    // A sender while the API is down only retries; killed.
    let mut first = sender(
        &outbox_dir,
        &stopped_url,
        &dir.path().join("sender-0.log"),
        false,
    );
    std::thread::sleep(Duration::from_millis(300));
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(outbox.pending().unwrap().len(), reports);

    // The API is back; senders are killed at random points until nothing is pending.
    let api = Vigil::start("serve", &data, &[]);
    let mut kills = 0;
    loop {
        let pending = outbox.pending().unwrap().len();
        if pending == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{pending} reports still pending after {kills} kills"
        );
        let log = dir.path().join(format!("sender-{}.log", kills + 1));
        let mut child = sender(&outbox_dir, &api.url(), &log, false);
        std::thread::sleep(Duration::from_millis(fastrand::u64(20..300)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    // And once more to the end, exiting when nothing is pending.
    let last = dir.path().join("sender-last.log");
    let status = sender(&outbox_dir, &api.url(), &last, true).wait().unwrap();
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&last).unwrap()
    );

    let client = Client::from_config(&ClientConfig {
        url: format!("{}/v1", api.url()),
        ..ClientConfig::default()
    })
    .unwrap();
    let stored = client.list_notifications(&[]).await.unwrap();
    let instances: BTreeSet<String> = stored
        .iter()
        .map(|n| n.payload["instance_uuid"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(stored.len(), reports, "after {kills} kills");
    assert_eq!(instances, (0..reports).map(instance).collect());
    assert!(outbox.pending().unwrap().is_empty());
    assert!(outbox.dead_letters().unwrap().is_empty());
    let duplicates = (1..=kills)
        .map(|k| dir.path().join(format!("sender-{k}.log")))
        .chain([last])
        .map(|log| std::fs::read_to_string(log).unwrap_or_default())
        .map(|text| text.matches("duplicate=true").count())
        .sum::<usize>();
    eprintln!(
        "{reports} reports delivered through {kills} killed senders ({duplicates} sent again \
         and answered 409) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
