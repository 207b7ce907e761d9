//! The instance monitor against the power lab's real libvirtd (`lab/lab power up`): its tiny
//! qemu domains destroyed, killed, suspended, shut down, while the monitor listens or not.
//! Gated by `VIGIL_POWER_LAB=1`; without it each test says loudly that it did not run. Each
//! test takes its turn on the lab and works on the lab's last host, turned back on at the end.
//!
//! Losing libvirtd is played by a proxy of the lab's socket that the test cuts and restores:
//! the monitor sees what it would of a libvirtd restart (its connection closed, connects
//! refused, then a new connection), without restarting the daemon the other lab tests use;
//! a frozen proxy is a hung libvirtd, which only keepalive notices.

mod common;

use common::domain::Case;
use common::{wait_for, Running};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;
use vigil_monitor::instance::link::LibvirtConfig;
use vigil_monitor::instance::table::EventFilter;
use vigil_monitor::instance::{InstanceConfig, InstanceMonitor};
use vigil_outbox::{Event, Outbox};

const HOSTNAME: &str = "instance-monitor-test";
const DEADLINE: Duration = Duration::from_secs(20);
/// How long "nothing more is reported" is watched for: well past the 0.2 s libvirt takes to
/// deliver a stop here (lab-notes), short enough for the suite.
const QUIET: Duration = Duration::from_millis(1500);

impl Case {
    /// A monitor that reports all, started.
    async fn start(&self) -> Running {
        let dir = self.dir.path();
        start(config(&self.domain.uri, dir, EventFilter::default()), dir).await
    }
}

fn config(uri: &str, dir: &Path, filter: EventFilter) -> InstanceConfig {
    let mut libvirt = LibvirtConfig::new(uri.to_owned(), HOSTNAME.into(), dir.join("state"));
    // Fast enough for the tests; the defaults are masakari-monitors' (5 s, 3).
    libvirt.keepalive = (1, 2);
    libvirt.reconnect =
        vigil_domain::Backoff::new(Duration::from_millis(200), Duration::from_millis(500));
    let mut config = InstanceConfig::new(libvirt);
    config.filter = filter;
    config
}

/// Starts a monitor and waits for it to have listed the domains.
async fn start(config: InstanceConfig, dir: &Path) -> Running {
    let outbox = Outbox::open(dir.join("outbox")).unwrap();
    let state_dir = config.libvirt.state_dir.clone();
    // A previous monitor's status would pass for this one's.
    let _ = std::fs::remove_file(vigil_monitor::status::path(&state_dir, "instance"));
    let monitor = InstanceMonitor::new(config, outbox.clone()).unwrap();
    let wake = monitor.wake();
    let running = Running::spawn(monitor, wake, outbox, state_dir);
    wait_connected(&running, 1).await;
    running
}

/// Waits until the monitor has made `n` connections and is connected.
async fn wait_connected(monitor: &Running, n: u64) {
    let connected = || {
        let s = monitor.status();
        s["watching"]["connected"] == true && s["watching"]["connections"].as_u64() >= Some(n)
    };
    let never = || format!("never connected: {}", monitor.status());
    wait_for(DEADLINE, connected, never).await;
}

async fn wait_disconnected(monitor: &Running) {
    let gone = || monitor.status()["watching"]["connected"] == false;
    let never = || "never saw the connection go".to_owned();
    wait_for(DEADLINE, gone, never).await;
}

/// Waits for `n` reports in all, then checks no more come.
async fn expect_reports(monitor: &Running, n: usize) -> Vec<Event> {
    monitor.expect_reports(n, DEADLINE, QUIET).await
}

/// Checks a report is exactly what masakari-monitors sends, field order included.
fn assert_masakari_report(report: &Event, uuid: &str, event: &str, detail: &str) {
    assert_eq!(report.notification_type.as_str(), "VM");
    assert_eq!(report.hostname, HOSTNAME);
    assert_eq!(
        serde_json::to_string(&report.payload).unwrap(),
        format!(r#"{{"event":"{event}","instance_uuid":"{uuid}","vir_domain_event":"{detail}"}}"#)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_and_kill_are_reported_as_masakari_does_and_the_filter_narrows_them() {
    let Some(case) = Case::take().await else {
        return;
    };
    let domain = &case.domain;
    let only_dir = tempfile::tempdir().unwrap();
    // Two monitors in one process share libvirt's event loop.
    let all = case.start().await;
    let only_failed = EventFilter::only(&["LIFECYCLE/STOPPED_FAILED"]).unwrap();
    let only = start(
        config(&domain.uri, only_dir.path(), only_failed),
        only_dir.path(),
    )
    .await;

    // `virsh destroy`: libvirt (9.0) says "shutdown" with the detail "after host request",
    // which masakari-monitors' table leaves out (it has only "finished"), then "stopped
    // destroyed", which it reports.
    domain.virsh(&["destroy"]);
    let reports = expect_reports(&all, 1).await;
    assert_masakari_report(&reports[0], &domain.uuid, "LIFECYCLE", "STOPPED_DESTROYED");
    assert_eq!(only.reports().len(), 0);

    // kill -9 of qemu: "stopped failed", the event Masakari's engine recovers.
    domain.on();
    domain.kill_qemu();
    let reports = expect_reports(&all, 2).await;
    assert_masakari_report(&reports[1], &domain.uuid, "LIFECYCLE", "STOPPED_FAILED");
    let reports = expect_reports(&only, 1).await;
    assert_masakari_report(&reports[0], &domain.uuid, "LIFECYCLE", "STOPPED_FAILED");
    assert!(reports[0].generated_time <= vigil_domain::Timestamp::now());

    all.stop().await;
    only.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_resume_and_an_unheard_acpi_shutdown_report_nothing() {
    let Some(case) = Case::take().await else {
        return;
    };
    let domain = &case.domain;
    let monitor = case.start().await;

    // "suspended paused" and "resumed": not in Masakari's table.
    domain.virsh(&["suspend"]);
    domain.wait_state("paused").await;
    domain.virsh(&["resume"]);
    domain.wait_state("running").await;
    // The tiny domain has no OS to hear the ACPI button: it keeps running, and libvirt sends
    // no event (lab-notes: `virsh shutdown` with no OS).
    domain.virsh(&["shutdown"]);
    expect_reports(&monitor, 0).await;
    assert_eq!(domain.domstate(), "running");
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_while_the_monitor_was_stopped_are_reported_at_its_next_start() {
    let Some(case) = Case::take().await else {
        return;
    };
    let domain = &case.domain;
    let dir = case.dir.path();
    let cfg = || config(&domain.uri, dir, EventFilter::default());

    // Destroyed while the monitor is stopped: "shut off (destroyed)" at its next start.
    start(cfg(), dir).await.stop().await;
    domain.virsh(&["destroy"]);
    let monitor = start(cfg(), dir).await;
    let reports = expect_reports(&monitor, 1).await;
    assert_masakari_report(&reports[0], &domain.uuid, "LIFECYCLE", "STOPPED_DESTROYED");
    monitor.stop().await;

    // Killed while stopped: "shut off (crashed)", reported as the kill's event would be.
    domain.on();
    start(cfg(), dir).await.stop().await;
    domain.kill_qemu();
    domain.wait_state("shut off").await;
    let monitor = start(cfg(), dir).await;
    let reports = expect_reports(&monitor, 2).await;
    assert_masakari_report(&reports[1], &domain.uuid, "LIFECYCLE", "STOPPED_FAILED");

    // Started again, with nothing new: nothing more.
    monitor.stop().await;
    let monitor = start(cfg(), dir).await;
    expect_reports(&monitor, 2).await;
    monitor.stop().await;
}

/// A unix socket forwarding to libvirtd's, which the test can cut (every connection closed,
/// new ones refused) and restore, or freeze (connections stay open, nothing goes through: a
/// hung libvirtd) and thaw.
struct Proxy {
    path: PathBuf,
    target: PathBuf,
    server: Option<JoinHandle<()>>,
    frozen: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    fn new(path: PathBuf, target: PathBuf) -> Proxy {
        let mut proxy = Proxy {
            path,
            target,
            server: None,
            frozen: tokio::sync::watch::Sender::new(false),
        };
        proxy.restore();
        proxy
    }

    fn restore(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path).unwrap();
        let target = self.target.clone();
        let frozen = self.frozen.clone();
        self.server = Some(tokio::spawn(async move {
            let mut links = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let Ok(daemon) = UnixStream::connect(&target).await else {
                    continue;
                };
                let (client_rx, client_tx) = client.into_split();
                let (daemon_rx, daemon_tx) = daemon.into_split();
                links.spawn(pump(client_rx, daemon_tx, frozen.subscribe()));
                links.spawn(pump(daemon_rx, client_tx, frozen.subscribe()));
            }
        }));
    }

    /// Aborting the server drops the listener and every link (the `JoinSet` aborts them).
    async fn cut(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
        let _ = std::fs::remove_file(&self.path);
    }

    fn freeze(&self, frozen: bool) {
        self.frozen.send_replace(frozen);
    }
}

/// Copies `from` to `to`, holding everything while frozen.
async fn pump(
    mut from: tokio::net::unix::OwnedReadHalf,
    mut to: tokio::net::unix::OwnedWriteHalf,
    mut frozen: tokio::sync::watch::Receiver<bool>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0; 64 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if frozen.wait_for(|f| !*f).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_libvirtd_is_reconnected_and_a_domain_that_died_meanwhile_is_reported() {
    let Some(case) = Case::take().await else {
        return;
    };
    let domain = &case.domain;
    let dir = case.dir.path();
    let socket = case
        .lab
        .libvirt_uri
        .split_once("socket=")
        .map(|(_, s)| PathBuf::from(s))
        .expect("the lab's libvirt URI names its socket");
    let mut proxy = Proxy::new(dir.join("libvirt-sock"), socket);
    let uri = format!("qemu:///system?socket={}", proxy.path.display());
    let monitor = start(config(&uri, dir, EventFilter::default()), dir).await;

    // libvirtd "goes away": the monitor sees its connection close and keeps trying.
    proxy.cut().await;
    wait_disconnected(&monitor).await;
    domain.kill_qemu();
    domain.wait_state("shut off").await;
    tokio::time::sleep(Duration::from_secs(1)).await; // a few refused connects
    assert!(monitor.status()["last_error"]
        .as_str()
        .is_some_and(|e| e.contains("connecting to libvirt")));

    // Back: it reconnects, lists, and reports the stop it could not hear.
    proxy.restore();
    wait_connected(&monitor, 2).await;
    let reports = expect_reports(&monitor, 1).await;
    assert_masakari_report(&reports[0], &domain.uuid, "LIFECYCLE", "STOPPED_FAILED");

    // And it hears events on the new connection.
    domain.on();
    domain.virsh(&["destroy"]);
    let reports = expect_reports(&monitor, 2).await;
    assert_masakari_report(&reports[1], &domain.uuid, "LIFECYCLE", "STOPPED_DESTROYED");

    // A libvirtd that hangs: keepalive (1 s, 2 probes here) ends the connection; once it
    // answers again, a new connection.
    domain.on();
    proxy.freeze(true);
    wait_disconnected(&monitor).await;
    proxy.freeze(false);
    wait_connected(&monitor, 3).await;
    expect_reports(&monitor, 2).await;
    monitor.stop().await;
    proxy.cut().await;
}
