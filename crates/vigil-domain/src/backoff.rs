//! Jittered exponential backoff: the pause before each retry, computed once for everyone who
//! retries — the engine's steps (`vigil_engine::retry::RetryPolicy`) and the monitors' outbox.
//!
//! Only the schedule lives here; when to retry and for how long is each caller's policy.

use std::time::Duration;

/// Pauses that double from `initial` up to `max`, each drawn at random in the upper half of
/// its step, so that many clients retrying one outage do not retry in step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self { initial, max }
    }

    /// The longest pause before retry number `attempt` (1-based): `initial · 2^(attempt−1)`,
    /// capped at `max`, never below a millisecond. Whole milliseconds.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let initial = u64::try_from(self.initial.as_millis()).unwrap_or(u64::MAX);
        let max = u64::try_from(self.max.as_millis()).unwrap_or(u64::MAX);
        // The shift stops at 2^20: past it every realistic delay is at its cap anyway.
        let exp = initial.saturating_mul(1u64 << attempt.saturating_sub(1).min(20));
        Duration::from_millis(exp.min(max).max(1))
    }

    /// The pause before retry number `attempt`: uniform in [ceiling/2, ceiling], in whole
    /// milliseconds.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        Duration::from_millis(fastrand::u64(ceiling / 2..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let ms = Duration::from_millis;
        let b = Backoff::new(ms(250), ms(5_000));
        for (attempt, ceiling) in [
            (0, 250),
            (1, 250),
            (2, 500),
            (3, 1_000),
            (5, 4_000),
            (6, 5_000),
            (64, 5_000),
            (u32::MAX, 5_000),
        ] {
            assert_eq!(b.ceiling(attempt), ms(ceiling), "attempt {attempt}");
        }
        assert_eq!(Backoff::new(ms(0), ms(0)).ceiling(3), ms(1));
        let huge = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(huge.ceiling(30).as_millis(), u128::from(u64::MAX));
    }

    #[test]
    fn delays_stay_in_the_upper_half_of_their_ceiling() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(60));
        for attempt in 1..12 {
            let ceiling = b.ceiling(attempt);
            for _ in 0..50 {
                let d = b.delay(attempt);
                assert!(d >= ceiling / 2 && d <= ceiling, "attempt {attempt}: {d:?}");
            }
        }
    }
}
