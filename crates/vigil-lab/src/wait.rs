//! Waiting for a state of the cloud: poll until a check passes or a deadline passes.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::CloudError;

/// How often a wait looks again. Nova's own state changes at the lab's one-second report
/// interval, so polling faster only adds load.
const POLL: Duration = Duration::from_millis(500);

/// One look at the cloud: the awaited value, or what was seen instead (for the timeout error).
#[derive(Debug)]
pub enum Check<T> {
    Done(T),
    Pending(String),
}

/// Polls CHECK until it is [`Check::Done`], an error that is not transient, or TIMEOUT has
/// passed since the call.
/// WHAT names the awaited state in the timeout error, which also carries the last observation.
pub async fn until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<T, CloudError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check<T>, CloudError>>,
{
    let start = Instant::now();
    let deadline = start + timeout;
    loop {
        let last = match check().await {
            Ok(Check::Done(value)) => {
                tracing::debug!(what, waited = ?start.elapsed(), "wait over");
                return Ok(value);
            }
            Ok(Check::Pending(seen)) => seen,
            // Nova restarting, say: no answer is not a state, so the wait goes on.
            Err(e) if e.is_transient() => format!("no answer ({})", vigil_domain::ErrorChain(&e)),
            Err(e) => return Err(e),
        };
        if Instant::now() + POLL > deadline {
            return Err(CloudError::Timeout {
                what: what.to_owned(),
                waited: start.elapsed(),
                last,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// CALL's value, the call made again while it fails transiently, until TIMEOUT: for reads of
/// the cloud that must not end a test because Nova was restarting at that moment.
pub async fn retrying<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut call: F,
) -> Result<T, CloudError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CloudError>>,
{
    until(what, timeout, || {
        let answer = call();
        async move { answer.await.map(Check::Done) }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn returns_the_value_once_the_check_passes() {
        let mut calls = 0;
        let value = until("third call", Duration::from_secs(10), || {
            calls += 1;
            let n = calls;
            async move {
                Ok(if n == 3 {
                    Check::Done(n)
                } else {
                    Check::Pending(format!("call {n}"))
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_with_the_last_observation() {
        let err = until("never", Duration::from_secs(2), || async {
            Ok(Check::<()>::Pending("still BUILD".into()))
        })
        .await
        .unwrap_err();
        match err {
            CloudError::Timeout { what, waited, last } => {
                assert_eq!(what, "never");
                assert!(waited <= Duration::from_secs(2), "{waited:?}");
                assert_eq!(last, "still BUILD");
            }
            other => panic!("{other}"),
        }
    }

    fn refused(status: u16) -> CloudError {
        CloudError::Nova {
            source: vigil_openstack::OsError::Request {
                method: reqwest::Method::GET,
                url: "http://nova/servers/x".into(),
                source: vigil_openstack::Exchange::Status {
                    status: reqwest::StatusCode::from_u16(status).unwrap(),
                    message: String::new(),
                },
            },
        }
    }

    #[tokio::test(start_paused = true)]
    async fn rides_through_transient_errors_only() {
        let mut calls = 0;
        let value = retrying("a read", Duration::from_secs(10), || {
            calls += 1;
            let n = calls;
            async move {
                match n {
                    1 | 2 => Err(refused(503)),
                    _ => Ok(n),
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);

        let mut calls = 0;
        let err = retrying("a read", Duration::from_secs(10), || {
            calls += 1;
            async { Err::<(), _>(refused(403)) }
        })
        .await
        .unwrap_err();
        assert!(matches!(err, CloudError::Nova { .. }), "{err:?}");
        assert_eq!(calls, 1);

        let err = retrying("a read", Duration::from_secs(2), || async {
            Err::<(), _>(refused(503))
        })
        .await
        .unwrap_err();
        match err {
            CloudError::Timeout { last, .. } => assert!(last.starts_with("no answer"), "{last}"),
            other => panic!("{other:?}"),
        }
    }
}
