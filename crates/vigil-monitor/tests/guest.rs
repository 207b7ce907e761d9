//! The guest-agent monitor against the power lab's real libvirtd (`lab/lab power up`) and a
//! real qemu-guest-agent: the lab's test guest (lab/lib/guest.sh, a Debian kernel and an
//! initramfs running the host's qemu-ga) booted under TCG in a domain of the test's own,
//! with its agent channel where Nova puts it. The agent is stopped from inside the guest,
//! through its own `guest-exec`. Gated by `VIGIL_POWER_LAB=1` as tests/instance.rs is, and
//! run in a turn on the lab.

mod common;

use common::{wait_for, Running};
use std::path::Path;
use std::time::{Duration, Instant};
use vigil_lab::{Lab, PowerLab};
use vigil_monitor::guest::{GuestConfig, GuestMonitor};
use vigil_monitor::instance::link::LibvirtConfig;
use vigil_outbox::{Event, Outbox};

const HOSTNAME: &str = "guest-monitor-test";
const NAME: &str = "vigil-ga-test";
const UUID: &str = "6c0f4b8e-2f52-4d3a-9d7e-0a9a5e1f7c21";
/// Booting to a pinging agent takes ~6 s here under TCG; failing pings up to 5 s each
/// (libvirt's own guest-sync wait).
const DEADLINE: Duration = Duration::from_secs(60);
/// How long "nothing more is reported" is watched: several passes.
const QUIET: Duration = Duration::from_secs(4);

/// The test's domain, undefined when dropped.
struct Guest {
    uri: String,
}

impl Guest {
    fn define(lab: &PowerLab, dir: &Path) -> Guest {
        let image = lab
            .guest
            .as_ref()
            .expect("the power lab builds the test guest (lab/lab power up of this checkout)");
        let guest = Guest {
            uri: lab.libvirt_uri.clone(),
        };
        // A domain a failed run left behind.
        let _ = guest.try_virsh(&["destroy", NAME]);
        let _ = guest.try_virsh(&["undefine", NAME]);
        let xml = format!(
            r#"<domain type='qemu'>
  <name>{NAME}</name><uuid>{UUID}</uuid>
  <memory unit='MiB'>128</memory><vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{kernel}</kernel><initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet</cmdline></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='file'><source path='{console}'/><target port='0'/></serial>
    <channel type='unix'>
      <source mode='bind' path='/var/lib/libvirt/qemu/org.qemu.guest_agent.0.instance-vigil-ga-test.sock'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/>
    </channel>
    <controller type='usb' model='none'/><memballoon model='none'/>
  </devices>
</domain>"#,
            kernel = image.kernel.display(),
            initrd = image.initrd.display(),
            console = dir.join("console.log").display(),
        );
        let path = dir.join("domain.xml");
        std::fs::write(&path, xml).unwrap();
        guest.virsh(&["define", path.to_str().unwrap()]);
        guest
    }

    fn try_virsh(&self, args: &[&str]) -> Result<String, String> {
        let out = std::process::Command::new("virsh")
            .args(["-q", "-c", &self.uri])
            .args(args)
            .output()
            .expect("virsh runs");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    fn virsh(&self, args: &[&str]) -> String {
        self.try_virsh(args)
            .unwrap_or_else(|e| panic!("virsh {args:?}: {e}"))
    }

    /// Runs `script` inside the guest through its agent: the agent acting on itself.
    fn guest_sh(&self, script: &str) {
        let command = serde_json::json!({
            "execute": "guest-exec",
            "arguments": {"path": "/bin/sh", "arg": ["-c", script]},
        });
        self.virsh(&["qemu-agent-command", NAME, &command.to_string()]);
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        let _ = self.try_virsh(&["destroy", NAME]);
        let _ = self.try_virsh(&["undefine", NAME]);
    }
}

fn start(uri: &str, dir: &Path) -> Running {
    let outbox = Outbox::open(dir.join("outbox")).unwrap();
    let libvirt = LibvirtConfig::new(uri.to_owned(), HOSTNAME.into(), dir.join("state"));
    let state_dir = libvirt.state_dir.clone();
    let mut config = GuestConfig::new(libvirt);
    // Fast for the test; the defaults are masakari-monitors' (10 s, 2 s, 3).
    config.interval = Duration::from_millis(500);
    config.timeout = Duration::from_secs(1);
    let monitor = GuestMonitor::new(config, outbox.clone()).unwrap();
    let wake = monitor.wake();
    Running::spawn(monitor, wake, outbox, state_dir)
}

/// Waits until the status shows the test domain in `phase`; returns how long it took.
async fn wait_phase(monitor: &Running, phase: &str) -> Duration {
    let start = Instant::now();
    let in_phase = || {
        let s = monitor.status();
        let domains = s["watching"]["domains"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        // The lab's other domains have no agent channel: never watched.
        assert!(
            domains.iter().all(|d| d["uuid"] == UUID),
            "watching more than the test domain: {s}"
        );
        domains.iter().any(|d| d["phase"] == phase)
    };
    let never = || format!("never {phase}: {}", monitor.status());
    wait_for(DEADLINE, in_phase, never).await;
    start.elapsed()
}

/// Waits for `n` reports in all, then checks no more come.
async fn expect_reports(monitor: &Running, n: usize) -> Vec<Event> {
    monitor.expect_reports(n, DEADLINE, QUIET).await
}

/// Exactly masakari-monitors' report, field order included.
fn assert_masakari_report(report: &Event) {
    assert_eq!(report.notification_type.as_str(), "VM");
    assert_eq!(report.hostname, HOSTNAME);
    assert_eq!(
        serde_json::to_string(&report.payload).unwrap(),
        format!(
            r#"{{"event":"QEMU_GUEST_AGENT_ERROR","instance_uuid":"{UUID}","vir_domain_event":"STOPPED_FAILED"}}"#
        )
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_agent_is_reported_once_per_episode_and_a_restart_starts_a_new_one() {
    let Some(lab) = PowerLab::for_test() else {
        return;
    };
    let _turn = Lab::turn().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let guest = Guest::define(&lab, dir.path());
    let monitor = start(&lab.libvirt_uri, dir.path());

    // Booted: judged once its agent answers; answering, it is never reported.
    let booted = Instant::now();
    guest.virsh(&["start", NAME]);
    wait_phase(&monitor, "discovery").await;
    wait_phase(&monitor, "healthy").await;
    eprintln!(
        "guest: start to an answering agent, as the monitor saw it: {:.1} s",
        booted.elapsed().as_secs_f64()
    );
    expect_reports(&monitor, 0).await;
    assert_eq!(monitor.status()["watching"]["connected"], true);

    // Paused: its agent cannot answer, and is not asked (as masakari-monitors): still
    // watched, as it was, and nothing reported.
    guest.virsh(&["suspend", NAME]);
    expect_reports(&monitor, 0).await;
    let domain = &monitor.status()["watching"]["domains"][0];
    assert_eq!(
        (&domain["phase"], &domain["failures"]),
        (&"healthy".into(), &0.into())
    );
    guest.virsh(&["resume", NAME]);

    // A hung agent (SIGSTOP: pings time out): one report after the threshold, then silence.
    guest.guest_sh("kill -STOP $(pidof qemu-ga)");
    let reports = expect_reports(&monitor, 1).await;
    assert_masakari_report(&reports[0]);
    wait_phase(&monitor, "reported").await;
    // Still pinged, still failing, counted on past the report, and not reported again.
    let failures = || monitor.status()["watching"]["domains"][0]["failures"].as_u64();
    let past = || format!("no failure past the report: {}", monitor.status());
    wait_for(DEADLINE, || failures() > Some(3), past).await;
    assert_eq!(monitor.reports().len(), 1);

    // Restarted (a lifecycle start): judged afresh, and a new episode is reported again, this
    // time an agent that is gone (its channel disconnected: pings fail at once).
    guest.virsh(&["destroy", NAME]);
    guest.virsh(&["start", NAME]);
    wait_phase(&monitor, "healthy").await;
    assert_eq!(monitor.reports().len(), 1);
    guest.guest_sh("kill -KILL $(pidof qemu-ga)");
    let reports = expect_reports(&monitor, 2).await;
    assert_masakari_report(&reports[1]);

    // Stopped while reported: its state carries over a restart of the monitor, which says
    // nothing more.
    monitor.stop().await;
    let monitor = start(&lab.libvirt_uri, dir.path());
    wait_phase(&monitor, "reported").await;
    expect_reports(&monitor, 2).await;
    monitor.stop().await;
    drop(guest);
}
