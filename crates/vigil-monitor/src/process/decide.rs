//! What to do about one watched process, from what was seen of it before and whether it runs
//! now: a pure function, tested by a table.
//!
//! The retry rule is masakari-monitors' (`[process] restart_retries`, `restart_interval`): a
//! process found down gets one restart and up to `retries` more, `interval` apart, and once
//! all have failed it is reported `STOPPED` and left alone until it is seen running again.
//! Two differences, both deliberate: a restart counts as failed unless the process is then
//! seen running (masakari-monitors trusts the command's exit status, so a restart command
//! that succeeds without bringing the process back loops forever unreported), and a process
//! seen running again after its report is reported `STARTED` (masakari-monitors never is).
//! One restart at a time per pass: the attempts are spread over passes, not slept through, so
//! the monitor keeps watching the other processes meanwhile.

use serde::{Deserialize, Serialize};
use std::time::Duration;
use vigil_domain::Timestamp;
use vigil_wire::payload::Event;

/// The state of one watched process, as persisted between passes and across restarts of the
/// monitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Seen running at the last pass.
    Running,
    /// Not running since `since`; `attempts` restarts tried, the next one not before `next`.
    Down {
        #[serde(with = "vigil_wire::time::stamp")]
        since: Timestamp,
        attempts: u32,
        #[serde(with = "vigil_wire::time::stamp")]
        next: Timestamp,
    },
    /// Every restart failed and `STOPPED` was reported; no more restarts until it runs again.
    Reported {
        #[serde(with = "vigil_wire::time::stamp")]
        since: Timestamp,
    },
}

/// `[process] restart_retries` and `restart_interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// Restarts tried after the first one failed.
    pub retries: u32,
    /// The least time between two restarts.
    pub interval: Duration,
}

impl Default for RestartPolicy {
    /// masakari-monitors' defaults: 3 retries, 5 s apart.
    fn default() -> Self {
        Self {
            retries: 3,
            interval: Duration::from_secs(5),
        }
    }
}

/// What a pass does about a process, besides recording its new [`Phase`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// First sight of it, not running: its start commands, as masakari-monitors runs them when
    /// it starts (not counted as a restart).
    Start,
    /// Its restart commands (pre, restart, post).
    Restart,
    /// Append a `PROCESS` report with this event.
    Report(Event),
}

/// The next phase of a process that was in `before` (`None`: never seen) and now is `running`
/// or not, at `now`; and what to do about it.
pub fn decide(
    before: Option<&Phase>,
    running: bool,
    now: Timestamp,
    policy: RestartPolicy,
) -> (Phase, Option<Action>) {
    let restart = |since, attempts| {
        let phase = Phase::Down {
            since,
            attempts,
            next: after(now, policy.interval),
        };
        (phase, Some(Action::Restart))
    };
    match (before, running) {
        (Some(Phase::Reported { .. }), true) => {
            (Phase::Running, Some(Action::Report(Event::Started)))
        }
        (_, true) => (Phase::Running, None),
        (None, false) => {
            // A start gets the same time to show its effect as a restart.
            let phase = Phase::Down {
                since: now,
                attempts: 0,
                next: after(now, policy.interval),
            };
            (phase, Some(Action::Start))
        }
        (Some(Phase::Running), false) => restart(now, 1),
        (
            Some(
                p @ Phase::Down {
                    since,
                    attempts,
                    next,
                },
            ),
            false,
        ) => {
            if now < *next {
                (p.clone(), None)
            } else if *attempts <= policy.retries {
                restart(*since, attempts + 1)
            } else {
                let phase = Phase::Reported { since: *since };
                (phase, Some(Action::Report(Event::Stopped)))
            }
        }
        (Some(p @ Phase::Reported { .. }), false) => (p.clone(), None),
    }
}

/// `at` plus `d`, for a [`Phase::Down`]'s `next` once its restart has run.
pub fn after(at: Timestamp, d: Duration) -> Timestamp {
    Timestamp::from_micros(at.as_micros().saturating_add(d.as_micros() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000 + secs * 1_000_000)
    }

    fn down(since: i64, attempts: u32, next: i64) -> Phase {
        Phase::Down {
            since: t(since),
            attempts,
            next: t(next),
        }
    }

    fn reported(since: i64) -> Phase {
        Phase::Reported { since: t(since) }
    }

    /// Before, running now, now (s), the phase after, the action.
    type Row = (Option<Phase>, bool, i64, Phase, Option<Action>);

    #[test]
    fn decision_table() {
        use Action::{Report, Restart, Start};
        let policy = RestartPolicy::default(); // 3 retries, 5 s
        #[rustfmt::skip]
        let table: &[Row] = &[
            // First sight.
            (None, true, 0, Phase::Running, None),
            (None, false, 0, down(0, 0, 5), Some(Start)),
            // Running stays running; found down, a first restart at once.
            (Some(Phase::Running), true, 10, Phase::Running, None),
            (Some(Phase::Running), false, 10, down(10, 1, 15), Some(Restart)),
            // The start did not bring it up: restarts follow.
            (Some(down(0, 0, 5)), false, 5, down(0, 1, 10), Some(Restart)),
            // Before the interval has passed, nothing; then the retries, 3 after the first.
            (Some(down(10, 1, 15)), false, 12, down(10, 1, 15), None),
            (Some(down(10, 1, 15)), false, 15, down(10, 2, 20), Some(Restart)),
            (Some(down(10, 3, 25)), false, 25, down(10, 4, 30), Some(Restart)),
            // All four failed: reported once, then left alone.
            (Some(down(10, 4, 30)), false, 29, down(10, 4, 30), None),
            (Some(down(10, 4, 30)), false, 30, reported(10), Some(Report(Event::Stopped))),
            (Some(reported(10)), false, 300, reported(10), None),
            // Back: STARTED only after a STOPPED; a restart that worked says nothing.
            (Some(reported(10)), true, 400, Phase::Running, Some(Report(Event::Started))),
            (Some(down(10, 2, 20)), true, 18, Phase::Running, None),
        ];
        for (i, (before, running, now, phase, action)) in table.iter().enumerate() {
            let got = decide(before.as_ref(), *running, t(*now), policy);
            assert_eq!(got, (phase.clone(), *action), "row {i}");
        }
    }

    #[test]
    fn no_retries_reports_after_the_first_failed_restart() {
        let policy = RestartPolicy {
            retries: 0,
            interval: Duration::from_secs(5),
        };
        let (phase, action) = decide(Some(&Phase::Running), false, t(0), policy);
        assert_eq!(
            (phase.clone(), action),
            (down(0, 1, 5), Some(Action::Restart))
        );
        let (phase, action) = decide(Some(&phase), false, t(5), policy);
        assert_eq!(
            (phase, action),
            (reported(0), Some(Action::Report(Event::Stopped)))
        );
    }

    #[test]
    fn phases_persist_as_tagged_json() {
        let json = serde_json::to_value(down(0, 2, 5)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"phase": "down", "since": "2023-11-14T22:13:20.000000",
                "attempts": 2, "next": "2023-11-14T22:13:25.000000"})
        );
        assert_eq!(
            serde_json::from_value::<Phase>(json).unwrap(),
            down(0, 2, 5)
        );
    }
}
