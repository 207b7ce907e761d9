//! The instance monitor beside the real masakari-monitors instancemonitor (PyPI, pinned in
//! tests/masakari-monitors/): both watch the power lab's libvirtd while a domain is destroyed
//! and its qemu killed, each reports to a `vigil serve` of its own, and the two Vigils must
//! have stored the same notifications: type, host name and payload, in the same order.
//!
//! Gated by `VIGIL_POWER_LAB=1` as `instance.rs`; with it, a `vigil` binary (`VIGIL_BIN`, or
//! the one `cargo test --workspace` builds beside this test) and masakari-monitors' virtualenv
//! (made on first use under `$VIGIL_CACHE/venvs`) are required, not skipped.

mod common;

use common::domain::{Case, Domain};
use common::reporting::reporting_to;
use common::vigil::Vigil;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

/// The real masakari-instancemonitor, with debug logging (which shows every libvirt event it
/// receives), reporting to `vigil`; killed when dropped.
struct MasakariMonitor {
    child: Child,
    log: PathBuf,
}

impl MasakariMonitor {
    fn start(libvirt_uri: &str, vigil: &Vigil, dir: &Path) -> MasakariMonitor {
        let venv = Command::new("bash")
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/masakari-monitors/venv.sh"
            ))
            .stderr(Stdio::inherit())
            .output()
            .expect("bash runs");
        assert!(
            venv.status.success(),
            "tests/masakari-monitors/venv.sh could not make the virtualenv"
        );
        let venv = PathBuf::from(String::from_utf8(venv.stdout).unwrap().trim());
        let log = dir.join("masakari-instancemonitor.log");
        // No Keystone: keystoneauth's admin_token plugin gives the client our endpoint for
        // every service, so openstacksdk posts straight to this Vigil.
        let conf = format!(
            "[DEFAULT]\ndebug = true\nlog_file = {}\n\
             [libvirt]\nconnection_uri = {libvirt_uri}\n\
             [api]\nauth_type = admin_token\nendpoint = {}\ntoken = unused\n\
             [callback]\nretry_max = 5\nretry_interval = 1\n",
            log.display(),
            vigil.base
        );
        let conf_path = dir.join("masakarimonitors.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new(venv.join("bin/masakari-instancemonitor"))
            .arg("--config-file")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("masakari-instancemonitor starts");
        MasakariMonitor { child, log }
    }

    /// How many libvirt events of domain `uuid` it has received (its debug log says each).
    fn events_of(&self, uuid: &str) -> usize {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.lines()
            .filter(|l| l.contains("libvirt Event Received") && l.contains(uuid))
            .count()
    }
}

impl Drop for MasakariMonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The host name both monitors report: masakari-monitors takes the machine's.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_owned()
}

/// Waits until both Vigils hold `n` reports.
async fn wait_reports(ours: &Vigil, theirs: &Vigil, n: usize) {
    for (who, vigil) in [("Vigil's monitor", ours), ("masakari-monitors", theirs)] {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let seen = vigil.reports().await;
            if seen.len() >= n {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{who} reported {} of {n}: {seen:?}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Waits until masakari-instancemonitor listens: a suspend and resume of the domain (which
/// neither monitor reports) reach its event log.
async fn wait_listening(masakari: &MasakariMonitor, domain: &Domain) {
    let deadline = Instant::now() + DEADLINE;
    while masakari.events_of(&domain.uuid) == 0 {
        assert!(
            Instant::now() < deadline,
            "masakari-instancemonitor never saw an event; its log: {}",
            masakari.log.display()
        );
        domain.virsh(&["suspend"]);
        domain.virsh(&["resume"]);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_monitors_report_the_same_notifications() {
    let Some(case) = Case::take().await else {
        return;
    };
    let domain = &case.domain;
    let host = hostname();
    let (ours, theirs) = (Vigil::start(&[]).await, Vigil::start(&[]).await);
    ours.register(&host).await;
    theirs.register(&host).await;

    let dir = case.dir.path();
    let (monitor, delivering) = reporting_to(&ours, &domain.uri, &host, dir).await;
    let masakari = MasakariMonitor::start(&domain.uri, &theirs, dir);
    wait_listening(&masakari, domain).await;

    domain.virsh(&["destroy"]);
    wait_reports(&ours, &theirs, 1).await;
    domain.on();
    domain.kill_qemu();
    domain.wait_state("shut off").await;
    wait_reports(&ours, &theirs, 2).await;

    let (mine, masakaris) = (ours.reports().await, theirs.reports().await);
    assert_eq!(mine, masakaris, "Vigil's monitor, then masakari-monitors");
    let events: Vec<&str> = mine
        .iter()
        .map(|(_, _, p)| p["vir_domain_event"].as_str().unwrap())
        .collect();
    assert_eq!(events, ["STOPPED_DESTROYED", "STOPPED_FAILED"]);
    assert!(mine.iter().all(|(kind, h, p)| kind == "VM"
        && *h == host
        && p["instance_uuid"] == domain.uuid.as_str()));

    delivering.shutdown().await.unwrap();
    monitor.stop().await;
}
