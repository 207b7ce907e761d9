//! The one retry policy of recovery steps: transient errors are retried with jittered
//! exponential backoff until a deadline; every other class ends the attempt at once, and the
//! step decides what a gone or conflicting target means.
//!
//! API handlers never retry and monitors run again on their next tick (ARCHITECTURE.md,
//! "Retries"); this is the policy of the third context, workflow steps.

use crate::error::StepError;
use crate::nova::NovaError;
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
    pub async fn run<T, E, F, Fut>(&self, what: &str, mut call: F) -> Result<T, E>
    where
        E: Classify + std::error::Error + 'static,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
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
                    tokio::time::sleep(pause).await;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl RetryPolicy {
    /// [`RetryPolicy::run`] for a Nova call made by a step: the error names `action`.
    pub async fn nova<T, F, Fut>(&self, action: &str, call: F) -> Result<T, StepError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, NovaError>>,
    {
        self.run(action, call)
            .await
            .map_err(|e| StepError::nova(action, e))
    }
}

impl RetryPolicy {
    /// The `nova-compute` service of `host`; a host Nova has none of is a refusal.
    pub async fn compute_service(
        &self,
        nova: &dyn crate::nova::Nova,
        host: &str,
    ) -> Result<crate::nova::Service, StepError> {
        self.nova("finding the compute service", || nova.compute_service(host))
            .await?
            .ok_or_else(|| {
                StepError::refused(format!("Nova has no nova-compute service on {host}"))
            })
    }

    /// Enables `service` unless Nova shows it enabled already; the error names `action`.
    pub async fn enable_service(
        &self,
        nova: &dyn crate::nova::Nova,
        service: &crate::nova::Service,
        action: &str,
    ) -> Result<(), StepError> {
        if service.status == "enabled" {
            return Ok(());
        }
        self.nova(action, || nova.enable_service(&service.id)).await
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
}
