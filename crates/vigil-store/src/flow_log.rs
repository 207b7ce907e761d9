//! A recovery's flow log: one row per step, written by the engine holding the lease as each step
//! starts and ends, read by a resuming engine and shown by the API as the workflow details.

use crate::claims::{check_lease, Lease};
use crate::sql::{args, Cols};
use crate::store::Queries;
use crate::{Store, StoreError};
use vigil_domain::{NotificationId, ProgressDetail, Timestamp, WorkflowStep};

/// One persisted step of a recovery flow: what `recovery_workflow_details` shows, plus what a
/// resumed flow needs.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowStep {
    pub step: WorkflowStep,
    /// JSON text of the step's output.
    pub output: Option<String>,
    pub message: Option<String>,
    /// How the flow ended at this step, if it did.
    pub ending: Option<String>,
}

fn details_json(details: &[ProgressDetail]) -> Result<String, StoreError> {
    serde_json::to_string(details).map_err(corrupt_details)
}

fn corrupt_details(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt {
        what: "progress details",
        detail: e.to_string(),
    }
}

impl Store {
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
                    step: WorkflowStep {
                        name: c.text("name")?,
                        state: c.text("state")?,
                        progress: c.float("progress")?,
                        progress_details: serde_json::from_str(&c.text("progress_details")?)
                            .map_err(corrupt_details)?,
                    },
                    output: c.opt_text("output")?,
                    message: c.opt_text("message")?,
                    ending: c.opt_text("ending")?,
                })
            })
            .collect()
    }

    /// Inserts or replaces the step named `step.name`, if `lease` is still the current claim.
    pub async fn flow_step_save(&self, lease: &Lease, flow: &FlowStep) -> Result<(), StoreError> {
        let id = lease.notification;
        let step = &flow.step;
        let details = details_json(&step.progress_details)?;
        let mut tx = self.tx().await?;
        check_lease(&mut tx, self.for_update(), lease).await?;
        let existing = tx
            .fetch_optional(
                "flow step find",
                "SELECT position FROM recovery_steps WHERE notification_uuid = ? AND name = ?",
                args![id.to_string(), step.name.as_str()],
            )
            .await?;
        // What the step says, in the order both statements below bind it.
        let fields = args![
            step.state.as_str(),
            step.progress,
            details,
            flow.output.clone(),
            flow.message.clone(),
            flow.ending.clone(),
            Timestamp::now(),
        ];
        let (position, sql, operation) = match existing {
            Some(row) => (
                Cols::new(&row).int("position")?,
                "UPDATE recovery_steps SET state = ?, progress = ?, progress_details = ?, \
                 output = ?, message = ?, ending = ?, updated_at = ? \
                 WHERE notification_uuid = ? AND position = ? AND name = ?",
                "flow step update",
            ),
            None => (
                tx.fetch_optional(
                    "flow step position",
                    "SELECT COALESCE(MAX(position) + 1, 0) AS next FROM recovery_steps \
                     WHERE notification_uuid = ?",
                    args![id.to_string()],
                )
                .await?
                .map(|r| Cols::new(&r).int("next"))
                .transpose()?
                .unwrap_or(0),
                "INSERT INTO recovery_steps (state, progress, progress_details, output, \
                 message, ending, updated_at, notification_uuid, position, name) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                "flow step insert",
            ),
        };
        let mut all = fields;
        all.extend(args![id.to_string(), position, step.name.as_str()]);
        tx.execute(operation, sql, all).await?;
        tx.commit().await
    }

    /// A running step's progress while it runs, if `lease` is still the current claim. Only
    /// a step recorded as running changes: a late report never reopens a finished step.
    pub async fn flow_step_progress(
        &self,
        lease: &Lease,
        name: &str,
        progress: f64,
        details: &[ProgressDetail],
    ) -> Result<(), StoreError> {
        let details = details_json(details)?;
        let mut tx = self.tx().await?;
        check_lease(&mut tx, self.for_update(), lease).await?;
        tx.execute(
            "flow step progress",
            "UPDATE recovery_steps SET progress = ?, progress_details = ?, updated_at = ? \
             WHERE notification_uuid = ? AND name = ? AND state = 'RUNNING'",
            args![
                progress,
                details,
                Timestamp::now(),
                lease.notification.to_string(),
                name
            ],
        )
        .await?;
        tx.commit().await
    }

    /// The persisted step log of a notification's recovery, in execution order.
    pub async fn workflow_steps(
        &self,
        notification: NotificationId,
    ) -> Result<Vec<WorkflowStep>, StoreError> {
        // The same rows as the engine's flow log, in the shape the API shows.
        Ok(self
            .flow_log_load(notification)
            .await?
            .into_iter()
            .map(|s| s.step)
            .collect())
    }

    /// Writes step `position` of a notification's recovery log, replacing what was there.
    pub async fn workflow_step_put(
        &self,
        notification: NotificationId,
        position: u32,
        step: &WorkflowStep,
    ) -> Result<(), StoreError> {
        let details = details_json(&step.progress_details)?;
        let mut tx = self.tx().await?;
        tx.execute(
            "workflow step delete",
            "DELETE FROM recovery_steps WHERE notification_uuid = ? AND position = ?",
            args![notification.to_string(), i64::from(position)],
        )
        .await?;
        tx.execute(
            "workflow step insert",
            "INSERT INTO recovery_steps (notification_uuid, position, name, state, progress, \
             progress_details, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            args![
                notification.to_string(),
                i64::from(position),
                step.name.as_str(),
                step.state.as_str(),
                step.progress,
                details,
                Timestamp::now(),
            ],
        )
        .await?;
        tx.commit().await
    }
}
