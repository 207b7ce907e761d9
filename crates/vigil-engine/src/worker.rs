//! The engine loop: claim a notification, run its flow under a renewed lease, record the end.
//!
//! Any number of engines may run against one database. The store's claim is the only
//! coordination: no broker, no leader. A crashed engine's lease expires and another engine
//! resumes its flow from the step log.

use crate::custom;
use crate::fence::Fencer;
use crate::host::{self, HostFailure, HostRecoveryConfig};
use crate::instance::{self, InstanceFailure, InstanceRecoveryConfig};
use crate::nova::Nova;
use crate::planner::SelectionPolicy;
use crate::process::{self, ProcessFailure, ProcessRecoveryConfig};
use crate::rejoin::{self, HostRejoin, RejoinConfig};
use crate::saga::{run_flow, Ending, FlowError, FlowLog, LogError, Step, StepRecord, StepState};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use vigil_domain::{Notification, NotificationStatus, ProgressDetail, Timestamp};
use vigil_store::{Claimed, FlowStep, Lease, Store, StoreError};
use vigil_wire::payload::{Event, Payload};

/// Engine settings (`[engine]` in the configuration).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Seconds a claim lasts without renewal; a crashed engine's work resumes after this.
    pub lease_secs: u64,
    /// How often the queue is polled when idle.
    pub poll_interval_ms: u64,
    /// Notifications processed at once by this engine.
    pub max_concurrent: usize,
    /// Attempts (claims) of a failing notification before it is `failed`.
    pub max_attempts: i64,
    /// Delay before retrying an `error` notification, multiplied by the attempt number.
    pub retry_backoff_secs: u64,
    /// Notifications still unhandled this long after they were generated become `failed`.
    pub expire_after_secs: u64,
    /// Hosts of one segment recovered at once, by all engines together (0: no cap).
    pub segment_recovery_cap: u32,
    pub host: HostRecoveryConfig,
    pub selection: SelectionPolicy,
    pub instance: InstanceRecoveryConfig,
    pub process: ProcessRecoveryConfig,
    pub rejoin: RejoinConfig,
    /// Operator-defined steps per flow (`host_failure`, `instance_failure`,
    /// `process_failure`, `host_rejoin`).
    pub flows: custom::Flows,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            lease_secs: 30,
            poll_interval_ms: 500,
            max_concurrent: 16,
            max_attempts: 5,
            retry_backoff_secs: 30,
            expire_after_secs: 24 * 3600,
            segment_recovery_cap: 4,
            host: HostRecoveryConfig::default(),
            selection: SelectionPolicy::default(),
            instance: InstanceRecoveryConfig::default(),
            process: ProcessRecoveryConfig::default(),
            rejoin: RejoinConfig::default(),
            flows: custom::Flows::new(),
        }
    }
}

impl EngineConfig {
    /// Checks the operator's flows (unknown flows, task names, malformed steps).
    pub fn check(&self) -> Result<(), String> {
        for flow in self.flows.keys() {
            if !FLOWS.contains(&flow.as_str()) {
                return Err(format!(
                    "[engine.flows.{flow}]: no such flow (one of: {})",
                    FLOWS.join(", ")
                ));
            }
        }
        self.host_steps().map(drop)?;
        self.instance_steps().map(drop)?;
        self.process_steps().map(drop)?;
        self.rejoin_steps().map(drop)
    }

    fn host_steps(&self) -> Result<Vec<Box<dyn Step<HostFailure>>>, String> {
        custom::assemble(
            "host_failure",
            self.flows.get("host_failure"),
            host::safety_steps(),
            host::builtin_steps(&self.host),
        )
    }

    fn instance_steps(&self) -> Result<Vec<Box<dyn Step<InstanceFailure>>>, String> {
        custom::assemble(
            "instance_failure",
            self.flows.get("instance_failure"),
            Vec::new(),
            instance::builtin_steps(),
        )
    }

    fn process_steps(&self) -> Result<Vec<Box<dyn Step<ProcessFailure>>>, String> {
        custom::assemble(
            "process_failure",
            self.flows.get("process_failure"),
            Vec::new(),
            process::builtin_steps(),
        )
    }

    fn rejoin_steps(&self) -> Result<Vec<Box<dyn Step<HostRejoin>>>, String> {
        custom::assemble(
            "host_rejoin",
            self.flows.get("host_rejoin"),
            rejoin::safety_steps(),
            rejoin::builtin_steps(),
        )
    }
}

const FLOWS: [&str; 4] = [
    "host_failure",
    "instance_failure",
    "process_failure",
    "host_rejoin",
];

pub struct Engine {
    pub store: Store,
    pub nova: Arc<dyn Nova>,
    pub fencer: Arc<dyn Fencer>,
    pub config: EngineConfig,
    /// This engine's name in leases; unique per process.
    pub owner: String,
    /// Signalled by an API in the same process when a notification is stored, so the engine
    /// claims it at once instead of at its next poll.
    pub wake: tokio::sync::Notify,
}

impl Engine {
    /// Runs until `shutdown` turns true; in-flight flows are left to their leases (another
    /// engine, or this one restarted, resumes them).
    pub async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.config.max_concurrent.max(1)));
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let mut last_expiry = tokio::time::Instant::now() - Duration::from_secs(3600);
        tracing::info!(owner = %self.owner, "engine started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            if last_expiry.elapsed() > Duration::from_secs(60) {
                last_expiry = tokio::time::Instant::now();
                let cutoff = Timestamp::now().saturating_sub_secs(self.config.expire_after_secs);
                match self.store.notification_expire(cutoff).await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(count = n, "expired unhandled notifications"),
                    Err(e) => tracing::error!(
                        error = &e as &dyn std::error::Error,
                        "expiring notifications"
                    ),
                }
            }
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("semaphore is never closed"),
                _ = shutdown.changed() => continue,
            };
            let lease = Duration::from_secs(self.config.lease_secs);
            match self
                .store
                .notification_claim_capped(&self.owner, lease, self.config.segment_recovery_cap)
                .await
            {
                Ok(Some(claim)) => {
                    let engine = self.clone();
                    tokio::spawn(async move {
                        engine.process(claim).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        _ = tokio::time::sleep(poll) => {}
                        _ = self.wake.notified() => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Err(e) => {
                    drop(permit);
                    tracing::error!(error = &e as &dyn std::error::Error, "claiming work");
                    tokio::time::sleep(poll * 4).await;
                }
            }
        }
        tracing::info!(owner = %self.owner, "engine stopped");
    }

    /// Processes one claimed notification to an end, renewing the lease meanwhile.
    pub async fn process(&self, claim: Claimed) {
        let id = claim.notification.uuid;
        let lease = Duration::from_secs(self.config.lease_secs);
        let work = self.recover(&claim.notification, &claim.lease);
        let renew = async {
            loop {
                tokio::time::sleep(lease / 3).await;
                if let Err(e) = self.store.notification_renew(&claim.lease, lease).await {
                    return e;
                }
            }
        };
        let outcome = tokio::select! {
            o = work => o,
            e = renew => {
                tracing::warn!(notification = %id, error = %e, "lost the lease; abandoning the flow");
                return;
            }
        };
        let (status, message, retry_at) = match outcome {
            Ok(Ending::Finished) => (NotificationStatus::Finished, None, None),
            Ok(Ending::Ignored(why)) => (NotificationStatus::Ignored, Some(why), None),
            Err(Failure::LeaseLost) => return,
            Err(Failure::Other(why)) if claim.attempts >= self.config.max_attempts => {
                (NotificationStatus::Failed, Some(why), None)
            }
            Err(Failure::Other(why)) => {
                let delay = self.config.retry_backoff_secs * claim.attempts.max(1) as u64;
                let at = Timestamp::from_micros(
                    Timestamp::now().as_micros() + (delay as i64) * 1_000_000,
                );
                (NotificationStatus::Error, Some(why), Some(at))
            }
        };
        tracing::info!(notification = %id, status = %status, message = ?message, "recovery ended");
        if let Err(e) = self
            .store
            .notification_release(&claim.lease, status, message, retry_at)
            .await
        {
            tracing::warn!(notification = %id, error = &e as &dyn std::error::Error, "recording the outcome");
        }
    }

    async fn recover(&self, n: &Notification, lease: &Lease) -> Result<Ending, Failure> {
        let host = match self.store.host_get_by_uuid(n.source_host_uuid).await {
            Ok(Some(h)) => h,
            Ok(None) => {
                return Ok(Ending::Ignored(format!(
                    "host {} no longer exists",
                    n.source_host_uuid
                )))
            }
            Err(e) => return Err(Failure::Other(format!("reading the host: {e}"))),
        };
        if !host.segment.enabled {
            return Ok(Ending::Ignored(format!(
                "Recovery of notification {} is ignored because failover segment {} is disabled",
                n.uuid, host.segment.uuid
            )));
        }
        let payload = match Payload::parse(n.notification_type, &n.payload) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Ending::Ignored(format!(
                    "Vigil cannot act on this {} notification: {e}",
                    n.notification_type
                )))
            }
        };
        let log = StoreLog::new(self.store.clone(), lease.clone());
        match payload {
            Payload::ComputeHost(p) if p.event == Event::Stopped => {
                let ctx = HostFailure {
                    store: self.store.clone(),
                    nova: self.nova.clone(),
                    fencer: self.fencer.clone(),
                    lease: lease.clone(),
                    payload: p,
                    notification: n.clone(),
                    host,
                    config: self.config.host.clone(),
                    selection: self.config.selection.clone(),
                };
                flow(
                    &self.config.host_steps().map_err(Failure::Other)?,
                    &ctx,
                    &log,
                )
                .await
            }
            Payload::ComputeHost(_) => {
                let ctx = HostRejoin {
                    store: self.store.clone(),
                    nova: self.nova.clone(),
                    lease: lease.clone(),
                    notification: n.clone(),
                    host,
                    config: self.config.rejoin.clone(),
                };
                flow(
                    &self.config.rejoin_steps().map_err(Failure::Other)?,
                    &ctx,
                    &log,
                )
                .await
            }
            Payload::Vm(p) => {
                let (event, domain_event) = (p.event.as_str(), p.vir_domain_event.as_str());
                if !instance::RECOVERED_EVENTS.contains(&(event, domain_event)) {
                    return Ok(Ending::Ignored(format!(
                        "Vigil does not recover instances for event {event} / {domain_event}"
                    )));
                }
                let ctx = InstanceFailure {
                    store: self.store.clone(),
                    nova: self.nova.clone(),
                    lease: lease.clone(),
                    payload: p,
                    notification: n.clone(),
                    config: self.config.instance.clone(),
                };
                flow(
                    &self.config.instance_steps().map_err(Failure::Other)?,
                    &ctx,
                    &log,
                )
                .await
            }
            Payload::Process(p) if p.event == Event::Stopped => {
                let ctx = ProcessFailure {
                    store: self.store.clone(),
                    nova: self.nova.clone(),
                    lease: lease.clone(),
                    payload: p,
                    notification: n.clone(),
                    host,
                    config: self.config.process.clone(),
                };
                flow(
                    &self.config.process_steps().map_err(Failure::Other)?,
                    &ctx,
                    &log,
                )
                .await
            }
            Payload::Process(_) => Ok(Ending::Finished),
        }
    }
}

/// Runs a flow and sorts its failure: a lost lease means another engine owns it now.
async fn flow<C: Sync>(
    steps: &[Box<dyn Step<C>>],
    ctx: &C,
    log: &StoreLog,
) -> Result<Ending, Failure> {
    run_flow(steps, ctx, log).await.map_err(|e| match e {
        FlowError::Log {
            source: LogError::LeaseLost,
            ..
        } => Failure::LeaseLost,
        FlowError::Step { step, source } => Failure::Other(format!("{step}: {}", source.message)),
        other => Failure::Other(other.to_string()),
    })
}

enum Failure {
    LeaseLost,
    Other(String),
}

/// The saga's log in the store, fenced by the lease; progress details accumulate per step.
pub struct StoreLog {
    store: Store,
    lease: Lease,
    details: Mutex<std::collections::BTreeMap<String, Vec<ProgressDetail>>>,
}

impl StoreLog {
    pub fn new(store: Store, lease: Lease) -> Self {
        Self {
            store,
            lease,
            details: Mutex::default(),
        }
    }
}

fn log_err(e: StoreError) -> LogError {
    match e {
        StoreError::LeaseLost(_) => LogError::LeaseLost,
        other => LogError::Store(Box::new(other)),
    }
}

const FINISHED: &str = "finished";
const IGNORED: &str = "ignored: ";

#[async_trait]
impl FlowLog for StoreLog {
    async fn load(&self) -> Result<Vec<StepRecord>, LogError> {
        let steps = self
            .store
            .flow_log_load(self.lease.notification)
            .await
            .map_err(log_err)?;
        let mut details = self.details.lock().expect("not poisoned");
        let mut out = Vec::new();
        for s in steps {
            details.insert(s.name.clone(), s.progress_details.clone());
            let state = match s.state.as_str() {
                "SUCCESS" => StepState::Success,
                "FAILURE" => StepState::Failure,
                _ => StepState::Running,
            };
            let ending = match s.ending.as_deref() {
                Some(FINISHED) => Some(Ending::Finished),
                Some(e) => Some(Ending::Ignored(
                    e.strip_prefix(IGNORED).unwrap_or(e).to_owned(),
                )),
                None => None,
            };
            out.push(StepRecord {
                name: s.name,
                state,
                output: s
                    .output
                    .as_deref()
                    .and_then(|o| serde_json::from_str(o).ok())
                    .unwrap_or(serde_json::Value::Null),
                message: s.message.unwrap_or_default(),
                ending,
            });
        }
        Ok(out)
    }

    async fn save(&self, record: &StepRecord) -> Result<(), LogError> {
        if record.state == StepState::Success {
            crash_point(&record.name);
        }
        let progress = match record.state {
            StepState::Running => 0.0,
            StepState::Success | StepState::Failure => 1.0,
        };
        let details = {
            let mut all = self.details.lock().expect("not poisoned");
            let entry = all.entry(record.name.clone()).or_default();
            entry.push(ProgressDetail {
                timestamp: Timestamp::now()
                    .naive()
                    .format("%Y-%m-%d %H:%M:%S%.6f")
                    .to_string(),
                progress: format!("{progress:.1}"),
                message: record.message.clone(),
            });
            entry.clone()
        };
        let step = FlowStep {
            name: record.name.clone(),
            state: record.state.as_str().to_owned(),
            progress,
            progress_details: details,
            output: Some(record.output.to_string()),
            message: Some(record.message.clone()),
            ending: record.ending.as_ref().map(|e| match e {
                Ending::Finished => FINISHED.to_owned(),
                Ending::Ignored(why) => format!("{IGNORED}{why}"),
            }),
        };
        self.store
            .flow_step_save(&self.lease, &step)
            .await
            .map_err(log_err)
    }
}

/// Crash-safety tests' hook: with `VIGIL_CRASH_FILE` set, an engine about to record step X as
/// completed — its effect done, its record not yet written, the worst moment to die — aborts
/// (no cleanup, its lease left to expire, as after kill -9) if the file names X. The file is
/// removed first, so of several engines exactly one crashes.
fn crash_point(step: &str) {
    let Some(path) = std::env::var_os("VIGIL_CRASH_FILE") else {
        return;
    };
    if std::fs::read_to_string(&path).is_ok_and(|s| s.trim() == step)
        && std::fs::remove_file(&path).is_ok()
    {
        tracing::error!(step, "VIGIL_CRASH_FILE names this step: aborting");
        std::process::abort();
    }
}
