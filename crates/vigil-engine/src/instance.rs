//! Instance failure (`VM`): a server's domain stopped or failed on a healthy host. Restart it
//! (stop, start, confirm ACTIVE, as Masakari does); once it has used its restart budget,
//! relocate it with a cold migration instead, since a server that keeps failing on one host
//! may be failing because of that host.

use crate::claim::Claim;
use crate::error::StepError;
use crate::nova::{NovaError, Server};
use crate::planner::truthy;
use crate::saga::{builtin, BuiltinStep, Ending, Outcome, Output, Outputs, Step, StepKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;
use vigil_domain::{Classify, ErrorClass};
use vigil_domain::{InstanceMove, Timestamp, VMoveStatus, VMoveType};
use vigil_wire::payload::VmPayload;

/// The (`event`, `vir_domain_event`) pairs an instance failure is recovered for (Masakari's);
/// reports of any other pair end `ignored`.
pub const RECOVERED_EVENTS: [(&str, &str); 3] = [
    ("LIFECYCLE", "STOPPED_FAILED"),
    ("QEMU_GUEST_AGENT_ERROR", "STOPPED_FAILED"),
    ("IO_ERROR", "IO_ERROR_REPORT"),
];

/// `[engine.instance]` settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstanceRecoveryConfig {
    /// Recover servers without the HA metadata key too (Masakari's option).
    pub process_all_instances: bool,
    pub ha_enabled_instance_metadata_key: String,
    /// Restarts in place allowed within `restart_window_secs` before the next failure
    /// relocates the server: 0 relocates at once, -1 never relocates.
    pub restart_budget: i64,
    pub restart_window_secs: u64,
    pub stop_timeout_secs: u64,
    pub start_timeout_secs: u64,
    pub migrate_timeout_secs: u64,
}

impl Default for InstanceRecoveryConfig {
    fn default() -> Self {
        Self {
            process_all_instances: false,
            ha_enabled_instance_metadata_key: "HA_Enabled".into(),
            restart_budget: 3,
            restart_window_secs: 3600,
            stop_timeout_secs: 180,
            start_timeout_secs: 60,
            migrate_timeout_secs: 300,
        }
    }
}

pub struct InstanceFailure {
    pub claim: Claim,
    pub payload: VmPayload,
    pub config: InstanceRecoveryConfig,
    /// How often Nova is polled while waiting for the server.
    pub poll: Duration,
}

impl InstanceFailure {
    fn instance(&self) -> &str {
        &self.payload.instance_uuid
    }
}

/// The flow (Masakari's tasks, and Vigil's relocation step).
pub fn builtin_steps() -> Vec<Box<dyn Step<InstanceFailure>>> {
    vec![
        builtin(StopInstance),
        builtin(RelocateInstance),
        builtin(StartInstance),
        builtin(ConfirmInstanceActive),
    ]
}

const STOPPED: Output<Stopped> = Output::of("StopInstanceTask");
/// `null` in the record of a relocation interrupted before it ended.
const RELOCATED: Output<Option<Relocated>> =
    Output::of("RelocateInstanceTask").after(&[STOPPED.step()]);
const STARTED: Output<Started> = Output::of("StartInstanceTask");
const CONFIRMED: Output<Confirmed> = Output::of("ConfirmInstanceActiveTask");

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Stopped {
    host: Option<String>,
    restarts_in_window: i64,
    relocate: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Relocated {
    relocated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    to: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Started {
    started: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Confirmed {
    host: Option<String>,
}

impl crate::custom::FlowContext for InstanceFailure {
    fn context(&self) -> Value {
        json!({
            "flow": "instance_failure",
            "notification": crate::custom::notification_json(&self.claim.notification),
            "instance_uuid": self.instance(),
        })
    }
}

/// Reads the server, retrying transient errors; `None` once it is gone.
async fn server(ctx: &InstanceFailure) -> Result<Option<Server>, StepError> {
    ctx.claim
        .nova("reading the server", |nova| nova.server(ctx.instance()))
        .await
}

/// Waits until `done(server)` or the timeout; a deleted server ends the wait with `None`.
async fn wait_for(
    ctx: &InstanceFailure,
    what: &str,
    timeout_secs: u64,
    done: impl Fn(&Server) -> bool,
) -> Result<Option<Server>, StepError> {
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    loop {
        match server(ctx).await? {
            None => return Ok(None),
            Some(s) if done(&s) => return Ok(Some(s)),
            Some(s) if Instant::now() > deadline => {
                return Err(StepError::refused(format!(
                    "{} not {what} after {timeout_secs} s (vm_state {}, task_state {:?})",
                    s.id, s.vm_state, s.task_state
                )))
            }
            Some(_) => tokio::time::sleep(ctx.poll).await,
        }
    }
}

fn settled(s: &Server, vm_state: &str) -> bool {
    s.task_state.is_none() && s.vm_state == vm_state
}

fn gone(instance: &str) -> Outcome {
    Outcome::Stop(
        Ending::Finished,
        format!("server {instance} no longer exists"),
    )
}

/// Nova's answer to a stop or start: whether the server is still there. A conflict (409:
/// already stopping, stopped or starting) is no failure, as in Masakari.
fn still_there(
    answer: Result<(), NovaError>,
    action: impl Fn() -> String,
) -> Result<bool, StepError> {
    match answer {
        Ok(()) => Ok(true),
        Err(e) => match e.class() {
            ErrorClass::Conflict => Ok(true),
            ErrorClass::Gone => Ok(false),
            _ => Err(StepError::nova(action(), e)),
        },
    }
}

/// The instance steps' gone check: `act` on the instance's server, or the flow ends when the
/// server no longer exists.
async fn on_server(
    ctx: &InstanceFailure,
    act: impl AsyncFnOnce(&str, Server) -> Result<Outcome, StepError>,
) -> Result<Outcome, StepError> {
    let id = ctx.instance();
    match server(ctx).await? {
        Some(s) => act(id, s).await,
        None => Ok(gone(id)),
    }
}

/// Decides restart or relocation, then stops the server (Masakari's StopInstanceTask).
struct StopInstance;

impl BuiltinStep<InstanceFailure> for StopInstance {
    const KEY: StepKey = STOPPED.key();
    async fn run(&self, ctx: &InstanceFailure, _: &Outputs) -> Result<Outcome, StepError> {
        on_server(ctx, async |id, s| {
            let ha = s
                .metadata
                .get(&ctx.config.ha_enabled_instance_metadata_key)
                .is_some_and(|v| truthy(v));
            if !ha && !ctx.config.process_all_instances {
                return Ok(Outcome::Stop(
                    Ending::Finished,
                    format!(
                        "server {id} is not HA-enabled (metadata {}): nothing done",
                        ctx.config.ha_enabled_instance_metadata_key
                    ),
                ));
            }
            if matches!(s.vm_state.as_str(), "paused" | "rescued") {
                return Ok(Outcome::Stop(
                    Ending::Ignored(format!("server {id} is {}: left as it is", s.vm_state)),
                    "ignored".into(),
                ));
            }
            let restarts = restarts_in_window(ctx).await?;
            let budget = ctx.config.restart_budget;
            let relocate = budget >= 0 && restarts >= budget;
            if s.vm_state == "resized" {
                reset(ctx, id, "active").await?;
            }
            if !settled(&s, "stopped") {
                let answer = ctx.claim.nova.stop_server(id).await;
                if !still_there(answer, || format!("stopping {id}"))? {
                    return Ok(gone(id));
                }
                if wait_for(ctx, "stopped", ctx.config.stop_timeout_secs, |s| {
                    settled(s, "stopped")
                })
                .await?
                .is_none()
                {
                    return Ok(gone(id));
                }
            }
            STOPPED.put(&Stopped {
                host: s.host,
                restarts_in_window: restarts,
                relocate,
            })
        })
        .await
    }
}

async fn reset(ctx: &InstanceFailure, id: &str, state: &str) -> Result<(), StepError> {
    ctx.claim
        .nova
        .reset_state(id, state)
        .await
        .map_err(|e| StepError::nova(format!("resetting {id} to {state}"), e))
}

/// Restarts in place of this server by earlier reports within the window, counted back to its
/// last relocation (a relocated server starts with a fresh budget).
async fn restarts_in_window(ctx: &InstanceFailure) -> Result<i64, StepError> {
    let since = Timestamp::now().saturating_sub_secs(ctx.config.restart_window_secs);
    let earlier = ctx
        .claim
        .store
        .instance_recoveries(ctx.instance(), since, ctx.claim.notification.uuid)
        .await
        .map_err(|e| StepError::store("reading earlier recoveries", e))?;
    let mut restarts = 0;
    for id in earlier {
        let log = ctx
            .claim
            .store
            .flow_log_load(id)
            .await
            .map_err(|e| StepError::store("reading earlier recoveries", e))?;
        let record = log.iter().find(|s| s.step.name == RELOCATED.step());
        // Stopped before relocating or restarting (not HA-enabled, gone): not a restart.
        let Some(text) = record.and_then(|s| s.output.as_deref()) else {
            continue;
        };
        let output = serde_json::from_str(text).map_err(|source| StepError::BadOutput {
            step: RELOCATED.step(),
            source,
        })?;
        match RELOCATED.decode(output)? {
            Some(r) if r.relocated => break,
            _ => restarts += 1,
        }
    }
    Ok(restarts)
}

/// Past the restart budget, cold-migrates the stopped server to another host.
struct RelocateInstance;

impl BuiltinStep<InstanceFailure> for RelocateInstance {
    const KEY: StepKey = RELOCATED.key();
    async fn run(&self, ctx: &InstanceFailure, done: &Outputs) -> Result<Outcome, StepError> {
        let stop = STOPPED.get(done)?;
        if !stop.relocate {
            return RELOCATED.put(&Some(Relocated {
                relocated: false,
                from: None,
                to: None,
            }));
        }
        let id = ctx.instance();
        let from = stop.host.unwrap_or_default();
        let Some(s) = server(ctx).await? else {
            return Ok(gone(id));
        };
        let mut record = InstanceMove {
            instance_uuid: id.to_owned(),
            instance_name: s.name.clone(),
            source_host: Some(from.clone()),
            dest_host: None,
            start_time: Some(Timestamp::now()),
            end_time: None,
            vmove_type: VMoveType::Migration,
            status: VMoveStatus::Ongoing,
            message: None,
        };
        put(ctx, &record).await?;
        let moved = migrate(ctx, id, &from).await;
        record.end_time = Some(Timestamp::now());
        match &moved {
            Ok(Some(to)) => {
                record.status = VMoveStatus::Succeeded;
                record.dest_host = Some(to.clone());
            }
            Ok(None) => {
                record.status = VMoveStatus::Ignored;
                record.message = Some("the server was deleted".into());
            }
            Err(e) => {
                record.status = VMoveStatus::Failed;
                record.message = Some(format!("Failed reason: {}", crate::error::chain(e)));
            }
        }
        put(ctx, &record).await?;
        match moved? {
            Some(to) => RELOCATED.put(&Some(Relocated {
                relocated: true,
                from: Some(from),
                to: Some(to),
            })),
            None => Ok(gone(id)),
        }
    }
}

async fn put(ctx: &InstanceFailure, record: &InstanceMove) -> Result<(), StepError> {
    ctx.claim
        .store
        .vmove_put(&ctx.claim.lease, record)
        .await
        .map(drop)
        .map_err(|e| StepError::store("recording the vmove", e))
}

/// Drives a cold migration to its confirmation; safe to run twice (a server already moved
/// is not moved again, one waiting in VERIFY_RESIZE is confirmed). Returns the new host.
async fn migrate(ctx: &InstanceFailure, id: &str, from: &str) -> Result<Option<String>, StepError> {
    let deadline = Instant::now() + Duration::from_secs(ctx.config.migrate_timeout_secs);
    let mut asked = false;
    loop {
        let Some(s) = server(ctx).await? else {
            return Ok(None);
        };
        let host = s.host.clone().unwrap_or_default();
        match (s.vm_state.as_str(), s.task_state.as_deref()) {
            ("resized", None) => match ctx.claim.nova.confirm_resize(id).await {
                Ok(()) => {}
                Err(e) if matches!(e.class(), ErrorClass::Conflict | ErrorClass::Transient) => {}
                Err(e) => {
                    return Err(StepError::nova(
                        format!("confirming the migration of {id}"),
                        e,
                    ))
                }
            },
            ("stopped", None) if host != from => return Ok(Some(host)),
            ("stopped", None) if !asked => match ctx.claim.nova.migrate_server(id).await {
                Ok(()) => asked = true,
                Err(e) if e.class() == ErrorClass::Transient => {}
                Err(e) => return Err(StepError::nova(format!("migrating {id}"), e)),
            },
            ("error", _) => {
                return Err(StepError::refused(format!(
                    "the migration of {id} left it in error on {host}"
                )))
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(StepError::refused(format!(
                "{id} not migrated after {} s (vm_state {}, task_state {:?})",
                ctx.config.migrate_timeout_secs, s.vm_state, s.task_state
            )));
        }
        tokio::time::sleep(ctx.poll).await;
    }
}

struct StartInstance;

impl BuiltinStep<InstanceFailure> for StartInstance {
    const KEY: StepKey = STARTED.key();
    async fn run(&self, ctx: &InstanceFailure, _: &Outputs) -> Result<Outcome, StepError> {
        on_server(ctx, async |id, s| {
            if s.vm_state == "active" {
                return STARTED.put(&Started { started: false });
            }
            if !settled(&s, "stopped") {
                return Err(StepError::refused(format!(
                    "{id} cannot be started from vm_state {} (task_state {:?})",
                    s.vm_state, s.task_state
                )));
            }
            let answer = ctx.claim.nova.start_server(id).await;
            if !still_there(answer, || format!("starting {id}"))? {
                return Ok(gone(id));
            }
            STARTED.put(&Started { started: true })
        })
        .await
    }
}

struct ConfirmInstanceActive;

impl BuiltinStep<InstanceFailure> for ConfirmInstanceActive {
    const KEY: StepKey = CONFIRMED.key();
    async fn run(&self, ctx: &InstanceFailure, _: &Outputs) -> Result<Outcome, StepError> {
        match wait_for(ctx, "ACTIVE", ctx.config.start_timeout_secs, |s| {
            settled(s, "active")
        })
        .await?
        {
            Some(s) => {
                ctx.claim.metrics.server_recovered();
                CONFIRMED.put(&Confirmed { host: s.host })
            }
            None => Ok(gone(ctx.instance())),
        }
    }
}
