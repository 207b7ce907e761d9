//! What every recovery flow acts with, whichever flow it is.

use crate::nova::Nova;
use crate::retry::RetryPolicy;
use std::sync::Arc;
use vigil_domain::Notification;
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
