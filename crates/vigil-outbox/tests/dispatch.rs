//! The dispatcher against a scripted sink: what each answer does to a report, retries until
//! the maximum age, stopping, waking.

mod common;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use vigil_domain::Timestamp;
use vigil_outbox::{
    Answer, DeadReason, DeliveryConfig, Dispatcher, Event, Outbox, OutboxError, Sink,
};

fn event(i: usize) -> Event {
    common::vm_event(i, "compute-1", "STOPPED_FAILED", Timestamp::now())
}

fn status(code: u16) -> Answer {
    Answer::Status {
        code,
        body: String::new(),
    }
}

/// Answers from a script, then `otherwise`; remembers what was sent.
#[derive(Clone)]
struct Script {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    otherwise: Answer,
    sent: Arc<Mutex<Vec<usize>>>,
}

impl Script {
    fn new(answers: impl IntoIterator<Item = Answer>, otherwise: Answer) -> Script {
        Script {
            answers: Arc::new(Mutex::new(answers.into_iter().collect())),
            otherwise,
            sent: Arc::default(),
        }
    }

    fn sent(&self) -> Vec<usize> {
        self.sent.lock().unwrap().clone()
    }
}

impl Sink for Script {
    async fn send(&self, event: &Event) -> Answer {
        self.sent.lock().unwrap().push(common::number(event));
        let next = self.answers.lock().unwrap().pop_front();
        next.unwrap_or_else(|| self.otherwise.clone())
    }
}

/// A dispatcher of `outbox` sending to `sink`, both kept by the test to look at.
fn dispatcher<S: Sink + Clone>(config: DeliveryConfig, outbox: &Outbox, sink: &S) -> Dispatcher<S> {
    Dispatcher::new(config, outbox.clone(), sink.clone()).unwrap()
}

fn quick() -> DeliveryConfig {
    DeliveryConfig {
        initial_delay_ms: 1_000,
        max_delay_ms: 8_000,
        max_age_secs: 60,
        poll_interval_ms: 50,
    }
}

#[tokio::test(start_paused = true)]
async fn each_answer_settles_its_report_as_the_table_says() {
    let (_dir, outbox) = common::outbox_with((0..5).map(event));
    let refusal = r#"{"badRequest": {"code": 400, "message": "Host with name compute-1 could not be found."}}"#;
    let script = Script::new(
        [
            status(202),
            status(409),
            Answer::Status {
                code: 400,
                body: refusal.into(),
            },
            status(503),
            Answer::NoAnswer {
                error: "connection refused".into(),
            },
        ],
        status(202),
    );
    let done = dispatcher(quick(), &outbox, &script).drain().await.unwrap();
    assert_eq!(script.sent(), [0, 1, 2, 3, 3, 3, 4]);
    assert_eq!(
        (done.delivered, done.duplicates, done.dead_lettered),
        (3, 1, 1)
    );
    assert_eq!(done.retrying, None);
    assert!(outbox.pending().unwrap().is_empty());
    let letters = outbox.dead_letters().unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].reason,
        DeadReason::Refused {
            status: 400,
            body: refusal.into()
        }
    );
    assert_eq!(
        letters[0].notification.as_ref().map(common::number),
        Some(2)
    );
}

#[tokio::test(start_paused = true)]
async fn a_report_is_retried_with_backoff_until_its_maximum_age() {
    let (_dir, outbox) = common::outbox_with((0..2).map(event));
    let down = Answer::NoAnswer {
        error: "connection refused".into(),
    };
    // The first report never gets through; the second does once the first is given up.
    let script = Unlucky {
        script: Script::new([], status(202)),
        answer: down.clone(),
    };
    let started = Instant::now();
    let dispatcher = dispatcher(quick(), &outbox, &script);
    let done = dispatcher.drain().await.unwrap();
    let waited = started.elapsed();
    let sent = script.script.sent();
    let sent_first = sent.iter().filter(|i| **i == 0).count() as u32;
    // 1 + 2 + 4 + 8 + 8 … seconds, each drawn in its upper half: 60 s holds 8 to 14 sends.
    assert!((8..=15).contains(&sent_first), "{sent_first} sends");
    // Its age counts from the append, by the wall clock, a moment before the paused clock
    // started counting.
    assert!(
        waited >= Duration::from_secs(59) && waited <= Duration::from_secs(60),
        "{waited:?}"
    );
    assert_eq!((done.delivered, done.dead_lettered), (1, 1));
    let letters = outbox.dead_letters().unwrap();
    assert_eq!(
        letters[0].reason,
        DeadReason::Expired {
            attempts: sent_first,
            last_answer: down.to_string()
        }
    );
    // The second report went after the first was given up, in order.
    assert_eq!(sent[sent.len() - 2..], [0, 1]);
    assert!(outbox.pending().unwrap().is_empty());
}

/// `answer` for report 0, the script's answers for the others.
#[derive(Clone)]
struct Unlucky {
    script: Script,
    answer: Answer,
}

impl Sink for Unlucky {
    async fn send(&self, event: &Event) -> Answer {
        let scripted = self.script.send(event).await;
        if common::number(event) == 0 {
            self.answer.clone()
        } else {
            scripted
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_report_older_than_its_maximum_age_is_not_sent() {
    let (_dir, outbox) = common::outbox_with([event(0)]);
    let config = DeliveryConfig {
        max_age_secs: 0,
        ..quick()
    };
    let script = Script::new([], status(202));
    let done = dispatcher(config, &outbox, &script).drain().await.unwrap();
    assert_eq!(script.sent(), Vec::<usize>::new());
    assert_eq!(done.dead_lettered, 1);
    assert_eq!(
        outbox.dead_letters().unwrap()[0].reason,
        DeadReason::Expired {
            attempts: 0,
            last_answer: "never sent".into()
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_stopped_dispatcher_leaves_its_report_pending() {
    let (_dir, outbox) = common::outbox_with([event(0)]);
    let script = Script::new([], status(503));
    let handle = dispatcher(quick(), &outbox, &script).start();
    while handle.status().retrying.is_none() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(handle.status().retrying.unwrap().last_answer, status(503));
    let done = handle.shutdown().await.unwrap();
    assert_eq!((done.delivered, done.dead_lettered), (0, 0));
    assert_eq!(outbox.pending().unwrap().len(), 1);
    assert!(outbox.dead_letters().unwrap().is_empty());
    // The consumer lock went with it: another dispatcher may start.
    Dispatcher::new(quick(), outbox, script).unwrap();
}

/// An append through the dispatcher's own outbox wakes it at once; one by another process is
/// seen at the next poll.
#[tokio::test]
async fn appends_wake_the_dispatcher() {
    let (dir, outbox) = common::outbox_with([]);
    let config = DeliveryConfig {
        poll_interval_ms: 3_600_000,
        ..quick()
    };
    let script = Script::new([], status(202));
    let handle = dispatcher(config, &outbox, &script).start();
    outbox.append(event(0)).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while handle.status().delivered < 1 {
        assert!(std::time::Instant::now() < deadline, "not woken");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    handle.shutdown().await.unwrap();

    let handle = dispatcher(quick(), &outbox, &script).start();
    let other = Outbox::open(dir.path()).unwrap();
    other.append(event(1)).await.unwrap();
    while handle.status().delivered < 1 {
        assert!(std::time::Instant::now() < deadline, "not polled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    handle.shutdown().await.unwrap();
    assert_eq!(script.sent(), [0, 1]);
}

#[tokio::test]
async fn one_dispatcher_per_outbox() {
    let (_dir, outbox) = common::outbox_with([]);
    let script = Script::new([], status(202));
    let first = dispatcher(quick(), &outbox, &script).start();
    let again = Dispatcher::new(quick(), outbox.clone(), script);
    assert!(matches!(again, Err(OutboxError::Busy { .. })));
    first.shutdown().await.unwrap();
}
