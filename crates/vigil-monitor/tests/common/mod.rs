//! What the monitor tests share: a monitor run in the test's runtime, what it leaves in its
//! outbox and status file, and waiting for a condition with a deadline (never a bare sleep).

#![allow(dead_code)] // each test file uses its part

pub mod domain;
#[cfg(feature = "libvirt")]
pub mod reporting;
pub mod vigil;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use vigil_monitor::runner::{self, Reconciler};
use vigil_outbox::{Event, Outbox};

/// Polls `done` every 20 ms until it holds or `within` passes; whether it held.
pub async fn wait_until(within: Duration, mut done: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + within;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to `within` for `done`; if it never holds, fails the test saying `what` (made
/// then, so that it shows the state at the deadline).
pub async fn wait_for(within: Duration, done: impl FnMut() -> bool, what: impl FnOnce() -> String) {
    if !wait_until(within, done).await {
        panic!("timed out: {}", what());
    }
}

/// A monitor running in the test's runtime, with the outbox and the state directory it was
/// given.
pub struct Running {
    stop: Arc<Notify>,
    task: JoinHandle<()>,
    pub outbox: Outbox,
    pub state_dir: PathBuf,
}

impl Running {
    /// Runs `monitor`, woken by `wake`, until [`Running::stop`].
    pub fn spawn<R: Reconciler + 'static>(
        monitor: R,
        wake: Arc<Notify>,
        outbox: Outbox,
        state_dir: PathBuf,
    ) -> Running {
        let stop = Arc::new(Notify::new());
        let stopped = stop.clone();
        let task =
            tokio::spawn(async move { runner::run(monitor, &wake, stopped.notified()).await });
        Running {
            stop,
            task,
            outbox,
            state_dir,
        }
    }

    /// The monitor's status (the only one in its state directory), or `null` before the
    /// first.
    pub fn status(&self) -> serde_json::Value {
        let all = vigil_monitor::status::read_all(&self.state_dir).unwrap_or_default();
        all.into_iter().next().unwrap_or_default()
    }

    /// The reports in the outbox, in order.
    pub fn reports(&self) -> Vec<Event> {
        let pending = self.outbox.pending().unwrap();
        pending.into_iter().map(|p| p.event).collect()
    }

    /// Waits up to `within` for `n` reports in all, then checks that no more come for `quiet`.
    pub async fn expect_reports(&self, n: usize, within: Duration, quiet: Duration) -> Vec<Event> {
        let payloads = |reports: &[Event]| {
            let payloads = reports.iter().map(|r| r.payload.clone().into());
            serde_json::Value::Array(payloads.collect()).to_string()
        };
        wait_for(
            within,
            || self.reports().len() >= n,
            || {
                let (reports, status) = (self.reports(), self.status());
                format!(
                    "expected {n} reports: {}; status {status}",
                    payloads(&reports)
                )
            },
        )
        .await;
        tokio::time::sleep(quiet).await;
        let reports = self.reports();
        assert_eq!(
            reports.len(),
            n,
            "more than expected: {}",
            payloads(&reports)
        );
        reports
    }

    pub async fn stop(self) {
        self.stop.notify_one();
        self.task.await.unwrap();
    }
}
