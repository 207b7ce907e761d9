//! The IPMI driver: `ipmitool -I lanplus … chassis power off|on|status`, the password handed over
//! in a file (`-f`) so it never shows in the process list.

use super::{Answer, Driver, Target};
use crate::{Action, FenceError, PowerState, Secret};
use async_trait::async_trait;
use std::io::Write;
use std::time::{Duration, Instant};

/// One BMC reached over IPMI v2 (lanplus). `address` may hold `{host}`, expanded per call.
pub struct Ipmi {
    pub program: String,
    pub address: String,
    pub port: u16,
    pub username: String,
    pub password: Secret,
}

/// Reads `ipmitool chassis power status`: `Chassis Power is on` / `off`.
pub fn parse_power(stdout: &str) -> Option<PowerState> {
    let line = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("Chassis Power is"))?;
    match line.trim().trim_start_matches("Chassis Power is").trim() {
        "on" => Some(PowerState::On),
        "off" => Some(PowerState::Off),
        _ => Some(PowerState::Unknown),
    }
}

/// ipmitool has no exit code per failure: its stderr (with `-v`) says whether the session was
/// refused — `RAKP 2 HMAC is invalid` for a wrong password, `unauthorized name` for an unknown
/// user. Without `-v` both read only "Unable to establish IPMI v2 / RMCP+ session".
fn classify_failure(target: &Target<'_>, stderr: &str) -> Option<FenceError> {
    let lower = stderr.to_ascii_lowercase();
    if lower.contains("hmac is invalid")
        || lower.contains("unauthorized")
        || lower.contains("password")
    {
        return Some(FenceError::Credentials {
            device: target.device.to_owned(),
            host: target.host.to_owned(),
        });
    }
    None
}

impl Ipmi {
    async fn chassis(
        &self,
        target: &Target<'_>,
        verb: &str,
        timeout: Duration,
    ) -> Result<String, FenceError> {
        let password = target.password(&self.password)?;
        // A private file (0600, removed on drop) whatever the secret's source was.
        let mut file = tempfile::NamedTempFile::new().map_err(|e| FenceError::Unreachable {
            device: target.device.to_owned(),
            host: target.host.to_owned(),
            source: Box::new(e),
        })?;
        let _ = writeln!(file, "{password}");
        let args: Vec<String> = [
            "-I",
            "lanplus",
            // Verbose, so that a refused login says so (see `classify_failure`).
            "-v",
            "-H",
            &self.address.replace("{host}", target.host),
            "-p",
            &self.port.to_string(),
            "-U",
            &self.username,
            "-f",
            &file.path().to_string_lossy(),
            "chassis",
            "power",
            verb,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let done = target.run(&self.program, &args, None, timeout).await?;
        if !done.status.success() {
            return Err(
                classify_failure(target, &done.stderr).unwrap_or_else(|| target.failed(&done))
            );
        }
        Ok(done.stdout)
    }

    async fn read(&self, target: &Target<'_>, timeout: Duration) -> Answer {
        let out = self.chassis(target, "status", timeout).await?;
        parse_power(&out).ok_or_else(|| target.bad_answer(&out))
    }

    /// Asks for `want`, then polls until the BMC reads it: `chassis power off` returns before
    /// the power actually drops on many BMCs.
    async fn power(&self, target: &Target<'_>, want: PowerState, timeout: Duration) -> Answer {
        let deadline = Instant::now() + timeout;
        self.chassis(target, target.action, timeout).await?;
        target
            .wait_for(want, deadline, timeout, POLL, |left| {
                self.read(target, left)
            })
            .await
    }
}

/// How often the power state is read after `chassis power off|on`.
const POLL: Duration = Duration::from_millis(500);

#[async_trait]
impl Driver for Ipmi {
    async fn run(&self, target: &Target<'_>, action: Action, timeout: Duration) -> Answer {
        match action {
            Action::Off { .. } => self.power(target, PowerState::Off, timeout).await,
            Action::On => self.power(target, PowerState::On, timeout).await,
            Action::Status => self.read(target, timeout).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_chassis_power_lines() {
        let table = [
            ("Chassis Power is on\n", Some(PowerState::On)),
            ("Chassis Power is off\n", Some(PowerState::Off)),
            ("  Chassis Power is off  \n", Some(PowerState::Off)),
            ("Chassis Power is cycling\n", Some(PowerState::Unknown)),
            ("Chassis Power Control: Down/Off\n", None),
            ("", None),
            ("Error: Unable to establish IPMI v2 / RMCP+ session\n", None),
        ];
        for (out, want) in table {
            assert_eq!(parse_power(out), want, "{out:?}");
        }
    }
}
