//! The one retry policy of recovery steps: transient errors are retried with jittered
//! exponential backoff until a deadline; every other class ends the attempt at once, and the
//! step decides what a gone or conflicting target means.
//!
//! API handlers never retry and monitors run again on their next tick (ARCHITECTURE.md,
//! "Retries"); this is the policy of the third context, workflow steps.

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use vigil_domain::{Backoff, Classify, ErrorClass};

/// `[engine.retry]`: how steps retry a transient failure of Nova or the database.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// The first pause, doubled after each failure up to `max_delay_ms`.
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    /// Give up (and fail the step) once a call has failed transiently for this long.
    pub give_up_after_secs: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_delay_ms: 250,
            max_delay_ms: 5_000,
            give_up_after_secs: 60,
        }
    }
}

impl RetryPolicy {
    /// The pause before retry number `attempt` (1-based): exponential, capped, with jitter
    /// (uniform in [delay/2, delay]) so engines retrying one outage do not retry in step.
    pub fn delay(&self, attempt: u32) -> Duration {
        Backoff::new(
            Duration::from_millis(self.initial_delay_ms),
            Duration::from_millis(self.max_delay_ms),
        )
        .delay(attempt)
    }

    /// Runs `call` until it succeeds, fails with a class other than transient, or has failed
    /// transiently past the deadline; returns the last error then.
    pub async fn run<T, E, F, Fut>(&self, what: &str, call: F) -> Result<T, E>
    where
        E: Classify + std::error::Error + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_told(what, call, |_| async {}).await
    }

    /// [`RetryPolicy::run`], telling `told` of each retry before its pause: what failed, why,
    /// and when it is tried again — for the operators watching a recovery wait out an outage.
    pub async fn run_told<T, E, F, Fut, N, NFut>(
        &self,
        what: &str,
        mut call: F,
        mut told: N,
    ) -> Result<T, E>
    where
        E: Classify + std::error::Error + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
        N: FnMut(String) -> NFut,
        NFut: Future<Output = ()>,
    {
        let deadline = Instant::now() + Duration::from_secs(self.give_up_after_secs);
        let mut attempt = 0;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(e) if e.class() == ErrorClass::Transient && Instant::now() < deadline => {
                    attempt += 1;
                    let pause = self.delay(attempt).min(deadline - Instant::now());
                    tracing::warn!(
                        what,
                        attempt,
                        error = &e as &dyn std::error::Error,
                        "retrying"
                    );
                    told(format!(
                        "{what} failed ({}); retry {attempt} in {:.1} s",
                        crate::error::chain(&e),
                        pause.as_secs_f64()
                    ))
                    .await;
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[derive(Debug, thiserror::Error)]
    #[error("test error")]
    struct E(ErrorClass);

    impl Classify for E {
        fn class(&self) -> ErrorClass {
            self.0
        }
    }

    #[test]
    fn delays_grow_exponentially_within_their_jitter_and_cap() {
        let p = RetryPolicy::default();
        for (attempt, low, high) in [
            (1, 125, 250),
            (2, 250, 500),
            (3, 500, 1000),
            (6, 2500, 5000),
            (40, 2500, 5000),
        ] {
            for _ in 0..50 {
                let d = p.delay(attempt).as_millis() as u64;
                assert!((low..=high).contains(&d), "attempt {attempt}: {d} ms");
            }
        }
    }

    /// Transient errors are retried until success; each class that is not transient ends the
    /// call at once; a transient error that outlasts the deadline is returned.
    #[tokio::test(start_paused = true)]
    async fn only_transient_errors_are_retried_and_only_until_the_deadline() {
        let p = RetryPolicy::default();
        let calls = AtomicU32::new(0);
        let r: Result<u32, E> = p
            .run("flaky", || async {
                match calls.fetch_add(1, Ordering::SeqCst) {
                    0..=2 => Err(E(ErrorClass::Transient)),
                    n => Ok(n),
                }
            })
            .await;
        assert_eq!(r.unwrap(), 3);
        for class in [ErrorClass::Gone, ErrorClass::Conflict, ErrorClass::Fatal] {
            let calls = AtomicU32::new(0);
            let r: Result<(), E> = p
                .run("final", || async {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Err(E(class))
                })
                .await;
            assert_eq!(r.unwrap_err().0, class);
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{class:?}");
        }
        let started = Instant::now();
        let r: Result<(), E> = p
            .run("down", || async { Err(E(ErrorClass::Transient)) })
            .await;
        assert_eq!(r.unwrap_err().0, ErrorClass::Transient);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_secs(60) && waited < Duration::from_secs(66),
            "{waited:?}"
        );
    }

    /// Each retry is told before its pause, with the cause and the retry's number; a call that
    /// succeeds at once, or fails for good, tells nothing.
    #[tokio::test(start_paused = true)]
    async fn each_retry_is_told_with_its_cause() {
        let p = RetryPolicy::default();
        let calls = AtomicU32::new(0);
        let told = std::sync::Mutex::new(Vec::new());
        let r: Result<u32, E> = p
            .run_told(
                "listing servers",
                || async {
                    match calls.fetch_add(1, Ordering::SeqCst) {
                        0 | 1 => Err(E(ErrorClass::Transient)),
                        n => Ok(n),
                    }
                },
                |m| {
                    told.lock().unwrap().push(m);
                    async {}
                },
            )
            .await;
        assert_eq!(r.unwrap(), 2);
        let told = told.into_inner().unwrap();
        assert_eq!(told.len(), 2, "{told:?}");
        for (n, m) in told.iter().enumerate() {
            let prefix = format!("listing servers failed (test error); retry {} in ", n + 1);
            assert!(m.starts_with(&prefix) && m.ends_with(" s"), "{m}");
        }
        let quiet = std::sync::Mutex::new(0);
        for class in [ErrorClass::Transient, ErrorClass::Fatal] {
            let once = AtomicU32::new(0);
            let _: Result<(), E> = p
                .run_told(
                    "x",
                    || async {
                        if once.fetch_add(1, Ordering::SeqCst) == 0 && class == ErrorClass::Fatal {
                            Err(E(class))
                        } else {
                            Ok(())
                        }
                    },
                    |_| {
                        *quiet.lock().unwrap() += 1;
                        async {}
                    },
                )
                .await;
        }
        assert_eq!(*quiet.lock().unwrap(), 0);
    }
}
