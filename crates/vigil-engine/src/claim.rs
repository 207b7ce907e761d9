//! What every recovery flow acts with, whichever flow it is.

use crate::error::StepError;
use crate::log::StoreLog;
use crate::nova::{Nova, NovaError, Service};
use crate::retry::RetryPolicy;
use std::future::Future;
use std::sync::Arc;
use vigil_domain::{Host, Notification};
use vigil_metrics::FlowMetrics;
use vigil_store::{Lease, Store};

/// A notification an engine claimed, and the means its flow acts with.
#[derive(Clone)]
pub struct Claim {
    pub store: Store,
    pub nova: Arc<dyn Nova>,
    /// The engine's claim on the notification: every write on the flow's behalf is fenced by it.
    pub lease: Lease,
    pub notification: Notification,
    pub retry: RetryPolicy,
    /// The flow's metrics: its steps, fencing and evacuations are recorded through them.
    pub metrics: FlowMetrics,
    /// The flow's log, through which a long step reports its progress while it runs.
    pub log: Arc<StoreLog>,
}

impl Claim {
    /// A Nova call under the retry policy; a failure names `action`. Each retry is noted in
    /// the running step's progress details, so a recovery waiting out a Nova outage says so.
    pub async fn nova<'a, T, F, Fut>(&'a self, action: &str, mut call: F) -> Result<T, StepError>
    where
        F: FnMut(&'a dyn Nova) -> Fut,
        Fut: Future<Output = Result<T, NovaError>> + 'a,
    {
        let nova = self.nova.as_ref();
        self.retry
            .run_told(action, || call(nova), |note| self.note_running(note))
            .await
            .map_err(|e| StepError::nova(action, e))
    }

    /// Best effort, as [`Claim::progress`]: a note on whichever step is running.
    async fn note_running(&self, note: String) {
        if let Err(e) = self.log.note_running(&note).await {
            tracing::warn!(
                notification = %self.lease.notification,
                error = &e as &dyn std::error::Error,
                "noting a retry in the running step"
            );
        }
    }

    /// Reports how far the running step `step` has got, for operators watching the recovery
    /// (`progress` from 0 to 1). Best effort: a report that cannot be written is logged and the
    /// step goes on; a lost lease is noticed by the worker and by the step's next real write.
    pub async fn progress(&self, step: &str, progress: f64, message: &str) {
        if let Err(e) = self.log.progress(step, progress, message).await {
            tracing::warn!(
                notification = %self.lease.notification,
                step,
                error = &e as &dyn std::error::Error,
                "recording a step's progress"
            );
        }
    }

    /// What taking a failed host out of service starts with: `host` in maintenance in Vigil,
    /// then its `nova-compute` service as Nova shows it.
    pub async fn maintain(&self, host: &Host) -> Result<Service, StepError> {
        crate::flags::set_maintenance(&self.store, &self.lease, host, true).await?;
        self.compute_service(&host.name).await
    }

    /// The `nova-compute` service of `host`; a host Nova has none of is a refusal.
    pub async fn compute_service(&self, host: &str) -> Result<Service, StepError> {
        self.nova("finding the compute service", |nova| {
            nova.compute_service(host)
        })
        .await?
        .ok_or_else(|| StepError::refused(format!("Nova has no nova-compute service on {host}")))
    }

    /// Enables `service` unless Nova shows it enabled already; the error names `action`.
    pub async fn enable_service(&self, service: &Service, action: &str) -> Result<(), StepError> {
        if service.status == "enabled" {
            return Ok(());
        }
        self.nova(action, |nova| nova.enable_service(&service.id))
            .await
    }
}
