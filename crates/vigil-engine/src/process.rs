//! Process failure (`PROCESS` / `STOPPED`): a critical process of a compute host stopped, so
//! the scheduler must stop placing servers there. The servers keep running; nothing is moved.
//!
//! Masakari puts the host in maintenance for any stopped process and then does nothing for
//! processes other than nova-compute; Vigil acts only on the processes configured as critical
//! and leaves the host alone for the rest.

use crate::nova::Nova;
use crate::saga::{Ending, Outcome, Outputs, Step, StepError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use vigil_domain::{Host, Notification};
use vigil_store::{Lease, Store};
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
    pub store: Store,
    pub nova: Arc<dyn Nova>,
    /// The engine's claim: every write on the flow's behalf is fenced by it.
    pub lease: Lease,
    pub notification: Notification,
    pub payload: ProcessPayload,
    pub host: Host,
    pub config: ProcessRecoveryConfig,
}

impl ProcessFailure {
    fn process_name(&self) -> &str {
        &self.payload.process_name
    }
}

/// The flow by Masakari task name.
pub fn builtin_steps() -> Vec<(&'static str, Box<dyn Step<ProcessFailure>>)> {
    vec![
        ("disable_compute_node_task", Box::new(DisableComputeNode)),
        (
            "confirm_compute_node_disabled_task",
            Box::new(ConfirmComputeNodeDisabled),
        ),
    ]
}

impl crate::custom::FlowContext for ProcessFailure {
    fn context(&self) -> serde_json::Value {
        json!({
            "flow": "process_failure",
            "notification": crate::custom::notification_json(&self.notification),
            "host": crate::custom::host_json(&self.host),
            "process_name": self.process_name(),
        })
    }
}

fn fail(message: impl Into<String>) -> StepError {
    StepError::new(message)
}

struct DisableComputeNode;

#[async_trait]
impl Step<ProcessFailure> for DisableComputeNode {
    fn name(&self) -> &str {
        "DisableComputeNodeTask"
    }
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
        ctx.store
            .host_set_flags(&ctx.lease, ctx.host.uuid, Some(true), None)
            .await
            .map_err(|e| fail(format!("putting the host in maintenance: {e}")))?;
        let service = ctx
            .nova
            .compute_service(&ctx.host.name)
            .await
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail(format!("Nova has no nova-compute on {}", ctx.host.name)))?;
        if service.status != "disabled" {
            ctx.nova
                .disable_service(&service.id, &ctx.config.service_disable_reason)
                .await
                .map_err(|e| fail(e.to_string()))?;
        }
        Ok(Outcome::Continue(
            json!({"service_id": service.id, "process": process}),
        ))
    }
}

struct ConfirmComputeNodeDisabled;

#[async_trait]
impl Step<ProcessFailure> for ConfirmComputeNodeDisabled {
    fn name(&self) -> &str {
        "ConfirmComputeNodeDisabledTask"
    }
    async fn run(&self, ctx: &ProcessFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let deadline = Instant::now() + Duration::from_secs(ctx.config.confirm_timeout_secs);
        loop {
            match ctx.nova.compute_service(&ctx.host.name).await {
                Ok(Some(s)) if s.status == "disabled" => {
                    return Ok(Outcome::Continue(
                        json!({"disabled_reason": s.disabled_reason}),
                    ))
                }
                Ok(_) => {}
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(fail(e.to_string())),
            }
            if Instant::now() > deadline {
                return Err(fail(format!(
                    "the compute service of {} is not disabled after {} s",
                    ctx.host.name, ctx.config.confirm_timeout_secs
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
