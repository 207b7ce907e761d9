//! Failover segments.

use crate::listing::{Filter, Table};
use crate::names::{Named, UniqueNames};
use crate::sql::{args, Cols, Columns};
use crate::store::{Queries, Tx};
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

impl Named for Segment {
    fn named(&mut self) -> (i64, &str, &mut Lifecycle) {
        (self.id, &self.name, &mut self.lifecycle)
    }
    fn fields(&self) -> Columns {
        Columns::new()
            .set("name", self.name.as_str())
            .set("service_type", self.service_type.as_str())
            .set("enabled", self.enabled)
            .set("description", self.description.clone())
            .set("recovery_method", self.recovery_method.as_str())
    }
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
        let row = created
            .fields()
            .set("uuid", created.uuid.to_string())
            .set("created_at", now);
        created.id = NAMES
            .insert(&mut tx, "segment insert", &created.name, row)
            .await?;
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
        let current = lock_unused(&mut tx, self.for_update(), id).await?;
        let next = NAMES
            .update(&mut tx, "segment update", current, change)
            .await?;
        tx.commit().await?;
        Ok(next)
    }

    /// Soft-deletes the segment and all its hosts; refused with `SegmentInUse` as above.
    pub async fn segment_delete(&self, id: SegmentId) -> Result<(), StoreError> {
        let mut tx = self.tx().await?;
        let current = lock_unused(&mut tx, self.for_update(), id).await?;
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

/// `lock`, refused with `SegmentInUse` while a notification of one of its hosts is being
/// handled (what the API's changes to a segment must wait for).
async fn lock_unused(tx: &mut Tx, for_update: &str, id: SegmentId) -> Result<Segment, StoreError> {
    let segment = lock(tx, for_update, id).await?;
    if in_use(tx, segment.id).await? {
        return Err(StoreError::SegmentInUse(id));
    }
    Ok(segment)
}
