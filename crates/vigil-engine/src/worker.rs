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

/// Why a flow's lease is no longer renewed: the flow must stop acting at once.
#[derive(Debug)]
enum LeaseEnd<E> {
    /// The store says another engine holds it now.
    Taken(E),
    /// Renewals kept failing (the database unreachable, say) until too little of the last
    /// renewed lease was left to act safely; `None` when a renewal hung past that point.
    Expiring(Option<E>),
}

/// Renews a lease held until `held_until` every third of its length, until it is taken over or
/// about to end. A failed renewal is tried again every second while the lease still holds, so
/// a database restarting under a flow does not throw the flow away; it is given up when a sixth
/// of the lease is left, before another engine may claim the notification, so two engines never
/// act on one failure. A renewal's new end is measured from before it was asked.
async fn keep_lease<E, F, Fut>(
    mut held_until: Instant,
    lease: Duration,
    mut renew: F,
    taken: impl Fn(&E) -> bool,
) -> LeaseEnd<E>
where
    E: std::error::Error + 'static,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
{
    let margin = lease / 6;
    let retry = Duration::from_secs(1).min(lease / 6);
    let mut next = Instant::now() + lease / 3;
    loop {
        let give_up = held_until.checked_sub(margin).unwrap_or(held_until);
        tokio::time::sleep_until(next.min(give_up)).await;
        if Instant::now() >= give_up {
            return LeaseEnd::Expiring(None);
        }
        let asked = Instant::now();
        match tokio::time::timeout_at(give_up, renew()).await {
            Ok(Ok(())) => {
                held_until = asked + lease;
                next = asked + lease / 3;
            }
            Ok(Err(e)) if taken(&e) => return LeaseEnd::Taken(e),
            Ok(Err(e)) => {
                if Instant::now() + retry >= give_up {
                    return LeaseEnd::Expiring(Some(e));
                }
                tracing::warn!(
                    error = &e as &dyn std::error::Error,
                    left_secs = (held_until - Instant::now()).as_secs_f64(),
                    "renewing a lease failed; trying again while it still holds"
                );
                next = Instant::now() + retry;
            }
            Err(_) => return LeaseEnd::Expiring(None),
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

#[cfg(test)]
mod tests {
    use super::{keep_lease, LeaseEnd};
    use std::sync::Mutex;
    use std::time::Duration;
    use tokio::time::Instant;

    #[derive(Debug, Clone, PartialEq, thiserror::Error)]
    enum E {
        #[error("taken over")]
        Taken,
        #[error("database unreachable")]
        Down,
    }

    const LEASE: Duration = Duration::from_secs(60);

    /// Runs `keep_lease` for a lease of 60 s claimed now, against renewals that answer, in
    /// turn, what `answers` says (then succeed), each taking `slow`; returns how it ended,
    /// when, and when renewals were asked.
    async fn run(answers: &[Option<E>], slow: Duration) -> (LeaseEnd<E>, Duration, Vec<Duration>) {
        let start = Instant::now();
        let answers = Mutex::new(answers.to_vec());
        let asked = Mutex::new(Vec::new());
        let end = keep_lease(
            start + LEASE,
            LEASE,
            || {
                asked.lock().unwrap().push(start.elapsed());
                let answer = {
                    let mut a = answers.lock().unwrap();
                    if a.is_empty() {
                        None
                    } else {
                        a.remove(0)
                    }
                };
                async move {
                    tokio::time::sleep(slow).await;
                    match answer {
                        Some(e) => Err(e),
                        None => Ok(()),
                    }
                }
            },
            |e| *e == E::Taken,
        )
        .await;
        (end, start.elapsed(), asked.into_inner().unwrap())
    }

    fn secs(s: &[u64]) -> Vec<Duration> {
        s.iter().map(|&s| Duration::from_secs(s)).collect()
    }

    /// Taken over: given up at the first renewal that says so.
    #[tokio::test(start_paused = true)]
    async fn a_lease_taken_over_is_given_up_at_once() {
        let (end, at, asked) = run(&[None, Some(E::Taken)], Duration::ZERO).await;
        assert!(matches!(end, LeaseEnd::Taken(E::Taken)), "{end:?}");
        assert_eq!((at, asked), (Duration::from_secs(40), secs(&[20, 40])));
    }

    /// The database down for a few seconds: renewals are retried every second and the lease is
    /// kept; renewals then go back to every 20 s, from the one that succeeded.
    #[tokio::test(start_paused = true)]
    async fn a_short_outage_keeps_the_lease() {
        let down = [
            Some(E::Down),
            Some(E::Down),
            Some(E::Down),
            None,
            None,
            Some(E::Taken),
        ];
        let (end, at, asked) = run(&down, Duration::ZERO).await;
        assert!(matches!(end, LeaseEnd::Taken(_)), "{end:?}");
        assert_eq!(asked, secs(&[20, 21, 22, 23, 43, 63]));
        assert_eq!(at, Duration::from_secs(63));
    }

    /// The database down for good: given up when a sixth of the last renewed lease is left
    /// (it ends at 60 s, so at 50 s), never after it could have been claimed again.
    #[tokio::test(start_paused = true)]
    async fn a_long_outage_gives_the_lease_up_before_it_ends() {
        let down: Vec<Option<E>> = (0..100).map(|_| Some(E::Down)).collect();
        let (end, at, asked) = run(&down, Duration::ZERO).await;
        assert!(matches!(end, LeaseEnd::Expiring(Some(E::Down))), "{end:?}");
        assert!(at <= Duration::from_secs(50), "{at:?}");
        assert_eq!(asked.first(), Some(&Duration::from_secs(20)));
        assert_eq!(asked.len(), 30, "{asked:?}");
    }

    /// A renewal that hangs (a connection that never answers) is not waited for past the
    /// point where the lease must be given up.
    #[tokio::test(start_paused = true)]
    async fn a_hanging_renewal_is_given_up_in_time() {
        let (end, at, asked) = run(&[], Duration::from_secs(3600)).await;
        assert!(matches!(end, LeaseEnd::Expiring(None)), "{end:?}");
        assert_eq!((at, asked), (Duration::from_secs(50), secs(&[20])));
    }

    /// A slow renewal's new lease counts from when it was asked, not when it answered.
    #[tokio::test(start_paused = true)]
    async fn a_renewed_lease_counts_from_the_request() {
        let answers = [None, Some(E::Taken)];
        let (_, at, asked) = run(&answers, Duration::from_secs(5)).await;
        // Asked at 20 (answered at 25), next at 20 + 20 = 40, answered at 45.
        assert_eq!(asked, secs(&[20, 40]));
        assert_eq!(at, Duration::from_secs(45));
    }
}
