//! What the gossip tests read of a member: the reports in its outbox and its status file.

#![allow(dead_code)] // each test file uses its part

use std::path::Path;
use std::time::Duration;
use vigil_domain::NotificationType;
use vigil_monitor::gossip::Timing;
use vigil_outbox::Outbox;

/// The members of a test's group.
pub const MEMBERS: usize = 5;

/// The default timing, for `MEMBERS` members.
pub fn timing() -> Timing {
    Timing {
        expected_members: MEMBERS as u32,
        ..Timing::default()
    }
}

/// The longest a stop may take to be reported: a full probe round (by then every member has
/// probed the dead one), its probe period, the suspicion timeout, the confirmation delay, and
/// half a second for the news to spread and the pass to append.
pub fn bound(t: &Timing) -> Duration {
    t.probe_period * MEMBERS as u32 + t.suspicion() + t.confirm + Duration::from_millis(500)
}

/// `(host, event)` of every `COMPUTE_HOST` report in the outbox at `dir`, in order.
pub fn reports(dir: &Path) -> Vec<(String, String)> {
    if !dir.is_dir() {
        return Vec::new();
    }
    let outbox = Outbox::open(dir).unwrap();
    outbox
        .pending()
        .unwrap()
        .into_iter()
        .map(|p| p.event)
        .filter(|e| e.notification_type == NotificationType::ComputeHost)
        .map(|e| {
            let event = e.payload["event"].as_str().unwrap_or_default().to_owned();
            assert_eq!(e.payload["host_status"], "NORMAL");
            let cluster = if event == "STOPPED" {
                "OFFLINE"
            } else {
                "ONLINE"
            };
            assert_eq!(e.payload["cluster_status"], cluster);
            (e.hostname, event)
        })
        .collect()
}

/// Whether the outbox at `dir` holds a report `event` about `host`.
pub fn reported(dir: &Path, host: &str, event: &str) -> bool {
    reports(dir).iter().any(|(h, e)| h == host && e == event)
}

/// The gossip monitor's status in `state_dir`, if written.
pub fn status(state_dir: &Path) -> Option<serde_json::Value> {
    let bytes = std::fs::read(state_dir.join("gossip.status.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// How many members the status in `state_dir` shows up.
pub fn members_up(state_dir: &Path) -> usize {
    status(state_dir)
        .and_then(|s| {
            let members = s["watching"]["members"].as_array()?.clone();
            Some(members.iter().filter(|m| m["liveness"] == "up").count())
        })
        .unwrap_or(0)
}

/// The median of `samples` (sorted in place).
pub fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
