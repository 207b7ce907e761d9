//! The checker: what a trial's history must show, whatever faults it met. Pure: the harness
//! gathers the history from Nova and Vigil, this decides.

use std::fmt;

/// What one trial left behind, read once every fault was put right.
#[derive(Clone, Debug, Default)]
pub struct History {
    pub victim: String,
    /// Reports the API acknowledged with 202, by notification uuid.
    pub acknowledged: Vec<String>,
    /// Every notification stored since the trial began.
    pub stored: Vec<Stored>,
    pub servers: Vec<ServerOutcome>,
    /// The victim's compute service through the trial, oldest first.
    pub samples: Vec<Sample>,
}

#[derive(Clone, Debug)]
pub struct Stored {
    pub uuid: String,
    /// The payload's `event`: `STOPPED` (a failure) or `STARTED` (the host back).
    pub event: String,
    pub status: String,
}

#[derive(Clone, Debug)]
pub struct ServerOutcome {
    pub id: String,
    pub status: String,
    pub host: Option<String>,
    /// Whether Nova has the server's host up, enabled and not forced down.
    pub host_live: bool,
    /// The statuses of Nova's evacuation records of the server.
    pub evacuations: Vec<String>,
}

/// One look at the victim: its compute service read first, then the host failure's reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    /// Enabled and not forced down: Nova may place servers there.
    pub in_service: bool,
    /// Some failure report of the victim is stored and every one has ended.
    pub recovery_ended: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Violation {
    /// Acknowledged with 202, then not in the database.
    Lost { uuid: String },
    /// Still `new`, `running` or `error` when the trial's deadline passed.
    NotEnded {
        uuid: String,
        event: String,
        status: String,
    },
    /// More than one evacuation of the server that Nova did not refuse.
    EvacuatedTwice { server: String, times: usize },
    /// Not ACTIVE, or not on a live host other than the victim.
    NotRecovered {
        server: String,
        status: String,
        host: Option<String>,
    },
    /// Back in service after it was taken out, while its recovery had not ended.
    TakenBackEarly,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Lost { uuid } => write!(f, "report {uuid} acknowledged, then lost"),
            Violation::NotEnded {
                uuid,
                event,
                status,
            } => write!(f, "{event} report {uuid} left {status}"),
            Violation::EvacuatedTwice { server, times } => {
                write!(f, "server {server} evacuated {times} times")
            }
            Violation::NotRecovered {
                server,
                status,
                host,
            } => write!(f, "server {server} {status} on {host:?}"),
            Violation::TakenBackEarly => write!(f, "host taken back before its recovery ended"),
        }
    }
}

/// The statuses a report ends in; `error` is retried, so not an end.
pub const ENDED: [&str; 3] = ["finished", "failed", "ignored"];

/// Evacuation records of a try Nova refused or gave up: the server did not run twice.
const NOT_RUN: [&str; 2] = ["error", "failed"];

/// Every promise a trial broke, in the order of the checks.
pub fn violations(h: &History) -> Vec<Violation> {
    let mut found = Vec::new();
    for uuid in &h.acknowledged {
        if !h.stored.iter().any(|s| &s.uuid == uuid) {
            found.push(Violation::Lost { uuid: uuid.clone() });
        }
    }
    for s in &h.stored {
        if !ENDED.contains(&s.status.as_str()) {
            found.push(Violation::NotEnded {
                uuid: s.uuid.clone(),
                event: s.event.clone(),
                status: s.status.clone(),
            });
        }
    }
    for server in &h.servers {
        let times = server
            .evacuations
            .iter()
            .filter(|status| !NOT_RUN.contains(&status.as_str()))
            .count();
        if times > 1 {
            found.push(Violation::EvacuatedTwice {
                server: server.id.clone(),
                times,
            });
        }
        let elsewhere = server.host.as_deref().is_some_and(|host| host != h.victim);
        if server.status != "ACTIVE" || !elsewhere || !server.host_live {
            found.push(Violation::NotRecovered {
                server: server.id.clone(),
                status: server.status.clone(),
                host: server.host.clone(),
            });
        }
    }
    if taken_back_early(&h.samples) {
        found.push(Violation::TakenBackEarly);
    }
    found
}

/// Whether the samples show the host out of service, then in service again before its
/// recovery ended. Before it is first taken out, a just-failed host is still in service.
fn taken_back_early(samples: &[Sample]) -> bool {
    let mut taken_out = false;
    for s in samples {
        if !s.in_service {
            taken_out = true;
        } else if taken_out && !s.recovery_ended {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(in_service: bool, recovery_ended: bool) -> Sample {
        Sample {
            in_service,
            recovery_ended,
        }
    }

    #[test]
    fn taking_back_counts_only_after_the_host_was_taken_out() {
        let (up, out) = (true, false);
        let (ended, running) = (true, false);
        let cases: &[(&[Sample], bool)] = &[
            (&[], false),
            // Still in service while the failure is reported, then out, then back after.
            (
                &[sample(up, running), sample(out, running), sample(up, ended)],
                false,
            ),
            // Back while the recovery runs.
            (&[sample(out, running), sample(up, running)], true),
            (
                &[
                    sample(up, running),
                    sample(out, running),
                    sample(out, ended),
                ],
                false,
            ),
            // Never taken out: a host the engine had no time to disable yet.
            (&[sample(up, running), sample(up, running)], false),
            (
                &[sample(out, ended), sample(up, ended), sample(up, running)],
                true,
            ),
        ];
        for (samples, early) in cases {
            assert_eq!(taken_back_early(samples), *early, "{samples:?}");
        }
    }

    fn server(status: &str, host: &str, live: bool, evacuations: &[&str]) -> ServerOutcome {
        ServerOutcome {
            id: "s1".into(),
            status: status.into(),
            host: Some(host.into()),
            host_live: live,
            evacuations: evacuations.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn stored(uuid: &str, status: &str) -> Stored {
        Stored {
            uuid: uuid.into(),
            event: "STOPPED".into(),
            status: status.into(),
        }
    }

    #[test]
    fn each_broken_promise_is_one_violation() {
        let recovered = server("ACTIVE", "compute2", true, &["done"]);
        let cases: Vec<(History, Vec<Violation>)> = vec![
            (
                History {
                    victim: "compute1".into(),
                    acknowledged: vec!["n1".into()],
                    stored: vec![stored("n1", "finished")],
                    servers: vec![recovered.clone()],
                    samples: vec![],
                },
                vec![],
            ),
            (
                History {
                    victim: "compute1".into(),
                    acknowledged: vec!["n1".into(), "n2".into()],
                    stored: vec![stored("n1", "finished"), stored("n3", "error")],
                    servers: vec![recovered.clone()],
                    samples: vec![],
                },
                vec![
                    Violation::Lost { uuid: "n2".into() },
                    Violation::NotEnded {
                        uuid: "n3".into(),
                        event: "STOPPED".into(),
                        status: "error".into(),
                    },
                ],
            ),
            // A refused try, then one that ran: once. Two that ran: twice.
            (
                History {
                    victim: "compute1".into(),
                    servers: vec![
                        server("ACTIVE", "compute2", true, &["error", "done"]),
                        server("ACTIVE", "compute2", true, &["done", "completed"]),
                    ],
                    ..History::default()
                },
                vec![Violation::EvacuatedTwice {
                    server: "s1".into(),
                    times: 2,
                }],
            ),
            (
                History {
                    victim: "compute1".into(),
                    servers: vec![
                        server("ACTIVE", "compute1", true, &[]),
                        server("ERROR", "compute2", true, &["done"]),
                        server("ACTIVE", "compute3", false, &["done"]),
                    ],
                    ..History::default()
                },
                vec![
                    Violation::NotRecovered {
                        server: "s1".into(),
                        status: "ACTIVE".into(),
                        host: Some("compute1".into()),
                    },
                    Violation::NotRecovered {
                        server: "s1".into(),
                        status: "ERROR".into(),
                        host: Some("compute2".into()),
                    },
                    Violation::NotRecovered {
                        server: "s1".into(),
                        status: "ACTIVE".into(),
                        host: Some("compute3".into()),
                    },
                ],
            ),
            (
                History {
                    victim: "compute1".into(),
                    samples: vec![sample(false, false), sample(true, false)],
                    ..History::default()
                },
                vec![Violation::TakenBackEarly],
            ),
        ];
        for (history, expected) in cases {
            assert_eq!(violations(&history), expected, "{history:?}");
        }
    }
}
