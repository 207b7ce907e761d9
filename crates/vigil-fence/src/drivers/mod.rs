//! The power drivers, one [`Driver`] each, and what they share: the device's name
//! ([`Named`], which makes a driver a [`Fencer`]), polling until the device reads a state,
//! turning a tool's run into a [`FenceError`].

pub mod agent;
pub mod ipmi;
pub mod pacemaker;
pub mod redfish;

use crate::error::{tail, FenceError};
use crate::process::{self, Finished, RunError};
use crate::{Action, Fencer, PowerState, Secret};
use async_trait::async_trait;
use std::future::Future;
use std::time::{Duration, Instant};

/// What a device answers to an action: the power state it reads afterwards.
pub type Answer = Result<PowerState, FenceError>;

/// How one kind of power device is driven. The device's name comes with the target.
#[async_trait]
pub trait Driver: Send + Sync {
    async fn run(&self, target: &Target<'_>, action: Action, timeout: Duration) -> Answer;
}

/// A driver under its device's name in the configuration: a [`Fencer`].
pub struct Named<D> {
    pub name: String,
    pub driver: D,
}

impl<D> Named<D> {
    pub fn new(name: impl Into<String>, driver: D) -> Named<D> {
        Named {
            name: name.into(),
            driver,
        }
    }
}

#[async_trait]
impl<D: Driver> Fencer for Named<D> {
    fn name(&self) -> &str {
        &self.name
    }

    async fn act(&self, host: &str, action: Action, timeout: Duration) -> Answer {
        let target = Target::new(&self.name, host, action);
        self.driver.run(&target, action, timeout).await
    }
}

/// Who is being fenced by what: the context every error carries.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    pub(crate) device: &'a str,
    pub(crate) host: &'a str,
    pub(crate) action: &'static str,
}

/// After a power change, the device's readings so far: the state asked for once the device
/// reads it, `None` while it does not yet. A BMC may go on reporting the old state, or a
/// transitional one (read as `Unknown`), for several polls: those are read again until the
/// deadline, never taken as the state asked for.
pub fn settled(readings: &[PowerState], want: PowerState) -> Option<PowerState> {
    readings.last().copied().filter(|s| *s == want)
}

impl<'a> Target<'a> {
    pub(crate) fn new(device: &'a str, host: &'a str, action: Action) -> Target<'a> {
        Target {
            device,
            host,
            action: action.as_str(),
        }
    }

    /// Reads the power state every `interval` until the device reads `want` (see
    /// [`settled`]); fails at `deadline`. `read` gets the time left.
    pub(crate) async fn wait_for<F, Fut>(
        &self,
        want: PowerState,
        deadline: Instant,
        timeout: Duration,
        interval: Duration,
        mut read: F,
    ) -> Result<PowerState, FenceError>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<PowerState, FenceError>>,
    {
        let mut readings = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.timed_out(timeout));
            }
            readings.push(read(left).await?);
            if let Some(state) = settled(&readings, want) {
                return Ok(state);
            }
            tokio::time::sleep(interval.min(left)).await;
        }
    }

    /// The device's password, read now (a rotated file takes effect at the next call).
    pub(crate) fn password(&self, secret: &Secret) -> Result<String, FenceError> {
        secret
            .read()
            .map_err(|source| FenceError::CredentialsUnreadable {
                device: self.device.to_owned(),
                host: self.host.to_owned(),
                source,
            })
    }

    pub(crate) fn timed_out(&self, after: Duration) -> FenceError {
        FenceError::TimedOut {
            device: self.device.to_owned(),
            host: self.host.to_owned(),
            action: self.action,
            after,
        }
    }

    pub(crate) fn failed(&self, done: &Finished) -> FenceError {
        FenceError::AgentFailed {
            device: self.device.to_owned(),
            host: self.host.to_owned(),
            action: self.action,
            status: done.status.to_string(),
            stderr_tail: tail(if done.stderr.trim().is_empty() {
                &done.stdout
            } else {
                &done.stderr
            }),
        }
    }

    pub(crate) fn bad_answer(&self, answer: &str) -> FenceError {
        FenceError::BadAnswer {
            device: self.device.to_owned(),
            host: self.host.to_owned(),
            answer: tail(answer),
        }
    }

    /// Runs a tool for this target that must exit 0; any other exit is its failure.
    pub(crate) async fn run_ok(
        &self,
        program: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<Finished, FenceError> {
        let done = self.run(program, args, None, timeout).await?;
        if !done.status.success() {
            return Err(self.failed(&done));
        }
        Ok(done)
    }

    /// Runs a tool for this target, mapping a missing program and the deadline to errors.
    pub(crate) async fn run(
        &self,
        program: &str,
        args: &[String],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Result<Finished, FenceError> {
        process::run(program, args, stdin, timeout)
            .await
            .map_err(|e| match e {
                RunError::Spawn(source) => FenceError::Unreachable {
                    device: self.device.to_owned(),
                    host: self.host.to_owned(),
                    source: Box::new(source),
                },
                RunError::TimedOut => self.timed_out(timeout),
            })
    }
}
