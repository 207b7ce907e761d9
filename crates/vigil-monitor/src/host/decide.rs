//! What to report about one node, from what was reported before and what a driver sees now: a
//! pure function, tested by a table.
//!
//! masakari-monitors' rules, kept: the first sight of a node only records it; a change is
//! reported once `monitoring_samples` consecutive samples agree on it; `STARTED` is reported
//! `ONLINE`/`NORMAL`, `STOPPED` is reported `OFFLINE`. Where it differs, deliberately:
//! `host_status` is `NORMAL` only once the node is known fenced (masakari-monitors asks
//! `ipmitool` for the power state), and until then `UNKNOWN`, followed by a second `STOPPED`
//! with `NORMAL` when the fencing is seen; and the record is persisted, so a node that went
//! down while the monitor was stopped is reported when it starts again.
//!
//! "Known fenced" means a fencing newer than the newest one seen while the node was up: the
//! comparison is between the fencer's own timestamps, never against this machine's clock. A
//! node fenced and up again between two looks (a reboot faster than the interval) is not
//! reported: like masakari-monitors, the monitor reports what it saw down.

use super::Member;
use serde::{Deserialize, Serialize};
use vigil_domain::Timestamp;

/// What was last reported of a node (or recorded at first sight).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Known {
    /// Up: `STARTED`, or up at first sight.
    Up,
    /// Down and not known fenced: `STOPPED` with `UNKNOWN`, or down at first sight.
    Down,
    /// Down and fenced: `STOPPED` with `NORMAL`.
    Fenced,
}

/// The persisted record of one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub known: Known,
    /// Consecutive samples that saw the node up while it is known down, or the reverse.
    pub disagreeing: u32,
    /// The newest fencing seen while the node was up: only a newer one fences it now.
    #[serde(with = "vigil_wire::time::optional")]
    pub fenced_before: Option<Timestamp>,
}

/// A `COMPUTE_HOST` report to append.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Report {
    /// `STOPPED`, `OFFLINE`, and `NORMAL` if fenced, else `UNKNOWN`.
    Stopped { fenced: bool },
    /// `STARTED`, `ONLINE`, `NORMAL`.
    Started,
}

/// The next record of a node recorded as `before` (`None`: never seen) that a driver now sees
/// as `seen`; and what to report. `samples` (at least 1) is `monitoring_samples`.
pub fn decide(
    before: Option<&NodeRecord>,
    seen: &Member,
    samples: u32,
) -> (NodeRecord, Option<Report>) {
    let samples = samples.max(1);
    let Some(before) = before else {
        let known = if seen.up { Known::Up } else { Known::Down };
        return (record(known, 0, seen.fenced_at), None);
    };
    // `None` is older than any time: a first fencing is newer than none.
    let fenced = seen.fenced_at > before.fenced_before;
    match (before.known, seen.up) {
        (Known::Up, true) => (record(Known::Up, 0, seen.fenced_at), None),
        (Known::Down | Known::Fenced, true) => {
            let count = before.disagreeing + 1;
            if count >= samples {
                (record(Known::Up, 0, seen.fenced_at), Some(Report::Started))
            } else {
                (record(before.known, count, before.fenced_before), None)
            }
        }
        (Known::Up, false) => {
            let count = before.disagreeing + 1;
            if count < samples {
                (record(Known::Up, count, before.fenced_before), None)
            } else {
                let known = if fenced { Known::Fenced } else { Known::Down };
                let report = Report::Stopped { fenced };
                (record(known, 0, before.fenced_before), Some(report))
            }
        }
        // The fencing is a fact, not a sample: no debounce for it.
        (Known::Down, false) if fenced => (
            record(Known::Fenced, 0, before.fenced_before),
            Some(Report::Stopped { fenced: true }),
        ),
        (known @ (Known::Down | Known::Fenced), false) => {
            (record(known, 0, before.fenced_before), None)
        }
    }
}

fn record(known: Known, disagreeing: u32, fenced_before: Option<Timestamp>) -> NodeRecord {
    NodeRecord {
        known,
        disagreeing,
        fenced_before,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Known::{Down, Fenced, Up};

    fn t(secs: i64) -> Option<Timestamp> {
        Some(Timestamp::from_micros(
            1_700_000_000_000_000 + secs * 1_000_000,
        ))
    }

    fn rec(known: Known, disagreeing: u32, fenced_before: Option<Timestamp>) -> NodeRecord {
        record(known, disagreeing, fenced_before)
    }

    fn seen(up: bool, fenced_at: Option<Timestamp>) -> Member {
        Member {
            up,
            fenced_at,
            detail: String::new(),
        }
    }

    const STOPPED_UNKNOWN: Option<Report> = Some(Report::Stopped { fenced: false });
    const STOPPED_NORMAL: Option<Report> = Some(Report::Stopped { fenced: true });
    const STARTED: Option<Report> = Some(Report::Started);

    /// Before, seen (up, last fencing), samples, the record after, the report.
    type Row = (Option<NodeRecord>, Member, u32, NodeRecord, Option<Report>);

    #[test]
    fn decision_table() {
        #[rustfmt::skip]
        let table: &[Row] = &[
            // First sight records, reports nothing, whatever the node's state.
            (None, seen(true, None), 1, rec(Up, 0, None), None),
            (None, seen(false, t(5)), 1, rec(Down, 0, t(5)), None),
            // Up stays up; the fencing seen while up is the new baseline.
            (Some(rec(Up, 0, None)), seen(true, t(3)), 1, rec(Up, 0, t(3)), None),
            // Down, one sample: STOPPED at once, UNKNOWN until fenced.
            (Some(rec(Up, 0, None)), seen(false, None), 1, rec(Down, 0, None), STOPPED_UNKNOWN),
            // Down and already fenced when seen: straight to NORMAL.
            (Some(rec(Up, 0, None)), seen(false, t(9)), 1, rec(Fenced, 0, None), STOPPED_NORMAL),
            // An old fencing (seen while up) does not count.
            (Some(rec(Up, 0, t(3))), seen(false, t(3)), 1, rec(Down, 0, t(3)), STOPPED_UNKNOWN),
            // Then the fencing comes: a second STOPPED, NORMAL; then nothing more.
            (Some(rec(Down, 0, t(3))), seen(false, t(3)), 1, rec(Down, 0, t(3)), None),
            (Some(rec(Down, 0, t(3))), seen(false, t(20)), 3, rec(Fenced, 0, t(3)), STOPPED_NORMAL),
            (Some(rec(Fenced, 0, t(3))), seen(false, t(40)), 1, rec(Fenced, 0, t(3)), None),
            // monitoring_samples = 3: two down samples say nothing, the third reports.
            (Some(rec(Up, 0, None)), seen(false, t(9)), 3, rec(Up, 1, None), None),
            (Some(rec(Up, 1, None)), seen(false, t(9)), 3, rec(Up, 2, None), None),
            (Some(rec(Up, 2, None)), seen(false, t(9)), 3, rec(Fenced, 0, None), STOPPED_NORMAL),
            // A sample that agrees again resets the count.
            (Some(rec(Up, 2, None)), seen(true, None), 3, rec(Up, 0, None), None),
            // Back up: STARTED after as many samples, from down or fenced.
            (Some(rec(Fenced, 0, t(3))), seen(true, t(20)), 2, rec(Fenced, 1, t(3)), None),
            (Some(rec(Fenced, 1, t(3))), seen(true, t(20)), 2, rec(Up, 0, t(20)), STARTED),
            (Some(rec(Down, 0, None)), seen(true, None), 1, rec(Up, 0, None), STARTED),
            (Some(rec(Down, 1, None)), seen(false, None), 2, rec(Down, 0, None), None),
            // monitoring_samples = 0 counts as 1.
            (Some(rec(Up, 0, None)), seen(false, None), 0, rec(Down, 0, None), STOPPED_UNKNOWN),
        ];
        for (i, (before, member, samples, after, report)) in table.iter().enumerate() {
            let got = decide(before.as_ref(), member, *samples);
            assert_eq!(got, (after.clone(), *report), "row {i}");
        }
    }

    #[test]
    fn records_persist_as_json() {
        let json = serde_json::to_value(rec(Fenced, 1, t(0))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"known": "fenced", "disagreeing": 1,
                "fenced_before": "2023-11-14T22:13:20.000000"})
        );
        let back: NodeRecord = serde_json::from_value(json).unwrap();
        assert_eq!(back, rec(Fenced, 1, t(0)));
    }
}
