//! The process monitor against real processes: daemons these tests start (a `sleep` renamed
//! through bash's `exec -a`, so its command line is unique to the test) and kill, restart
//! scripts that work or fail, and the monitor stopped and started again on its state.

mod common;

use common::{wait_for, Running};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use vigil_monitor::journal::Saved;
use vigil_monitor::process::{Phase, ProcessConfig, ProcessMonitor, ProcessState, RestartPolicy};
use vigil_outbox::{Outbox, StateFile};

const HOST: &str = "compute-7";

/// One test's daemon, its scripts and the monitor's directories.
struct Setup {
    dir: tempfile::TempDir,
    /// The daemon's command line contains this, and nothing else's does.
    name: String,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let name = format!("vigil-test-daemon-{}", fastrand_suffix());
        let setup = Setup { dir, name };
        // Starts the daemon detached, as a service manager would, and counts the calls.
        setup.script(
            "start.sh",
            &format!(
                "echo x >> {calls}\nsetsid bash -c 'exec -a {name} sleep 600' \
                 </dev/null >/dev/null 2>&1 &\n",
                calls = setup.path("start.calls").display(),
                name = setup.name,
            ),
        );
        setup.script(
            "fail.sh",
            &format!("echo x >> {}\nexit 1\n", setup.path("fail.calls").display()),
        );
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn script(&self, name: &str, body: &str) {
        let path = self.path(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}")).unwrap();
        let mut perms = std::fs::metadata(&path).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).unwrap();
    }

    /// Writes the process list: the daemon, started and restarted by `start` and `restart`
    /// (script names).
    fn list(&self, start: &str, restart: &str) {
        let yaml = format!(
            "-\n    process_name: {name}\n    start_command: {start}\n    pre_start_command:\n    \
             post_start_command:\n    restart_command: {restart}\n    pre_restart_command:\n    \
             post_restart_command:\n    run_as_root: False\n",
            name = self.name,
            start = self.path(start).display(),
            restart = self.path(restart).display(),
        );
        std::fs::write(self.path("process_list.yaml"), yaml).unwrap();
    }

    fn calls(&self, script: &str) -> usize {
        std::fs::read_to_string(self.path(&format!("{script}.calls")))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    }

    fn outbox(&self) -> Outbox {
        Outbox::open(self.path("outbox")).unwrap()
    }

    /// The reports in the outbox, as (event, process_name).
    fn reports(&self) -> Vec<(String, String)> {
        self.outbox()
            .pending()
            .unwrap()
            .into_iter()
            .map(|p| {
                assert_eq!(p.event.notification_type.to_string(), "PROCESS");
                assert_eq!(p.event.hostname, HOST);
                assert_eq!(p.event.payload.len(), 2, "{:?}", p.event.payload);
                let field = |k: &str| p.event.payload[k].as_str().unwrap().to_owned();
                (field("event"), field("process_name"))
            })
            .collect()
    }

    fn phase(&self) -> Option<Phase> {
        let file = StateFile::<ProcessState>::new(self.path("state/process.json"));
        file.load().unwrap()?.processes.get(&self.name).cloned()
    }

    /// Starts the monitor with short intervals; stopped when the returned guard is dropped.
    fn monitor(&self) -> Running {
        let mut config = ProcessConfig::new(
            self.path("process_list.yaml"),
            HOST.into(),
            self.path("state"),
        );
        config.check_interval = Duration::from_millis(50);
        config.restart = RestartPolicy {
            retries: 3,
            interval: Duration::from_millis(50),
        };
        let monitor = ProcessMonitor::new(config, self.outbox()).unwrap();
        let wake = Arc::new(Notify::new());
        Running::spawn(monitor, wake, self.outbox(), self.path("state"))
    }

    /// Starts the daemon as an operator would, by hand, and waits for it.
    async fn start_by_hand(&self) {
        tokio::process::Command::new(self.path("start.sh"))
            .status()
            .await
            .unwrap();
        until("the daemon running", || self.daemons().len() == 1).await;
    }

    /// The daemon's PIDs (the test's own processes, by their unique command line).
    fn daemons(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if cmdline.starts_with(self.name.as_bytes()) {
                pids.push(pid);
            }
        }
        pids
    }

    fn kill_daemons(&self) {
        for pid in self.daemons() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.kill_daemons();
    }
}

fn fastrand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}-{nanos}", std::process::id())
}

/// Waits up to 20 s for `ok`.
async fn until(what: &str, ok: impl FnMut() -> bool) {
    wait_for(Duration::from_secs(20), ok, || {
        format!("waiting for {what}")
    })
    .await;
}

/// Lets the monitor run a good number of passes (its check interval is 50 ms).
async fn some_passes() {
    tokio::time::sleep(Duration::from_millis(500)).await;
}

fn stopped(name: &str) -> (String, String) {
    ("STOPPED".into(), name.into())
}

fn started(name: &str) -> (String, String) {
    ("STARTED".into(), name.into())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_process_is_started_then_restarted_by_its_commands_without_a_report() {
    let s = Setup::new();
    s.list("start.sh", "start.sh");
    let monitor = s.monitor();
    // Not running at first sight: the start command starts it.
    until("the daemon started", || s.daemons().len() == 1).await;
    until("the daemon seen running", || {
        s.phase() == Some(Phase::Running)
    })
    .await;
    let first = s.daemons()[0];

    s.kill_daemons();
    until(
        "the daemon restarted",
        || matches!(s.daemons()[..], [pid] if pid != first),
    )
    .await;
    until("the daemon seen running", || {
        s.phase() == Some(Phase::Running)
    })
    .await;
    assert_eq!(s.calls("start"), 2, "one start, one restart");
    some_passes().await;
    assert_eq!(s.reports(), []);
    assert_eq!(s.daemons().len(), 1);
    monitor.stop().await;

    // The status file says what it watches.
    let all = vigil_monitor::status::read_all(&s.path("state")).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0]["monitor"], "process");
    assert_eq!(all[0]["hostname"], HOST);
    assert_eq!(all[0]["watching"][0]["process_name"], s.name.as_str());
    assert_eq!(all[0]["watching"][0]["phase"], "running");
    assert!(all[0]["last_observation"].is_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_restart_is_retried_then_reported_once_and_started_when_back() {
    let s = Setup::new();
    s.list("fail.sh", "fail.sh");
    let monitor = s.monitor();
    until("a report", || !s.reports().is_empty()).await;
    some_passes().await;
    // One start, then a restart and 3 retries; then one report, and nothing more.
    assert_eq!(s.calls("fail"), 5);
    assert_eq!(s.reports(), [stopped(&s.name)]);
    assert!(matches!(s.phase(), Some(Phase::Reported { .. })));

    // Back (started by hand): STARTED, once.
    s.start_by_hand().await;
    until("a second report", || s.reports().len() == 2).await;
    some_passes().await;
    assert_eq!(s.reports(), [stopped(&s.name), started(&s.name)]);
    assert_eq!(s.phase(), Some(Phase::Running));
    assert_eq!(s.calls("fail"), 5);
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_while_the_monitor_was_stopped_are_reported_when_it_starts_again() {
    let s = Setup::new();
    s.list("start.sh", "fail.sh");
    let monitor = s.monitor();
    until("the daemon seen running", || {
        s.phase() == Some(Phase::Running)
    })
    .await;
    monitor.stop().await;

    // Killed while nobody watches: the next monitor tries its restarts, then reports.
    s.kill_daemons();
    let monitor = s.monitor();
    until("a report", || !s.reports().is_empty()).await;
    some_passes().await;
    assert_eq!(s.calls("fail"), 4, "a restart and 3 retries, no start");
    assert_eq!(s.reports(), [stopped(&s.name)]);
    monitor.stop().await;

    // Back while nobody watches: the next monitor reports it.
    s.start_by_hand().await;
    let monitor = s.monitor();
    until("a second report", || s.reports().len() == 2).await;
    some_passes().await;
    assert_eq!(s.reports(), [stopped(&s.name), started(&s.name)]);
    monitor.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_report_saved_but_not_appended_is_appended_at_the_next_start() {
    // A monitor killed between saving its decision and appending it: the state holds the
    // report, and the next monitor appends it before anything else.
    let s = Setup::new();
    s.list("start.sh", "fail.sh");
    std::fs::create_dir_all(s.path("state")).unwrap();
    let report: vigil_outbox::Event = serde_json::from_value(serde_json::json!({
        "type": "PROCESS", "hostname": HOST, "generated_time": "2026-01-02T03:04:05.000000",
        "payload": {"process_name": "libvirtd", "event": "STOPPED"}
    }))
    .unwrap();
    let state = Saved {
        state: ProcessState {
            processes: [(s.name.clone(), Phase::Running)].into(),
        },
        unsent: vec![report.clone()],
    };
    StateFile::new(s.path("state/process.json"))
        .save(&state)
        .unwrap();
    s.start_by_hand().await;

    let monitor = s.monitor();
    until("the report appended", || !s.reports().is_empty()).await;
    some_passes().await;
    let pending = s.outbox().pending().unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].event, report);
    let saved = StateFile::<Saved<ProcessState>>::new(s.path("state/process.json"))
        .load()
        .unwrap()
        .unwrap();
    assert!(saved.unsent.is_empty());
    monitor.stop().await;
}
