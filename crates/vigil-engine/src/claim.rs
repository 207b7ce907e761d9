//! What every recovery flow acts with, whichever flow it is.

use crate::error::StepError;
use crate::nova::{Nova, NovaError, Service};
use crate::retry::RetryPolicy;
use std::future::Future;
use std::sync::Arc;
use vigil_domain::{Host, Notification};
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
}

impl Claim {
    /// A Nova call under the retry policy; a failure names `action`.
    pub async fn nova<'a, T, F, Fut>(&'a self, action: &str, mut call: F) -> Result<T, StepError>
    where
        F: FnMut(&'a dyn Nova) -> Fut,
        Fut: Future<Output = Result<T, NovaError>> + 'a,
    {
        let nova = self.nova.as_ref();
        self.retry.nova(action, || call(nova)).await
    }

    /// What taking a failed host out of service starts with: `host` in maintenance in Vigil,
    /// then its `nova-compute` service as Nova shows it.
    pub async fn maintain(&self, host: &Host) -> Result<Service, StepError> {
        crate::flags::set_maintenance(&self.store, &self.lease, host, true).await?;
        self.retry
            .compute_service(self.nova.as_ref(), &host.name)
            .await
    }
}
