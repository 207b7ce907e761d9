//! Process failure (`PROCESS` / `STOPPED`): a critical process of a compute host stopped, so
//! the scheduler must stop placing servers there. The servers keep running; nothing is moved.
//!
//! Masakari puts the host in maintenance for any stopped process and then does nothing for
//! processes other than nova-compute; Vigil acts only on the processes configured as critical
//! and leaves the host alone for the rest.

use crate::claim::Claim;
use crate::error::StepError;
use crate::saga::{builtin, BuiltinStep, Ending, Outcome, Output, Outputs, Step, StepKey};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;
use tokio::time::Instant;
use vigil_domain::Host;
use vigil_wire::payload::ProcessPayload;

/// `[engine.process]` settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProcessRecoveryConfig {
    /// Processes whose failure disables the host's compute service.
    pub critical_processes: Vec<String>,
    /// The reason Nova records on the disabled service.
    pub service_disable_reason: String,
    /// How long to wait for Nova to show the service disabled.
    pub confirm_timeout_secs: u64,
}

impl Default for ProcessRecoveryConfig {
    fn default() -> Self {
        Self {
            critical_processes: vec!["nova-compute".into(), "libvirtd".into()],
            service_disable_reason: "Vigil detected process failed.".into(),
            confirm_timeout_secs: 180,
        }
    }
}

pub struct ProcessFailure {
    pub claim: Claim,
    pub payload: ProcessPayload,
    pub host: Host,
    pub config: ProcessRecoveryConfig,
    /// How often Nova is polled while waiting for the service to show disabled.
    pub poll: Duration,
}

impl ProcessFailure {
    fn process_name(&self) -> &str {
        &self.payload.process_name
    }
}

/// The flow (Masakari's tasks).
pub fn builtin_steps() -> Vec<Box<dyn Step<ProcessFailure>>> {
    vec![
        builtin(DisableComputeNode),
        builtin(ConfirmComputeNodeDisabled),
    ]
}

const DISABLED: Output<Disabled> = Output::of("DisableComputeNodeTask");
const CONFIRMED: Output<Confirmed> =
    Output::of("ConfirmComputeNodeDisabledTask").after(&[DISABLED.step()]);

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Disabled {
    service_id: String,
    process: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Confirmed {
    disabled_reason: Option<String>,
}

impl crate::custom::FlowContext for ProcessFailure {
    fn context(&self) -> serde_json::Value {
        let mut context =
            crate::custom::host_context("process_failure", &self.claim.notification, &self.host);
        context["process_name"] = json!(self.process_name());
        context
    }
}

struct DisableComputeNode;

impl BuiltinStep<ProcessFailure> for DisableComputeNode {
    const KEY: StepKey = DISABLED.key();
    async fn run(&self, ctx: &ProcessFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let process = ctx.process_name();
        if !ctx.config.critical_processes.iter().any(|p| p == process) {
            return Ok(Outcome::Stop(
                Ending::Finished,
                format!(
                    "{process} is not a critical process ({}): recorded, host {} left in service",
                    ctx.config.critical_processes.join(", "),
                    ctx.host.name
                ),
            ));
        }
        let service = ctx.claim.maintain(&ctx.host).await?;
        if service.status != "disabled" {
            ctx.claim
                .nova("disabling the compute service", |nova| {
                    nova.disable_service(&service.id, &ctx.config.service_disable_reason)
                })
                .await?;
        }
        DISABLED.put(&Disabled {
            service_id: service.id,
            process: process.to_owned(),
        })
    }
}

struct ConfirmComputeNodeDisabled;

impl BuiltinStep<ProcessFailure> for ConfirmComputeNodeDisabled {
    const KEY: StepKey = CONFIRMED.key();
    async fn run(&self, ctx: &ProcessFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let deadline = Instant::now() + Duration::from_secs(ctx.config.confirm_timeout_secs);
        loop {
            let service = ctx
                .claim
                .nova("reading the compute service", |nova| {
                    nova.compute_service(&ctx.host.name)
                })
                .await?;
            if let Some(s) = service.filter(|s| s.status == "disabled") {
                return CONFIRMED.put(&Confirmed {
                    disabled_reason: s.disabled_reason,
                });
            }
            if Instant::now() > deadline {
                return Err(StepError::refused(format!(
                    "the compute service of {} is not disabled after {} s",
                    ctx.host.name, ctx.config.confirm_timeout_secs
                )));
            }
            tokio::time::sleep(ctx.poll).await;
        }
    }
}
