//! The steps that make a host failure safe to act on: the host is known down (the monitor says
//! so cleanly, or the fencer sees it off), not one of many failing at once (a partition),
//! Nova can place evacuations, the host is fenced, and Nova has it forced down.

use super::HostFailure;
use crate::error::StepError;
use crate::fence::{GateError, PowerState};
use crate::saga::{BuiltinStep, Ending, Outcome, Output, Outputs, StepKey};
use serde::{Deserialize, Serialize};
use vigil_metrics::FenceOutcome;
use vigil_wire::payload::HostStatus;

pub(super) const GATE: Output<Gate> = Output::of("CheckHostStatusTask");
pub(super) const FENCED: Output<Fenced> = Output::of("FenceHostTask").after(&[GATE.step()]);
pub(super) const DISABLED: Output<Disabled> =
    Output::of("DisableComputeServiceTask").after(&[FENCED.step()]);

/// What the gate saw when it let the recovery through.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Gate {
    failed_hosts: i64,
    segment_hosts: i64,
    schedulers_up: Option<usize>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Fenced {
    fencer: String,
    message: String,
    /// How long fencing took (absent in records older than this field).
    #[serde(default)]
    seconds: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Disabled {
    service_id: String,
}

/// Acts only on a host known to be down: the monitor says `NORMAL` (it saw the host go away
/// cleanly, Masakari's rule) or the fencing driver reports it off. Refuses mass failures.
pub(super) struct CheckHostStatus;

impl BuiltinStep<HostFailure> for CheckHostStatus {
    const KEY: StepKey = GATE.key();
    async fn run(&self, ctx: &HostFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let reported = ctx.payload.host_status;
        if reported != Some(HostStatus::Normal) {
            let reported = reported.map_or("missing", HostStatus::as_str);
            let state = ctx
                .fencer
                .power_state(&ctx.host)
                .await
                .map_err(|e| fence_error(ctx, e))?;
            if state != PowerState::Off {
                return Ok(Outcome::Stop(
                    Ending::Ignored(format!(
                        "host_status is {reported}, and {} cannot confirm {} is off: not recovering",
                        ctx.fencer.name(),
                        ctx.host.name
                    )),
                    "host not confirmed down".into(),
                ));
            }
        }
        let since = ctx
            .claim
            .notification
            .generated_time
            .saturating_sub_secs(ctx.config.mass_failure_window_secs);
        let (failed, total) = ctx
            .claim
            .store
            .segment_failure_count(ctx.host.segment.uuid, since)
            .await
            .map_err(|e| StepError::store("counting recent failures", e))?;
        if ctx.config.looks_like_partition(failed, total) {
            return Err(StepError::refused(format!(
                "{failed} of {total} hosts in segment {} failed within {} s: more than {:.0} %, \
                 which looks like a partition; not fencing or evacuating (recover by hand, or \
                 raise mass_failure_share)",
                ctx.host.segment.name,
                ctx.config.mass_failure_window_secs,
                ctx.config.mass_failure_share * 100.0
            )));
        }
        let schedulers = if ctx.config.require_scheduler {
            let up = ctx
                .claim
                .nova("asking Nova for its schedulers", |nova| {
                    nova.schedulers_up()
                })
                .await?;
            if up == 0 {
                return Err(StepError::refused(
                    "Nova reports no nova-scheduler up: no evacuation could be placed, and this \
                     may be a partition; not fencing or evacuating",
                ));
            }
            Some(up)
        } else {
            None
        };
        GATE.put(&Gate {
            failed_hosts: failed,
            segment_hosts: total,
            schedulers_up: schedulers,
        })
    }
}

pub(super) struct FenceHost;

impl BuiltinStep<HostFailure> for FenceHost {
    const KEY: StepKey = FENCED.key();
    async fn run(&self, ctx: &HostFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let started = std::time::Instant::now();
        let fence = ctx
            .fencer
            .fence(&ctx.host, ctx.claim.notification.generated_time);
        let (fenced, ()) = tokio::join!(fence, super::progress::announce_while_fencing(ctx));
        ctx.claim.metrics.metrics().fence_outcome(match &fenced {
            Ok(r) if r.confirmed_off => FenceOutcome::Off,
            Ok(_) => FenceOutcome::TrustedMonitor,
            Err(_) => FenceOutcome::Failed,
        });
        let report = fenced.map_err(|e| fence_error(ctx, e))?;
        FENCED.put(&Fenced {
            fencer: ctx.fencer.name().to_owned(),
            message: report.message,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

fn fence_error(ctx: &HostFailure, source: GateError) -> StepError {
    StepError::Fence {
        host: ctx.host.name.clone(),
        fencer: ctx.fencer.name().to_owned(),
        source,
    }
}

/// Maintenance in Vigil, then forced down and disabled in Nova in one call, so evacuation may
/// start at once (Masakari disables, then sleeps 180 s waiting for Nova to notice).
pub(super) struct DisableComputeService;

impl BuiltinStep<HostFailure> for DisableComputeService {
    const KEY: StepKey = DISABLED.key();
    async fn run(&self, ctx: &HostFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let service = ctx.claim.maintain(&ctx.host).await?;
        if !(service.forced_down && service.status == "disabled") {
            let reason = format!(
                "Vigil: host failure, notification {}",
                ctx.claim.notification.uuid
            );
            ctx.claim
                .nova("forcing the compute service down", |nova| {
                    nova.force_down(&service.id, &reason)
                })
                .await?;
        }
        DISABLED.put(&Disabled {
            service_id: service.id,
        })
    }
}
