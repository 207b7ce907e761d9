//! The host monitor's pacemaker driver against Pacemaker's own tools and output:
//! - Debian's `crm_mon` on the prepared CIB files of `tests/cib/` (`CIB_file=`), for what it
//!   shows of nodes online, offline, unclean, remote, in standby or maintenance, and quorum;
//! - `crm_mon`'s XML captured on a live cluster (`tests/crm_mon/`), for what a CIB file cannot
//!   show: the fence history, and a fenced remote node that crm_mon shows `online="true"`;
//! - the monitor itself on both, stopped and started again on its state.
//!
//! Without `crm_mon` the tests that run it skip, loudly; with `VIGIL_REQUIRE_PACEMAKER=1` they
//! fail instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use vigil_monitor::host::pacemaker::{self, Pacemaker, PacemakerConfig, PacemakerError};
use vigil_monitor::host::{Driver, HostConfig, HostMonitor, Member, Membership};
use vigil_monitor::runner::Reconciler;
use vigil_outbox::Outbox;

fn fixture(dir: &str, name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(dir)
        .join(name)
}

fn driver(cib: &Path) -> Pacemaker {
    Pacemaker::new(PacemakerConfig {
        cib_file: Some(cib.to_owned()),
        ..PacemakerConfig::default()
    })
}

/// A node in short: up, detail, whether it has a fencing.
type Short<'a> = (bool, &'a str, bool);

/// A node as the driver sees it: up, detail, fenced at.
type Seen<'a> = (bool, &'a str, Option<&'a str>);

/// A prepared CIB, whether crm_mon finds quorum in it, and some of its nodes.
type Case<'a> = (&'a str, bool, &'a [(&'a str, Short<'a>)]);

/// A view in short.
fn summary(view: &Membership) -> BTreeMap<&str, Short<'_>> {
    view.nodes
        .iter()
        .map(|(n, m)| {
            let fenced = m.fenced_at.is_some();
            (n.as_str(), (m.up, m.detail.as_str(), fenced))
        })
        .collect()
}

#[tokio::test]
async fn what_crm_mon_shows_of_each_prepared_cib() {
    if !vigil_lab::crm_mon_or_skip("what_crm_mon_shows_of_each_prepared_cib") {
        return;
    }
    let up = (true, "online", false);
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("healthy.xml", true, &[("compute1", up), ("compute2", up), ("ctl1", up),
            ("ctl2", up), ("ctl3", up)]),
        // crm_simulate --node-down: a clean shutdown.
        ("ctl3-down.xml", true, &[("ctl3", (false, "offline", false)), ("ctl1", up)]),
        // crm_simulate --node-fail: lost, not yet fenced.
        ("ctl3-failed.xml", true, &[("ctl3", (false, "offline, unclean", false))]),
        // The simulation then fenced it: clean offline, and no fence history in a CIB file.
        ("ctl3-fenced.xml", true, &[("ctl3", (false, "offline", false))]),
        // A remote node whose connection monitor failed (crm_simulate -i …=7).
        ("compute1-failed.xml", true, &[("compute1", (false, "offline, unclean", false)),
            ("compute2", up)]),
        // Standby and maintenance are not failures.
        ("standby-maintenance.xml", true, &[("ctl2", (true, "online, standby", false)),
            ("compute2", (true, "online, maintenance", false))]),
        ("no-quorum.xml", false, &[("ctl1", up)]),
        ("no-dc.xml", false, &[("ctl1", up)]),
    ];
    for (cib, quorum, nodes) in cases {
        let view = driver(&fixture("cib", cib)).observe().await.unwrap();
        assert_eq!(view.quorum, *quorum, "{cib}: quorum");
        let got = summary(&view);
        assert_eq!(got.len(), 5, "{cib}: {got:?}");
        for (node, want) in *nodes {
            assert_eq!(got.get(node), Some(want), "{cib}: {node}");
        }
    }
}

#[tokio::test]
async fn crm_mon_that_cannot_read_its_cib_fails_the_pass() {
    if !vigil_lab::crm_mon_or_skip("crm_mon_that_cannot_read_its_cib_fails_the_pass") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // crm_mon exits 0 here, with its complaint inside the XML.
    let err = driver(&dir.path().join("missing.xml"))
        .observe()
        .await
        .unwrap_err();
    assert!(matches!(err, PacemakerError::Parse(_)), "{err:?}");
    let chain = vigil_domain::ErrorChain(&err).to_string();
    assert!(chain.contains("Could not connect to the CIB"), "{chain}");
}

/// Captured crm_mon XML of a live cluster, parsed as the driver does.
fn live(name: &str) -> Membership {
    let xml = std::fs::read_to_string(fixture("crm_mon", name)).unwrap();
    pacemaker::parse(&xml).unwrap().membership()
}

#[test]
fn what_a_live_crm_mon_shows_of_fencing_and_remote_nodes() {
    let (first, second) = (Some("2026-11-30T11:27:45"), Some("2026-11-30T11:28:37"));
    // A captured view, a node of it, and what the driver sees of it.
    #[rustfmt::skip]
    let cases: &[(&str, &str, Seen)] = &[
        // A member killed: unclean, its fencing pending (not a success).
        ("member-unclean-fence-pending.xml", "n3", (false, "offline, unclean", None)),
        // Then fenced: clean offline, the fence event a success.
        ("member-fenced.xml", "n3", (false, "offline", Some("2026-11-30T11:27:23"))),
        ("member-fenced.xml", "n1", (true, "online", None)),
        // A remote node: healthy, then pacemaker-remoted killed (unclean, connection failed).
        ("remote-healthy.xml", "c1", (true, "online", None)),
        ("remote-unclean.xml", "c1", (false, "offline, unclean", None)),
        // Fenced, the connection being retried.
        ("remote-fenced-reconnecting.xml", "c1", (false, "offline, connection Starting", first)),
        // The pitfall: crm_mon says online="true" while the connection is still Starting.
        ("remote-fenced-online-starting.xml", "c1", (false, "online, connection Starting", first)),
        // Given up and fenced a second time; the newest fencing counts.
        ("remote-fenced-twice-stopped.xml", "c1", (false, "offline, connection Stopped", second)),
        // Restarted and cleaned up: back.
        ("remote-back.xml", "c1", (true, "online", second)),
        // Two members killed at once (the survivor has no quorum).
        ("no-quorum.xml", "n2", (false, "offline, unclean", None)),
    ];
    for (view, node, (up, detail, fenced_at)) in cases {
        let want = Member {
            up: *up,
            fenced_at: fenced_at.and_then(vigil_wire::time::parse_isotime),
            detail: (*detail).into(),
        };
        assert_eq!(live(view).nodes[*node], want, "{view}: {node}");
    }
    assert!(!live("no-quorum.xml").quorum);
}

/// Plays captured views in turn, as a driver would observe them.
struct Replay(Vec<Membership>);

impl Driver for Replay {
    type Error = std::convert::Infallible;
    fn name(&self) -> &'static str {
        "replay"
    }
    async fn observe(&mut self) -> Result<Membership, Self::Error> {
        Ok(self.0.remove(0))
    }
}

/// The reports in the outbox, as (node, event, cluster_status, host_status).
fn reports(outbox: &Outbox) -> Vec<(String, String, String, String)> {
    outbox
        .pending()
        .unwrap()
        .into_iter()
        .map(|p| {
            let e = p.event;
            assert_eq!(e.notification_type.to_string(), "COMPUTE_HOST");
            let f = |k: &str| e.payload[k].as_str().unwrap().to_owned();
            (
                e.hostname,
                f("event"),
                f("cluster_status"),
                f("host_status"),
            )
        })
        .collect()
}

/// Runs `n` passes of `monitor`, each of which must succeed.
async fn passes<D: Driver>(monitor: &mut HostMonitor<D>, n: usize) {
    for _ in 0..n {
        monitor.reconcile().await.unwrap();
    }
}

fn r(node: &str, event: &str, cluster: &str, host: &str) -> (String, String, String, String) {
    (node.into(), event.into(), cluster.into(), host.into())
}

#[tokio::test]
async fn a_killed_node_is_reported_unknown_then_normal_once_fenced_and_a_reconnecting_remote_is_not_back(
) {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("outbox")).unwrap();
    let config = HostConfig::new("n1".into(), dir.path().join("state"));
    let views = [
        "members-healthy.xml",
        "member-unclean-fence-pending.xml",
        "member-fenced.xml",
        "remote-healthy.xml",
        "remote-unclean.xml",
        "remote-fenced-reconnecting.xml",
        "remote-fenced-online-starting.xml",
        "remote-fenced-twice-stopped.xml",
        "remote-back.xml",
        "no-quorum.xml",
    ];
    let replay = Replay(views.iter().map(|v| live(v)).collect());
    let mut monitor = HostMonitor::new(config, replay, outbox.clone()).unwrap();
    passes(&mut monitor, views.len()).await;
    assert_eq!(
        reports(&outbox),
        [
            r("n3", "STOPPED", "OFFLINE", "UNKNOWN"),
            r("n3", "STOPPED", "OFFLINE", "NORMAL"),
            // n3 restarted before the remote node was added.
            r("n3", "STARTED", "ONLINE", "NORMAL"),
            r("c1", "STOPPED", "OFFLINE", "UNKNOWN"),
            r("c1", "STOPPED", "OFFLINE", "NORMAL"),
            r("c1", "STARTED", "ONLINE", "NORMAL"),
            // Nothing of n2 and n3 lost without quorum; n1 is this host.
        ]
    );
    let status: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("state/host.status.json")).unwrap())
            .unwrap();
    assert_eq!(status["watching"]["quorum"], false);
    assert_eq!(status["watching"]["driver"], "replay");
}

#[tokio::test]
async fn a_node_that_failed_while_the_monitor_was_stopped_is_reported_when_it_starts() {
    if !vigil_lab::crm_mon_or_skip(
        "a_node_that_failed_while_the_monitor_was_stopped_is_reported_when_it_starts",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("outbox")).unwrap();
    // The driver reads a link the test points at one prepared CIB after another.
    let link = dir.path().join("cib.xml");
    let point = |cib: &str| {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(fixture("cib", cib), &link).unwrap();
    };
    let monitor = || {
        let mut config = HostConfig::new("ctl1".into(), dir.path().join("state"));
        config.monitoring_samples = 2;
        HostMonitor::new(config, driver(&link), outbox.clone()).unwrap()
    };

    point("healthy.xml");
    let mut m = monitor();
    passes(&mut m, 1).await;
    point("compute1-failed.xml");
    passes(&mut m, 1).await; // one sample of two: nothing yet
    assert_eq!(reports(&outbox), []);
    passes(&mut m, 1).await;
    assert_eq!(
        reports(&outbox),
        [r("compute1", "STOPPED", "OFFLINE", "UNKNOWN")]
    );
    drop(m);

    // Stopped; ctl3 fails meanwhile; compute1 comes back. Started again on its state.
    point("ctl3-failed.xml");
    let mut m = monitor();
    passes(&mut m, 2).await;
    // Without quorum, nothing, however long.
    point("no-quorum.xml");
    passes(&mut m, 3).await;
    assert_eq!(
        reports(&outbox),
        [
            r("compute1", "STOPPED", "OFFLINE", "UNKNOWN"),
            r("compute1", "STARTED", "ONLINE", "NORMAL"),
            r("ctl3", "STOPPED", "OFFLINE", "UNKNOWN"),
        ]
    );
    let state = m.state();
    assert!(
        !state.nodes.contains_key("ctl1"),
        "this host is not watched"
    );
    assert_eq!(state.nodes.len(), 4);
}
