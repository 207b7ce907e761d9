//! The fence-agents driver: runs any installed `fence_*` agent the way Pacemaker's fencer does,
//! options as `key=value` lines on stdin, the answer in the exit status.

use super::{Answer, Driver, Target};
use crate::{Action, FenceError, PowerState, Secret};
use async_trait::async_trait;
use std::time::Duration;

/// A `fence_*` agent and the options every call passes it (`ip`, `username`, `ssl_insecure`…).
/// `plug` is set to the host name unless the options already name one.
pub struct Agent {
    program: String,
    options: Vec<(String, String)>,
    password: Option<Secret>,
}

impl Agent {
    pub fn new(
        program: impl Into<String>,
        options: Vec<(String, String)>,
        password: Option<Secret>,
    ) -> Agent {
        Agent {
            program: program.into(),
            options,
            password,
        }
    }

    /// The agent's stdin for one action: one `key=value` per line, as the fencer writes it.
    fn stdin(&self, target: &Target<'_>) -> Result<String, FenceError> {
        let mut text = format!("action={}\n", target.action);
        for (k, v) in &self.options {
            text.push_str(&format!("{k}={}\n", v.replace("{host}", target.host)));
        }
        if !self.options.iter().any(|(k, _)| k == "plug" || k == "port") {
            text.push_str(&format!("plug={}\n", target.host));
        }
        if let Some(secret) = &self.password {
            text.push_str(&format!("password={}\n", target.password(secret)?));
        }
        Ok(text)
    }
}

#[async_trait]
impl Driver for Agent {
    async fn run(&self, target: &Target<'_>, action: Action, timeout: Duration) -> Answer {
        let stdin = self.stdin(target)?;
        let done = target
            .run(&self.program, &[], Some(&stdin), timeout)
            .await?;
        let code = done.status.code();
        match (action, code) {
            // The agents' convention for `status`: 0 = on, 2 = off, anything else = failure.
            (Action::Status, Some(0)) => Ok(PowerState::On),
            (Action::Status, Some(2)) => Ok(PowerState::Off),
            (Action::Status, Some(1)) => Err(target.failed(&done)),
            // Outside the protocol (a crash, a signal, a stray code): the answer means nothing.
            (Action::Status, _) => {
                Err(target.bad_answer(&format!("{} {}", done.status, done.stdout)))
            }
            // An agent's `off` exits 0 only once it has seen the plug off itself.
            (Action::Off { .. }, Some(0)) => Ok(PowerState::Off),
            (Action::On, Some(0)) => Ok(PowerState::On),
            _ => Err(target.failed(&done)),
        }
    }
}
