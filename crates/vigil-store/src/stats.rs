//! Counts for operators' metrics, read at scrape time: the database is shared by every API and
//! engine replica, so only it knows how many notifications stand where.

use crate::sql::{args, Cols};
use crate::store::Queries;
use crate::{Store, StoreError};
use vigil_domain::{NotificationStatus, NotificationType, Timestamp};

/// Notifications of one type in one status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotificationCount {
    pub notification_type: NotificationType,
    pub status: NotificationStatus,
    pub count: i64,
}

impl Store {
    /// How many live notifications there are of each type in each status; pairs with none are
    /// left out.
    pub async fn notification_counts(&self) -> Result<Vec<NotificationCount>, StoreError> {
        let rows = self
            .fetch_all(
                "notification counts",
                "SELECT type, status, COUNT(*) AS n FROM notifications WHERE deleted = 0 \
                 GROUP BY type, status",
                args![],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let c = Cols::new(r);
                Ok(NotificationCount {
                    notification_type: c.parsed("type")?,
                    status: c.parsed("status")?,
                    count: c.int("n")?,
                })
            })
            .collect()
    }

    /// How many notifications wait for an engine: `new`, `error` (a retry is due or
    /// scheduled), or `running` under a lease that expired (its engine is gone).
    pub async fn notification_queue_depth(&self) -> Result<i64, StoreError> {
        let row = self
            .fetch_optional(
                "notification queue depth",
                "SELECT COUNT(*) AS n FROM notifications WHERE deleted = 0 \
                 AND (status IN ('new', 'error') OR (status = 'running' AND lease_expires < ?))",
                args![Timestamp::now()],
            )
            .await?;
        row.map(|r| Cols::new(&r).int("n"))
            .transpose()
            .map(|n| n.unwrap_or(0))
    }
}
