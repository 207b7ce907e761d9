//! The gossip host monitor with real members: several on 127.0.0.1 in one process, each with
//! its own socket, outbox and state; one stopped is reported by all the others within the
//! detection bound, once, and `STARTED` when it comes back; a minority reports nothing.

mod common;
mod gossip_support;

use common::{wait_until, Running};
use gossip_support::{bound, median, members_up, reported, reports, status, timing, MEMBERS};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use vigil_monitor::gossip::{GossipConfig, GossipMonitor};
use vigil_outbox::Outbox;

/// A running member.
struct Node {
    name: String,
    dir: PathBuf,
    addr: SocketAddr,
    running: Running,
}

impl Node {
    async fn start(name: &str, dir: &Path, bind: SocketAddr, seeds: Vec<SocketAddr>) -> Node {
        let dir = dir.join(name);
        let config = GossipConfig {
            hostname: name.into(),
            bind,
            seeds,
            timing: timing(),
            state_dir: dir.join("state"),
        };
        let state_dir = config.state_dir.clone();
        let outbox = Outbox::open(dir.join("outbox")).unwrap();
        let monitor = GossipMonitor::new(config, outbox.clone()).await.unwrap();
        let addr = monitor.addr();
        let running = Running::spawn(monitor, Arc::new(Notify::new()), outbox, state_dir);
        Node {
            name: name.into(),
            dir,
            addr,
            running,
        }
    }

    async fn stop(self) {
        self.running.stop().await;
    }

    fn outbox(&self) -> PathBuf {
        self.dir.join("outbox")
    }

    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
}

/// `MEMBERS` members, the first the others' seed, each seeing all the others up.
async fn cluster(dir: &Path) -> Vec<Node> {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let first = Node::start("node-0", dir, any, Vec::new()).await;
    let seed = vec![first.addr];
    let mut nodes = vec![first];
    for i in 1..MEMBERS {
        nodes.push(Node::start(&format!("node-{i}"), dir, any, seed.clone()).await);
    }
    let all_up = wait_until(Duration::from_secs(15), || {
        nodes.iter().all(|n| members_up(&n.state()) == MEMBERS - 1)
    })
    .await;
    assert!(all_up, "the members did not all see each other up");
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_member_is_reported_once_by_every_other_and_started_when_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path()).await;
    let t = timing();

    let victim = nodes.remove(2);
    let (name, addr, victim_dir) = (victim.name.clone(), victim.addr, victim.dir.clone());
    let stopped_at = Instant::now();
    victim.stop().await;
    let mut seen = vec![None; nodes.len()];
    wait_until(bound(&t) + Duration::from_secs(5), || {
        for (i, n) in nodes.iter().enumerate() {
            if seen[i].is_none() && reported(&n.outbox(), &name, "STOPPED") {
                seen[i] = Some(stopped_at.elapsed());
            }
        }
        seen.iter().all(Option::is_some)
    })
    .await;
    let mut times: Vec<Duration> = seen
        .iter()
        .map(|s| s.expect("a member never reported the stop"))
        .collect();
    eprintln!("detection times: {times:?}, bound {:?}", bound(&t));
    for d in &times {
        assert!(
            *d <= bound(&t),
            "reported after {d:?}, above the bound {:?}",
            bound(&t)
        );
    }
    eprintln!("median detection: {:?}", median(&mut times));

    // Back on the same address with its state: STARTED from every other, and nothing twice.
    let back = Node::start(
        &name,
        victim_dir.parent().unwrap(),
        addr,
        vec![nodes[0].addr],
    )
    .await;
    let started = wait_until(Duration::from_secs(10), || {
        nodes
            .iter()
            .all(|n| reported(&n.outbox(), &name, "STARTED"))
    })
    .await;
    assert!(started, "the member's return was not reported by all");
    tokio::time::sleep(t.probe_period * 4).await;
    let want = vec![
        (name.clone(), "STOPPED".to_owned()),
        (name.clone(), "STARTED".to_owned()),
    ];
    for n in &nodes {
        assert_eq!(reports(&n.outbox()), want, "{}'s reports", n.name);
        assert_eq!(status(&n.state()).unwrap()["watching"]["quorum"], true);
    }
    assert_eq!(
        reports(&back.outbox()),
        Vec::new(),
        "the returned member reports nothing"
    );
    back.stop().await;
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_left_behind_reports_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = cluster(dir.path()).await;
    let t = timing();
    // Three of five stop: the two left see most of the members gone and must not report.
    for n in nodes.drain(2..) {
        n.stop().await;
    }
    let all_down = wait_until(bound(&t) * 2, || {
        nodes.iter().all(|n| {
            let s = status(&n.state()).unwrap();
            let members = s["watching"]["members"].as_array().unwrap().clone();
            members.iter().filter(|m| m["liveness"] == "down").count() == MEMBERS - 2
        })
    })
    .await;
    assert!(all_down, "the minority did not see the others down");
    tokio::time::sleep(t.probe_period * 3).await;
    for n in &nodes {
        assert_eq!(
            reports(&n.outbox()),
            Vec::new(),
            "{} reported in a minority",
            n.name
        );
        assert_eq!(status(&n.state()).unwrap()["watching"]["quorum"], false);
    }
    for n in nodes {
        n.stop().await;
    }
}
