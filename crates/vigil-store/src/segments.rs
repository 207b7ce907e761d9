//! Failover segments.

use crate::listing::{col, Kind, Listing};
use crate::sql::{args, is_unique_violation, Arg, Cols};
use crate::store::Tx;
use crate::{NewSegment, Page, SegmentFilter, SegmentUpdate, Store, StoreError};
use sqlx::any::AnyRow;
use vigil_domain::{Segment, SegmentId, Timestamp};

pub(crate) const COLUMNS: &str = "s.id, s.uuid, s.name, s.service_type, s.enabled, \
     s.description, s.recovery_method, s.created_at, s.updated_at, s.deleted_at, s.deleted";

/// The same columns as `s_<name>`, for joins that also select another table's columns.
pub(crate) const COLUMNS_AS_S: &str = "s.id AS s_id, s.uuid AS s_uuid, s.name AS s_name, \
     s.service_type AS s_service_type, s.enabled AS s_enabled, s.description AS s_description, \
     s.recovery_method AS s_recovery_method, s.created_at AS s_created_at, \
     s.updated_at AS s_updated_at, s.deleted_at AS s_deleted_at, s.deleted AS s_deleted";

const LISTING: Listing = Listing {
    from: "segments s",
    id: "s.id",
    columns: &[
        col("id", "s.id", Kind::Int),
        col("uuid", "s.uuid", Kind::Text),
        col("name", "s.name", Kind::Text),
        col("service_type", "s.service_type", Kind::Text),
        col("enabled", "s.enabled", Kind::Int),
        col("description", "s.description", Kind::NullableText),
        col("recovery_method", "s.recovery_method", Kind::Text),
        col("created_at", "s.created_at", Kind::Int),
        col("updated_at", "s.updated_at", Kind::NullableInt),
        col("deleted_at", "s.deleted_at", Kind::NullableInt),
        col("deleted", "s.deleted", Kind::Int),
    ],
};

pub(crate) fn from_row(c: &Cols<'_>) -> Result<Segment, StoreError> {
    Ok(Segment {
        id: c.int("id")?,
        uuid: c.parsed("uuid")?,
        name: c.text("name")?,
        service_type: c.text("service_type")?,
        enabled: c.bool("enabled")?,
        description: c.opt_text("description")?,
        recovery_method: c.parsed("recovery_method")?,
        created_at: c.ts("created_at")?,
        updated_at: c.opt_ts("updated_at")?,
        deleted_at: c.opt_ts("deleted_at")?,
        deleted: c.int("deleted")? != 0,
    })
}

fn from_rows(rows: &[AnyRow]) -> Result<Vec<Segment>, StoreError> {
    rows.iter().map(|r| from_row(&Cols::new(r))).collect()
}

/// Whether a notification of one of the segment's hosts is still being handled (new, running
/// or error): Masakari's rule for refusing changes to the segment and its hosts.
pub(crate) async fn in_use(tx: &mut Tx, segment_id: i64) -> Result<bool, StoreError> {
    let row = tx
        .fetch_optional(
            "segment in-use check",
            "SELECT 1 AS x FROM notifications n JOIN hosts h ON h.uuid = n.source_host_uuid \
             WHERE h.segment_id = ? AND h.deleted = 0 AND n.deleted = 0 \
             AND n.status IN ('new', 'running', 'error') LIMIT 1",
            args![segment_id],
        )
        .await?;
    Ok(row.is_some())
}

impl Store {
    pub async fn segment_create(&self, new: NewSegment) -> Result<Segment, StoreError> {
        let mut tx = self.tx().await?;
        let exists = tx
            .fetch_optional(
                "segment name check",
                "SELECT id FROM segments WHERE name = ? AND deleted = 0",
                args![new.name.as_str()],
            )
            .await?;
        if exists.is_some() {
            return Err(StoreError::SegmentNameExists(new.name));
        }
        let uuid = SegmentId::new_random();
        let now = Timestamp::now().truncate_to_seconds();
        let id = tx
            .insert(
                "segment insert",
                "INSERT INTO segments (uuid, name, service_type, enabled, description, \
                 recovery_method, created_at, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                args![
                    uuid.to_string(),
                    new.name.as_str(),
                    new.service_type.as_str(),
                    new.enabled,
                    new.description.clone(),
                    new.recovery_method.as_str(),
                    now,
                ],
            )
            .await
            .map_err(|e| name_taken(e, &new.name))?;
        tx.commit().await?;
        Ok(Segment {
            id,
            uuid,
            name: new.name,
            service_type: new.service_type,
            enabled: new.enabled,
            description: new.description,
            recovery_method: new.recovery_method,
            created_at: now,
            updated_at: None,
            deleted_at: None,
            deleted: false,
        })
    }

    pub async fn segment_get(&self, id: SegmentId) -> Result<Segment, StoreError> {
        let row = self
            .fetch_optional(
                "segment get",
                &format!("SELECT {COLUMNS} FROM segments s WHERE s.uuid = ? AND s.deleted = 0"),
                args![id.to_string()],
            )
            .await?
            .ok_or(StoreError::SegmentNotFound(id))?;
        from_row(&Cols::new(&row))
    }

    pub async fn segment_list(
        &self,
        filter: &SegmentFilter,
        page: &Page,
    ) -> Result<Vec<Segment>, StoreError> {
        self.check_marker("segments", page).await?;
        let mut conds = vec!["s.deleted = 0".to_owned()];
        let mut args: Vec<Arg> = Vec::new();
        if let Some(m) = filter.recovery_method {
            conds.push("s.recovery_method = ?".into());
            args.push(m.as_str().into());
        }
        if let Some(t) = &filter.service_type {
            conds.push("s.service_type = ?".into());
            args.push(t.as_str().into());
        }
        if let Some(e) = filter.enabled {
            conds.push("s.enabled = ?".into());
            args.push(e.into());
        }
        if let Some(n) = &filter.name {
            conds.push("s.name = ?".into());
            args.push(n.as_str().into());
        }
        let tail = LISTING.finish(page, &mut conds, &mut args)?;
        let rows = self
            .fetch_all(
                "segment list",
                &format!("SELECT {COLUMNS} FROM segments s{tail}"),
                args,
            )
            .await?;
        from_rows(&rows)
    }

    /// Refused with `SegmentInUse` while a notification of one of its hosts is new/running/error.
    pub async fn segment_update(
        &self,
        id: SegmentId,
        update: SegmentUpdate,
    ) -> Result<Segment, StoreError> {
        let mut tx = self.tx().await?;
        let current = lock(&mut tx, self.for_update(), id).await?;
        if in_use(&mut tx, current.id).await? {
            return Err(StoreError::SegmentInUse(id));
        }
        if let Some(name) = &update.name {
            let taken = tx
                .fetch_optional(
                    "segment name check",
                    "SELECT id FROM segments WHERE name = ? AND deleted = 0 AND id <> ?",
                    args![name.as_str(), current.id],
                )
                .await?;
            if taken.is_some() {
                return Err(StoreError::SegmentNameExists(name.clone()));
            }
        }
        let now = Timestamp::now().truncate_to_seconds();
        let next = Segment {
            name: update.name.unwrap_or(current.name),
            service_type: update.service_type.unwrap_or(current.service_type),
            enabled: update.enabled.unwrap_or(current.enabled),
            description: update.description.unwrap_or(current.description),
            recovery_method: update.recovery_method.unwrap_or(current.recovery_method),
            updated_at: Some(now),
            ..current
        };
        tx.execute(
            "segment update",
            "UPDATE segments SET name = ?, service_type = ?, enabled = ?, description = ?, \
             recovery_method = ?, updated_at = ? WHERE id = ?",
            args![
                next.name.as_str(),
                next.service_type.as_str(),
                next.enabled,
                next.description.clone(),
                next.recovery_method.as_str(),
                now,
                next.id,
            ],
        )
        .await
        .map_err(|e| name_taken(e, &next.name))?;
        tx.commit().await?;
        Ok(next)
    }

    /// Soft-deletes the segment and all its hosts; refused with `SegmentInUse` as above.
    pub async fn segment_delete(&self, id: SegmentId) -> Result<(), StoreError> {
        let mut tx = self.tx().await?;
        let current = lock(&mut tx, self.for_update(), id).await?;
        if in_use(&mut tx, current.id).await? {
            return Err(StoreError::SegmentInUse(id));
        }
        let now = Timestamp::now().truncate_to_seconds();
        tx.execute(
            "segment hosts delete",
            "UPDATE hosts SET deleted = id, deleted_at = ?, updated_at = ? \
             WHERE segment_id = ? AND deleted = 0",
            args![now, now, current.id],
        )
        .await?;
        tx.execute(
            "segment delete",
            "UPDATE segments SET deleted = id, deleted_at = ?, updated_at = ? WHERE id = ?",
            args![now, now, current.id],
        )
        .await?;
        tx.commit().await
    }

    /// A marker must name an existing row (Masakari answers 400 otherwise).
    pub(crate) async fn check_marker(
        &self,
        table: &'static str,
        page: &Page,
    ) -> Result<(), StoreError> {
        let Some(marker) = page.marker else {
            return Ok(());
        };
        let found = self
            .fetch_optional(
                "marker lookup",
                &format!("SELECT id FROM {table} WHERE id = ? AND deleted = 0"),
                args![marker],
            )
            .await?;
        match found {
            Some(_) => Ok(()),
            None => Err(StoreError::MarkerNotFound(marker.to_string())),
        }
    }
}

/// Reads a live segment inside a write transaction, locking its row where the backend can.
pub(crate) async fn lock(
    tx: &mut Tx,
    for_update: &str,
    id: SegmentId,
) -> Result<Segment, StoreError> {
    let row = tx
        .fetch_optional(
            "segment lock",
            &format!(
                "SELECT {COLUMNS} FROM segments s WHERE s.uuid = ? AND s.deleted = 0{for_update}"
            ),
            args![id.to_string()],
        )
        .await?
        .ok_or(StoreError::SegmentNotFound(id))?;
    from_row(&Cols::new(&row))
}

fn name_taken(e: StoreError, name: &str) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::SegmentNameExists(name.to_owned())
    } else {
        e
    }
}
