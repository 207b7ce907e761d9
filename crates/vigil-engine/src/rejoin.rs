//! Host rejoin (`COMPUTE_HOST` / `STARTED`): a host that failed and was recovered is back.
//! Taking it back into service is safe only once its recovery is over and its nova-compute has
//! cleaned up the servers evacuated away from it; otherwise a server could run twice.
//!
//! Nova records that cleanup itself: the returning nova-compute deletes the local copies of
//! evacuated servers and moves their evacuation records from `done` to `completed`; until
//! then Nova refuses `forced_down: false`. Masakari has no rejoin: the host stays in
//! maintenance and further reports from it are refused until an operator steps in.

use crate::nova::Nova;
use crate::saga::{Ending, Outcome, Outputs, Step, StepError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use vigil_domain::{Host, Notification, NotificationStatus, Timestamp, VMoveStatus};
use vigil_store::{Lease, Page, Store};

/// `[engine.rejoin]` settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RejoinConfig {
    /// Take the host back into service (clear forced-down, enable its compute service, end
    /// its maintenance) once it is safe. Off: the flow confirms it is safe and says so.
    pub auto_unfence: bool,
    /// How long the host must have been back (since the report) before it is taken back.
    pub grace_secs: u64,
    /// Give up waiting for the cleanup after this long (the report is then retried).
    pub cleanup_timeout_secs: u64,
}

impl Default for RejoinConfig {
    fn default() -> Self {
        Self {
            auto_unfence: false,
            grace_secs: 120,
            cleanup_timeout_secs: 600,
        }
    }
}

pub struct HostRejoin {
    pub store: Store,
    pub nova: Arc<dyn Nova>,
    /// The engine's claim: every write on the flow's behalf is fenced by it.
    pub lease: Lease,
    pub notification: Notification,
    pub host: Host,
    pub config: RejoinConfig,
}

/// The checks that make a rejoin safe: always run, whatever the operator's flow says.
pub fn safety_steps() -> Vec<Box<dyn Step<HostRejoin>>> {
    vec![
        Box::new(CheckFailureRecovered),
        Box::new(WaitForComputeCleanup),
    ]
}

pub fn builtin_steps() -> Vec<(&'static str, Box<dyn Step<HostRejoin>>)> {
    vec![("unfence_host_task", Box::new(UnfenceHost))]
}

impl crate::custom::FlowContext for HostRejoin {
    fn context(&self) -> serde_json::Value {
        json!({
            "flow": "host_rejoin",
            "notification": crate::custom::notification_json(&self.notification),
            "host": crate::custom::host_json(&self.host),
        })
    }
}

fn fail(message: impl Into<String>) -> StepError {
    StepError::new(message)
}

const POLL: Duration = Duration::from_millis(500);

/// The host's last failure must be over, with every vmove ended.
struct CheckFailureRecovered;

#[async_trait]
impl Step<HostRejoin> for CheckFailureRecovered {
    fn name(&self) -> &str {
        "CheckHostFailureRecoveredTask"
    }
    async fn run(&self, ctx: &HostRejoin, _: &Outputs) -> Result<Outcome, StepError> {
        let last = ctx
            .store
            .host_last_failure(ctx.host.uuid, ctx.notification.uuid)
            .await
            .map_err(|e| fail(format!("reading the host's last failure: {e}")))?;
        let Some(failure) = last else {
            return Ok(Outcome::Stop(
                Ending::Finished,
                format!(
                    "no failure of {} on record: nothing to rejoin",
                    ctx.host.name
                ),
            ));
        };
        if NotificationStatus::IN_PROGRESS.contains(&failure.status) {
            return Err(fail(format!(
                "the recovery of {}'s failure ({}) is still {}: rejoin waits for it",
                ctx.host.name, failure.uuid, failure.status
            )));
        }
        let vmoves = ctx
            .store
            .vmove_list(failure.uuid, &Default::default(), &Page::default())
            .await
            .map_err(|e| fail(format!("reading the failure's vmoves: {e}")))?;
        let open = vmoves
            .iter()
            .filter(|v| {
                matches!(
                    v.movement.status,
                    VMoveStatus::Pending | VMoveStatus::Ongoing
                )
            })
            .count();
        if open > 0 {
            return Err(fail(format!(
                "{open} instance moves of failure {} have not ended",
                failure.uuid
            )));
        }
        Ok(Outcome::Continue(json!({
            "failure": failure.uuid.to_string(),
            "failure_status": failure.status.as_str(),
            "vmoves": vmoves.len(),
        })))
    }
}

/// Waits until the host's nova-compute is heartbeating again and has cleaned up every server
/// evacuated away from it, and the grace period has passed.
struct WaitForComputeCleanup;

#[async_trait]
impl Step<HostRejoin> for WaitForComputeCleanup {
    fn name(&self) -> &str {
        "WaitForComputeCleanupTask"
    }
    async fn run(&self, ctx: &HostRejoin, _: &Outputs) -> Result<Outcome, StepError> {
        let back_since = ctx.notification.generated_time;
        let grace_until = back_since.as_micros() + (ctx.config.grace_secs as i64) * 1_000_000;
        let deadline = Instant::now() + Duration::from_secs(ctx.config.cleanup_timeout_secs);
        let mut why = String::from("not checked yet");
        while Instant::now() < deadline {
            match cleanup_state(ctx, back_since).await {
                Ok(None) if Timestamp::now().as_micros() >= grace_until => {
                    return Ok(Outcome::Continue(
                        json!({ "grace_secs": ctx.config.grace_secs }),
                    ))
                }
                Ok(None) => why = "waiting out the grace period".into(),
                Ok(Some(reason)) => why = reason,
                Err(e) => why = e,
            }
            tokio::time::sleep(POLL).await;
        }
        Err(fail(format!(
            "{} not ready to rejoin after {} s: {why}",
            ctx.host.name, ctx.config.cleanup_timeout_secs
        )))
    }
}

/// `None` when the host is clean; otherwise what it is still waiting for.
async fn cleanup_state(ctx: &HostRejoin, back_since: Timestamp) -> Result<Option<String>, String> {
    let service = ctx
        .nova
        .compute_service(&ctx.host.name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("Nova has no nova-compute on {}", ctx.host.name))?;
    // Forced down hides the state; the heartbeat shows the process is running.
    if service.updated_at.is_none_or(|t| t < back_since) {
        return Ok(Some(format!(
            "no heartbeat from {}'s nova-compute since it was reported back",
            ctx.host.name
        )));
    }
    let pending = ctx
        .nova
        .evacuations_from(&ctx.host.name)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|m| m.status == "done")
        .count();
    if pending > 0 {
        return Ok(Some(format!(
            "{pending} evacuated servers not yet cleaned up by {}'s nova-compute",
            ctx.host.name
        )));
    }
    Ok(None)
}

struct UnfenceHost;

#[async_trait]
impl Step<HostRejoin> for UnfenceHost {
    fn name(&self) -> &str {
        "UnfenceHostTask"
    }
    async fn run(&self, ctx: &HostRejoin, _: &Outputs) -> Result<Outcome, StepError> {
        if !ctx.config.auto_unfence {
            return Ok(Outcome::Stop(
                Ending::Finished,
                format!(
                    "{} is safe to rejoin; auto_unfence is off: clear forced_down, enable its \
                     compute service and end its maintenance to take it back",
                    ctx.host.name
                ),
            ));
        }
        let service = ctx
            .nova
            .compute_service(&ctx.host.name)
            .await
            .map_err(|e| fail(e.to_string()))?
            .ok_or_else(|| fail(format!("Nova has no nova-compute on {}", ctx.host.name)))?;
        if service.forced_down {
            ctx.nova
                .unforce_down(&service.id)
                .await
                .map_err(|e| fail(format!("clearing forced_down: {e}")))?;
        }
        if service.status != "enabled" {
            ctx.nova
                .enable_service(&service.id)
                .await
                .map_err(|e| fail(format!("enabling the compute service: {e}")))?;
        }
        ctx.store
            .host_set_flags(&ctx.lease, ctx.host.uuid, Some(false), None)
            .await
            .map_err(|e| fail(format!("ending the host's maintenance: {e}")))?;
        Ok(Outcome::Continue(json!({ "service_id": service.id })))
    }
}
