//! Which faults a trial meets, and when: drawn from a seeded generator so a run can be
//! repeated, and dealt from a shuffled deck so every kind comes up evenly in a short run.

use std::fmt;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fault {
    /// kill -9 of one `vigil api` replica; started again after the fault's span.
    KillApi,
    /// kill -9 of one `vigil engine` replica; started again after the fault's span.
    KillEngine,
    /// PostgreSQL stopped as by a crash (immediate shutdown), started again after the span.
    RestartDatabase,
    /// The cloud's nova-api stopped for the span.
    StopNovaApi,
    /// Keystone stopped for the span.
    StopKeystone,
    /// Every request of Vigil's to Nova delayed (through the harness's proxy) for the span.
    SlowNova,
    /// The failure reported to every API replica at once, and once more later.
    DuplicateReport,
    /// The host reported back (`STARTED`) while its failure is being recovered.
    EarlyRejoin,
}

impl Fault {
    pub const ALL: [Fault; 8] = [
        Fault::KillApi,
        Fault::KillEngine,
        Fault::RestartDatabase,
        Fault::StopNovaApi,
        Fault::StopKeystone,
        Fault::SlowNova,
        Fault::DuplicateReport,
        Fault::EarlyRejoin,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::KillApi => "kill -9 vigil api",
            Fault::KillEngine => "kill -9 vigil engine",
            Fault::RestartDatabase => "PostgreSQL crash and restart",
            Fault::StopNovaApi => "nova-api stopped",
            Fault::StopKeystone => "Keystone stopped",
            Fault::SlowNova => "Nova delayed",
            Fault::DuplicateReport => "duplicate reports",
            Fault::EarlyRejoin => "out-of-order STARTED",
        }
    }

    /// How long the fault lasts, at most: a service stopped for longer than a step's retries
    /// last (`[engine.retry] give_up_after_secs`) fails the attempt, which is retried later;
    /// these spans stay within it so that a trial ends in minutes.
    fn longest(self) -> Duration {
        Duration::from_secs(match self {
            Fault::KillApi | Fault::KillEngine => 5,
            Fault::RestartDatabase => 8,
            Fault::StopNovaApi | Fault::StopKeystone => 15,
            Fault::SlowNova => 20,
            Fault::DuplicateReport | Fault::EarlyRejoin => 3,
        })
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault of a trial: when it strikes after the host fails, and for how long.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Planned {
    pub fault: Fault,
    pub at: Duration,
    pub lasts: Duration,
    /// For `SlowNova`: the delay added to each request.
    pub delay: Duration,
    /// For kills: which replica (modulo the replicas there are).
    pub which: usize,
}

/// The faults of every trial of a run.
pub struct Schedule {
    rng: fastrand::Rng,
    deck: Vec<Fault>,
}

/// Faults strike within this long of the host failure: while the recovery runs.
const WINDOW: Duration = Duration::from_secs(8);

impl Schedule {
    pub fn new(seed: u64) -> Schedule {
        Schedule {
            rng: fastrand::Rng::with_seed(seed),
            deck: Vec::new(),
        }
    }

    /// The next trial's `n` faults, by the time they strike.
    pub fn trial(&mut self, n: usize) -> Vec<Planned> {
        let mut planned: Vec<Planned> = (0..n)
            .map(|_| {
                let fault = self.deal();
                let longest = fault.longest().as_millis() as u64;
                Planned {
                    fault,
                    at: Duration::from_millis(self.rng.u64(0..=WINDOW.as_millis() as u64)),
                    lasts: Duration::from_millis(self.rng.u64(longest / 4..=longest)),
                    delay: Duration::from_millis(self.rng.u64(200..=1500)),
                    which: self.rng.usize(..),
                }
            })
            .collect();
        planned.sort_by_key(|p| p.at);
        planned
    }

    fn deal(&mut self) -> Fault {
        if self.deck.is_empty() {
            self.deck = Fault::ALL.to_vec();
            self.rng.shuffle(&mut self.deck);
        }
        self.deck.pop().expect("just refilled")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_seed_repeats_its_run() {
        let (mut a, mut b) = (Schedule::new(7), Schedule::new(7));
        for _ in 0..20 {
            assert_eq!(a.trial(2), b.trial(2));
        }
    }

    #[test]
    fn every_kind_comes_up_evenly_within_its_bounds() {
        let mut schedule = Schedule::new(42);
        let mut seen: BTreeMap<Fault, usize> = BTreeMap::new();
        // Ten trials of two faults: every kind at least twice (a deck of 8, dealt 2.5 times).
        for _ in 0..10 {
            let trial = schedule.trial(2);
            assert!(trial[0].at <= trial[1].at, "{trial:?}");
            for p in trial {
                *seen.entry(p.fault).or_default() += 1;
                assert!(p.at <= WINDOW, "{p:?}");
                assert!(p.lasts <= p.fault.longest(), "{p:?}");
                assert!(p.lasts >= p.fault.longest() / 4, "{p:?}");
                assert!(
                    (200..=1500).contains(&(p.delay.as_millis() as u64)),
                    "{p:?}"
                );
            }
        }
        assert_eq!(seen.len(), Fault::ALL.len(), "{seen:?}");
        assert!(seen.values().all(|n| *n >= 2), "{seen:?}");
    }
}
