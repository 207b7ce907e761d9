//! Host rejoin (`COMPUTE_HOST` / `STARTED`): a host that failed and was recovered is back.
//! Taking it back into service is safe only once its recovery is over and its nova-compute has
//! cleaned up the servers evacuated away from it; otherwise a server could run twice.
//!
//! Nova records that cleanup itself: the returning nova-compute deletes the local copies of
//! evacuated servers and moves their evacuation records from `done` to `completed`; until
//! then Nova refuses `forced_down: false`. Masakari has no rejoin: the host stays in
//! maintenance and further reports from it are refused until an operator steps in.

use crate::claim::Claim;
use crate::error::StepError;
use crate::fence::Fencer;
use crate::nova::NovaError;
use crate::saga::{builtin, BuiltinStep, Ending, Outcome, Output, Outputs, Step, StepKey};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use vigil_domain::{Host, NotificationStatus, Timestamp, VMoveStatus};
use vigil_store::Page;

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
    /// Power the host back on through its fencing devices before waiting for its cleanup,
    /// for a host that was fenced off and is reported back (by its monitor after a repair, or
    /// by an operator's `STARTED` report). Off: the host's power is the operator's.
    pub power_on_after_recovery: bool,
}

impl Default for RejoinConfig {
    fn default() -> Self {
        Self {
            auto_unfence: false,
            grace_secs: 120,
            cleanup_timeout_secs: 600,
            power_on_after_recovery: false,
        }
    }
}

pub struct HostRejoin {
    pub claim: Claim,
    pub fencer: Arc<dyn Fencer>,
    pub host: Host,
    pub config: RejoinConfig,
    /// How often Nova is polled while waiting for the cleanup.
    pub poll: Duration,
}

/// The checks that make a rejoin safe: always run, whatever the operator's flow says.
pub fn safety_steps() -> Vec<Box<dyn Step<HostRejoin>>> {
    vec![
        builtin(CheckFailureRecovered),
        builtin(PowerOnHost),
        builtin(WaitForComputeCleanup),
    ]
}

pub fn builtin_steps() -> Vec<Box<dyn Step<HostRejoin>>> {
    vec![builtin(UnfenceHost)]
}

const RECOVERED: Output<Recovered> = Output::of("CheckHostFailureRecoveredTask");
const POWERED: Output<Powered> = Output::of("PowerOnHostTask").after(&[RECOVERED.step()]);
const CLEAN: Output<Clean> = Output::of("WaitForComputeCleanupTask").after(&[RECOVERED.step()]);
const UNFENCED: Output<Unfenced> = Output::of("UnfenceHostTask").after(&[CLEAN.step()]);

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Recovered {
    failure: String,
    failure_status: String,
    vmoves: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Powered {
    message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Clean {
    grace_secs: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Unfenced {
    service_id: String,
}

impl crate::custom::FlowContext for HostRejoin {
    fn context(&self) -> serde_json::Value {
        crate::custom::host_context("host_rejoin", &self.claim.notification, &self.host)
    }
}

/// The host's last failure must be over, with every vmove ended.
struct CheckFailureRecovered;

impl BuiltinStep<HostRejoin> for CheckFailureRecovered {
    const KEY: StepKey = RECOVERED.key();
    async fn run(&self, ctx: &HostRejoin, _: &Outputs) -> Result<Outcome, StepError> {
        let last = ctx
            .claim
            .store
            .host_last_failure(ctx.host.uuid, ctx.claim.notification.uuid)
            .await
            .map_err(|e| StepError::store("reading the host's last failure", e))?;
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
            return Err(StepError::refused(format!(
                "the recovery of {}'s failure ({}) is still {}: rejoin waits for it",
                ctx.host.name, failure.uuid, failure.status
            )));
        }
        let vmoves = ctx
            .claim
            .store
            .vmove_list(failure.uuid, &Default::default(), &Page::default())
            .await
            .map_err(|e| StepError::store("reading the failure's vmoves", e))?;
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
            return Err(StepError::refused(format!(
                "{open} instance moves of failure {} have not ended",
                failure.uuid
            )));
        }
        RECOVERED.put(&Recovered {
            failure: failure.uuid.to_string(),
            failure_status: failure.status.as_str().to_owned(),
            vmoves: vmoves.len(),
        })
    }
}

/// Powers a fenced host back on when the operator asked for it (`power_on_after_recovery`):
/// only now, with its failure recovered, can it run without an instance running twice.
struct PowerOnHost;

impl BuiltinStep<HostRejoin> for PowerOnHost {
    const KEY: StepKey = POWERED.key();
    async fn run(&self, ctx: &HostRejoin, _: &Outputs) -> Result<Outcome, StepError> {
        let message = if ctx.config.power_on_after_recovery {
            ctx.fencer
                .power_on(&ctx.host)
                .await
                .map_err(|source| StepError::Fence {
                    host: ctx.host.name.clone(),
                    fencer: ctx.fencer.name().to_owned(),
                    source,
                })?
        } else {
            "power_on_after_recovery is off: the host's power is left as it is".to_owned()
        };
        POWERED.put(&Powered { message })
    }
}

/// Waits until the host's nova-compute is heartbeating again and has cleaned up every server
/// evacuated away from it, and the grace period has passed.
struct WaitForComputeCleanup;

impl BuiltinStep<HostRejoin> for WaitForComputeCleanup {
    const KEY: StepKey = CLEAN.key();
    async fn run(&self, ctx: &HostRejoin, _: &Outputs) -> Result<Outcome, StepError> {
        let back_since = ctx.claim.notification.generated_time;
        let grace_until = back_since.as_micros() + (ctx.config.grace_secs as i64) * 1_000_000;
        let deadline = Instant::now() + Duration::from_secs(ctx.config.cleanup_timeout_secs);
        let mut why = String::from("not checked yet");
        while Instant::now() < deadline {
            match cleanup_state(ctx, back_since).await {
                Ok(None) if Timestamp::now().as_micros() >= grace_until => {
                    return CLEAN.put(&Clean {
                        grace_secs: ctx.config.grace_secs,
                    })
                }
                Ok(None) => why = "waiting out the grace period".into(),
                Ok(Some(reason)) => why = reason,
                // Waiting is this step's job: an unreachable Nova is one more reason to wait.
                Err(e) => why = crate::error::chain(&e),
            }
            tokio::time::sleep(ctx.poll).await;
        }
        Err(StepError::refused(format!(
            "{} not ready to rejoin after {} s: {why}",
            ctx.host.name, ctx.config.cleanup_timeout_secs
        )))
    }
}

/// `None` when the host is clean; otherwise what it is still waiting for.
async fn cleanup_state(
    ctx: &HostRejoin,
    back_since: Timestamp,
) -> Result<Option<String>, NovaError> {
    let Some(service) = ctx.claim.nova.compute_service(&ctx.host.name).await? else {
        return Ok(Some(format!(
            "Nova has no nova-compute on {}",
            ctx.host.name
        )));
    };
    // Forced down hides the state; the heartbeat shows the process is running.
    if service.updated_at.is_none_or(|t| t < back_since) {
        return Ok(Some(format!(
            "no heartbeat from {}'s nova-compute since it was reported back",
            ctx.host.name
        )));
    }
    let pending = ctx
        .claim
        .nova
        .evacuations_from(&ctx.host.name)
        .await?
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

impl BuiltinStep<HostRejoin> for UnfenceHost {
    const KEY: StepKey = UNFENCED.key();
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
        let service = ctx.claim.compute_service(&ctx.host.name).await?;
        if service.forced_down {
            ctx.claim
                .nova("clearing forced_down", |nova| {
                    nova.unforce_down(&service.id)
                })
                .await?;
        }
        ctx.claim
            .enable_service(&service, "enabling the compute service")
            .await?;
        crate::flags::set_maintenance(&ctx.claim.store, &ctx.claim.lease, &ctx.host, false).await?;
        UNFENCED.put(&Unfenced {
            service_id: service.id,
        })
    }
}
