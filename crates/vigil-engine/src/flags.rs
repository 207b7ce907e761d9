//! The host flags a recovery sets in Vigil's store, each written under the flow's lease (a
//! stale engine's write is refused).

use crate::error::StepError;
use vigil_domain::Host;
use vigil_store::{Lease, Store};

/// Puts `host` in maintenance (`on`), or ends its maintenance.
pub async fn set_maintenance(
    store: &Store,
    lease: &Lease,
    host: &Host,
    on: bool,
) -> Result<(), StepError> {
    let what = if on {
        "putting the host in maintenance"
    } else {
        "ending the host's maintenance"
    };
    store
        .host_set_flags(lease, host.uuid, Some(on), None)
        .await
        .map_err(|e| StepError::store(what, e))
}

/// Clears `reserved` on a reserved host a recovery is moving servers to.
pub async fn clear_reserved(store: &Store, lease: &Lease, host: &Host) -> Result<(), StepError> {
    store
        .host_set_flags(lease, host.uuid, None, Some(false))
        .await
        .map_err(|e| StepError::store(format!("clearing reserved on {}", host.name), e))
}
