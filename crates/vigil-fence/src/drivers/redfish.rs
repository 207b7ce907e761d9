//! The Redfish driver: a native HTTPS client for a BMC's ComputerSystem — `ForceOff` / `On`
//! through `ComputerSystem.Reset`, then `PowerState` polled until the device reads it.

use super::{Answer, Driver, Target};
use crate::{Action, FenceError, PowerState, Secret};
use async_trait::async_trait;
use reqwest::{Client, StatusCode};
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How to reach one Redfish service. `url` may hold `{host}`, expanded per call.
#[derive(Clone, Debug)]
pub struct RedfishOptions {
    pub url: String,
    /// The system's id under `/redfish/v1/Systems/`; without it the collection is searched
    /// for a system whose `Name`, `HostName` or `Id` is the host's name.
    pub system_id: Option<String>,
    pub username: String,
    pub password: Secret,
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
}

pub struct Redfish {
    options: RedfishOptions,
    client: Client,
}

/// Reads a ComputerSystem's `PowerState`. Redfish's transitional values are not off.
pub fn parse_power(system: &Value) -> Option<PowerState> {
    Some(match system.get("PowerState")?.as_str()? {
        "On" => PowerState::On,
        "Off" => PowerState::Off,
        _ => PowerState::Unknown,
    })
}

/// How often `PowerState` is read after a reset.
const POLL: Duration = Duration::from_millis(250);

/// The member links of a Systems collection.
pub fn parse_members(collection: &Value) -> Option<Vec<String>> {
    collection
        .get("Members")?
        .as_array()?
        .iter()
        .map(|m| m.get("@odata.id")?.as_str().map(str::to_owned))
        .collect()
}

/// Whether a ComputerSystem is the one for `host`.
pub fn system_matches(system: &Value, host: &str) -> bool {
    ["Name", "HostName", "Id"]
        .iter()
        .any(|k| system.get(*k).and_then(Value::as_str) == Some(host))
}

/// The reset action's target, as the system advertises it (or the standard path).
pub fn reset_target(system_path: &str, system: &Value) -> String {
    system
        .pointer("/Actions/#ComputerSystem.Reset/target")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{system_path}/Actions/ComputerSystem.Reset"))
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("trusting the CA file")]
    Ca(#[source] vigil_openstack::tls::CaFileError),
    #[error("building the HTTPS client")]
    Client(#[source] reqwest::Error),
}

impl Redfish {
    pub fn new(options: RedfishOptions) -> Result<Redfish, BuildError> {
        let mut builder = Client::builder().connect_timeout(Duration::from_secs(10));
        if let Some(path) = &options.ca_file {
            builder = vigil_openstack::tls::trust_ca_file(builder, path).map_err(BuildError::Ca)?;
        }
        if options.insecure {
            // Asked for per device, for lab BMCs with self-signed certificates and no CA file.
            builder = builder.danger_accept_invalid_certs(true);
        }
        let client = builder.build().map_err(BuildError::Client)?;
        Ok(Redfish { options, client })
    }

    fn base(&self, host: &str) -> String {
        self.options
            .url
            .replace("{host}", host)
            .trim_end_matches('/')
            .to_owned()
    }

    fn error(&self, target: &Target<'_>, e: reqwest::Error, timeout: Duration) -> FenceError {
        if e.is_timeout() {
            return target.timed_out(timeout);
        }
        // reqwest reports a refused certificate as a connect error; only its causes say TLS.
        let mut cause: Option<&dyn std::error::Error> = Some(&e);
        while let Some(c) = cause {
            let text = c.to_string().to_ascii_lowercase();
            if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
                return FenceError::Tls {
                    device: target.device.to_owned(),
                    host: target.host.to_owned(),
                    source: Box::new(e),
                };
            }
            cause = c.source();
        }
        if e.is_decode() {
            return target.bad_answer(&e.to_string());
        }
        FenceError::Unreachable {
            device: target.device.to_owned(),
            host: target.host.to_owned(),
            source: Box::new(e),
        }
    }

    /// One request with basic auth, bounded by what is left of the deadline.
    async fn call(
        &self,
        target: &Target<'_>,
        request: reqwest::RequestBuilder,
        left: Duration,
    ) -> Result<Value, FenceError> {
        let password = target.password(&self.options.password)?;
        let response = request
            .basic_auth(&self.options.username, Some(password))
            .timeout(left)
            .send()
            .await
            .map_err(|e| self.error(target, e, left))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| self.error(target, e, left))?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(FenceError::Credentials {
                device: target.device.to_owned(),
                host: target.host.to_owned(),
            });
        }
        let json: Value = if body.trim().is_empty() {
            Value::Null
        } else {
            match serde_json::from_str(&body) {
                Ok(v) => v,
                Err(_) if !status.is_success() => Value::Null,
                Err(_) => return Err(target.bad_answer(&body)),
            }
        };
        if !status.is_success() {
            let message = json
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(FenceError::Device {
                device: target.device.to_owned(),
                host: target.host.to_owned(),
                detail: format!("HTTP {status}: {message}"),
            });
        }
        Ok(json)
    }

    /// Finds the host's ComputerSystem: its path and its current representation.
    async fn system(
        &self,
        target: &Target<'_>,
        deadline: Instant,
    ) -> Result<(String, Value), FenceError> {
        let base = self.base(target.host);
        let left = || deadline.saturating_duration_since(Instant::now());
        if let Some(id) = &self.options.system_id {
            let path = format!("/redfish/v1/Systems/{}", id.replace("{host}", target.host));
            let system = self
                .call(target, self.client.get(format!("{base}{path}")), left())
                .await?;
            return Ok((path, system));
        }
        let collection = self
            .call(
                target,
                self.client.get(format!("{base}/redfish/v1/Systems")),
                left(),
            )
            .await?;
        let members =
            parse_members(&collection).ok_or_else(|| target.bad_answer(&collection.to_string()))?;
        for path in members {
            let system = self
                .call(target, self.client.get(format!("{base}{path}")), left())
                .await?;
            if system_matches(&system, target.host) {
                return Ok((path, system));
            }
        }
        Err(FenceError::NoSuchHost {
            device: target.device.to_owned(),
            host: target.host.to_owned(),
        })
    }

    /// Resets to `reset_type` unless already in `want`, then polls until the device reads it.
    async fn power(
        &self,
        target: &Target<'_>,
        reset_type: &str,
        want: PowerState,
        timeout: Duration,
    ) -> Answer {
        let deadline = Instant::now() + timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        let (path, system) = self.system(target, deadline).await?;
        let url = format!("{}{path}", self.base(target.host));
        if parse_power(&system) == Some(want) {
            return Ok(want);
        }
        let reset = format!("{}{}", self.base(target.host), reset_target(&path, &system));
        let body = serde_json::json!({ "ResetType": reset_type });
        self.call(target, self.client.post(reset).json(&body), left())
            .await?;
        let url = &url;
        let read = |left| async move {
            let system = self.call(target, self.client.get(url), left).await?;
            parse_power(&system).ok_or_else(|| target.bad_answer(&system.to_string()))
        };
        target.wait_for(want, deadline, timeout, POLL, read).await
    }
}

#[async_trait]
impl Driver for Redfish {
    async fn run(&self, target: &Target<'_>, action: Action, timeout: Duration) -> Answer {
        match action {
            Action::Off { .. } => {
                self.power(target, "ForceOff", PowerState::Off, timeout)
                    .await
            }
            Action::On => self.power(target, "On", PowerState::On, timeout).await,
            Action::Status => {
                let (_, system) = self.system(target, Instant::now() + timeout).await?;
                parse_power(&system).ok_or_else(|| target.bad_answer(&system.to_string()))
            }
        }
    }
}
