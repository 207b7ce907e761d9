//! The spool on disk: order, reopening, torn and damaged records, segment rotation and
//! removal, the acknowledgement log, the dead-letter file, the consumer lock.

mod common;

use std::io::Write;
use std::path::Path;
use vigil_domain::Timestamp;
use vigil_outbox::{frame, DeadReason, Event, Outbox, OutboxError, OutboxOptions};

fn event(i: usize) -> Event {
    common::vm_event(
        i,
        "compute-1",
        "STOPPED_FAILED",
        Timestamp::from_micros(1_700_000_000_000_000 + i as i64),
    )
}

fn numbers(outbox: &Outbox) -> Vec<usize> {
    outbox
        .pending()
        .unwrap()
        .iter()
        .map(|p| common::number(&p.event))
        .collect()
}

fn segments(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".seg"))
        .collect();
    names.sort();
    names
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    dir.join(segments(dir).last().unwrap())
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn events_come_out_in_order_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("outbox")).unwrap();
    for i in 0..5 {
        outbox.append_blocking(&event(i)).unwrap();
    }
    let mut consumer = outbox.consumer().unwrap();
    let first = consumer.oldest().unwrap().unwrap();
    assert_eq!(first.event, event(0));
    // Asking again without acknowledging gives the same event.
    assert_eq!(consumer.oldest().unwrap().unwrap(), first);
    consumer.ack(&first).unwrap();
    let second = consumer.oldest().unwrap().unwrap();
    consumer.ack(&second).unwrap();
    drop(consumer);

    let reopened = Outbox::open(dir.path().join("outbox")).unwrap();
    assert_eq!(numbers(&reopened), [2, 3, 4]);
    let mut consumer = reopened.consumer().unwrap();
    for i in 2..5 {
        let p = consumer.oldest().unwrap().unwrap();
        assert_eq!(p.event, event(i));
        consumer.ack(&p).unwrap();
    }
    assert_eq!(consumer.oldest().unwrap(), None);
    assert_eq!(numbers(&reopened), Vec::<usize>::new());
}

#[test]
fn only_the_oldest_pending_event_can_be_acknowledged() {
    let (_dir, outbox) = common::outbox_with((0..2).map(event));
    let mut consumer = outbox.consumer().unwrap();
    let first = consumer.oldest().unwrap().unwrap();
    consumer.ack(&first).unwrap();
    let err = consumer.ack(&first).unwrap_err();
    assert!(matches!(err, OutboxError::NotOldest { .. }), "{err}");
    assert_eq!(numbers(&outbox), [1]);
}

#[test]
fn a_torn_tail_is_dropped_and_the_next_append_starts_a_new_file() {
    let (dir, outbox) = common::outbox_with((0..3).map(event));
    // A writer killed half-way through its record.
    let torn = frame::encode(&serde_json::to_vec(&serde_json::json!({"torn": true})).unwrap());
    append_bytes(&last_segment(dir.path()), &torn[..torn.len() / 2]);
    assert_eq!(numbers(&outbox), [0, 1, 2]);

    // Another process appends: it must not write after the torn bytes.
    let other = Outbox::open(dir.path()).unwrap();
    other.append_blocking(&event(3)).unwrap();
    assert_eq!(segments(dir.path()).len(), 2);
    assert_eq!(numbers(&outbox), [0, 1, 2, 3]);

    let mut consumer = outbox.consumer().unwrap();
    for i in 0..4 {
        let p = consumer.oldest().unwrap().unwrap();
        assert_eq!(common::number(&p.event), i);
        consumer.ack(&p).unwrap();
    }
    assert_eq!(consumer.oldest().unwrap(), None);
    // The file with the torn record was removed once everything before it was delivered.
    assert_eq!(segments(dir.path()).len(), 1);
}

#[test]
fn a_damaged_record_ends_its_file_and_is_never_read_as_a_report() {
    let (dir, outbox) = common::outbox_with((0..3).map(event));
    // Flip a bit inside the second record's payload.
    let path = last_segment(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    let second = outbox.pending().unwrap()[1].at.offset as usize;
    bytes[second + frame::HEADER + 10] ^= 0x04;
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(numbers(&outbox), [0]);

    // The next process to append checks the file first and starts a new one.
    let outbox = Outbox::open(dir.path()).unwrap();
    outbox.append_blocking(&event(3)).unwrap();
    assert_eq!(numbers(&outbox), [0, 3]);
    let mut consumer = outbox.consumer().unwrap();
    let mut seen = Vec::new();
    while let Some(p) = consumer.oldest().unwrap() {
        seen.push(common::number(&p.event));
        consumer.ack(&p).unwrap();
    }
    assert_eq!(seen, [0, 3]);
}

#[test]
fn a_whole_record_that_is_no_report_goes_to_the_dead_letter_file() {
    let (dir, outbox) = common::outbox_with([event(0)]);
    append_bytes(
        &last_segment(dir.path()),
        &frame::encode(b"{\"not\": \"a report\"}"),
    );
    outbox.append_blocking(&event(1)).unwrap();

    let mut consumer = outbox.consumer().unwrap();
    let p = consumer.oldest().unwrap().unwrap();
    consumer.ack(&p).unwrap();
    let p = consumer.oldest().unwrap().unwrap();
    assert_eq!(p.event, event(1));
    let letters = outbox.dead_letters().unwrap();
    assert_eq!(letters.len(), 1);
    assert!(matches!(letters[0].reason, DeadReason::Unreadable { .. }));
    assert_eq!(
        letters[0].record.as_deref(),
        Some("{\"not\": \"a report\"}")
    );
    assert_eq!(letters[0].notification, None);
}

#[test]
fn dead_letters_are_json_lines_even_after_a_torn_line() {
    let (dir, outbox) = common::outbox_with((0..2).map(event));
    let mut consumer = outbox.consumer().unwrap();
    let p = consumer.oldest().unwrap().unwrap();
    let refused = DeadReason::Refused {
        status: 400,
        body: "{\"badRequest\": {\"code\": 400, \"message\": \"Host with name compute-1 could not be found.\"}}".into(),
    };
    consumer.dead_letter(&p, refused.clone()).unwrap();
    // A crash in the middle of the next line.
    append_bytes(&dir.path().join("dead-letter.jsonl"), b"{\"dead_at\": \"20");
    let p = consumer.oldest().unwrap().unwrap();
    let expired = DeadReason::Expired {
        attempts: 40,
        last_answer: "503".into(),
    };
    consumer.dead_letter(&p, expired.clone()).unwrap();
    assert_eq!(consumer.oldest().unwrap(), None);

    let letters = outbox.dead_letters().unwrap();
    let summary: Vec<_> = letters
        .iter()
        .map(|l| {
            (
                l.reason.clone(),
                l.notification.clone().map(|e| common::number(&e)),
            )
        })
        .collect();
    assert_eq!(summary, [(refused, Some(0)), (expired, Some(1))]);
    let text = std::fs::read_to_string(dir.path().join("dead-letter.jsonl")).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[test]
fn delivered_files_are_removed_and_an_idle_outbox_keeps_one_empty_file() {
    let (dir, outbox) = common::outbox_with_options(OutboxOptions {
        segment_bytes: 1_000,
        ..OutboxOptions::default()
    });
    for i in 0..60 {
        outbox.append_blocking(&event(i)).unwrap();
    }
    let files = segments(dir.path()).len();
    assert!(files > 10, "{files} files");
    let mut consumer = outbox.consumer().unwrap();
    for i in 0..30 {
        let p = consumer.oldest().unwrap().unwrap();
        assert_eq!(common::number(&p.event), i);
        consumer.ack(&p).unwrap();
    }
    assert!(segments(dir.path()).len() <= files / 2 + 1);
    while let Some(p) = consumer.oldest().unwrap() {
        consumer.ack(&p).unwrap();
    }
    let left = segments(dir.path());
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        std::fs::metadata(dir.path().join(&left[0])).unwrap().len(),
        0
    );
    // And it goes on from there, after a reopen too.
    drop(consumer);
    outbox.append_blocking(&event(60)).unwrap();
    let mut consumer = Outbox::open(dir.path()).unwrap().consumer().unwrap();
    assert_eq!(
        common::number(&consumer.oldest().unwrap().unwrap().event),
        60
    );
}

#[test]
fn the_acknowledgement_log_is_rewritten_when_it_grows() {
    let (dir, outbox) = common::outbox_with_options(OutboxOptions {
        ack_log_bytes: 1_000,
        ..OutboxOptions::default()
    });
    let mut consumer = outbox.consumer().unwrap();
    let mut largest = 0;
    for i in 0..200 {
        outbox.append_blocking(&event(i)).unwrap();
        let p = consumer.oldest().unwrap().unwrap();
        assert_eq!(common::number(&p.event), i);
        consumer.ack(&p).unwrap();
        largest = largest.max(std::fs::metadata(dir.path().join("acked")).unwrap().len());
    }
    assert!(largest <= 1_000 + 24, "{largest}");
    assert_eq!(consumer.oldest().unwrap(), None);
    drop(consumer);
    assert_eq!(numbers(&outbox), Vec::<usize>::new());
}

#[test]
fn one_consumer_at_a_time() {
    let (dir, outbox) = common::outbox_with([]);
    let first = outbox.consumer().unwrap();
    let other = Outbox::open(dir.path()).unwrap();
    assert!(matches!(other.consumer(), Err(OutboxError::Busy { .. })));
    drop(first);
    other.consumer().unwrap();
}

#[test]
fn a_new_outbox_directory_is_created_and_empty() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path().join("a/b")).unwrap();
    assert!(outbox.pending().unwrap().is_empty());
    let mut consumer = outbox.consumer().unwrap();
    assert_eq!(consumer.oldest().unwrap(), None);
    outbox.append_blocking(&event(7)).unwrap();
    assert_eq!(
        common::number(&consumer.oldest().unwrap().unwrap().event),
        7
    );
}

#[test]
fn spool_files_removed_by_hand_do_not_hide_later_events() {
    let (dir, outbox) = common::outbox_with([event(0)]);
    let mut consumer = outbox.consumer().unwrap();
    let p = consumer.oldest().unwrap().unwrap();
    consumer.ack(&p).unwrap();
    assert_eq!(consumer.oldest().unwrap(), None);
    for name in segments(dir.path()) {
        std::fs::remove_file(dir.path().join(name)).unwrap();
    }
    let other = Outbox::open(dir.path()).unwrap();
    other.append_blocking(&event(1)).unwrap();
    assert_eq!(
        common::number(&consumer.oldest().unwrap().unwrap().event),
        1
    );
}
