//! The fence-agents driver: runs any installed `fence_*` agent the way Pacemaker's fencer does,
//! options as `key=value` lines on stdin, the answer in the exit status.

use super::Target;
use crate::{FenceError, Fencer, PowerState, Secret};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A `fence_*` agent and the options every call passes it (`ip`, `username`, `ssl_insecure`…).
/// `plug` is set to the host name unless the options already name one.
pub struct Agent {
    name: String,
    program: String,
    options: Vec<(String, String)>,
    password: Option<Secret>,
}

impl Agent {
    pub fn new(
        name: impl Into<String>,
        program: impl Into<String>,
        options: Vec<(String, String)>,
        password: Option<Secret>,
    ) -> Agent {
        Agent {
            name: name.into(),
            program: program.into(),
            options,
            password,
        }
    }

    /// The agent's stdin for one action: one `key=value` per line, as the fencer writes it.
    fn stdin(&self, target: &Target<'_>, action: &str) -> Result<String, FenceError> {
        let mut text = format!("action={action}\n");
        for (k, v) in &self.options {
            text.push_str(&format!("{k}={}\n", v.replace("{host}", target.host)));
        }
        if !self.options.iter().any(|(k, _)| k == "plug" || k == "port") {
            text.push_str(&format!("plug={}\n", target.host));
        }
        if let Some(secret) = &self.password {
            let password = secret
                .read()
                .map_err(|source| FenceError::CredentialsUnreadable {
                    device: self.name.clone(),
                    host: target.host.to_owned(),
                    source,
                })?;
            text.push_str(&format!("password={password}\n"));
        }
        Ok(text)
    }

    async fn act(
        &self,
        host: &str,
        action: &'static str,
        timeout: Duration,
    ) -> Result<PowerState, FenceError> {
        let target = Target {
            device: &self.name,
            host,
            action,
        };
        let stdin = self.stdin(&target, action)?;
        let done = target
            .run(&self.program, &[], Some(&stdin), timeout)
            .await?;
        let code = done.status.code();
        match (action, code) {
            // The agents' convention for `status`: 0 = on, 2 = off, anything else = failure.
            ("status", Some(0)) => Ok(PowerState::On),
            ("status", Some(2)) => Ok(PowerState::Off),
            ("status", Some(1)) => Err(target.failed(&done)),
            // Outside the protocol (a crash, a signal, a stray code): the answer means nothing.
            ("status", _) => Err(target.bad_answer(&format!("{} {}", done.status, done.stdout))),
            // An agent's `off` exits 0 only once it has seen the plug off itself.
            ("off", Some(0)) => Ok(PowerState::Off),
            ("on", Some(0)) => Ok(PowerState::On),
            _ => Err(target.failed(&done)),
        }
    }
}

#[async_trait]
impl Fencer for Agent {
    fn name(&self) -> &str {
        &self.name
    }
    async fn off(
        &self,
        host: &str,
        _since: Option<DateTime<Utc>>,
        timeout: Duration,
    ) -> Result<PowerState, FenceError> {
        self.act(host, "off", timeout).await
    }
    async fn on(&self, host: &str, timeout: Duration) -> Result<PowerState, FenceError> {
        self.act(host, "on", timeout).await
    }
    async fn status(&self, host: &str, timeout: Duration) -> Result<PowerState, FenceError> {
        self.act(host, "status", timeout).await
    }
}
