//! The engines' work queue: claiming notifications under a lease, and the writes an engine makes
//! while it holds one (its flow log and vmoves).
//!
//! Every write made on behalf of a claim checks, in the same transaction, that the lease is still
//! this engine's. An engine that stalled past its lease and was taken over can therefore not
//! overwrite the new owner's progress: the store is the fence.

use crate::notifications;
use crate::sql::{args, Cols};
use crate::store::Tx;
use crate::{Backend, Store, StoreError};
use std::time::Duration;
use vigil_domain::{
    Notification, NotificationId, NotificationStatus, ProgressDetail, Timestamp, VMove, VMoveId,
    VMoveStatus, VMoveType,
};

/// A notification an engine has claimed.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub notification: Notification,
    /// How many times it has been claimed, this claim included.
    pub attempts: i64,
}

/// One persisted step of a recovery flow (what `recovery_workflow_details` shows, plus what a
/// resumed flow needs).
#[derive(Clone, Debug, PartialEq)]
pub struct FlowStep {
    pub name: String,
    pub state: String,
    pub progress: f64,
    pub progress_details: Vec<ProgressDetail>,
    /// JSON text of the step's output.
    pub output: Option<String>,
    pub message: Option<String>,
    /// How the flow ended at this step, if it did.
    pub ending: Option<String>,
}

/// An instance move as the engine records it; keyed by (notification, instance).
#[derive(Clone, Debug, PartialEq)]
pub struct VMoveRecord {
    pub instance_uuid: String,
    pub instance_name: String,
    pub source_host: Option<String>,
    pub dest_host: Option<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub vmove_type: VMoveType,
    pub status: VMoveStatus,
    pub message: Option<String>,
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
             attempts = attempts + 1, next_attempt_at = NULL, updated_at = ? WHERE id = ?",
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
                    "SELECT {}, n.attempts FROM notifications n WHERE n.id = ?",
                    notifications::COLUMNS
                ),
                args![id],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                what: "notification",
                detail: format!("claimed row {id} vanished"),
            })?;
        let claimed = Claimed {
            notification: notifications::from_row(&row)?,
            attempts: Cols::new(&row).int("attempts")?,
        };
        tx.commit().await?;
        Ok(Some(claimed))
    }

    /// Who holds the notification's lease, if anyone, and until when (for operators and tests:
    /// which engine is recovering it).
    pub async fn notification_lease(
        &self,
        id: NotificationId,
    ) -> Result<Option<(String, Timestamp)>, StoreError> {
        let row = self
            .fetch_optional(
                "notification lease",
                "SELECT lease_owner, lease_expires FROM notifications \
                 WHERE notification_uuid = ? AND status = 'running'",
                args![id.to_string()],
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        let c = Cols::new(&row);
        Ok(
            match (c.opt_text("lease_owner")?, c.opt_ts("lease_expires")?) {
                (Some(owner), Some(until)) => Some((owner, until)),
                _ => None,
            },
        )
    }

    /// Extends the lease; `LeaseLost` if another engine has taken the notification over.
    pub async fn notification_renew(
        &self,
        id: NotificationId,
        owner: &str,
        lease: Duration,
    ) -> Result<(), StoreError> {
        let mut tx = self.tx().await?;
        let expires = Timestamp::from_micros(Timestamp::now().as_micros() + micros(lease));
        let changed = tx
            .execute(
                "notification lease renew",
                "UPDATE notifications SET lease_expires = ? WHERE notification_uuid = ? \
                 AND lease_owner = ? AND status = 'running'",
                args![expires, id.to_string(), owner],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::LeaseLost(id));
        }
        tx.commit().await
    }

    /// Ends a claim: records the outcome and gives up the lease. `retry_at` (with status
    /// `error`) schedules another attempt.
    pub async fn notification_release(
        &self,
        id: NotificationId,
        owner: &str,
        status: NotificationStatus,
        message: Option<String>,
        retry_at: Option<Timestamp>,
    ) -> Result<(), StoreError> {
        let mut tx = self.tx().await?;
        let changed = tx
            .execute(
                "notification release",
                "UPDATE notifications SET status = ?, message = ?, next_attempt_at = ?, \
                 lease_owner = NULL, lease_expires = NULL, updated_at = ? \
                 WHERE notification_uuid = ? AND lease_owner = ? AND status = 'running'",
                args![
                    status.as_str(),
                    message,
                    retry_at,
                    Timestamp::now().truncate_to_seconds(),
                    id.to_string(),
                    owner,
                ],
            )
            .await?;
        if changed == 0 {
            return Err(StoreError::LeaseLost(id));
        }
        tx.commit().await
    }

    /// Marks `new`/`running`/`error` notifications generated before `cutoff` as `failed`
    /// (Masakari's 24-hour expiry). Returns how many were expired.
    pub async fn notification_expire(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
        let mut tx = self.tx().await?;
        let n = tx
            .execute(
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
            .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// The flow log of a notification, in the order steps first ran.
    pub async fn flow_log_load(&self, id: NotificationId) -> Result<Vec<FlowStep>, StoreError> {
        let rows = self
            .fetch_all(
                "flow log load",
                "SELECT name, state, progress, progress_details, output, message, ending \
                 FROM recovery_steps WHERE notification_uuid = ? ORDER BY position",
                args![id.to_string()],
            )
            .await?;
        rows.iter()
            .map(|row| {
                let c = Cols::new(row);
                Ok(FlowStep {
                    name: c.text("name")?,
                    state: c.text("state")?,
                    progress: c.float("progress")?,
                    progress_details: serde_json::from_str(&c.text("progress_details")?).map_err(
                        |e| StoreError::Corrupt {
                            what: "progress details",
                            detail: e.to_string(),
                        },
                    )?,
                    output: c.opt_text("output")?,
                    message: c.opt_text("message")?,
                    ending: c.opt_text("ending")?,
                })
            })
            .collect()
    }

    /// Inserts or replaces the step named `step.name`, if `owner` still holds the lease.
    pub async fn flow_step_save(
        &self,
        id: NotificationId,
        owner: &str,
        step: &FlowStep,
    ) -> Result<(), StoreError> {
        let details =
            serde_json::to_string(&step.progress_details).map_err(|e| StoreError::Corrupt {
                what: "progress details",
                detail: e.to_string(),
            })?;
        let mut tx = self.tx().await?;
        self.check_lease(&mut tx, id, owner).await?;
        let existing = tx
            .fetch_optional(
                "flow step find",
                "SELECT position FROM recovery_steps WHERE notification_uuid = ? AND name = ?",
                args![id.to_string(), step.name.as_str()],
            )
            .await?;
        let now = Timestamp::now();
        match existing {
            Some(row) => {
                let position = Cols::new(&row).int("position")?;
                tx.execute(
                    "flow step update",
                    "UPDATE recovery_steps SET state = ?, progress = ?, progress_details = ?, \
                     output = ?, message = ?, ending = ?, updated_at = ? \
                     WHERE notification_uuid = ? AND position = ?",
                    args![
                        step.state.as_str(),
                        step.progress,
                        details,
                        step.output.clone(),
                        step.message.clone(),
                        step.ending.clone(),
                        now,
                        id.to_string(),
                        position,
                    ],
                )
                .await?;
            }
            None => {
                let next = tx
                    .fetch_optional(
                        "flow step position",
                        "SELECT COALESCE(MAX(position) + 1, 0) AS next FROM recovery_steps \
                         WHERE notification_uuid = ?",
                        args![id.to_string()],
                    )
                    .await?
                    .map(|r| Cols::new(&r).int("next"))
                    .transpose()?
                    .unwrap_or(0);
                tx.execute(
                    "flow step insert",
                    "INSERT INTO recovery_steps (notification_uuid, position, name, state, \
                     progress, progress_details, output, message, ending, updated_at) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    args![
                        id.to_string(),
                        next,
                        step.name.as_str(),
                        step.state.as_str(),
                        step.progress,
                        details,
                        step.output.clone(),
                        step.message.clone(),
                        step.ending.clone(),
                        now,
                    ],
                )
                .await?;
            }
        }
        tx.commit().await
    }

    /// Records an instance move (inserted on first sight, updated after), if `owner` still
    /// holds the lease on the notification.
    pub async fn vmove_put(
        &self,
        id: NotificationId,
        owner: &str,
        record: &VMoveRecord,
    ) -> Result<VMove, StoreError> {
        let mut tx = self.tx().await?;
        self.check_lease(&mut tx, id, owner).await?;
        let now = Timestamp::now().truncate_to_seconds();
        let existing = tx
            .fetch_optional(
                "vmove find",
                "SELECT uuid FROM vmoves WHERE notification_uuid = ? AND instance_uuid = ? \
                 AND deleted = 0",
                args![id.to_string(), record.instance_uuid.as_str()],
            )
            .await?;
        let vmove_id: VMoveId = match existing {
            Some(row) => {
                let uuid: VMoveId = Cols::new(&row).parsed("uuid")?;
                tx.execute(
                    "vmove update",
                    "UPDATE vmoves SET instance_name = ?, source_host = ?, dest_host = ?, \
                     start_time = ?, end_time = ?, type = ?, status = ?, message = ?, \
                     updated_at = ? WHERE uuid = ?",
                    args![
                        record.instance_name.as_str(),
                        record.source_host.clone(),
                        record.dest_host.clone(),
                        record.start_time,
                        record.end_time,
                        record.vmove_type.as_str(),
                        record.status.as_str(),
                        record.message.clone(),
                        now,
                        uuid.to_string(),
                    ],
                )
                .await?;
                uuid
            }
            None => {
                let uuid = VMoveId::new_random();
                tx.insert(
                    "vmove insert",
                    "INSERT INTO vmoves (uuid, notification_uuid, instance_uuid, instance_name, \
                     source_host, dest_host, start_time, end_time, type, status, message, \
                     created_at, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                    args![
                        uuid.to_string(),
                        id.to_string(),
                        record.instance_uuid.as_str(),
                        record.instance_name.as_str(),
                        record.source_host.clone(),
                        record.dest_host.clone(),
                        record.start_time,
                        record.end_time,
                        record.vmove_type.as_str(),
                        record.status.as_str(),
                        record.message.clone(),
                        now,
                    ],
                )
                .await?;
                uuid
            }
        };
        tx.commit().await?;
        self.vmove_get(vmove_id).await
    }

    /// Sets a host's flags on behalf of a recovery (the API's "in use" rule does not apply:
    /// the engine is the one using it).
    pub async fn host_set_flags(
        &self,
        host: vigil_domain::HostId,
        on_maintenance: Option<bool>,
        reserved: Option<bool>,
    ) -> Result<(), StoreError> {
        let mut tx = self.tx().await?;
        let now = Timestamp::now().truncate_to_seconds();
        if let Some(m) = on_maintenance {
            tx.execute(
                "host maintenance flag",
                "UPDATE hosts SET on_maintenance = ?, updated_at = ? WHERE uuid = ? AND deleted = 0",
                args![m, now, host.to_string()],
            )
            .await?;
        }
        if let Some(r) = reserved {
            tx.execute(
                "host reserved flag",
                "UPDATE hosts SET reserved = ?, updated_at = ? WHERE uuid = ? AND deleted = 0",
                args![r, now, host.to_string()],
            )
            .await?;
        }
        tx.commit().await
    }

    /// For the mass-failure gate: how many distinct hosts of the segment reported a host
    /// failure generated since `since`, and how many live hosts the segment has.
    pub async fn segment_failure_count(
        &self,
        segment: vigil_domain::SegmentId,
        since: Timestamp,
    ) -> Result<(i64, i64), StoreError> {
        let row = self
            .fetch_optional(
                "segment failure count",
                "SELECT (SELECT COUNT(DISTINCT n.source_host_uuid) FROM notifications n \
                   JOIN hosts h ON h.uuid = n.source_host_uuid JOIN segments s ON s.id = h.segment_id \
                   WHERE s.uuid = ? AND n.type = 'COMPUTE_HOST' AND n.generated_time >= ? \
                   AND n.payload LIKE '%\"event\":\"STOPPED\"%' \
                   AND n.status <> 'ignored' AND n.deleted = 0) AS failed, \
                 (SELECT COUNT(*) FROM hosts h JOIN segments s ON s.id = h.segment_id \
                   WHERE s.uuid = ? AND h.deleted = 0) AS total",
                args![segment.to_string(), since, segment.to_string()],
            )
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                what: "count",
                detail: "no row".into(),
            })?;
        let c = Cols::new(&row);
        Ok((c.int("failed")?, c.int("total")?))
    }

    /// Earlier `finished` instance-failure reports of `instance` generated since `since`,
    /// newest first, `except` left out: the history a restart budget is counted on.
    pub async fn instance_recoveries(
        &self,
        instance: &str,
        since: Timestamp,
        except: NotificationId,
    ) -> Result<Vec<NotificationId>, StoreError> {
        // The payload is stored as compact JSON, so the key and value appear like this.
        let needle = format!("%\"instance_uuid\":{}%", serde_json::Value::from(instance));
        let rows = self
            .fetch_all(
                "instance recoveries",
                "SELECT notification_uuid FROM notifications WHERE type = 'VM' \
                 AND status = 'finished' AND generated_time >= ? AND notification_uuid <> ? \
                 AND payload LIKE ? AND deleted = 0 ORDER BY generated_time DESC, id DESC",
                args![since, except.to_string(), needle],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let text = Cols::new(r).text("notification_uuid")?;
                text.parse().map_err(|_| StoreError::Corrupt {
                    what: "notification uuid",
                    detail: text,
                })
            })
            .collect()
    }

    /// The newest host-failure report (`COMPUTE_HOST`/`STOPPED`) of a host, `except` left out.
    pub async fn host_last_failure(
        &self,
        host: vigil_domain::HostId,
        except: NotificationId,
    ) -> Result<Option<Notification>, StoreError> {
        let row = self
            .fetch_optional(
                "host last failure",
                &format!(
                    "SELECT {} FROM notifications n WHERE n.source_host_uuid = ? \
                     AND n.type = 'COMPUTE_HOST' AND n.payload LIKE '%\"event\":\"STOPPED\"%' \
                     AND n.notification_uuid <> ? AND n.deleted = 0 \
                     ORDER BY n.generated_time DESC, n.id DESC LIMIT 1",
                    notifications::COLUMNS
                ),
                args![host.to_string(), except.to_string()],
            )
            .await?;
        row.map(|r| notifications::from_row(&r)).transpose()
    }

    async fn check_lease(
        &self,
        tx: &mut Tx,
        id: NotificationId,
        owner: &str,
    ) -> Result<(), StoreError> {
        let row = tx
            .fetch_optional(
                "lease check",
                &format!(
                    "SELECT lease_owner FROM notifications \
                     WHERE notification_uuid = ? AND status = 'running'{}",
                    self.for_update()
                ),
                args![id.to_string()],
            )
            .await?;
        let held = match row {
            Some(row) => {
                let c = Cols::new(&row);
                c.opt_text("lease_owner")?.as_deref() == Some(owner)
            }
            None => false,
        };
        if held {
            Ok(())
        } else {
            Err(StoreError::LeaseLost(id))
        }
    }
}
