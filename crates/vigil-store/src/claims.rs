//! The engines' work queue: claiming notifications under a lease, renewing and releasing it.
//!
//! A claim is a lease in the notification's row: an owner name, an expiry, and a generation that
//! every claim increments. Every write made on behalf of a claim (here, and the flow log, vmoves
//! and host flags) checks owner and generation in its own transaction, so an engine that
//! stalled past its lease and was taken over cannot overwrite the new holder's progress, even
//! when the new holder has the same name (the same engine, restarted): the store is the fence.

use crate::notifications;
use crate::sql::{args, Cols};
use crate::store::{Queries, Tx};
use crate::{Backend, Store, StoreError};
use std::time::Duration;
use vigil_domain::{Notification, NotificationId, NotificationStatus, Timestamp};

/// One claim on a notification: what every write on its behalf presents to the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub notification: NotificationId,
    /// The engine's name.
    pub owner: String,
    /// Which claim of the notification this is; no two claims share one.
    pub generation: i64,
}

/// A notification an engine has claimed.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub notification: Notification,
    /// How many times it has been claimed, this claim included.
    pub attempts: i64,
    pub lease: Lease,
}

/// The condition a statement on behalf of a claim adds: binds the notification, the owner and
/// the generation, in that order.
const HELD: &str =
    "notification_uuid = ? AND lease_owner = ? AND lease_generation = ? AND status = 'running'";

/// A statement on behalf of `lease` that changed no row: another claim has taken over.
fn held(changed: u64, lease: &Lease) -> Result<(), StoreError> {
    match changed {
        0 => Err(StoreError::LeaseLost(lease.notification)),
        _ => Ok(()),
    }
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Store {
    /// Claims the oldest notification that is `new`, `running` under an expired lease, or
    /// `error` and due for a retry — never one whose host has another notification in the
    /// hands of a live engine, so recoveries of one host run one at a time.
    pub async fn notification_claim(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<Claimed>, StoreError> {
        self.notification_claim_capped(owner, lease, 0).await
    }

    /// [`Store::notification_claim`], and besides: never more than `segment_cap` hosts of one
    /// segment in recovery at once (0: no cap). A burst of failures in one segment is then
    /// worked through a few hosts at a time instead of all at once.
    pub async fn notification_claim_capped(
        &self,
        owner: &str,
        lease: Duration,
        segment_cap: u32,
    ) -> Result<Option<Claimed>, StoreError> {
        let now = Timestamp::now();
        let cap = i64::from(segment_cap);
        let mut tx = self.tx().await?;
        let skip_locked = match self.backend {
            Backend::Sqlite => "",
            _ => " FOR UPDATE SKIP LOCKED",
        };
        let candidate = tx
            .fetch_optional(
                "notification claim",
                &format!(
                    "SELECT n.id, n.source_host_uuid, n.failover_segment_uuid FROM notifications n \
                     WHERE n.deleted = 0 AND (n.status = 'new' \
                       OR (n.status = 'running' AND n.lease_expires < ?) \
                       OR (n.status = 'error' AND n.next_attempt_at <= ?)) \
                     AND NOT EXISTS (SELECT 1 FROM notifications r \
                       WHERE r.source_host_uuid = n.source_host_uuid AND r.id <> n.id \
                       AND r.status = 'running' AND r.lease_expires >= ? AND r.deleted = 0) \
                     AND (? = 0 OR (SELECT COUNT(*) FROM notifications r \
                       WHERE r.failover_segment_uuid = n.failover_segment_uuid \
                       AND r.source_host_uuid <> n.source_host_uuid \
                       AND r.status = 'running' AND r.lease_expires >= ? AND r.deleted = 0) < ?) \
                     ORDER BY n.created_at, n.id LIMIT 1{skip_locked}"
                ),
                args![now, now, now, cap, now, cap],
            )
            .await?;
        let Some(candidate) = candidate else {
            return Ok(None);
        };
        let c = Cols::new(&candidate);
        let id = c.int("id")?;
        let host = c.text("source_host_uuid")?;
        let segment = c.opt_text("failover_segment_uuid")?;
        // The cap, like the one-engine-per-host rule below, is checked again under a row lock:
        // two engines may pick hosts of one segment at once. Segment before host, the order
        // host updates lock them in.
        if let (true, Some(segment)) = (cap > 0, segment.as_deref()) {
            tx.fetch_optional(
                "notification claim segment lock",
                &format!(
                    "SELECT id FROM segments WHERE uuid = ?{}",
                    self.for_update()
                ),
                args![segment],
            )
            .await?;
            let busy = tx
                .fetch_optional(
                    "notification claim segment check",
                    "SELECT COUNT(*) AS n FROM notifications WHERE failover_segment_uuid = ? \
                     AND source_host_uuid <> ? AND status = 'running' AND lease_expires >= ? \
                     AND deleted = 0",
                    args![segment, host.as_str(), now],
                )
                .await?;
            if busy
                .map(|r| Cols::new(&r).int("n"))
                .transpose()?
                .unwrap_or(0)
                >= cap
            {
                return Ok(None);
            }
        }
        // One engine at a time per host: the filter above skips hosts in live hands, but two
        // engines may pick two reports of one host at once, so serialise on the host row and
        // look again.
        tx.fetch_optional(
            "notification claim host lock",
            &format!("SELECT id FROM hosts WHERE uuid = ?{}", self.for_update()),
            args![host.as_str()],
        )
        .await?;
        let busy = tx
            .fetch_optional(
                "notification claim host check",
                "SELECT id FROM notifications WHERE source_host_uuid = ? AND id <> ? \
                 AND status = 'running' AND lease_expires >= ? AND deleted = 0 LIMIT 1",
                args![host.as_str(), id, now],
            )
            .await?;
        if busy.is_some() {
            return Ok(None);
        }
        tx.execute(
            "notification claim update",
            "UPDATE notifications SET status = 'running', lease_owner = ?, lease_expires = ?, \
             lease_generation = lease_generation + 1, attempts = attempts + 1, \
             next_attempt_at = NULL, updated_at = ? WHERE id = ?",
            args![
                owner,
                Timestamp::from_micros(now.as_micros() + micros(lease)),
                now.truncate_to_seconds(),
                id,
            ],
        )
        .await?;
        let row = tx
            .fetch_optional(
                "notification claim read",
                &format!(
                    "SELECT {}, n.attempts, n.lease_generation FROM notifications n \
                     WHERE n.id = ?",
                    notifications::COLUMNS
                ),
                args![id],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                what: "notification",
                detail: format!("claimed row {id} vanished"),
            })?;
        let notification = notifications::from_row(&row)?;
        let c = Cols::new(&row);
        let claimed = Claimed {
            lease: Lease {
                notification: notification.uuid,
                owner: owner.to_owned(),
                generation: c.int("lease_generation")?,
            },
            attempts: c.int("attempts")?,
            notification,
        };
        tx.commit().await?;
        Ok(Some(claimed))
    }

    /// Who holds the notification's lease, if anyone, and until when (for operators and tests:
    /// which engine is recovering it).
    pub async fn notification_lease(
        &self,
        id: NotificationId,
    ) -> Result<Option<(Lease, Timestamp)>, StoreError> {
        let row = self
            .fetch_optional(
                "notification lease",
                "SELECT lease_owner, lease_generation, lease_expires FROM notifications \
                 WHERE notification_uuid = ? AND status = 'running'",
                args![id.to_string()],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let c = Cols::new(&row);
        Ok(
            match (c.opt_text("lease_owner")?, c.opt_ts("lease_expires")?) {
                (Some(owner), Some(until)) => Some((
                    Lease {
                        notification: id,
                        owner,
                        generation: c.int("lease_generation")?,
                    },
                    until,
                )),
                _ => None,
            },
        )
    }

    /// Extends the lease; `LeaseLost` if another claim has taken the notification over.
    pub async fn notification_renew(
        &self,
        lease: &Lease,
        duration: Duration,
    ) -> Result<(), StoreError> {
        let expires = Timestamp::from_micros(Timestamp::now().as_micros() + micros(duration));
        let changed = self
            .execute(
                "notification lease renew",
                &format!("UPDATE notifications SET lease_expires = ? WHERE {HELD}"),
                args![
                    expires,
                    lease.notification.to_string(),
                    lease.owner.as_str(),
                    lease.generation
                ],
            )
            .await?;
        held(changed, lease)
    }

    /// Ends a claim: records the outcome and gives up the lease. `retry_at` (with status
    /// `error`) schedules another attempt.
    pub async fn notification_release(
        &self,
        lease: &Lease,
        status: NotificationStatus,
        message: Option<String>,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let changed = self
            .execute(
                "notification release",
                &format!(
                    "UPDATE notifications SET status = ?, message = ?, next_attempt_at = ?, \
                     lease_owner = NULL, lease_expires = NULL, updated_at = ? WHERE {HELD}"
                ),
                args![
                    status.as_str(),
                    message,
                    retry_at,
                    Timestamp::now().truncate_to_seconds(),
                    lease.notification.to_string(),
                    lease.owner.as_str(),
                    lease.generation,
                ],
            )
            .await?;
        held(changed, lease)
    }

    /// Marks `new`/`running`/`error` notifications generated before `cutoff` as `failed`
    /// (Masakari's 24-hour expiry). Returns how many were expired.
    pub async fn notification_expire(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        self.execute(
            "notification expire",
            "UPDATE notifications SET status = 'failed', lease_owner = NULL, \
             lease_expires = NULL, next_attempt_at = NULL, updated_at = ?, \
             message = 'expired before recovery completed' \
             WHERE status IN ('new', 'running', 'error') AND generated_time < ? \
             AND (status <> 'running' OR lease_expires < ?) AND deleted = 0",
            args![
                Timestamp::now().truncate_to_seconds(),
                cutoff,
                Timestamp::now()
            ],
        )
        .await
    }
}

/// Fails with `LeaseLost` unless `lease` is still the notification's current claim, and locks
/// the notification's row until the caller's transaction ends (so a takeover waits for it).
pub(crate) async fn check_lease(
    tx: &mut Tx,
    for_update: &str,
    lease: &Lease,
) -> Result<(), StoreError> {
    let held = tx
        .fetch_optional(
            "lease check",
            &format!("SELECT id FROM notifications WHERE {HELD}{for_update}"),
            args![
                lease.notification.to_string(),
                lease.owner.as_str(),
                lease.generation
            ],
        )
        .await?;
    match held {
        Some(_) => Ok(()),
        None => Err(StoreError::LeaseLost(lease.notification)),
    }
}
