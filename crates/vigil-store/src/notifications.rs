//! Notifications (failure reports): intake with its duplicate check, reads and lists.

use crate::listing::{Filter, Table};
use crate::sql::{args, Cols};
use crate::store::{Queries, Tx};
use crate::{NewNotification, NotificationFilter, Page, Store, StoreError};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use std::time::Duration;
use vigil_domain::{
    HostId, Lifecycle, Notification, NotificationId, NotificationStatus, SegmentId, Timestamp,
};

pub(crate) const COLUMNS: &str =
    "n.id, n.notification_uuid, n.generated_time, n.type, n.payload, n.status, \
     n.source_host_uuid, n.failover_segment_uuid, n.message, n.created_at, n.updated_at, \
     n.deleted_at, n.deleted";

const NOTIFICATIONS: Table<Notification> = Table {
    from: "notifications n",
    columns: COLUMNS,
    also: "",
    nullable_text: &["failover_segment_uuid", "message"],
    nullable_int: &[],
    joined: &[],
    read: from_row,
};

pub(crate) fn from_row(row: &AnyRow) -> Result<Notification, StoreError> {
    let c = Cols::new(row);
    Ok(Notification {
        id: c.int("id")?,
        uuid: c.parsed("notification_uuid")?,
        generated_time: c.ts("generated_time")?,
        source_host_uuid: c.parsed("source_host_uuid")?,
        notification_type: c.parsed("type")?,
        payload: parse_payload(&c.text("payload")?)?,
        status: c.parsed("status")?,
        failover_segment_uuid: c.opt_parsed("failover_segment_uuid")?,
        message: c.opt_text("message")?,
        lifecycle: c.lifecycle()?,
    })
}

/// The record of a report just stored as row `id` (by `create_in`, or by a batch on SQLite).
pub(crate) fn accepted(
    new: NewNotification,
    id: i64,
    uuid: NotificationId,
    host: HostId,
    segment: Option<SegmentId>,
    at: Timestamp,
) -> Notification {
    Notification {
        id,
        uuid,
        generated_time: new.generated_time,
        source_host_uuid: host,
        notification_type: new.notification_type,
        payload: new.payload,
        status: NotificationStatus::New,
        failover_segment_uuid: segment,
        message: None,
        lifecycle: Lifecycle::created(at),
    }
}

pub(crate) fn parse_payload(text: &str) -> Result<Map<String, Value>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt {
        what: "notification payload",
        detail: e.to_string(),
    })
}

/// The payload values the store filters on, kept in columns of their own. A payload that does
/// not read as its type's (only ever written by hand or by tests: the API refuses it) has none.
pub(crate) struct PayloadColumns {
    pub(crate) event: Option<String>,
    pub(crate) instance_uuid: Option<String>,
    pub(crate) host_status: Option<String>,
}

impl PayloadColumns {
    pub(crate) fn of(new: &NewNotification) -> Self {
        match new.typed_payload() {
            Ok(p) => Self {
                event: Some(p.event().to_owned()),
                instance_uuid: p.instance_uuid().map(str::to_owned),
                host_status: p.host_status().map(|s| s.as_str().to_owned()),
            },
            Err(_) => Self {
                event: None,
                instance_uuid: None,
                host_status: None,
            },
        }
    }
}

/// SHA-256 of the payload serialised with object keys sorted: equal dicts, equal digests,
/// whatever order a monitor sent the keys in.
pub(crate) fn payload_digest(payload: &Map<String, Value>) -> String {
    fn object(map: &Map<String, Value>, out: &mut String) {
        let mut keys: Vec<&String> = map.keys().collect();
        keys.sort();
        out.push('{');
        for (i, k) in keys.into_iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String(k.clone()).to_string());
            out.push(':');
            canonical(&map[k], out);
        }
        out.push('}');
    }
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => object(map, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut text = String::new();
    object(payload, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl Store {
    /// Stores a failure report, race-free across API replicas: host lookup, maintenance check,
    /// duplicate check (same type, host and payload with `generated_time` within `dedup_window`
    /// before the new one, or any time after it) and insert run under a lock on the host row.
    pub async fn notification_create(
        &self,
        new: NewNotification,
        dedup_window: Duration,
    ) -> Result<Notification, StoreError> {
        if let Some(batcher) = &self.batcher {
            return batcher.submit(new, dedup_window).await;
        }
        let mut tx = self.tx().await?;
        let created = create_in(&mut tx, self.for_update(), new, dedup_window).await?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn notification_get(&self, id: NotificationId) -> Result<Notification, StoreError> {
        let cond = "n.notification_uuid = ?";
        self.find(
            &NOTIFICATIONS,
            "notification get",
            cond,
            args![id.to_string()],
        )
        .await?
        .ok_or(StoreError::NotificationNotFound(id))
    }

    pub async fn notification_list(
        &self,
        filter: &NotificationFilter,
        page: &Page,
    ) -> Result<Vec<Notification>, StoreError> {
        let filter = Filter::live("n")
            .when("n.status = ?", filter.status.as_deref())
            .when(
                "n.source_host_uuid = ?",
                filter.source_host_uuid.map(|h| h.to_string()),
            )
            .when("n.type = ?", filter.notification_type.as_deref())
            .when("n.generated_time >= ?", filter.generated_since);
        self.list(&NOTIFICATIONS, "notification list", filter, page)
            .await
    }

    /// Moves a notification to `status` (with an operator-facing `message`, or none).
    pub async fn notification_set_status(
        &self,
        id: NotificationId,
        status: NotificationStatus,
        message: Option<String>,
    ) -> Result<(), StoreError> {
        let changed = self
            .execute(
                "notification status update",
                "UPDATE notifications SET status = ?, message = ?, updated_at = ? \
                 WHERE notification_uuid = ? AND deleted = 0",
                args![
                    status.as_str(),
                    message,
                    Timestamp::now().truncate_to_seconds(),
                    id.to_string(),
                ],
            )
            .await?;
        match changed {
            0 => Err(StoreError::NotificationNotFound(id)),
            _ => Ok(()),
        }
    }
}

/// Host lookup, maintenance and duplicate checks and the insert, inside the caller's write
/// transaction (one report, or one of a batch on SQLite).
pub(crate) async fn create_in(
    tx: &mut Tx,
    for_update: &str,
    new: NewNotification,
    dedup_window: Duration,
) -> Result<Notification, StoreError> {
    // Every report for a host serialises on its row (SQLite: on the database write lock),
    // so two replicas cannot both find "no duplicate" and both insert.
    let host = tx
        .fetch_optional(
            "notification host lock",
            &format!(
                "SELECT h.id, h.uuid, h.on_maintenance, s.uuid AS segment_uuid \
                 FROM hosts h JOIN segments s ON s.id = h.segment_id \
                 WHERE h.name = ? AND h.deleted = 0{}",
                for_update
            ),
            args![new.hostname.as_str()],
        )
        .await?
        .ok_or_else(|| StoreError::HostNameNotFound(new.hostname.clone()))?;
    let c = Cols::new(&host);
    let host_uuid: HostId = c.parsed("uuid")?;
    let segment_uuid: SegmentId = c.parsed("segment_uuid")?;
    if c.bool("on_maintenance")? && !new.accepted_on_maintenance() {
        return Err(StoreError::HostOnMaintenance(new.hostname));
    }
    let digest = payload_digest(&new.payload);
    let since = new
        .generated_time
        .saturating_sub_secs(dedup_window.as_secs());
    let candidates = tx
        .fetch_all(
            "notification duplicate check",
            "SELECT payload FROM notifications WHERE source_host_uuid = ? AND type = ? \
             AND payload_digest = ? AND generated_time >= ? AND deleted = 0",
            args![
                host_uuid.to_string(),
                new.notification_type.as_str(),
                digest.as_str(),
                since,
            ],
        )
        .await?;
    for row in &candidates {
        if parse_payload(&Cols::new(row).text("payload")?)? == new.payload {
            return Err(StoreError::DuplicateNotification(new.hostname));
        }
    }
    let uuid = NotificationId::new_random();
    let now = Timestamp::now().truncate_to_seconds();
    let payload_text = Value::Object(new.payload.clone()).to_string();
    let columns = PayloadColumns::of(&new);
    let id = tx
        .insert(
            "notification insert",
            "INSERT INTO notifications (notification_uuid, generated_time, type, payload, \
             payload_digest, status, source_host_uuid, failover_segment_uuid, created_at, \
             event, instance_uuid, host_status, deleted) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
            args![
                uuid.to_string(),
                new.generated_time,
                new.notification_type.as_str(),
                payload_text,
                digest,
                NotificationStatus::New.as_str(),
                host_uuid.to_string(),
                segment_uuid.to_string(),
                now,
                columns.event,
                columns.instance_uuid,
                columns.host_status,
            ],
        )
        .await?;
    Ok(accepted(new, id, uuid, host_uuid, Some(segment_uuid), now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_ignores_key_order() {
        let a: Map<String, Value> =
            serde_json::from_str(r#"{"event":"STOPPED","host_status":"NORMAL"}"#).unwrap();
        let b: Map<String, Value> =
            serde_json::from_str(r#"{"host_status":"NORMAL","event":"STOPPED"}"#).unwrap();
        let c: Map<String, Value> =
            serde_json::from_str(r#"{"host_status":"UNKNOWN","event":"STOPPED"}"#).unwrap();
        assert_eq!(payload_digest(&a), payload_digest(&b));
        assert_ne!(payload_digest(&a), payload_digest(&c));
        assert_eq!(payload_digest(&a).len(), 64);
    }
}
