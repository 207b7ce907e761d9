//! The gossip host monitor from the command line: three `vigil monitor host --driver gossip`
//! members on 127.0.0.1, one killed: the two others append COMPUTE_HOST/STOPPED about it (the
//! payload masakari-monitors' host monitor sends) to their outboxes, and `vigil monitor
//! status` shows their view of the members.

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil_domain::NotificationType;
use vigil_outbox::Outbox;

/// A child process killed (by its own PID) when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A free UDP port on 127.0.0.1 (free when asked; the members bind it right after).
fn free_addr() -> String {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap().to_string()
}

fn member(dir: &Path, name: &str, bind: &str, seeds: &[String]) -> Killed {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args([
            "monitor",
            "host",
            "--driver",
            "gossip",
            "--hostname",
            name,
            "--bind",
            bind,
        ])
        .arg("--seed")
        .arg(seeds.join(","))
        .arg("--outbox")
        .arg(d.join("outbox"))
        .arg("--state-dir")
        .arg(d.join("state"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("log")).unwrap())
        .spawn()
        .unwrap();
    Killed(child)
}

/// `vigil monitor status` of the state directory (`null` before the member made it).
fn status(state: &Path) -> serde_json::Value {
    if !state.is_dir() {
        return serde_json::Value::Null;
    }
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["monitor", "status", "--state-dir"])
        .arg(state)
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The `(host, payload)` of the COMPUTE_HOST reports in `outbox`.
fn reports(outbox: &PathBuf) -> Vec<(String, serde_json::Value)> {
    if !outbox.is_dir() {
        return Vec::new();
    }
    let pending = Outbox::open(outbox).unwrap().pending().unwrap();
    pending
        .into_iter()
        .filter(|p| p.event.notification_type == NotificationType::ComputeHost)
        .map(|p| (p.event.hostname, serde_json::Value::Object(p.event.payload)))
        .collect()
}

fn wait_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    while !done() {
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn a_killed_member_is_reported_stopped_by_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let names = ["compute-1", "compute-2", "compute-3"];
    let addrs: Vec<String> = names.iter().map(|_| free_addr()).collect();
    let mut members: Vec<Option<Killed>> = names
        .iter()
        .zip(&addrs)
        .map(|(name, addr)| Some(member(d, name, addr, &addrs)))
        .collect();
    let state = |name: &str| d.join(name).join("state");
    let up = wait_until(Duration::from_secs(20), || {
        names.iter().all(|n| {
            let s = status(&state(n));
            let members = s["monitors"][0]["watching"]["members"].clone();
            members
                .as_array()
                .is_some_and(|m| m.len() == 2 && m.iter().all(|m| m["liveness"] == "up"))
        })
    });
    assert!(up, "the members did not see each other up");

    members[2] = None; // killed
    let outbox = |name: &str| d.join(name).join("outbox");
    let reported = wait_until(Duration::from_secs(10), || {
        names[..2].iter().all(|n| !reports(&outbox(n)).is_empty())
    });
    assert!(reported, "the killed member was not reported");
    let want = serde_json::json!({"event": "STOPPED", "cluster_status": "OFFLINE", "host_status": "NORMAL"});
    for n in &names[..2] {
        assert_eq!(
            reports(&outbox(n)),
            vec![("compute-3".to_owned(), want.clone())]
        );
        let s = status(&state(n));
        let m = &s["monitors"][0];
        assert_eq!(m["monitor"], "gossip");
        assert_eq!(m["hostname"], *n);
        assert_eq!(m["reports_appended"], 1);
        assert_eq!(m["outbox_pending"], 1);
        assert_eq!(
            m["watching"]["reported_stopped"],
            serde_json::json!(["compute-3"])
        );
        let liveness: Vec<_> = m["watching"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["name"].as_str().unwrap().to_owned(),
                    m["liveness"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        assert!(
            liveness.contains(&("compute-3".to_owned(), "down".to_owned())),
            "{liveness:?}"
        );
    }
    drop(members);
}
