//! The power drivers, one [`crate::Fencer`] each, and what they share: turning a tool's run
//! into a [`FenceError`].

pub mod agent;
pub mod ipmi;
pub mod pacemaker;
pub mod redfish;

use crate::error::{tail, FenceError};
use crate::process::{self, Finished, RunError};
use std::time::Duration;

/// Who is being fenced by what: the context every error carries.
#[derive(Clone, Debug)]
pub(crate) struct Target<'a> {
    pub device: &'a str,
    pub host: &'a str,
    pub action: &'static str,
}

impl Target<'_> {
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
