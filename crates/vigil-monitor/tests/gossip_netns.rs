//! The gossip host monitor across network namespaces: each member a process of its own in a
//! namespace of its own, linked by a veth pair to a bridge that lives in yet another
//! namespace, so nothing touches the host's network. A member's link cut at the bridge is
//! reported by all the others within the bound (the detection times and their median are
//! printed) and never by the member cut off; 20 % of every member's datagrams dropped for a
//! minute (`VIGIL_GOSSIP_SOAK_SECS`, 600 for the long soak) makes nobody report anything.
//!
//! Needs root, `ip` and `nft`; skipped loudly without them, failed with VIGIL_REQUIRE_NETNS=1.
//! The namespaces are named `gsp-…` (`VIGIL_GOSSIP_NETNS_PREFIX`); the members log at `info`
//! (`VIGIL_GOSSIP_LOG`, a tracing filter).
//! The namespaces and the member processes go with the test's guard, even when it fails.

mod common;
mod gossip_support;

use common::wait_until;
use gossip_support::{bound, median, members_up, reported, reports, timing, MEMBERS};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use vigil_monitor::gossip::{GossipConfig, GossipMonitor};
use vigil_outbox::Outbox;

const PORT: u16 = 7946;

/// The namespaces' name prefix (`VIGIL_GOSSIP_NETNS_PREFIX`, `gsp` by default).
fn prefix() -> String {
    std::env::var("VIGIL_GOSSIP_NETNS_PREFIX").unwrap_or_else(|_| "gsp".into())
}

fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([10, 99, 0, i as u8 + 1], PORT))
}

/// The namespaces, the member processes and their directories; all removed on drop.
struct Lab {
    tag: String,
    namespaces: Vec<String>,
    members: Vec<Child>,
    dir: tempfile::TempDir,
}

impl Lab {
    fn bridge(&self) -> String {
        format!("{}-{}-br", prefix(), self.tag)
    }

    fn member_ns(&self, i: usize) -> String {
        format!("{}-{}-m{i}", prefix(), self.tag)
    }

    fn member_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("node-{i}"))
    }

    fn add_ns(&mut self, name: String) {
        ip(&["netns", "add", &name]);
        self.namespaces.push(name);
    }

    /// The bridge and one namespace per member, each with `10.99.0.<i+1>/24` on `eth0`.
    fn build() -> Lab {
        let mut lab = Lab {
            tag: std::process::id().to_string(),
            namespaces: Vec::new(),
            members: Vec::new(),
            dir: tempfile::tempdir().unwrap(),
        };
        let br = lab.bridge();
        lab.add_ns(br.clone());
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"]);
        ip(&["-n", &br, "link", "set", "br0", "up"]);
        for i in 0..MEMBERS {
            let ns = lab.member_ns(i);
            lab.add_ns(ns.clone());
            let port = format!("v{i}");
            ip(&[
                "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns",
                &ns,
            ]);
            ip(&["-n", &br, "link", "set", &port, "master", "br0", "up"]);
            let cidr = format!("{}/24", addr(i).ip());
            ip(&["-n", &ns, "addr", "add", &cidr, "dev", "eth0"]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    /// Starts member `i` in its namespace: this test binary again, running [`member`].
    fn start(&mut self, i: usize) {
        let dir = self.member_dir(i);
        std::fs::create_dir_all(&dir).unwrap();
        let seeds: Vec<String> = (0..MEMBERS)
            .filter(|j| *j != i)
            .map(|j| addr(j).to_string())
            .collect();
        let log = std::fs::File::create(dir.join("member.log")).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.member_ns(i)])
            .arg(std::env::current_exe().unwrap())
            .args(["--ignored", "--exact", "member", "--nocapture"])
            .env("VIGIL_GOSSIP_MEMBER", format!("node-{i}"))
            .env("VIGIL_GOSSIP_BIND", addr(i).to_string())
            .env("VIGIL_GOSSIP_SEEDS", seeds.join(","))
            .env("VIGIL_GOSSIP_DIR", &dir)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.members.push(child);
    }

    /// Brings member `i`'s bridge port down (a cut cable) or up.
    fn link(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.bridge(), "link", "set", &format!("v{i}"), state]);
    }

    /// Every member drops `percent` of the gossip datagrams it sends (0: none), at random:
    /// nftables' `numgen` in the member's namespace, as `tc netem loss` would on its link
    /// (this kernel has no netem).
    fn loss(&self, percent: u32) {
        for i in 0..MEMBERS {
            let ns = self.member_ns(i);
            let nft = |command: &str| run("ip", &["netns", "exec", &ns, "nft", command]);
            if percent == 0 {
                // The soak proves nothing unless datagrams were dropped.
                let out = Command::new("ip")
                    .args(["netns", "exec", &ns, "nft", "list table inet vigil_loss"])
                    .output()
                    .unwrap();
                let listing = String::from_utf8_lossy(&out.stdout).into_owned();
                let dropped = listing
                    .split_whitespace()
                    .skip_while(|w| *w != "packets")
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
                eprintln!("node-{i} dropped {dropped} of its datagrams");
                assert!(dropped > 0, "no datagram dropped: {listing}");
                nft("delete table inet vigil_loss");
                continue;
            }
            nft("add table inet vigil_loss");
            nft("add chain inet vigil_loss out { type filter hook output priority 0 ; }");
            nft(&format!(
                "add rule inet vigil_loss out udp dport {PORT} numgen random mod 100 < {percent} counter drop"
            ));
        }
    }

    fn outbox(&self, i: usize) -> PathBuf {
        self.member_dir(i).join("outbox")
    }

    fn state(&self, i: usize) -> PathBuf {
        self.member_dir(i).join("state")
    }

    /// Prints each member's status, reports and log, for a failure's diagnosis.
    fn dump(&self) {
        for i in 0..MEMBERS {
            let status = gossip_support::status(&self.state(i));
            let log = std::fs::read_to_string(self.member_dir(i).join("member.log"));
            eprintln!("--- node-{i}: reports {:?}", reports(&self.outbox(i)));
            eprintln!("status: {status:#?}");
            eprintln!("log:\n{}", log.unwrap_or_default());
        }
    }

    /// How many times the members rejoined under a new identity, by their logs.
    fn rejoins(&self) -> usize {
        (0..MEMBERS)
            .map(|i| std::fs::read_to_string(self.member_dir(i).join("member.log")))
            .map(|log| log.unwrap_or_default().matches("rejoin").count())
            .sum()
    }

    fn all_reports(&self) -> Vec<Vec<(String, String)>> {
        (0..MEMBERS).map(|i| reports(&self.outbox(i))).collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.members {
            let _ = child.kill();
            let _ = child.wait();
        }
        for ns in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip(args: &[&str]) {
    run("ip", args);
}

/// Why the namespaces cannot be made here, if they cannot.
fn unavailable() -> Option<String> {
    if vigil_monitor::is_root() {
        for (tool, version) in [("ip", "-V"), ("nft", "--version")] {
            let found = Command::new(tool)
                .arg(version)
                .output()
                .is_ok_and(|o| o.status.success());
            if !found {
                return Some(format!("`{tool}` is missing (iproute2, nftables)"));
            }
        }
        None
    } else {
        Some("not root".into())
    }
}

#[test]
fn cut_link_is_reported_by_the_others_and_loss_is_not() {
    if let Some(why) = unavailable() {
        assert!(
            std::env::var("VIGIL_REQUIRE_NETNS").as_deref() != Ok("1"),
            "VIGIL_REQUIRE_NETNS=1 but network namespaces are unavailable: {why}"
        );
        eprintln!("SKIPPED: the gossip network-namespace test needs root, ip and nft: {why}");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut lab = Lab::build();
    for i in 0..MEMBERS {
        lab.start(i);
    }
    rt.block_on(async {
        let up = wait_until(Duration::from_secs(20), || {
            (0..MEMBERS).all(|i| members_up(&lab.state(i)) == MEMBERS - 1)
        })
        .await;
        assert!(up, "the members did not all see each other up");
        detect_cuts(&lab).await;
        soak(&lab).await;
    });
}

/// Cuts three members in turn; each is reported by all others within the bound, and never
/// reports anyone itself; back, it is reported `STARTED`.
async fn detect_cuts(lab: &Lab) {
    let t = timing();
    let mut times = Vec::new();
    for victim in [4, 2, 0] {
        let name = format!("node-{victim}");
        let others: Vec<usize> = (0..MEMBERS).filter(|i| *i != victim).collect();
        // What the victim reported of earlier rounds' victims.
        let earlier = reports(&lab.outbox(victim));
        let cut_at = Instant::now();
        lab.link(victim, false);
        let mut seen = vec![None; others.len()];
        wait_until(bound(&t) + Duration::from_secs(5), || {
            for (k, i) in others.iter().enumerate() {
                if seen[k].is_none() && reported(&lab.outbox(*i), &name, "STOPPED") {
                    seen[k] = Some(cut_at.elapsed());
                }
            }
            seen.iter().all(Option::is_some)
        })
        .await;
        if seen.iter().any(Option::is_none) {
            lab.dump();
            panic!("{name} cut: not reported by all the others: {seen:?}");
        }
        let round: Vec<Duration> = seen.iter().flatten().copied().collect();
        eprintln!("{name} cut: reported after {round:?}");
        for d in &round {
            assert!(
                *d <= bound(&t),
                "{name} reported after {d:?}, above the bound {:?}",
                bound(&t)
            );
        }
        times.extend(round);
        // Long enough for the cut member to have declared every other down.
        tokio::time::sleep(bound(&t)).await;
        assert_eq!(
            reports(&lab.outbox(victim)),
            earlier,
            "the cut member reported"
        );
        lab.link(victim, true);
        let back = wait_until(Duration::from_secs(20), || {
            others
                .iter()
                .all(|i| reported(&lab.outbox(*i), &name, "STARTED"))
        })
        .await;
        assert!(back, "{name}'s return was not reported by all the others");
        assert_eq!(
            reports(&lab.outbox(victim)),
            earlier,
            "the cut member reported"
        );
    }
    let median = median(&mut times);
    eprintln!(
        "gossip detection over {} reports: median {median:?}, max {:?}, bound {:?}",
        times.len(),
        times.last().unwrap(),
        bound(&t)
    );
    // The 3 s median target is a figure to measure (README), not a test's verdict: a loaded
    // machine slows detection without anything being wrong; the protocol's bound is checked
    // above.
}

/// 20 % loss on every member's link: no report from anyone.
async fn soak(lab: &Lab) {
    let secs: u64 = std::env::var("VIGIL_GOSSIP_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    // Every member up again before the loss starts.
    let up = wait_until(Duration::from_secs(20), || {
        (0..MEMBERS).all(|i| members_up(&lab.state(i)) == MEMBERS - 1)
    })
    .await;
    assert!(
        up,
        "the members did not all see each other up after the cuts"
    );
    let before = lab.all_reports();
    let rejoined = lab.rejoins();
    lab.loss(20);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(secs) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if lab.all_reports() != before {
            lab.dump();
        }
        assert_eq!(
            lab.all_reports(),
            before,
            "a report under 20 % loss after {:?}",
            started.elapsed()
        );
    }
    lab.loss(0);
    // A member rejoins only when declared down; a suspicion refuted in time declares
    // nothing. (foca's "you are down" after a refuted suspicion made members rejoin every
    // few seconds at this loss, and the hosts seen stopping in between were reported.)
    let rejoins = lab.rejoins() - rejoined;
    eprintln!("20 % loss on every link for {secs} s: no report, {rejoins} rejoins");
    assert!(
        rejoins as u64 <= secs / 60,
        "{rejoins} rejoins in {secs} s: members declared down under loss"
    );
}

/// Not a test: a member process of [`cut_link_is_reported_by_the_others_and_loss_is_not`],
/// run in its namespace through `ip netns exec`, configured by the environment; runs until
/// killed. Ignored, and idle without its environment.
#[test]
#[ignore]
fn member() {
    let Ok(name) = std::env::var("VIGIL_GOSSIP_MEMBER") else {
        return;
    };
    let var = |k: &str| std::env::var(k).unwrap();
    let dir = PathBuf::from(var("VIGIL_GOSSIP_DIR"));
    let config = GossipConfig {
        hostname: name,
        bind: var("VIGIL_GOSSIP_BIND").parse().unwrap(),
        seeds: var("VIGIL_GOSSIP_SEEDS")
            .split(',')
            .map(|s| s.parse().unwrap())
            .collect(),
        timing: timing(),
        state_dir: dir.join("state"),
    };
    run_member(config, &dir);
}

fn run_member(config: GossipConfig, dir: &Path) {
    let filter = std::env::var("VIGIL_GOSSIP_LOG").unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let outbox = Outbox::open(dir.join("outbox")).unwrap();
        let monitor = GossipMonitor::new(config, outbox).await.unwrap();
        let wake = tokio::sync::Notify::new();
        vigil_monitor::runner::run(monitor, &wake, std::future::pending()).await;
    });
}
