//! The IPMI driver: `ipmitool -I lanplus … chassis power off|on|status`, the password handed over
//! in a file (`-f`) so it never shows in the process list.

use super::Target;
use crate::{FenceError, Fencer, PowerState, Secret};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::io::Write;
use std::time::{Duration, Instant};

/// One BMC reached over IPMI v2 (lanplus). `address` may hold `{host}`, expanded per call.
pub struct Ipmi {
    pub name: String,
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
        let password =
            self.password
                .read()
                .map_err(|source| FenceError::CredentialsUnreadable {
                    device: self.name.clone(),
                    host: target.host.to_owned(),
                    source,
                })?;
        // A private file (0600, removed on drop) whatever the secret's source was.
        let mut file = tempfile::NamedTempFile::new().map_err(|e| FenceError::Unreachable {
            device: self.name.clone(),
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

    async fn read(&self, target: &Target<'_>, timeout: Duration) -> Result<PowerState, FenceError> {
        let out = self.chassis(target, "status", timeout).await?;
        parse_power(&out).ok_or_else(|| target.bad_answer(&out))
    }

    /// Asks for `want`, then polls until the BMC reads it: `chassis power off` returns before
    /// the power actually drops on many BMCs.
    async fn power(
        &self,
        host: &str,
        action: &'static str,
        want: PowerState,
        timeout: Duration,
    ) -> Result<PowerState, FenceError> {
        let target = Target {
            device: &self.name,
            host,
            action,
        };
        let deadline = Instant::now() + timeout;
        self.chassis(&target, action, timeout).await?;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(target.timed_out(timeout));
            }
            let state = self.read(&target, left).await?;
            if state == want {
                return Ok(state);
            }
            tokio::time::sleep(Duration::from_millis(500).min(left)).await;
        }
    }
}

#[async_trait]
impl Fencer for Ipmi {
    fn name(&self) -> &str {
        &self.name
    }
    async fn off(
        &self,
        host: &str,
        _since: Option<DateTime<Utc>>,
        timeout: Duration,
    ) -> Result<PowerState, FenceError> {
        self.power(host, "off", PowerState::Off, timeout).await
    }
    async fn on(&self, host: &str, timeout: Duration) -> Result<PowerState, FenceError> {
        self.power(host, "on", PowerState::On, timeout).await
    }
    async fn status(&self, host: &str, timeout: Duration) -> Result<PowerState, FenceError> {
        let target = Target {
            device: &self.name,
            host,
            action: "status",
        };
        self.read(&target, timeout).await
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
