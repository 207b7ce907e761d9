//! Failure history: what the engine's decisions count on from earlier reports (a segment's
//! recent host failures, an instance's earlier recoveries, a host's last failure). They filter
//! on the payload columns filled at intake (`event`, `instance_uuid`), never on payload text.

use crate::notifications;
use crate::sql::{args, Cols};
use crate::store::Queries;
use crate::{Store, StoreError};
use vigil_domain::{HostId, Notification, NotificationId, SegmentId, Timestamp};

impl Store {
    /// For the mass-failure gate: how many distinct hosts of the segment reported a host
    /// failure generated since `since`, and how many live hosts the segment has.
    pub async fn segment_failure_count(
        &self,
        segment: SegmentId,
        since: Timestamp,
    ) -> Result<(i64, i64), StoreError> {
        let row = self
            .fetch_optional(
                "segment failure count",
                "SELECT (SELECT COUNT(DISTINCT n.source_host_uuid) FROM notifications n \
                   JOIN hosts h ON h.uuid = n.source_host_uuid JOIN segments s ON s.id = h.segment_id \
                   WHERE s.uuid = ? AND n.type = 'COMPUTE_HOST' AND n.generated_time >= ? \
                   AND n.event = 'STOPPED' \
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
        let rows = self
            .fetch_all(
                "instance recoveries",
                "SELECT notification_uuid FROM notifications WHERE type = 'VM' \
                 AND instance_uuid = ? AND status = 'finished' AND generated_time >= ? \
                 AND notification_uuid <> ? AND deleted = 0 \
                 ORDER BY generated_time DESC, id DESC",
                args![instance, since, except.to_string()],
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
        host: HostId,
        except: NotificationId,
    ) -> Result<Option<Notification>, StoreError> {
        let row = self
            .fetch_optional(
                "host last failure",
                &format!(
                    "SELECT {} FROM notifications n WHERE n.source_host_uuid = ? \
                     AND n.type = 'COMPUTE_HOST' AND n.event = 'STOPPED' \
                     AND n.notification_uuid <> ? AND n.deleted = 0 \
                     ORDER BY n.generated_time DESC, n.id DESC LIMIT 1",
                    notifications::COLUMNS
                ),
                args![host.to_string(), except.to_string()],
            )
            .await?;
        row.map(|r| notifications::from_row(&r)).transpose()
    }
}
