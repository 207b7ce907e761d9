//! Keeping a flow's lease while the flow runs: renewed on time, retried through a database
//! outage, and given up before another engine could claim the notification.

use std::time::Duration;
use tokio::time::Instant;

/// Why a flow's lease is no longer renewed: the flow must stop acting at once.
#[derive(Debug)]
pub(crate) enum LeaseEnd<E> {
    /// The store says another engine holds it now.
    Taken(E),
    /// Renewals kept failing (the database unreachable, say) until too little of the last
    /// renewed lease was left to act safely; `None` when a renewal hung past that point.
    Expiring(Option<E>),
}

/// Renews a lease held until `held_until` every third of its length, until it is taken over or
/// about to end. A failed renewal is tried again every second while the lease still holds, so
/// a database restarting under a flow does not throw the flow away; it is given up when a sixth
/// of the lease is left, before another engine may claim the notification, so two engines never
/// act on one failure. A renewal's new end is measured from before it was asked.
pub(crate) async fn keep_lease<E, F, Fut>(
    mut held_until: Instant,
    lease: Duration,
    mut renew: F,
    taken: impl Fn(&E) -> bool,
) -> LeaseEnd<E>
where
    E: std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let margin = lease / 6;
    let retry = Duration::from_secs(1).min(lease / 6);
    let mut next = Instant::now() + lease / 3;
    loop {
        let give_up = held_until.checked_sub(margin).unwrap_or(held_until);
        tokio::time::sleep_until(next.min(give_up)).await;
        if Instant::now() >= give_up {
            return LeaseEnd::Expiring(None);
        }
        let asked = Instant::now();
        match tokio::time::timeout_at(give_up, renew()).await {
            Ok(Ok(())) => {
                held_until = asked + lease;
                next = asked + lease / 3;
            }
            Ok(Err(e)) if taken(&e) => return LeaseEnd::Taken(e),
            Ok(Err(e)) => {
                if Instant::now() + retry >= give_up {
                    return LeaseEnd::Expiring(Some(e));
                }
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    left_secs = (held_until - Instant::now()).as_secs_f64(),
                    "renewing a lease failed; trying again while it still holds"
                );
                next = Instant::now() + retry;
            }
            Err(_) => return LeaseEnd::Expiring(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{keep_lease, LeaseEnd};
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::time::Instant;

    #[derive(Debug, Clone, PartialEq, thiserror::Error)]
    enum E {
        #[error("taken over")]
        Taken,
        #[error("database unreachable")]
        Down,
    }

    const LEASE: Duration = Duration::from_secs(60);

    /// Runs `keep_lease` for a lease of 60 s claimed now, against renewals that answer, in
    /// turn, what `answers` says (then succeed), each taking `slow`; returns how it ended,
    /// when, and when renewals were asked.
    async fn run(answers: &[Option<E>], slow: Duration) -> (LeaseEnd<E>, Duration, Vec<Duration>) {
        let start = Instant::now();
        let answers = Mutex::new(answers.to_vec());
        let asked = Mutex::new(Vec::new());
        let end = keep_lease(
            start + LEASE,
            LEASE,
            || {
                asked.lock().unwrap().push(start.elapsed());
                let answer = {
                    let mut a = answers.lock().unwrap();
                    if a.is_empty() {
                        None
                    } else {
                        a.remove(0)
                    }
                };
                async move {
                    tokio::time::sleep(slow).await;
                    match answer {
                        Some(e) => Err(e),
                        None => Ok(()),
                    }
                }
            },
            |e| *e == E::Taken,
        )
        .await;
        (end, start.elapsed(), asked.into_inner().unwrap())
    }

    fn secs(s: &[u64]) -> Vec<Duration> {
        s.iter().map(|&s| Duration::from_secs(s)).collect()
    }

    /// Taken over: given up at the first renewal that says so.
    #[tokio::test(start_paused = true)]
    async fn a_lease_taken_over_is_given_up_at_once() {
        let (end, at, asked) = run(&[None, Some(E::Taken)], Duration::ZERO).await;
        assert!(matches!(end, LeaseEnd::Taken(E::Taken)), "{end:?}");
        assert_eq!((at, asked), (Duration::from_secs(40), secs(&[20, 40])));
    }

    /// The database down for a few seconds: renewals are retried every second and the lease is
    /// kept; renewals then go back to every 20 s, from the one that succeeded.
    #[tokio::test(start_paused = true)]
    async fn a_short_outage_keeps_the_lease() {
        let down = [
            Some(E::Down),
            Some(E::Down),
            Some(E::Down),
            None,
            None,
            Some(E::Taken),
        ];
        let (end, at, asked) = run(&down, Duration::ZERO).await;
        assert!(matches!(end, LeaseEnd::Taken(_)), "{end:?}");
        assert_eq!(asked, secs(&[20, 21, 22, 23, 43, 63]));
        assert_eq!(at, Duration::from_secs(63));
    }

    /// The database down for good: given up when a sixth of the last renewed lease is left
    /// (it ends at 60 s, so at 50 s), never after it could have been claimed again.
    #[tokio::test(start_paused = true)]
    async fn a_long_outage_gives_the_lease_up_before_it_ends() {
        let down: Vec<Option<E>> = (0..100).map(|_| Some(E::Down)).collect();
        let (end, at, asked) = run(&down, Duration::ZERO).await;
        assert!(matches!(end, LeaseEnd::Expiring(Some(E::Down))), "{end:?}");
        assert!(at <= Duration::from_secs(50), "{at:?}");
        assert_eq!(asked.first(), Some(&Duration::from_secs(20)));
        assert_eq!(asked.len(), 30, "{asked:?}");
    }

    /// A renewal that hangs (a connection that never answers) is not waited for past the
    /// point where the lease must be given up.
    #[tokio::test(start_paused = true)]
    async fn a_hanging_renewal_is_given_up_in_time() {
        let (end, at, asked) = run(&[], Duration::from_secs(3600)).await;
        assert!(matches!(end, LeaseEnd::Expiring(None)), "{end:?}");
        assert_eq!((at, asked), (Duration::from_secs(50), secs(&[20])));
    }

    /// A slow renewal's new lease counts from when it was asked, not when it answered.
    #[tokio::test(start_paused = true)]
    async fn a_renewed_lease_counts_from_the_request() {
        let answers = [None, Some(E::Taken)];
        let (_, at, asked) = run(&answers, Duration::from_secs(5)).await;
        // Asked at 20 (answered at 25), next at 20 + 20 = 40, answered at 45.
        assert_eq!(asked, secs(&[20, 40]));
        assert_eq!(at, Duration::from_secs(45));
    }
}
