//! The one loop every monitor runs: a pass, then a wait for the next tick, a wake-up or a stop.
//!
//! Monitors do not retry (STYLE §3, §7): a failed pass is logged and the monitor runs again on
//! its next tick, from whatever it persisted. Anything that must not be lost is in the outbox
//! or the monitor's state file before it acts, so a pass may be cut short anywhere.

use std::future::Future;
use std::time::Duration;
use tokio::sync::Notify;
use vigil_domain::ErrorChain;

/// A monitor: one pass observes, compares with the persisted state, acts and appends reports.
pub trait Reconciler: Send {
    type Error: std::error::Error + Send + Sync + 'static;

    /// The monitor's name in logs, and its state and status files' (`process`, `instance`, …).
    const NAME: &'static str;

    /// One pass; returns how long to wait, at most, before the next.
    fn reconcile(&mut self) -> impl Future<Output = Result<Duration, Self::Error>> + Send;

    /// After a failed pass (already logged): record it where the status shows it, and say
    /// when to run again.
    fn error_policy(&mut self, error: &Self::Error) -> Duration;
}

/// Runs `monitor` until `stop` resolves: a pass, then a wait until the time it asked for or
/// until `wake` is notified. A stop interrupts a pass too: what it had decided is persisted
/// already, and its commands are killed.
pub async fn run<R: Reconciler>(mut monitor: R, wake: &Notify, stop: impl Future<Output = ()>) {
    tokio::pin!(stop);
    loop {
        let pass = tokio::select! {
            pass = monitor.reconcile() => pass,
            () = &mut stop => return,
        };
        let next = match pass {
            Ok(next) => next,
            Err(e) => {
                tracing::error!(
                    monitor = R::NAME,
                    error = %ErrorChain(&e),
                    "monitor pass failed; running again at the next tick"
                );
                monitor.error_policy(&e)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(next) => {}
            () = wake.notified() => {}
            () = &mut stop => return,
        }
    }
}

/// Resolves on SIGTERM or SIGINT: how every long-running Vigil process is told to stop.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[derive(Debug, thiserror::Error)]
    #[error("pass {0} failed")]
    struct Failed(u32);

    /// Fails every other pass; counts passes and failures.
    struct Flaky {
        passes: Arc<AtomicU32>,
        failures: u32,
    }

    impl Reconciler for Flaky {
        type Error = Failed;
        const NAME: &'static str = "flaky";
        async fn reconcile(&mut self) -> Result<Duration, Failed> {
            let n = self.passes.fetch_add(1, Ordering::SeqCst) + 1;
            if n & 1 == 0 {
                return Err(Failed(n));
            }
            Ok(Duration::from_secs(10))
        }
        fn error_policy(&mut self, _: &Failed) -> Duration {
            self.failures += 1;
            Duration::from_secs(5)
        }
    }

    #[tokio::test(start_paused = true)]
    async fn passes_follow_the_ticks_a_failure_waits_its_policy_and_a_wake_runs_at_once() {
        let passes = Arc::new(AtomicU32::new(0));
        let monitor = Flaky {
            passes: passes.clone(),
            failures: 0,
        };
        let wake = Notify::new();
        let stop = Notify::new();
        let count = || passes.load(Ordering::SeqCst);
        let test = async {
            tokio::task::yield_now().await;
            assert_eq!(count(), 1);
            // Pass 1 asked for 10 s.
            tokio::time::sleep(Duration::from_millis(9_990)).await;
            assert_eq!(count(), 1);
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(count(), 2);
            // Pass 2 failed: its policy says 5 s.
            tokio::time::sleep(Duration::from_millis(5_010)).await;
            assert_eq!(count(), 3);
            // A wake-up runs a pass at once.
            wake.notify_one();
            tokio::time::sleep(Duration::from_millis(1)).await;
            assert_eq!(count(), 4);
            stop.notify_one();
        };
        tokio::join!(run(monitor, &wake, stop.notified()), test);
    }
}
