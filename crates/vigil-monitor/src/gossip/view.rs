//! Who to report, from what this member sees of the others and what it reported before: a pure
//! function, tested by a table.
//!
//! SWIM's verdicts are per member: every member that learns a host is `Down` may report it, and
//! the API counts the reports of one stop once. What SWIM does not say is whether *this* member
//! is the one cut off: a member whose own link failed sees every other member suspect and then
//! down, one probe at a time. So a member reports a stop only if it saw it happen (the host was
//! up or suspect at its previous pass) while it had a quorum: it heard from someone recently,
//! and no more than half of the members it knows (itself included) are suspect or down.
//! Suspects count against the quorum, as an isolated member suspects the others before it
//! declares any down. A stop seen without a quorum is never reported by this member, not even
//! once the quorum is back: a member cut off declares all the others down, and when its link
//! returns it sees them come back one by one, a quorum before the last is back. The members
//! that had the quorum when the host stopped report it.
//!
//! A stop is reported once the host has stayed down for the confirmation delay. A member
//! wrongly declared down (its refutation lost) learns it from the members that declared it and
//! comes back under a renewed identity within a few gossip rounds; the delay lets that return
//! arrive before anyone reports, where SWIM alone would report it and then its return.
//!
//! Nor is a host reported while this member still receives its datagrams: SWIM's verdict is
//! one member's failed probes, gossiped to all, and under heavy loss it can fall on a live
//! host whose return is then lost too. A member reports only what its own socket agrees with:
//! nothing received from the host for the silence limit (`Timing::silence`), which a dead
//! host has reached by the time its suspicion and the confirmation have run, so detection
//! is not delayed. The price: a host that can send but not receive (a one-way failure) is not
//! reported by the members that still receive it.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use vigil_domain::Timestamp;
use vigil_wire::payload::Event;

/// How this member sees another, from SWIM's member states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    /// Declared down (a suspicion not refuted in time): final for that identity; the host
    /// comes back under a new one.
    Down,
    /// Some member's probe failed; it has until the suspicion timeout to refute.
    Suspect,
    Up,
}

/// What this member sees now: each other member's liveness by host name, whether it heard
/// from any of them within the quiet limit, and the hosts it received a datagram from within
/// the silence limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sight {
    pub members: BTreeMap<String, Liveness>,
    pub hearing: bool,
    pub heard: BTreeSet<String>,
}

impl Sight {
    /// Whether this member may report stops: it hears someone, and the members it sees suspect
    /// or down are at most half of all it knows, itself included.
    pub fn has_quorum(&self) -> bool {
        let known = self.members.len() + 1;
        let not_up = self
            .members
            .values()
            .filter(|l| **l != Liveness::Up)
            .count();
        self.hearing && not_up * 2 <= known
    }
}

/// One report to append: `COMPUTE_HOST` with `event` about `host`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub host: String,
    pub event: Event,
}

/// What a member remembers between passes, not persisted: each member's liveness at the
/// previous pass, and the hosts seen going down (with when) not yet reported.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Memory {
    pub before: BTreeMap<String, Liveness>,
    pub dying: BTreeMap<String, Timestamp>,
}

/// The hosts reported stopped after this pass (by name, since when), the reports to append,
/// and what to remember.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub stopped: BTreeMap<String, Timestamp>,
    pub reports: Vec<Report>,
    pub memory: Memory,
}

/// What to report, from `sight`, what was remembered from earlier passes and the hosts
/// reported stopped before (`stopped`), at `now`, with the confirmation delay `confirm`. A
/// host down but still heard from waits as if within the delay. A host reported stopped is reported `STARTED` once seen up, quorum or not (its packets
/// reach this member); a host not in the view (forgotten, or not seen since this member
/// started) keeps what was reported.
pub fn decide(
    sight: &Sight,
    memory: &Memory,
    stopped: &BTreeMap<String, Timestamp>,
    now: Timestamp,
    confirm: std::time::Duration,
) -> Decision {
    let quorum = sight.has_quorum();
    let mut next = stopped.clone();
    let mut dying = BTreeMap::new();
    let mut reports = Vec::new();
    for (host, liveness) in &sight.members {
        let was_stopped = stopped.contains_key(host);
        let event = match liveness {
            Liveness::Down if quorum && !was_stopped => {
                let going = memory
                    .before
                    .get(host)
                    .is_some_and(|l| *l != Liveness::Down);
                let since = match memory.dying.get(host) {
                    Some(since) => *since,
                    None if going => now,
                    None => continue,
                };
                let early = now.as_micros() - since.as_micros() < confirm.as_micros() as i64;
                if early || sight.heard.contains(host) {
                    dying.insert(host.clone(), since);
                    continue;
                }
                next.insert(host.clone(), now);
                Event::Stopped
            }
            Liveness::Up if was_stopped => {
                next.remove(host);
                Event::Started
            }
            _ => continue,
        };
        reports.push(Report {
            host: host.clone(),
            event,
        });
    }
    Decision {
        stopped: next,
        reports,
        memory: Memory {
            before: sight.members.clone(),
            dying,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use Event::{Started, Stopped};

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000 + secs * 1_000_000)
    }

    /// Members as `"a+ b? c-"`: `a` up, `b` suspect, `c` down.
    fn members(text: &str) -> BTreeMap<String, Liveness> {
        text.split_whitespace()
            .map(|m| {
                let (name, mark) = m.split_at(m.len() - 1);
                let liveness = match mark {
                    "+" => Liveness::Up,
                    "?" => Liveness::Suspect,
                    _ => Liveness::Down,
                };
                (name.to_owned(), liveness)
            })
            .collect()
    }

    fn stopped(hosts: &[(&str, i64)]) -> BTreeMap<String, Timestamp> {
        hosts.iter().map(|(h, s)| (h.to_string(), t(*s))).collect()
    }

    fn reports(list: &[(&str, Event)]) -> Vec<Report> {
        list.iter()
            .map(|(h, e)| Report {
                host: h.to_string(),
                event: *e,
            })
            .collect()
    }

    /// The members at the previous pass, now (self not included), hearing, seen going down
    /// before (name, since), reported stopped before, seen going down after, reported stopped
    /// after, the reports; at 9 s, with a 1 s confirmation delay.
    type Row = (
        &'static str,
        &'static str,
        bool,
        &'static [(&'static str, i64)],
        &'static [(&'static str, i64)],
        &'static [(&'static str, i64)],
        &'static [(&'static str, i64)],
        &'static [(&'static str, Event)],
    );

    #[test]
    fn decision_table() {
        #[rustfmt::skip]
        let table: &[Row] = &[
            // All up: nothing.
            ("a+ b+ c+ d+", "a+ b+ c+ d+", true, &[], &[], &[], &[], &[]),
            // One of five seen going down: remembered, reported once it stayed down 1 s, once.
            ("a+ b+ c? d+", "a+ b+ c- d+", true, &[], &[], &[("c", 9)], &[], &[]),
            ("a+ b+ c+ d+", "a+ b+ c- d+", true, &[], &[], &[("c", 9)], &[], &[]),
            ("a+ b+ c- d+", "a+ b+ c- d+", true, &[("c", 8)], &[], &[], &[("c", 9)], &[("c", Stopped)]),
            ("a+ b+ c- d+", "a+ b+ c- d+", true, &[], &[("c", 8)], &[], &[("c", 8)], &[]),
            // Not yet 1 s: still waiting.
            ("a+ b+ c- d+", "a+ b+ c- d+", true, &[("c", 9)], &[], &[("c", 9)], &[], &[]),
            // Back (renewed) within the delay: forgotten, never reported.
            ("a+ b+ c- d+", "a+ b+ c+ d+", true, &[("c", 8)], &[], &[], &[], &[]),
            ("a+ b+ c- d+", "a+ b+ c? d+", true, &[("c", 8)], &[], &[], &[], &[]),
            // The quorum lost within the delay: forgotten, not reported even once it is back.
            ("a+ b+ c- d+", "a+ b+ c- d+", false, &[("c", 8)], &[], &[], &[], &[]),
            ("a+ b+ c- d+", "a+ b+ c- d+", true, &[], &[], &[], &[], &[]),
            // A suspect is not reported.
            ("a+ b+ c+ d+", "a+ b+ c? d+", true, &[], &[], &[], &[], &[]),
            // Down when first seen (learnt from the others when joining): not seen going down.
            ("", "a+ b+ c- d+", true, &[], &[], &[], &[], &[]),
            ("a+ b+ d+", "a+ b+ c- d+", true, &[], &[], &[], &[], &[]),
            // Two of five down, one suspect: 3 of 5 not up, a minority: nothing.
            ("a? b+ c- d?", "a? b+ c- d-", true, &[("c", 7)], &[], &[], &[], &[]),
            // Exactly half not up (2 of 4): still reports.
            ("a+ b- c?", "a+ b- c?", true, &[("b", 7)], &[], &[], &[("b", 9)], &[("b", Stopped)]),
            // Hearing nobody: not remembered, so not reported once the quorum is back.
            ("a+ b+ c? d+", "a+ b+ c- d+", false, &[], &[], &[], &[], &[]),
            // Cut off and back: the others return one by one, the last is not reported.
            ("a- b- c- d-", "a+ b+ c+ d-", true, &[], &[], &[], &[], &[]),
            // Back up: STARTED, quorum or not.
            ("a- b- c-", "a- b- c+", false, &[], &[("c", 1)], &[], &[], &[("c", Started)]),
            // Up and never reported: nothing.
            ("c-", "c+", true, &[], &[], &[], &[], &[]),
            // Suspect after a report: nothing yet.
            ("a+ c-", "a+ c?", true, &[], &[("c", 1)], &[], &[("c", 1)], &[]),
            // Reported before but not in the view (not seen since a restart): kept.
            ("a+ b+", "a+ b+", true, &[], &[("c", 1)], &[], &[("c", 1)], &[]),
            // Two of the three others down: 2 of 4 not up, half: both reported.
            ("a+ b- c-", "a+ b- c-", true, &[("b", 8), ("c", 7)], &[], &[], &[("b", 9), ("c", 9)], &[("b", Stopped), ("c", Stopped)]),
            // A cluster of two: the other down is half of two: reported if heard from since.
            ("a-", "a-", true, &[("a", 8)], &[], &[], &[("a", 9)], &[("a", Stopped)]),
            ("a-", "a-", false, &[("a", 8)], &[], &[], &[], &[]),
        ];
        for (i, (before, now, hearing, dying, was, dying_after, after, want)) in
            table.iter().enumerate()
        {
            let sight = Sight {
                members: members(now),
                hearing: *hearing,
                heard: BTreeSet::new(),
            };
            let memory = Memory {
                before: members(before),
                dying: stopped(dying),
            };
            let got = decide(&sight, &memory, &stopped(was), t(9), Duration::from_secs(1));
            assert_eq!(got.memory.dying, stopped(dying_after), "row {i}: dying");
            assert_eq!(got.memory.before, sight.members, "row {i}: before");
            assert_eq!(got.stopped, stopped(after), "row {i}: stopped");
            assert_eq!(got.reports, reports(want), "row {i}: reports");
        }
    }

    #[test]
    fn without_a_delay_a_stop_is_reported_as_soon_as_seen() {
        let sight = Sight {
            members: members("a+ b+ c-"),
            hearing: true,
            heard: BTreeSet::new(),
        };
        let memory = Memory {
            before: members("a+ b+ c?"),
            dying: BTreeMap::new(),
        };
        let got = decide(&sight, &memory, &BTreeMap::new(), t(9), Duration::ZERO);
        assert_eq!(got.reports, reports(&[("c", Stopped)]));
        assert_eq!(got.memory.dying, BTreeMap::new());
    }

    /// A host down but still heard from is not reported, however long it has been down; once
    /// silent, it is, at once if down longer than the delay.
    #[test]
    fn a_host_still_heard_from_is_not_reported() {
        let memory = Memory {
            before: members("a+ b+ c-"),
            dying: stopped(&[("c", 3)]),
        };
        // Hosts heard from, seen going down after, the reports.
        type Row = (
            &'static [&'static str],
            &'static [(&'static str, i64)],
            &'static [(&'static str, Event)],
        );
        #[rustfmt::skip]
        let table: &[Row] = &[
            (&["c"], &[("c", 3)], &[]),
            (&["a", "c"], &[("c", 3)], &[]),
            (&["a"], &[], &[("c", Stopped)]),
            (&[], &[], &[("c", Stopped)]),
        ];
        for (i, (heard, dying_after, want)) in table.iter().enumerate() {
            let sight = Sight {
                members: members("a+ b+ c-"),
                hearing: true,
                heard: heard.iter().map(|h| h.to_string()).collect(),
            };
            let got = decide(
                &sight,
                &memory,
                &BTreeMap::new(),
                t(9),
                Duration::from_secs(1),
            );
            assert_eq!(got.memory.dying, stopped(dying_after), "row {i}: dying");
            assert_eq!(got.reports, reports(want), "row {i}: reports");
        }
    }

    #[test]
    fn quorum_counts_this_member_and_suspects() {
        #[rustfmt::skip]
        let table: &[(&str, bool, bool)] = &[
            ("", true, true),
            ("", false, false),
            ("a? b?", true, false),
            ("a? b+", true, true),
            ("a- b- c+ d+", true, true),
            ("a- b- c? d+", true, false),
        ];
        for (i, (now, hearing, want)) in table.iter().enumerate() {
            let sight = Sight {
                members: members(now),
                hearing: *hearing,
                heard: BTreeSet::new(),
            };
            assert_eq!(sight.has_quorum(), *want, "row {i}");
        }
    }
}
