//! The engine loop: claim a notification, run its flow under a renewed lease, record the end.
//!
//! Any number of engines may run against one database. The store's claim is the only
//! coordination: no broker, no leader. A crashed engine's lease expires and another engine
//! resumes its flow from the step log.

use crate::claim::Claim;
use crate::config::{EngineConfig, Flows};
use crate::custom::FlowConfigError;
use crate::error::chain;
use crate::fence::Fencer;
use crate::host::HostFailure;
use crate::instance::{self, InstanceFailure};
use crate::lease::{keep_lease, LeaseEnd};
use crate::log::StoreLog;
use crate::nova::Nova;
use crate::process::ProcessFailure;
use crate::rejoin::HostRejoin;
use crate::saga::{run_flow, Ending, FlowError, LogError, Step};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use vigil_domain::{Notification, NotificationStatus, Timestamp};
use vigil_metrics::{FlowOutcome, Metrics};
use vigil_store::{Claimed, Lease, Store, StoreError};
use vigil_wire::payload::{Event, Payload};

/// What the engine works with; the caller owns their lifetimes (one Nova session per process,
/// shared with the API).
pub struct EngineParts {
    pub store: Store,
    pub nova: Arc<dyn Nova>,
    pub fencer: Arc<dyn Fencer>,
    /// This engine's name in leases; unique per process.
    pub owner: String,
    /// Where flows, steps, fencing, evacuations and leases are recorded.
    pub metrics: Metrics,
}

pub struct Engine {
    store: Store,
    nova: Arc<dyn Nova>,
    fencer: Arc<dyn Fencer>,
    config: EngineConfig,
    flows: Flows,
    owner: String,
    metrics: Metrics,
    wake: Notify,
}

/// A running engine: wake it when work arrives, stop it, and learn how it ended.
pub struct EngineHandle {
    engine: Arc<Engine>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl EngineHandle {
    /// Makes the engine look for work now instead of at its next poll (an API in the same
    /// process calls it when a notification is stored).
    pub fn wake(&self) {
        self.engine.wake.notify_one();
    }

    /// A cheap waker for the API, which must not hold the handle itself.
    pub fn waker(&self) -> Arc<dyn Fn() + Send + Sync> {
        let engine = self.engine.clone();
        Arc::new(move || engine.wake.notify_one())
    }

    /// Stops claiming, waits for the loop to end and reports a panic of the loop. Flows in
    /// flight are left to their leases: another engine, or this one restarted, resumes them.
    pub async fn shutdown(self) -> Result<(), tokio::task::JoinError> {
        let _ = self.shutdown.send(true);
        self.task.await
    }
}

impl Engine {
    /// Checks the configuration's flows and starts the engine loop.
    pub fn start(
        config: EngineConfig,
        parts: EngineParts,
    ) -> Result<EngineHandle, FlowConfigError> {
        let flows = config.flows()?;
        let engine = Arc::new(Engine {
            store: parts.store,
            nova: parts.nova,
            fencer: parts.fencer,
            config,
            flows,
            owner: parts.owner,
            metrics: parts.metrics,
            wake: Notify::new(),
        });
        let (shutdown, stopped) = watch::channel(false);
        let task = tokio::spawn(engine.clone().run(stopped));
        Ok(EngineHandle {
            engine,
            shutdown,
            task,
        })
    }

    async fn run(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.config.max_concurrent.max(1)));
        let poll = Duration::from_millis(self.config.poll_interval_ms);
        let mut last_expiry = tokio::time::Instant::now() - Duration::from_secs(3600);
        // Every flow's task, so that a panicking flow is reported, not silently lost.
        let mut flows = JoinSet::new();
        tracing::info!(owner = %self.owner, "engine started");
        loop {
            while let Some(ended) = flows.try_join_next() {
                report_flow_task(ended);
            }
            if *shutdown.borrow() {
                break;
            }
            if last_expiry.elapsed() > Duration::from_secs(60) {
                last_expiry = tokio::time::Instant::now();
                self.expire().await;
            }
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("semaphore is never closed"),
                _ = shutdown.changed() => continue,
            };
            let lease = Duration::from_secs(self.config.lease_secs);
            // The lease runs from the store's clock at the claim, which is no earlier than this.
            let asked = Instant::now();
            match self
                .store
                .notification_claim_capped(&self.owner, lease, self.config.segment_recovery_cap)
                .await
            {
                Ok(Some(claim)) => {
                    let engine = self.clone();
                    flows.spawn(async move {
                        engine.process(claim, asked + lease).await;
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
        // Flows in flight stop here; their leases expire and the work is resumed elsewhere.
        flows.abort_all();
        while let Some(ended) = flows.join_next().await {
            report_flow_task(ended);
        }
        tracing::info!(owner = %self.owner, "engine stopped");
    }

    async fn expire(&self) {
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

    /// Processes one claimed notification to an end, renewing the lease meanwhile.
    /// `held_until`: when the lease ends at the latest, as measured before it was claimed.
    async fn process(&self, claim: Claimed, held_until: Instant) {
        // Counted until this future ends, or is dropped when the engine stops.
        let _held = self.metrics.lease_held();
        let id = claim.notification.uuid;
        let lease = Duration::from_secs(self.config.lease_secs);
        let work = self.recover(&claim.notification, &claim.lease);
        let renew = keep_lease(
            held_until,
            lease,
            || self.store.notification_renew(&claim.lease, lease),
            |e| matches!(e, StoreError::LeaseLost(_)),
        );
        let outcome = tokio::select! {
            o = work => o,
            end = renew => {
                match end {
                    LeaseEnd::Taken(e) => tracing::warn!(notification = %id, error = &e as &dyn std::error::Error, "lost the lease; abandoning the flow"),
                    LeaseEnd::Expiring(e) => tracing::warn!(notification = %id, error = e.as_ref().map(|e| e as &dyn std::error::Error), "the lease could not be renewed before it ends; abandoning the flow to whichever engine claims it next"),
                }
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

    /// Chooses the notification's flow and runs it.
    async fn recover(&self, n: &Notification, lease: &Lease) -> Result<Ending, Failure> {
        let host = match self.store.host_get_by_uuid(n.source_host_uuid).await {
            Ok(Some(h)) => h,
            Ok(None) => {
                return Ok(Ending::Ignored(format!(
                    "host {} no longer exists",
                    n.source_host_uuid
                )))
            }
            Err(e) => return Err(Failure::Other(format!("reading the host: {}", chain(&e)))),
        };
        if !host.segment.enabled {
            return Ok(Ending::Ignored(format!(
                "Recovery of notification {} is ignored because failover segment {} is disabled",
                n.uuid, host.segment.uuid
            )));
        }
        let config = &self.config;
        let poll = Duration::from_millis(config.host.poll_interval_ms);
        let retry = config.retry.clone();
        let payload = match Payload::parse(n.notification_type, &n.payload) {
            Ok(p) => p,
            Err(e) => {
                return Ok(Ending::Ignored(format!(
                    "Vigil cannot act on this {} notification: {}",
                    n.notification_type,
                    chain(&e)
                )))
            }
        };
        let log = Arc::new(StoreLog::new(self.store.clone(), lease.clone()));
        let claim = |flow: &'static str| Claim {
            store: self.store.clone(),
            nova: self.nova.clone(),
            lease: lease.clone(),
            notification: n.clone(),
            retry: retry.clone(),
            metrics: self.metrics.flow(flow),
            log: log.clone(),
        };
        match payload {
            Payload::ComputeHost(p) if p.event == Event::Stopped => {
                let ctx = HostFailure {
                    claim: claim("host"),
                    fencer: self.fencer.clone(),
                    payload: p,
                    host,
                    config: config.host.clone(),
                    selection: config.selection.clone(),
                };
                flow(&self.flows.host, &ctx, &ctx.claim).await
            }
            Payload::ComputeHost(_) => {
                let ctx = HostRejoin {
                    claim: claim("rejoin"),
                    fencer: self.fencer.clone(),
                    host,
                    config: config.rejoin.clone(),
                    poll,
                };
                flow(&self.flows.rejoin, &ctx, &ctx.claim).await
            }
            Payload::Vm(p) => {
                let (event, domain_event) = (p.event.as_str(), p.vir_domain_event.as_str());
                if !instance::RECOVERED_EVENTS.contains(&(event, domain_event)) {
                    return Ok(Ending::Ignored(format!(
                        "Vigil does not recover instances for event {event} / {domain_event}"
                    )));
                }
                let ctx = InstanceFailure {
                    claim: claim("instance"),
                    payload: p.clone(),
                    config: config.instance.clone(),
                    poll,
                };
                flow(&self.flows.instance, &ctx, &ctx.claim).await
            }
            Payload::Process(p) if p.event == Event::Stopped => {
                let ctx = ProcessFailure {
                    claim: claim("process"),
                    payload: p,
                    host,
                    config: config.process.clone(),
                    poll,
                };
                flow(&self.flows.process, &ctx, &ctx.claim).await
            }
            Payload::Process(_) => Ok(Ending::Finished),
        }
    }
}

/// A flow task that panicked is a bug: say so loudly. Its lease expires and the notification
/// is taken up again, by this engine or another.
fn report_flow_task(ended: Result<(), tokio::task::JoinError>) {
    if let Err(e) = ended {
        if e.is_panic() {
            tracing::error!(
                error = &e as &dyn std::error::Error,
                "a recovery flow panicked"
            );
        }
    }
}

/// Runs a flow, timing it, and sorts its failure: a lost lease means another engine owns it
/// now.
async fn flow<C: Sync>(
    steps: &[Box<dyn Step<C>>],
    ctx: &C,
    claim: &Claim,
) -> Result<Ending, Failure> {
    let started = std::time::Instant::now();
    let metrics = &claim.metrics;
    let result = run_flow(steps, ctx, claim.log.as_ref(), metrics)
        .await
        .map_err(|e| match e {
            FlowError::Log {
                source: LogError::LeaseLost,
                ..
            } => Failure::LeaseLost,
            other => Failure::Other(chain(&other)),
        });
    let outcome = match &result {
        Ok(Ending::Finished) => FlowOutcome::Finished,
        Ok(Ending::Ignored(_)) => FlowOutcome::Ignored,
        Err(Failure::LeaseLost) => FlowOutcome::LeaseLost,
        Err(Failure::Other(_)) => FlowOutcome::Failed,
    };
    metrics.ended(outcome, started.elapsed());
    result
}

enum Failure {
    LeaseLost,
    Other(String),
}
