//! Host-failure recovery (`COMPUTE_HOST` / `STOPPED`): gate, fence, force down, choose, evacuate.
//!
//! Step names follow Masakari's task names where the step does the same job, so operators and
//! tools reading `recovery_workflow_details` see familiar entries. Every step may run twice (a
//! crash after its effect and before its record): each one checks Nova's state before acting,
//! and evacuations re-attach to the migration a previous run started instead of issuing another.

use crate::fence::{Fencer, PowerState};
use crate::nova::{Migration, Nova, NovaError, Server};
use crate::planner::{plan, SelectionPolicy, ServerFacts};
use crate::saga::{Ending, Outcome, Outputs, Step, StepError};
use async_trait::async_trait;
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;
use vigil_domain::{
    Host, InstanceMove, Notification, RecoveryMethod, Timestamp, VMoveStatus, VMoveType,
};
use vigil_store::{HostFilter, Lease, Page, Store};
use vigil_wire::payload::{ComputeHostPayload, HostStatus};

/// Tunables of host recovery. Defaults favour speed where Masakari waits for nothing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HostRecoveryConfig {
    /// Evacuations in flight at once per failed host (Masakari: 3).
    pub evacuation_parallelism: usize,
    /// Give up on one instance's evacuation after this long.
    pub evacuation_timeout_secs: u64,
    /// Evacuations issued per instance before giving up (Nova never reschedules one).
    pub evacuation_attempts: u32,
    /// How often Nova is polled for migration and server state.
    pub poll_interval_ms: u64,
    /// Refuse to recover when more than this share of a segment's hosts failed within
    /// `mass_failure_window_secs`: a network partition looks like a mass failure.
    pub mass_failure_share: f64,
    pub mass_failure_window_secs: u64,
    /// Before evacuating to a reserved host, add it to every host aggregate the failed host
    /// is in, so servers whose flavors need those aggregates fit there (Masakari's option).
    pub add_reserved_host_to_aggregate: bool,
    /// Refuse to recover when Nova reports no `nova-scheduler` up: evacuations could not be
    /// placed, and a Nova the engine sees without schedulers may be the far side of a partition.
    pub require_scheduler: bool,
    /// Evacuate into STOPPED (Nova µv 2.95) and start the servers tier by tier, highest
    /// priority first, each tier once the one before it is ACTIVE (or its timeout passed).
    pub start_in_tiers: bool,
    /// How long one tier may take to become ACTIVE before the next is started anyway.
    pub tier_timeout_secs: u64,
}

impl Default for HostRecoveryConfig {
    fn default() -> Self {
        Self {
            evacuation_parallelism: 16,
            evacuation_timeout_secs: 300,
            evacuation_attempts: 3,
            poll_interval_ms: 500,
            mass_failure_share: 0.5,
            mass_failure_window_secs: 300,
            add_reserved_host_to_aggregate: false,
            require_scheduler: true,
            start_in_tiers: false,
            tier_timeout_secs: 300,
        }
    }
}

/// Everything the steps of one host recovery share.
pub struct HostFailure {
    pub store: Store,
    pub nova: Arc<dyn Nova>,
    pub fencer: Arc<dyn Fencer>,
    /// The engine's claim: every write on the flow's behalf is fenced by it.
    pub lease: Lease,
    pub notification: Notification,
    pub payload: ComputeHostPayload,
    pub host: Host,
    pub config: HostRecoveryConfig,
    pub selection: SelectionPolicy,
}

impl HostFailure {
    fn poll(&self) -> Duration {
        Duration::from_millis(self.config.poll_interval_ms)
    }
}

/// The steps every host recovery runs first, whatever the operator's flow says: nothing is
/// evacuated from a host not known down and fenced.
pub fn safety_steps() -> Vec<Box<dyn Step<HostFailure>>> {
    vec![Box::new(CheckHostStatus), Box::new(FenceHost)]
}

/// The rest of the flow, by Masakari task name; tiered start adds a last step.
pub fn builtin_steps(
    config: &HostRecoveryConfig,
) -> Vec<(&'static str, Box<dyn Step<HostFailure>>)> {
    let mut steps: Vec<(&'static str, Box<dyn Step<HostFailure>>)> = vec![
        (
            "disable_compute_service_task",
            Box::new(DisableComputeService),
        ),
        (
            "prepare_HA_enabled_instances_task",
            Box::new(PrepareInstances),
        ),
        ("evacuate_instances_task", Box::new(EvacuateInstances)),
    ];
    if config.start_in_tiers {
        steps.push((
            "start_instances_in_tiers_task",
            Box::new(StartInstancesInTiers),
        ));
    }
    steps
}

impl crate::custom::FlowContext for HostFailure {
    fn context(&self) -> Value {
        json!({
            "flow": "host_failure",
            "notification": crate::custom::notification_json(&self.notification),
            "host": crate::custom::host_json(&self.host),
        })
    }
}

fn fail(message: impl Into<String>) -> StepError {
    StepError::new(message)
}

/// Acts only on a host known to be down: the monitor says `NORMAL` (it saw the host go away
/// cleanly, Masakari's rule) or the fencing driver reports it off. Refuses mass failures.
struct CheckHostStatus;

#[async_trait]
impl Step<HostFailure> for CheckHostStatus {
    fn name(&self) -> &str {
        "CheckHostStatusTask"
    }
    async fn run(&self, ctx: &HostFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let host_status = ctx.payload.host_status;
        if host_status != Some(HostStatus::Normal) {
            let state = ctx.fencer.power_state(&ctx.host.name).await.map_err(fail)?;
            if state != PowerState::Off {
                return Ok(Outcome::Stop(
                    Ending::Ignored(format!(
                        "host_status is {}, and {} cannot confirm {} is off: not recovering",
                        host_status.map_or("missing", HostStatus::as_str),
                        ctx.fencer.name(),
                        ctx.host.name
                    )),
                    "host not confirmed down".into(),
                ));
            }
        }
        let since = ctx
            .notification
            .generated_time
            .saturating_sub_secs(ctx.config.mass_failure_window_secs);
        let (failed, total) = ctx
            .store
            .segment_failure_count(ctx.host.segment.uuid, since)
            .await
            .map_err(|e| fail(format!("counting recent failures: {e}")))?;
        if total > 1 && (failed as f64) > ctx.config.mass_failure_share * (total as f64) {
            return Err(fail(format!(
                "{failed} of {total} hosts in segment {} failed within {} s: more than {:.0} %, \
                 which looks like a partition; not fencing or evacuating (recover by hand, or \
                 raise mass_failure_share)",
                ctx.host.segment.name,
                ctx.config.mass_failure_window_secs,
                ctx.config.mass_failure_share * 100.0
            )));
        }
        let schedulers = if ctx.config.require_scheduler {
            let up = with_retries(ctx, || ctx.nova.schedulers_up())
                .await
                .map_err(|e| fail(format!("asking Nova for its schedulers: {}", e.message)))?;
            if up == 0 {
                return Err(fail(
                    "Nova reports no nova-scheduler up: no evacuation could be placed, and this \
                     may be a partition; not fencing or evacuating",
                ));
            }
            Some(up)
        } else {
            None
        };
        Ok(Outcome::Continue(json!({
            "failed_hosts": failed,
            "segment_hosts": total,
            "schedulers_up": schedulers,
        })))
    }
}

struct FenceHost;

#[async_trait]
impl Step<HostFailure> for FenceHost {
    fn name(&self) -> &str {
        "FenceHostTask"
    }
    async fn run(&self, ctx: &HostFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let message = ctx.fencer.fence(&ctx.host.name).await.map_err(|e| {
            fail(format!(
                "fencing {} with {} failed: {e}",
                ctx.host.name,
                ctx.fencer.name()
            ))
        })?;
        Ok(Outcome::Continue(
            json!({ "fencer": ctx.fencer.name(), "message": message }),
        ))
    }
}

/// Maintenance in Vigil, then forced down and disabled in Nova in one call, so evacuation may
/// start at once (Masakari disables, then sleeps 180 s waiting for Nova to notice).
struct DisableComputeService;

#[async_trait]
impl Step<HostFailure> for DisableComputeService {
    fn name(&self) -> &str {
        "DisableComputeServiceTask"
    }
    async fn run(&self, ctx: &HostFailure, _: &Outputs) -> Result<Outcome, StepError> {
        ctx.store
            .host_set_flags(&ctx.lease, ctx.host.uuid, Some(true), None)
            .await
            .map_err(|e| fail(format!("putting the host in maintenance: {e}")))?;
        let service = with_retries(ctx, || ctx.nova.compute_service(&ctx.host.name))
            .await?
            .ok_or_else(|| {
                fail(format!(
                    "Nova has no nova-compute service on host {}",
                    ctx.host.name
                ))
            })?;
        if !(service.forced_down && service.status == "disabled") {
            let reason = format!(
                "Vigil: host failure, notification {}",
                ctx.notification.uuid
            );
            with_retries(ctx, || ctx.nova.force_down(&service.id, &reason)).await?;
        }
        Ok(Outcome::Continue(json!({ "service_id": service.id })))
    }
}

/// A server chosen for evacuation, as persisted between steps.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Chosen {
    id: String,
    name: String,
    vm_state: String,
    priority: i64,
}

/// The servers PrepareHAEnabledInstancesTask chose, from its stored output.
fn chosen(done: &Outputs) -> Result<Vec<Chosen>, StepError> {
    Ok(done
        .get("PrepareHAEnabledInstancesTask")
        .and_then(|o| o.get("servers"))
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| fail(format!("reading the chosen servers: {e}")))?
        .unwrap_or_default())
}

struct PrepareInstances;

#[async_trait]
impl Step<HostFailure> for PrepareInstances {
    fn name(&self) -> &str {
        "PrepareHAEnabledInstancesTask"
    }
    async fn run(&self, ctx: &HostFailure, _: &Outputs) -> Result<Outcome, StepError> {
        let servers = with_retries(ctx, || ctx.nova.servers_on_host(&ctx.host.name)).await?;
        let facts: Vec<ServerFacts> = servers.iter().map(facts).collect();
        let chosen: Vec<Chosen> = plan(&facts, &ctx.selection)
            .into_iter()
            .map(|p| Chosen {
                id: p.id,
                name: p.name,
                vm_state: p.original_vm_state,
                priority: p.priority,
            })
            .collect();
        if chosen.is_empty() {
            return Ok(Outcome::Stop(
                Ending::Finished,
                format!(
                    "{} servers on {}, none to evacuate",
                    servers.len(),
                    ctx.host.name
                ),
            ));
        }
        Ok(Outcome::Continue(json!({ "servers": chosen })))
    }
}

fn facts(s: &Server) -> ServerFacts {
    ServerFacts {
        id: s.id.clone(),
        name: s.name.clone(),
        vm_state: s.vm_state.clone(),
        metadata: s.metadata.clone(),
        tags: s.extra_specs.clone(),
    }
}

/// Where to send instances: anywhere the scheduler likes, or the segment's reserved hosts.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Strategy {
    Auto,
    Reserved,
}

fn strategies(method: RecoveryMethod) -> &'static [Strategy] {
    match method {
        RecoveryMethod::Auto => &[Strategy::Auto],
        RecoveryMethod::ReservedHost => &[Strategy::Reserved],
        RecoveryMethod::AutoPriority => &[Strategy::Auto, Strategy::Reserved],
        RecoveryMethod::RhPriority => &[Strategy::Reserved, Strategy::Auto],
    }
}

struct EvacuateInstances;

#[async_trait]
impl Step<HostFailure> for EvacuateInstances {
    fn name(&self) -> &str {
        "EvacuateInstancesTask"
    }
    async fn run(&self, ctx: &HostFailure, done: &Outputs) -> Result<Outcome, StepError> {
        let chosen = chosen(done)?;
        let mut pending = chosen;
        let mut moved: Vec<Value> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        let feed = MigrationFeed::start(ctx);
        let feed = &feed;
        for strategy in strategies(ctx.host.segment.recovery_method) {
            if pending.is_empty() {
                break;
            }
            let targets: Vec<Option<String>> = match strategy {
                Strategy::Auto => vec![None],
                Strategy::Reserved => reserved_targets(ctx).await?.into_iter().map(Some).collect(),
            };
            if targets.is_empty() {
                reasons.push(format!(
                    "segment {} has no usable reserved host",
                    ctx.host.segment.name
                ));
            }
            for target in targets {
                if pending.is_empty() {
                    break;
                }
                let results: Vec<(Chosen, Result<Moved, String>)> = stream::iter(pending)
                    .map(|server| {
                        let target = target.clone();
                        async move {
                            let r = evacuate_one(ctx, feed, &server, target.as_deref()).await;
                            (server, r)
                        }
                    })
                    .buffer_unordered(ctx.config.evacuation_parallelism.max(1))
                    .collect()
                    .await;
                pending = Vec::new();
                for (server, result) in results {
                    match result {
                        Ok(m) => moved.push(json!({"id": server.id, "to": m.dest, "gone": m.gone})),
                        Err(why) => {
                            reasons.push(format!("{} ({}): {why}", server.name, server.id));
                            pending.push(server);
                        }
                    }
                }
                // Keep priority order for the next attempt.
                pending.sort_by_key(|s| std::cmp::Reverse(s.priority));
            }
        }
        if pending.is_empty() {
            Ok(Outcome::Continue(json!({ "moved": moved })))
        } else {
            Err(fail(format!(
                "{} of {} instances not evacuated: {}",
                pending.len(),
                pending.len() + moved.len(),
                reasons.join("; ")
            )))
        }
    }
}

/// The segment's reserved hosts not in maintenance, each made usable: its Nova service
/// enabled and its `reserved` flag cleared (it now carries recovered instances).
async fn reserved_targets(ctx: &HostFailure) -> Result<Vec<String>, StepError> {
    let filter = HostFilter {
        reserved: Some(true),
        on_maintenance: Some(false),
        ..Default::default()
    };
    let hosts = ctx
        .store
        .host_list(ctx.host.segment.uuid, &filter, &Page::default())
        .await
        .map_err(|e| fail(format!("listing reserved hosts: {e}")))?;
    let mut out = Vec::new();
    for h in hosts.into_iter().filter(|h| h.uuid != ctx.host.uuid) {
        let Some(service) = with_retries(ctx, || ctx.nova.compute_service(&h.name)).await? else {
            continue;
        };
        if service.state != "up" {
            continue;
        }
        if ctx.config.add_reserved_host_to_aggregate {
            for aggregate in with_retries(ctx, || ctx.nova.aggregates_of(&ctx.host.name)).await? {
                with_retries(ctx, || ctx.nova.aggregate_add_host(aggregate, &h.name)).await?;
            }
        }
        if service.status != "enabled" {
            with_retries(ctx, || ctx.nova.enable_service(&service.id)).await?;
        }
        ctx.store
            .host_set_flags(&ctx.lease, h.uuid, None, Some(false))
            .await
            .map_err(|e| fail(format!("clearing reserved on {}: {e}", h.name)))?;
        out.push(h.name);
    }
    Ok(out)
}

struct Moved {
    dest: Option<String>,
    /// The server was deleted meanwhile: nothing to recover.
    gone: bool,
}

/// Evacuates one server and waits until it runs elsewhere, keeping its vmove current.
async fn evacuate_one(
    ctx: &HostFailure,
    feed: &MigrationFeed,
    server: &Chosen,
    target: Option<&str>,
) -> Result<Moved, String> {
    let source = ctx.host.name.as_str();
    let mut record = InstanceMove {
        instance_uuid: server.id.clone(),
        instance_name: server.name.clone(),
        source_host: Some(source.to_owned()),
        dest_host: None,
        start_time: Some(Timestamp::now()),
        end_time: None,
        vmove_type: VMoveType::Evacuation,
        status: VMoveStatus::Ongoing,
        message: None,
    };
    let put = |r: InstanceMove| async move {
        ctx.store
            .vmove_put(&ctx.lease, &r)
            .await
            .map_err(|e| format!("recording the vmove: {e}"))
    };
    put(record.clone()).await?;
    let result = drive_evacuation(ctx, feed, server, target).await;
    record.end_time = Some(Timestamp::now());
    match &result {
        Ok(m) if m.gone => {
            record.status = VMoveStatus::Ignored;
            record.message = Some("the server was deleted".into());
        }
        Ok(m) => {
            record.status = VMoveStatus::Succeeded;
            record.dest_host = m.dest.clone();
        }
        Err(why) => {
            record.status = VMoveStatus::Failed;
            record.message = Some(format!("Failed reason: {why}"));
        }
    }
    put(record).await?;
    result
}

/// Nova's evacuation records away from the failed host, fetched once per poll interval for
/// every evacuation of the flow: one call, where asking per server would load Nova's API in
/// proportion to the parallelism just when Nova is busiest.
struct MigrationFeed {
    rx: watch::Receiver<Option<Snapshot>>,
    poller: tokio::task::JoinHandle<()>,
    started: Instant,
    /// When this flow last acted on each server: a snapshot asked for earlier may not show it.
    acted: std::sync::Mutex<HashMap<String, Instant>>,
}

#[derive(Clone)]
struct Snapshot {
    /// When the request for it was sent: it shows everything Nova accepted before.
    asked_at: Instant,
    migrations: Arc<Vec<Migration>>,
}

impl MigrationFeed {
    fn start(ctx: &HostFailure) -> MigrationFeed {
        let started = Instant::now();
        let (tx, rx) = watch::channel(None);
        let nova = ctx.nova.clone();
        let host = ctx.host.name.clone();
        let poll = ctx.poll();
        let poller = tokio::spawn(async move {
            loop {
                let asked_at = Instant::now();
                match nova.evacuations_from(&host).await {
                    Ok(m) => {
                        let snapshot = Snapshot {
                            asked_at,
                            migrations: Arc::new(m),
                        };
                        if tx.send(Some(snapshot)).is_err() {
                            return;
                        }
                    }
                    // The evacuations wait for the next answer, up to their deadline.
                    Err(e) => tracing::warn!(error = %e, "listing evacuations, retrying"),
                }
                tokio::time::sleep(poll).await;
            }
        });
        MigrationFeed {
            rx,
            poller,
            started,
            acted: Default::default(),
        }
    }

    /// Since when a snapshot can be trusted for `server`: since this flow last acted on it, or
    /// since the feed started. That is after anything an earlier, crashed run of the flow did,
    /// since its lease had to expire (tens of seconds) before this run could take it over.
    fn fresh_for(&self, server: &str) -> Instant {
        let acted = self.acted.lock().unwrap_or_else(|e| e.into_inner());
        acted.get(server).copied().unwrap_or(self.started)
    }

    /// Notes an action on `server` that snapshots must reflect; returns its time.
    fn acted(&self, server: &str) -> Instant {
        let now = Instant::now();
        let mut acted = self.acted.lock().unwrap_or_else(|e| e.into_inner());
        acted.insert(server.to_owned(), now);
        now
    }

    /// The first snapshot asked for at or after `after`, or `None` at the deadline.
    async fn after(&self, after: Instant, deadline: Instant) -> Option<Snapshot> {
        let mut rx = self.rx.clone();
        loop {
            if let Some(s) = rx.borrow_and_update().clone() {
                if s.asked_at >= after {
                    return Some(s);
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }
}

impl Drop for MigrationFeed {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

async fn drive_evacuation(
    ctx: &HostFailure,
    feed: &MigrationFeed,
    server: &Chosen,
    target: Option<&str>,
) -> Result<Moved, String> {
    let deadline = Instant::now() + Duration::from_secs(ctx.config.evacuation_timeout_secs);
    // Evacuations of this server from this host since the report arrived; older ones belong
    // to an earlier failure and prove nothing about this one.
    let since = ctx.notification.created_at.saturating_sub_secs(1);
    // The attempt budget is this call's: under auto_priority/rh_priority the fallback
    // strategy gets attempts of its own after the first strategy spent its budget.
    let began = Timestamp::now().saturating_sub_secs(1);
    let mut issued = 0u32;
    let mut reset = false;
    let mut last_status = String::from("none");
    // Decisions need a snapshot asked for after the last action, or an evacuation just
    // accepted could look absent and be issued twice. A server not yet acted on can go by the
    // feed's latest snapshot instead of waiting a poll interval for the next.
    let mut fresh_after = feed.fresh_for(&server.id);
    loop {
        let Some(snapshot) = feed.after(fresh_after, deadline).await else {
            return Err(format!(
                "timeout after {} s (migration status {last_status})",
                ctx.config.evacuation_timeout_secs
            ));
        };
        fresh_after = Instant::now();
        let migrations: Vec<&Migration> = snapshot
            .migrations
            .iter()
            .filter(|m| m.instance_uuid == server.id)
            .filter(|m| m.created_at.is_none_or(|t| t >= since))
            .collect();
        let newest = migrations.first();
        if let Some(m) = newest {
            last_status = m.status.clone();
        }
        match newest {
            Some(m) if m.succeeded() => return confirm(ctx, server, deadline).await,
            Some(m) if !m.failed() => {
                issued = issued.max(1);
                continue;
            }
            _ => {}
        }
        // No live evacuation: start one (again, if the last failed).
        let failed_before = migrations
            .iter()
            .filter(|m| m.failed() && m.created_at.is_none_or(|t| t >= began))
            .count() as u32;
        if issued.max(failed_before) >= ctx.config.evacuation_attempts {
            return Err(format!(
                "{} evacuation attempts failed (last migration status {last_status})",
                issued.max(failed_before)
            ));
        }
        match ctx
            .nova
            .evacuate(&server.id, target, ctx.config.start_in_tiers)
            .await
        {
            Ok(()) => issued = issued.max(failed_before) + 1,
            Err(NovaError::NotFound(_)) => {
                return Ok(Moved {
                    dest: None,
                    gone: true,
                })
            }
            Err(e) if e.is_transient() => {}
            Err(NovaError::Conflict(msg)) if rebuilding(ctx, &server.id).await => {
                // An evacuation is under way that the migration list does not show yet;
                // resetting the state now would break it.
                tracing::info!(server = %server.id, %msg, "an evacuation is already under way");
                issued = issued.max(1);
            }
            Err(NovaError::Conflict(msg)) if !reset => {
                // Evacuate accepts active, stopped and error; anything else is a stuck state
                // from the dead host. Error is the state Nova can always evacuate from.
                tracing::info!(server = %server.id, %msg, "resetting server state to error");
                ctx.nova
                    .reset_state(&server.id, "error")
                    .await
                    .map_err(|e| e.to_string())?;
                reset = true;
                fresh_after = feed.acted(&server.id);
                continue;
            }
            Err(e) => return Err(e.to_string()),
        }
        fresh_after = feed.acted(&server.id);
    }
}

/// Whether Nova shows the server being rebuilt (evacuated): its task state is set before the
/// evacuation is accepted. An unreadable server counts as not rebuilding.
async fn rebuilding(ctx: &HostFailure, server: &str) -> bool {
    match ctx.nova.server(server).await {
        Ok(Some(s)) => s.task_state.is_some_and(|t| t.starts_with("rebuild")),
        _ => false,
    }
}

/// After Nova's migration is `done`: wait for the server to settle on its new host, then put
/// it back in the state it had (stopped stays stopped; error stays error, as in Masakari).
async fn confirm(ctx: &HostFailure, server: &Chosen, deadline: Instant) -> Result<Moved, String> {
    loop {
        let current = match ctx.nova.server(&server.id).await {
            Ok(Some(s)) => s,
            Ok(None) | Err(NovaError::NotFound(_)) => {
                return Ok(Moved {
                    dest: None,
                    gone: true,
                })
            }
            Err(e) if e.is_transient() => {
                tokio::time::sleep(ctx.poll()).await;
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        let moved = current.host.as_deref().is_some_and(|h| h != ctx.host.name);
        let settled = current.task_state.is_none()
            && matches!(current.vm_state.as_str(), "active" | "stopped" | "error");
        if moved && settled {
            match (server.vm_state.as_str(), current.vm_state.as_str()) {
                // Tiered start: StartInstancesInTiersTask starts it in its turn.
                ("active", "stopped") if ctx.config.start_in_tiers => {}
                ("error", "active" | "stopped") => ctx
                    .nova
                    .reset_state(&server.id, "error")
                    .await
                    .map_err(|e| format!("resetting it to error: {e}"))?,
                ("stopped", "active") => ctx
                    .nova
                    .stop_server(&server.id)
                    .await
                    .map_err(|e| format!("stopping it again: {e}"))?,
                _ => {}
            }
            return Ok(Moved {
                dest: current.host,
                gone: false,
            });
        }
        if Instant::now() > deadline {
            return Err(format!(
                "timeout waiting for the server to settle (host {:?}, vm_state {}, task_state {:?})",
                current.host, current.vm_state, current.task_state
            ));
        }
        tokio::time::sleep(ctx.poll()).await;
    }
}

/// Starts the evacuated servers that were ACTIVE, one priority tier at a time: a tier is
/// started once every server of the tier before it is ACTIVE, or that tier's timeout passed.
/// Safe to run twice: an ACTIVE server is not started again, a starting one is waited for.
struct StartInstancesInTiers;

#[async_trait]
impl Step<HostFailure> for StartInstancesInTiers {
    fn name(&self) -> &str {
        "StartInstancesInTiersTask"
    }
    async fn run(&self, ctx: &HostFailure, done: &Outputs) -> Result<Outcome, StepError> {
        let chosen = chosen(done)?;
        let gone: Vec<&str> = done
            .get("EvacuateInstancesTask")
            .and_then(|o| o.get("moved"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|m| m["gone"] == true)
            .filter_map(|m| m["id"].as_str())
            .collect();
        // Only servers that ran before the failure run again; `chosen` is in priority order.
        let mut tiers: Vec<(i64, Vec<&Chosen>)> = Vec::new();
        for c in chosen
            .iter()
            .filter(|c| c.vm_state == "active" && !gone.contains(&c.id.as_str()))
        {
            match tiers.last_mut() {
                Some((p, tier)) if *p == c.priority => tier.push(c),
                _ => tiers.push((c.priority, vec![c])),
            }
        }
        let mut report = Vec::new();
        let mut late: Vec<String> = Vec::new();
        for (priority, tier) in &tiers {
            let started = Instant::now();
            let deadline = started + Duration::from_secs(ctx.config.tier_timeout_secs);
            let mut waiting: Vec<&Chosen> = tier.clone();
            let mut asked: Vec<&str> = Vec::new();
            let mut broken: Vec<&Chosen> = Vec::new();
            while !waiting.is_empty() && Instant::now() < deadline {
                let mut still = Vec::new();
                for c in waiting {
                    match tier_member_state(ctx, c).await? {
                        Member::Active | Member::Gone => {}
                        Member::Error => broken.push(c),
                        Member::Stopped if !asked.contains(&c.id.as_str()) => {
                            match ctx.nova.start_server(&c.id).await {
                                // 409: already starting (a previous run asked), or busy.
                                Ok(()) | Err(NovaError::Conflict(_)) => asked.push(&c.id),
                                Err(NovaError::NotFound(_)) => continue,
                                Err(e) if e.is_transient() => {}
                                Err(e) => {
                                    return Err(fail(format!("starting {}: {e}", c.name)));
                                }
                            }
                            still.push(c);
                        }
                        Member::Stopped | Member::Busy => still.push(c),
                    }
                }
                waiting = still;
                if !waiting.is_empty() {
                    tokio::time::sleep(ctx.poll()).await;
                }
            }
            waiting.extend(broken);
            report.push(json!({
                "priority": priority,
                "servers": tier.len(),
                "not_active": waiting.iter().map(|c| &c.id).collect::<Vec<_>>(),
                "seconds": started.elapsed().as_secs_f64(),
            }));
            late.extend(waiting.iter().map(|c| format!("{} ({})", c.name, c.id)));
        }
        if late.is_empty() {
            Ok(Outcome::Continue(json!({ "tiers": report })))
        } else {
            Err(fail(format!(
                "{} servers not ACTIVE within their tier's {} s: {}",
                late.len(),
                ctx.config.tier_timeout_secs,
                late.join(", ")
            )))
        }
    }
}

enum Member {
    Active,
    Stopped,
    /// Starting, or in some other transition: wait.
    Busy,
    Gone,
    /// Nova gave up on it; waiting would only delay the next tier.
    Error,
}

async fn tier_member_state(ctx: &HostFailure, c: &Chosen) -> Result<Member, StepError> {
    let server = with_retries(ctx, || ctx.nova.server(&c.id)).await?;
    Ok(match server {
        None => Member::Gone,
        Some(s) if s.task_state.is_some() => Member::Busy,
        Some(s) if s.vm_state == "active" => Member::Active,
        Some(s) if s.vm_state == "stopped" => Member::Stopped,
        Some(s) if s.vm_state == "error" => Member::Error,
        Some(_) => Member::Busy,
    })
}

/// Retries transient Nova errors for a while; other errors fail the step.
async fn with_retries<T, F, Fut>(ctx: &HostFailure, mut call: F) -> Result<T, StepError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, NovaError>>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && Instant::now() < deadline => {
                tracing::warn!(error = %e, "Nova call failed, retrying");
                tokio::time::sleep(ctx.poll()).await;
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    }
}
