//! Instance failure (`VM`): a server's domain stopped or failed on a healthy host. Restart it
//! (stop, start, confirm ACTIVE, as Masakari does); once it has used its restart budget,
//! relocate it with a cold migration instead, since a server that keeps failing on one host
//! may be failing because of that host.

use crate::nova::{Nova, NovaError, Server};
use crate::planner::truthy;
use crate::saga::{Ending, Outcome, Outputs, Step, StepError};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use vigil_domain::{InstanceMove, Notification, Timestamp, VMoveStatus, VMoveType};
use vigil_store::{Lease, Store};
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
    pub store: Store,
    pub nova: Arc<dyn Nova>,
    /// The engine's claim: every write on the flow's behalf is fenced by it.
    pub lease: Lease,
    pub notification: Notification,
    pub payload: VmPayload,
    pub config: InstanceRecoveryConfig,
}

impl InstanceFailure {
    fn instance(&self) -> &str {
        &self.payload.instance_uuid
    }
}

/// The flow by task name (Masakari's names, and Vigil's relocation step).
pub fn builtin_steps() -> Vec<(&'static str, Box<dyn Step<InstanceFailure>>)> {
    vec![
        ("stop_instance_task", Box::new(StopInstance)),
        ("relocate_instance_task", Box::new(RelocateInstance)),
        ("start_instance_task", Box::new(StartInstance)),
        (
            "confirm_instance_active_task",
            Box::new(ConfirmInstanceActive),
        ),
    ]
}

impl crate::custom::FlowContext for InstanceFailure {
    fn context(&self) -> Value {
        json!({
            "flow": "instance_failure",
            "notification": crate::custom::notification_json(&self.notification),
            "instance_uuid": self.instance(),
        })
    }
}

fn fail(message: impl Into<String>) -> StepError {
    StepError::new(message)
}

const POLL: Duration = Duration::from_millis(500);

/// Reads the server, retrying transient errors; `None` once it is gone.
async fn server(ctx: &InstanceFailure) -> Result<Option<Server>, StepError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match ctx.nova.server(ctx.instance()).await {
            Ok(s) => return Ok(s),
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tokio::time::sleep(POLL).await
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    }
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
                return Err(fail(format!(
                    "{} not {what} after {timeout_secs} s (vm_state {}, task_state {:?})",
                    s.id, s.vm_state, s.task_state
                )))
            }
            Some(_) => tokio::time::sleep(POLL).await,
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

/// Decides restart or relocation, then stops the server (Masakari's StopInstanceTask).
struct StopInstance;

#[async_trait]
impl Step<InstanceFailure> for StopInstance {
    fn name(&self) -> &str {
        "StopInstanceTask"
    }
    async fn run(&self, ctx: &InstanceFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let id = ctx.instance();
        let Some(s) = server(ctx).await? else {
            return Ok(gone(id));
        };
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
            match ctx.nova.stop_server(id).await {
                // 409: already stopping or stopped (Masakari tolerates it too).
                Ok(()) | Err(NovaError::Conflict(_)) => {}
                Err(NovaError::NotFound(_)) => return Ok(gone(id)),
                Err(e) => return Err(fail(format!("stopping {id}: {e}"))),
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
        Ok(Outcome::Continue(json!({
            "host": s.host,
            "restarts_in_window": restarts,
            "relocate": relocate,
        })))
    }
}

async fn reset(ctx: &InstanceFailure, id: &str, state: &str) -> Result<(), StepError> {
    ctx.nova
        .reset_state(id, state)
        .await
        .map_err(|e| fail(format!("resetting {id} to {state}: {e}")))
}

/// Restarts in place of this server by earlier reports within the window, counted back to its
/// last relocation (a relocated server starts with a fresh budget).
async fn restarts_in_window(ctx: &InstanceFailure) -> Result<i64, StepError> {
    let since = Timestamp::now().saturating_sub_secs(ctx.config.restart_window_secs);
    let earlier = ctx
        .store
        .instance_recoveries(ctx.instance(), since, ctx.notification.uuid)
        .await
        .map_err(|e| fail(format!("reading earlier recoveries: {e}")))?;
    let mut restarts = 0;
    for id in earlier {
        let log = ctx
            .store
            .flow_log_load(id)
            .await
            .map_err(|e| fail(format!("reading earlier recoveries: {e}")))?;
        let relocated = log.iter().find(|s| s.name == "RelocateInstanceTask");
        match relocated.and_then(|s| s.output.as_deref()) {
            Some(out) if out.contains("\"relocated\":true") => break,
            Some(_) => restarts += 1,
            // Stopped before relocating or restarting (not HA-enabled, gone): not a restart.
            None => {}
        }
    }
    Ok(restarts)
}

/// Past the restart budget, cold-migrates the stopped server to another host.
struct RelocateInstance;

#[async_trait]
impl Step<InstanceFailure> for RelocateInstance {
    fn name(&self) -> &str {
        "RelocateInstanceTask"
    }
    async fn run(&self, ctx: &InstanceFailure, done: &Outputs) -> Result<Outcome, StepError> {
        let stop = done.get("StopInstanceTask").cloned().unwrap_or_default();
        if stop["relocate"] != true {
            return Ok(Outcome::Continue(json!({"relocated": false})));
        }
        let id = ctx.instance();
        let from = stop["host"].as_str().unwrap_or_default().to_owned();
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
                record.message = Some(format!("Failed reason: {}", e.message));
            }
        }
        put(ctx, &record).await?;
        match moved? {
            Some(to) => Ok(Outcome::Continue(
                json!({"relocated": true, "from": from, "to": to}),
            )),
            None => Ok(gone(id)),
        }
    }
}

async fn put(ctx: &InstanceFailure, record: &InstanceMove) -> Result<(), StepError> {
    ctx.store
        .vmove_put(&ctx.lease, record)
        .await
        .map(drop)
        .map_err(|e| fail(format!("recording the vmove: {e}")))
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
            ("resized", None) => match ctx.nova.confirm_resize(id).await {
                Ok(()) | Err(NovaError::Conflict(_)) => {}
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(fail(format!("confirming the migration of {id}: {e}"))),
            },
            ("stopped", None) if host != from => return Ok(Some(host)),
            ("stopped", None) if !asked => match ctx.nova.migrate_server(id).await {
                Ok(()) => asked = true,
                Err(e) if e.is_transient() => {}
                Err(e) => return Err(fail(format!("migrating {id}: {e}"))),
            },
            ("error", _) => {
                return Err(fail(format!(
                    "the migration of {id} left it in error on {host}"
                )))
            }
            _ => {}
        }
        if Instant::now() > deadline {
            return Err(fail(format!(
                "{id} not migrated after {} s (vm_state {}, task_state {:?})",
                ctx.config.migrate_timeout_secs, s.vm_state, s.task_state
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

struct StartInstance;

#[async_trait]
impl Step<InstanceFailure> for StartInstance {
    fn name(&self) -> &str {
        "StartInstanceTask"
    }
    async fn run(&self, ctx: &InstanceFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let id = ctx.instance();
        let Some(s) = server(ctx).await? else {
            return Ok(gone(id));
        };
        if s.vm_state == "active" {
            return Ok(Outcome::Continue(json!({"started": false})));
        }
        if !settled(&s, "stopped") {
            return Err(fail(format!(
                "{id} cannot be started from vm_state {} (task_state {:?})",
                s.vm_state, s.task_state
            )));
        }
        match ctx.nova.start_server(id).await {
            Ok(()) | Err(NovaError::Conflict(_)) => {}
            Err(NovaError::NotFound(_)) => return Ok(gone(id)),
            Err(e) => return Err(fail(format!("starting {id}: {e}"))),
        }
        Ok(Outcome::Continue(json!({"started": true})))
    }
}

struct ConfirmInstanceActive;

#[async_trait]
impl Step<InstanceFailure> for ConfirmInstanceActive {
    fn name(&self) -> &str {
        "ConfirmInstanceActiveTask"
    }
    async fn run(&self, ctx: &InstanceFailure, _: &Outputs) -> Result<Outcome, StepError> {
        match wait_for(ctx, "ACTIVE", ctx.config.start_timeout_secs, |s| {
            settled(s, "active")
        })
        .await?
        {
            Some(s) => Ok(Outcome::Continue(json!({"host": s.host}))),
            None => Ok(gone(ctx.instance())),
        }
    }
}
