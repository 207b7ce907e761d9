//! Failover segments.

use crate::listing::{Filter, Table};
use crate::names::UniqueNames;
use crate::sql::{args, Arg, Cols};
use crate::store::Tx;
use crate::{NewSegment, Page, SegmentFilter, Store, StoreError};
use vigil_domain::{Lifecycle, Segment, SegmentId, Timestamp};

pub(crate) const COLUMNS: &str = "s.id, s.uuid, s.name, s.service_type, s.enabled, \
     s.description, s.recovery_method, s.created_at, s.updated_at, s.deleted_at, s.deleted";

/// The same columns as `s_<name>`, for joins that also select another table's columns.
pub(crate) const COLUMNS_AS_S: &str = "s.id AS s_id, s.uuid AS s_uuid, s.name AS s_name, \
     s.service_type AS s_service_type, s.enabled AS s_enabled, s.description AS s_description, \
     s.recovery_method AS s_recovery_method, s.created_at AS s_created_at, \
     s.updated_at AS s_updated_at, s.deleted_at AS s_deleted_at, s.deleted AS s_deleted";

const SEGMENTS: Table<Segment> = Table {
    from: "segments s",
    columns: COLUMNS,
    also: "",
    nullable_text: &["description"],
    nullable_int: &[],
    joined: &[],
    read: |row| from_row(&Cols::new(row)),
};

/// A segment from its columns, read directly or (joined to a host) as `s_<name>`.
pub(crate) fn from_row(c: &Cols<'_>) -> Result<Segment, StoreError> {
    Ok(Segment {
        id: c.int("id")?,
        uuid: c.parsed("uuid")?,
        name: c.text("name")?,
        service_type: c.text("service_type")?,
        enabled: c.bool("enabled")?,
        description: c.opt_text("description")?,
        recovery_method: c.parsed("recovery_method")?,
        lifecycle: c.lifecycle()?,
    })
}

/// What a client sets on a segment, in the order the insert and the update bind it.
fn fields(s: &Segment) -> Vec<Arg> {
    args![
        s.name.as_str(),
        s.service_type.as_str(),
        s.enabled,
        s.description.clone(),
        s.recovery_method.as_str(),
    ]
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

const NAMES: UniqueNames = UniqueNames {
    table: "segments",
    check: "segment name check",
    taken: StoreError::SegmentNameExists,
};

impl Store {
    pub async fn segment_create(&self, new: NewSegment) -> Result<Segment, StoreError> {
        let mut tx = self.tx().await?;
        NAMES.check_free(&mut tx, &new.name, None).await?;
        let now = Timestamp::now().truncate_to_seconds();
        let mut created = Segment {
            id: 0, // the database's, known once inserted
            uuid: SegmentId::new_random(),
            name: new.name,
            service_type: new.service_type,
            enabled: new.enabled,
            description: new.description,
            recovery_method: new.recovery_method,
            lifecycle: Lifecycle::created(now),
        };
        let values = [fields(&created), args![created.uuid.to_string(), now]].concat();
        created.id = tx
            .insert(
                "segment insert",
                "INSERT INTO segments (name, service_type, enabled, description, \
                 recovery_method, uuid, created_at, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
                values,
            )
            .await
            .map_err(|e| NAMES.refused(e, &created.name))?;
        tx.commit().await?;
        Ok(created)
    }

    pub async fn segment_get(&self, id: SegmentId) -> Result<Segment, StoreError> {
        self.find(
            &SEGMENTS,
            "segment get",
            "s.uuid = ?",
            args![id.to_string()],
        )
        .await?
        .ok_or(StoreError::SegmentNotFound(id))
    }

    pub async fn segment_list(
        &self,
        filter: &SegmentFilter,
        page: &Page,
    ) -> Result<Vec<Segment>, StoreError> {
        let filter = Filter::live("s")
            .when(
                "s.recovery_method = ?",
                filter.recovery_method.map(|m| m.as_str()),
            )
            .when("s.service_type = ?", filter.service_type.as_deref())
            .when("s.enabled = ?", filter.enabled)
            .when("s.name = ?", filter.name.as_deref());
        self.list(&SEGMENTS, "segment list", filter, page).await
    }

    /// Applies `change` to the segment under its row lock and stores the result. Refused with
    /// `SegmentInUse` while a notification of one of its hosts is new/running/error.
    pub async fn segment_update(
        &self,
        id: SegmentId,
        change: impl FnOnce(&mut Segment) + Send,
    ) -> Result<Segment, StoreError> {
        let mut tx = self.tx().await?;
        let current = lock(&mut tx, self.for_update(), id).await?;
        if in_use(&mut tx, current.id).await? {
            return Err(StoreError::SegmentInUse(id));
        }
        let mut next = current.clone();
        change(&mut next);
        if next.name != current.name {
            NAMES.check_free(&mut tx, &next.name, Some(next.id)).await?;
        }
        let now = Timestamp::now().truncate_to_seconds();
        next.lifecycle = next.lifecycle.updated(now);
        tx.execute(
            "segment update",
            "UPDATE segments SET name = ?, service_type = ?, enabled = ?, description = ?, \
             recovery_method = ?, updated_at = ? WHERE id = ?",
            [fields(&next), args![now, next.id]].concat(),
        )
        .await
        .map_err(|e| NAMES.refused(e, &next.name))?;
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
            &SEGMENTS.find("s.uuid = ?", for_update),
            args![id.to_string()],
        )
        .await?
        .ok_or(StoreError::SegmentNotFound(id))?;
    from_row(&Cols::new(&row))
}
