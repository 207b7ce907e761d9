//! The evacuation decisions by table: each case is a sequence of what the driver sees (a
//! migration snapshot, or Nova's answer to a request) and what the machine must decide.

use super::*;

const T0: i64 = 1_800_000_000_000_000;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_micros(T0 + secs * 1_000_000)
}

/// A migration of the server created `secs` after the report (negative: before it).
fn migration(status: &str, secs: i64) -> Migration {
    Migration {
        id: secs,
        uuid: None,
        instance_uuid: "s1".into(),
        source_compute: Some("compute1".into()),
        dest_compute: None,
        status: status.into(),
        created_at: Some(at(secs)),
    }
}

enum Event {
    /// A snapshot, newest first: (status, seconds after the report).
    Seen(&'static [(&'static str, i64)]),
    Nova(Answer),
}

enum Want {
    Next(Next),
    After(AfterIssue),
}

use Event::*;

fn conflict(rebuilding: bool) -> Answer {
    Answer::Conflict {
        rebuilding,
        message: "409 Cannot 'evacuate' instance s1 while it is in vm_state building".into(),
    }
}

fn give_up(text: &str) -> Want {
    Want::Next(Next::GiveUp(text.into()))
}

/// A case: its name, the attempt budget, and what is seen with what must be decided.
type Case = (&'static str, u32, Vec<(Event, Want)>);

#[test]
fn evacuation_decision_table() {
    use Want::{After, Next as N};
    let cases: Vec<Case> = vec![
        (
            "first sight: issue, then watch it through to done",
            3,
            vec![
                (Seen(&[]), N(Next::Issue)),
                (Nova(Answer::Accepted), After(AfterIssue::Watch)),
                (Seen(&[("accepted", 1)]), N(Next::Wait)),
                (Seen(&[("pre-migrating", 1)]), N(Next::Wait)),
                (Seen(&[("done", 1)]), N(Next::Confirm)),
            ],
        ),
        (
            "a resumed flow re-attaches to the evacuation an earlier run started",
            3,
            vec![(Seen(&[("accepted", 2)]), N(Next::Wait))],
        ),
        (
            "an evacuation older than the report belongs to an earlier failure",
            3,
            vec![
                (Seen(&[("done", -30)]), N(Next::Issue)),
                (Seen(&[("failed", -30)]), N(Next::Issue)),
            ],
        ),
        (
            "Nova never reschedules: a failed evacuation is re-issued until the budget is spent",
            2,
            vec![
                (Seen(&[]), N(Next::Issue)),
                (Nova(Answer::Accepted), After(AfterIssue::Watch)),
                (Seen(&[("error", 1)]), N(Next::Issue)),
                (Nova(Answer::Accepted), After(AfterIssue::Watch)),
                (
                    Seen(&[("failed", 3), ("error", 1)]),
                    give_up("2 evacuation attempts failed (last migration status failed)"),
                ),
            ],
        ),
        (
            "failures a crashed run left count against the budget",
            2,
            vec![(
                Seen(&[("error", 3), ("error", 1)]),
                give_up("2 evacuation attempts failed (last migration status error)"),
            )],
        ),
        (
            "a transient refusal is asked again at the next snapshot",
            3,
            vec![
                (Seen(&[]), N(Next::Issue)),
                (Nova(Answer::Transient), After(AfterIssue::Watch)),
                (Seen(&[]), N(Next::Issue)),
            ],
        ),
        (
            "a 409 while Nova already rebuilds it: wait, never reset",
            3,
            vec![
                (Seen(&[]), N(Next::Issue)),
                (Nova(conflict(true)), After(AfterIssue::Watch)),
                (Seen(&[("accepted", 1)]), N(Next::Wait)),
            ],
        ),
        (
            "a server stuck in another state is reset to error once, then given up",
            3,
            vec![
                (Seen(&[]), N(Next::Issue)),
                (Nova(conflict(false)), After(AfterIssue::ResetToError)),
                (Seen(&[]), N(Next::Issue)),
                (
                    Nova(conflict(false)),
                    After(AfterIssue::GiveUp(
                        "409 Cannot 'evacuate' instance s1 while it is in vm_state building".into(),
                    )),
                ),
            ],
        ),
        (
            "a deleted server is gone, not failed",
            3,
            vec![
                (Seen(&[]), N(Next::Issue)),
                (Nova(Answer::Gone), After(AfterIssue::Gone)),
            ],
        ),
        (
            "a request Nova keeps refusing gives up with its reason",
            3,
            vec![
                (Seen(&[]), N(Next::Issue)),
                (
                    Nova(Answer::Refused("400 bad host".into())),
                    After(AfterIssue::GiveUp("400 bad host".into())),
                ),
            ],
        ),
    ];
    for (case, budget, events) in cases {
        let mut e = Evacuation::new(budget, at(0), at(0));
        for (i, (event, want)) in events.into_iter().enumerate() {
            match (event, want) {
                (Seen(list), Want::Next(want)) => {
                    let ms: Vec<Migration> = list.iter().map(|(s, t)| migration(s, *t)).collect();
                    let refs: Vec<&Migration> = ms.iter().collect();
                    assert_eq!(e.observe(&refs), want, "{case}, event {i}");
                }
                (Nova(answer), Want::After(want)) => {
                    assert_eq!(e.answer(answer), want, "{case}, event {i}");
                }
                _ => {
                    panic!("{case}, event {i}: a snapshot decides a Next, an answer an AfterIssue")
                }
            }
        }
    }
}

/// The fallback strategy of the priority methods starts with a budget of its own: failures
/// under the first strategy do not count.
#[test]
fn a_fallback_strategy_gets_its_own_budget() {
    let ms = [migration("error", 2), migration("error", 1)];
    let refs: Vec<&Migration> = ms.iter().collect();
    let mut first = Evacuation::new(2, at(0), at(0));
    assert!(matches!(first.observe(&refs), Next::GiveUp(_)));
    let mut fallback = Evacuation::new(2, at(0), at(10));
    assert_eq!(fallback.observe(&refs), Next::Issue);
}

/// A destination is known once the scheduler chose one for a live evacuation of this failure.
#[test]
fn destination_table() {
    let to = |status: &str, secs: i64, dest: Option<&str>| Migration {
        dest_compute: dest.map(str::to_owned),
        ..migration(status, secs)
    };
    let e = Evacuation::new(3, at(0), at(0));
    #[rustfmt::skip]
    let cases: &[(&str, Vec<Migration>, Option<&str>)] = &[
        ("none yet", vec![], None),
        ("not scheduled yet", vec![to("accepted", 1, None)], None),
        ("scheduled", vec![to("pre-migrating", 1, Some("c2"))], Some("c2")),
        ("done is not under way", vec![to("done", 1, Some("c2"))], None),
        ("failed is not under way", vec![to("error", 2, Some("c3")), to("done", 1, Some("c2"))], None),
        ("a re-issue counts, not the failure", vec![to("accepted", 3, Some("c4")), to("error", 2, Some("c3"))], Some("c4")),
        ("an earlier failure's move", vec![to("pre-migrating", -60, Some("c9"))], None),
    ];
    for (name, ms, want) in cases {
        let refs: Vec<&Migration> = ms.iter().collect();
        assert_eq!(e.destination(&refs), *want, "{name}");
    }
}

#[test]
fn timeouts_say_the_last_status_seen() {
    let mut e = Evacuation::new(3, at(0), at(0));
    assert_eq!(
        e.timed_out(300),
        "timeout after 300 s (migration status none)"
    );
    e.observe(&[&migration("pre-migrating", 1)]);
    assert_eq!(
        e.timed_out(300),
        "timeout after 300 s (migration status pre-migrating)"
    );
}

fn server(host: &str, vm_state: &str, task_state: Option<&str>) -> Server {
    Server {
        id: "s1".into(),
        host: Some(host.into()),
        vm_state: vm_state.into(),
        task_state: task_state.map(str::to_owned),
        ..Default::default()
    }
}

#[test]
fn settle_table() {
    let (wait, fine) = (Settle::Wait, Settle::Done { restore: None });
    let restore = |r| Settle::Done { restore: Some(r) };
    let (stop, reset) = (restore(Restore::Stop), restore(Restore::ResetToError));
    #[rustfmt::skip]
    let cases = [
        // before, now on, vm_state, task_state, tiered → decision
        ("active", "compute1", "active", None, false, wait),
        ("active", "compute2", "active", Some("rebuilding"), false, wait),
        ("active", "compute2", "building", None, false, wait),
        ("active", "compute2", "active", None, false, fine),
        ("active", "compute2", "stopped", None, true, fine),
        ("stopped", "compute2", "active", None, false, stop),
        ("stopped", "compute2", "stopped", None, false, fine),
        ("error", "compute2", "active", None, false, reset),
        ("error", "compute2", "stopped", None, true, reset),
        ("error", "compute2", "error", None, false, fine),
    ];
    for (before, host, vm_state, task_state, tiered, want) in cases {
        let now = server(host, vm_state, task_state);
        assert_eq!(
            settle("compute1", before, &now, tiered),
            want,
            "{before} → {host} {vm_state} {task_state:?} tiered={tiered}"
        );
    }
}
