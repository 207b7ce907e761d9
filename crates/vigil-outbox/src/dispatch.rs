//! The delivery loop: the oldest pending report is sent until the API accepts it, refuses it
//! for good, or it passes its maximum age; only then is it acknowledged (or dead-lettered) and
//! the next one sent. In order, one at a time: a monitor's reports describe changes, and a
//! later one must not overtake an earlier one.

use crate::consumer::{Consumer, DeadReason, Pending};
use crate::decide::{decide, Answer, Outcome};
use crate::error::OutboxError;
use crate::{Event, Outbox};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use vigil_domain::{Backoff, Timestamp};

/// How reports are delivered (a monitor's `[delivery]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliveryConfig {
    /// The first pause after a failed send, doubled after each failure up to `max_delay_ms`
    /// (each pause drawn in the upper half of its step).
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    /// A report the API has not accepted this long after it was appended goes to the
    /// dead-letter file instead. Past an hour a failure report is more likely stale than
    /// useful: the engine would act on a host or an instance as it was then.
    pub max_age_secs: u64,
    /// How often to look for reports appended by other processes (`vigil notify`); those
    /// appended through the dispatcher's own `Outbox` wake it at once.
    pub poll_interval_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self {
            initial_delay_ms: 500,
            max_delay_ms: 30_000,
            max_age_secs: 3_600,
            poll_interval_ms: 1_000,
        }
    }
}

/// Where reports go: the Masakari client, or a test's fake. `send` reports what came back,
/// whatever it was; it does not retry (the dispatcher does).
pub trait Sink: Send + Sync + 'static {
    fn send(&self, event: &Event) -> impl Future<Output = Answer> + Send;
}

/// What a dispatcher has done since it started (a monitor's JSON status shows it).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DispatchStatus {
    /// Accepted (2xx) and acknowledged.
    pub delivered: u64,
    /// Answered 409 (already there, or the host is on maintenance) and acknowledged.
    pub duplicates: u64,
    /// Moved to the dead-letter file: refused, or past the maximum age.
    pub dead_lettered: u64,
    /// The oldest report, while it is being retried.
    pub retrying: Option<Retrying>,
}

/// The report a dispatcher keeps sending.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Retrying {
    #[serde(with = "vigil_wire::time::stamp")]
    pub appended_at: Timestamp,
    pub attempts: u32,
    pub last_answer: Answer,
}

/// Delivers an outbox's reports; holds its consumer lock. `start` runs it in the background,
/// `drain` until nothing is pending.
pub struct Dispatcher<S> {
    config: DeliveryConfig,
    outbox: Outbox,
    sink: S,
    consumer: Arc<Mutex<Consumer>>,
    status: Arc<Mutex<DispatchStatus>>,
}

/// A running dispatcher.
pub struct DispatcherHandle {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<(), OutboxError>>,
    status: Arc<Mutex<DispatchStatus>>,
}

impl<S: Sink> Dispatcher<S> {
    /// A dispatcher for `outbox`; refused with [`OutboxError::Busy`] while another one (in any
    /// process) consumes it.
    pub fn new(config: DeliveryConfig, outbox: Outbox, sink: S) -> Result<Self, OutboxError> {
        let consumer = outbox.consumer()?;
        Ok(Self {
            config,
            outbox,
            sink,
            consumer: Arc::new(Mutex::new(consumer)),
            status: Arc::default(),
        })
    }

    /// Delivers in the background until [`DispatcherHandle::shutdown`], or a failure of the
    /// outbox's disk (which ends it: [`DispatcherHandle::is_finished`]).
    pub fn start(self) -> DispatcherHandle {
        let (stop, mut stopped) = watch::channel(false);
        let status = self.status.clone();
        let task = tokio::spawn(async move {
            let result = self.run(&mut stopped, false).await;
            if let Err(e) = &result {
                tracing::error!(error = %vigil_domain::ErrorChain(e), "the outbox dispatcher stopped");
            }
            result
        });
        DispatcherHandle { stop, task, status }
    }

    /// Delivers until nothing is pending, then returns what it did. A report the API does not
    /// take is retried up to its maximum age, as always.
    pub async fn drain(self) -> Result<DispatchStatus, OutboxError> {
        let (_stop, mut stopped) = watch::channel(false);
        self.run(&mut stopped, true).await?;
        Ok(self.status())
    }

    fn status(&self) -> DispatchStatus {
        lock(&self.status).clone()
    }

    async fn run(
        &self,
        stop: &mut watch::Receiver<bool>,
        until_empty: bool,
    ) -> Result<(), OutboxError> {
        let poll = Duration::from_millis(self.config.poll_interval_ms.max(1));
        while !*stop.borrow() {
            let Some(p) = self.blocking(|c| c.oldest()).await? else {
                if until_empty {
                    return Ok(());
                }
                tokio::select! {
                    _ = self.outbox.appended() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stopped(stop) => {}
                }
                continue;
            };
            if !self.deliver(p, stop).await? {
                break;
            }
        }
        Ok(())
    }

    /// Sends `p` until it is settled; false if stopped first (it stays pending).
    async fn deliver(
        &self,
        p: Pending,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<bool, OutboxError> {
        let backoff = Backoff::new(
            Duration::from_millis(self.config.initial_delay_ms),
            Duration::from_millis(self.config.max_delay_ms),
        );
        let max_age = Duration::from_secs(self.config.max_age_secs);
        // The age at first sight by the wall clock, then by a monotonic one: a clock step
        // while retrying neither cuts the retries short nor stretches them.
        let age_at_sight = Duration::from_micros(
            u64::try_from(Timestamp::now().as_micros() - p.appended_at.as_micros()).unwrap_or(0),
        );
        let seen = Instant::now();
        let mut attempts = 0;
        let mut last: Option<Answer> = None;
        loop {
            let age = age_at_sight + seen.elapsed();
            if age >= max_age {
                let last_answer = last.map_or_else(|| "never sent".to_owned(), |a| a.to_string());
                let reason = DeadReason::Expired {
                    attempts,
                    last_answer,
                };
                return self.bury(&p, reason).await;
            }
            let answer = tokio::select! {
                answer = self.sink.send(&p.event) => answer,
                _ = stopped(stop) => return Ok(false),
            };
            attempts += 1;
            match decide(&answer) {
                outcome @ (Outcome::Delivered | Outcome::Duplicate) => {
                    self.settle(&p, None).await?;
                    let duplicate = outcome == Outcome::Duplicate;
                    tracing::info!(
                        notification_type = %p.event.notification_type,
                        hostname = %p.event.hostname,
                        attempts,
                        duplicate,
                        "report delivered"
                    );
                    let mut status = lock(&self.status);
                    *(if duplicate {
                        &mut status.duplicates
                    } else {
                        &mut status.delivered
                    }) += 1;
                    return Ok(true);
                }
                Outcome::DeadLetter => {
                    let (status, body) = match answer {
                        Answer::Status { code, body } => (code, body),
                        Answer::NoAnswer { error } => (0, error),
                    };
                    return self.bury(&p, DeadReason::Refused { status, body }).await;
                }
                Outcome::Retry => {
                    let pause = backoff.delay(attempts).min(max_age.saturating_sub(age));
                    tracing::warn!(
                        notification_type = %p.event.notification_type,
                        hostname = %p.event.hostname,
                        attempts,
                        answer = %answer,
                        pause_ms = pause.as_millis() as u64,
                        "report not delivered; will retry"
                    );
                    lock(&self.status).retrying = Some(Retrying {
                        appended_at: p.appended_at,
                        attempts,
                        last_answer: answer.clone(),
                    });
                    last = Some(answer);
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = stopped(stop) => return Ok(false),
                    }
                }
            }
        }
    }

    /// Acknowledges `p`, or dead-letters it with `reason`; synced before the next report.
    /// Moves `p` to the dead-letter file, logged as an error with the reason.
    async fn bury(&self, p: &Pending, reason: DeadReason) -> Result<bool, OutboxError> {
        tracing::error!(
            notification_type = %p.event.notification_type,
            hostname = %p.event.hostname,
            payload = %serde_json::Value::Object(p.event.payload.clone()),
            reason = ?reason,
            "report moved to the dead-letter file"
        );
        self.settle(p, Some(reason)).await?;
        lock(&self.status).dead_lettered += 1;
        Ok(true)
    }

    async fn settle(&self, p: &Pending, reason: Option<DeadReason>) -> Result<(), OutboxError> {
        let p = p.clone();
        self.blocking(move |c| match reason {
            None => c.ack(&p),
            Some(reason) => c.dead_letter(&p, reason),
        })
        .await?;
        lock(&self.status).retrying = None;
        Ok(())
    }

    /// Runs `f` on the consumer on a thread that may block on the disk.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Consumer) -> Result<T, OutboxError> + Send + 'static,
    ) -> Result<T, OutboxError> {
        let consumer = self.consumer.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&consumer)))
            .await
            .map_err(|source| OutboxError::Blocking { source })?
    }
}

impl DispatcherHandle {
    pub fn status(&self) -> DispatchStatus {
        lock(&self.status).clone()
    }

    /// Whether the dispatcher has ended (a disk failure; see the log).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops the dispatcher (a report being sent stays pending and is sent again next time)
    /// and returns what it did, or why it had ended.
    pub async fn shutdown(self) -> Result<DispatchStatus, OutboxError> {
        self.until(std::future::ready(())).await
    }

    /// Runs until `stop` resolves, then stops as [`DispatcherHandle::shutdown`] does; or until
    /// the dispatcher ends on its own (a failure of the outbox's disk), returning why.
    pub async fn until(
        mut self,
        stop: impl Future<Output = ()>,
    ) -> Result<DispatchStatus, OutboxError> {
        let ended = tokio::select! {
            ended = &mut self.task => ended,
            () = stop => {
                let _ = self.stop.send(true);
                (&mut self.task).await
            }
        };
        match ended {
            Ok(result) => result?,
            Err(source) => return Err(OutboxError::Blocking { source }),
        }
        Ok(lock(&self.status).clone())
    }
}

/// Resolves once a stop is asked for (or nobody can ask any more).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
