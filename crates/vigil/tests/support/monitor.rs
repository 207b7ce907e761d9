//! The compute-node commands in end-to-end tests: a `vigil monitor …` (or `send`) child, and
//! `vigil monitor status`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil_client::Client;
use vigil_wire::NotificationBody;

/// A child process killed (by its own PID) when dropped.
pub struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `vigil <args>`, its log in `dir/log`.
pub fn vigil(args: &[&str], dir: &Path, log: &str) -> Killed {
    let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(log)).unwrap())
        .spawn()
        .unwrap();
    Killed(child)
}

/// `vigil monitor status` of the monitors in `state`.
pub fn status(state: &Path) -> serde_json::Value {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["monitor", "status", "--state-dir"])
        .arg(state)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `vigil monitor send` delivering `outbox` to the API at `url` (`…/v1`), retrying quickly.
pub fn sender(outbox: &str, url: &str, dir: &Path) -> Killed {
    vigil(
        &[
            "monitor",
            "send",
            "--outbox",
            outbox,
            "--url",
            url,
            "--initial-delay-ms",
            "20",
            "--max-delay-ms",
            "200",
            "--poll-interval-ms",
            "50",
        ],
        dir,
        "sender.log",
    )
}

/// The notifications the API has stored, as soon as it has one (30 s at most; the
/// monitor's log `dir/monitor.log` is shown if none comes).
pub async fn first_notifications(client: &Client, dir: &Path) -> Vec<NotificationBody> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let stored = client.list_notifications(&[]).await.unwrap();
        if !stored.is_empty() {
            return stored;
        }
        assert!(
            Instant::now() < deadline,
            "no notification; monitor log:\n{}",
            std::fs::read_to_string(dir.join("monitor.log")).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A client of the API at `url` (`…/v1`), without credentials.
pub fn client(url: &str) -> Client {
    Client::from_config(&vigil_client::ClientConfig {
        url: url.to_owned(),
        ..vigil_client::ClientConfig::default()
    })
    .unwrap()
}

/// After `settle` (time for a repeat to arrive and be refused), the one notification the API
/// stored, checked to be a `kind` report with exactly `payload`.
pub async fn the_one_notification(
    client: &Client,
    settle: Duration,
    kind: &str,
    payload: serde_json::Value,
) -> NotificationBody {
    tokio::time::sleep(settle).await;
    let mut stored = client.list_notifications(&[]).await.unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let n = stored.remove(0);
    assert_eq!(n.notification_type.as_str(), kind);
    assert_eq!(serde_json::Value::Object(n.payload.clone()), payload);
    n
}
