//! Hosts, each loaded with its segment.

use crate::listing::{col, Kind, Listing};
use crate::segments::{self, COLUMNS_AS_S};
use crate::sql::{args, is_unique_violation, Arg, Cols};
use crate::store::Tx;
use crate::{HostFilter, HostUpdate, NewHost, Page, Store, StoreError};
use sqlx::any::AnyRow;
use vigil_domain::{Host, HostId, Segment, SegmentId, Timestamp};

const HOST_COLUMNS: &str = "h.id, h.uuid, h.name, h.type, h.control_attributes, h.reserved, \
     h.on_maintenance, h.created_at, h.updated_at, h.deleted_at, h.deleted";

const FROM: &str = "hosts h JOIN segments s ON s.id = h.segment_id";

const LISTING: Listing = Listing {
    from: FROM,
    id: "h.id",
    columns: &[
        col("id", "h.id", Kind::Int),
        col("uuid", "h.uuid", Kind::Text),
        col("name", "h.name", Kind::Text),
        col("type", "h.type", Kind::NullableText),
        col(
            "control_attributes",
            "h.control_attributes",
            Kind::NullableText,
        ),
        col("reserved", "h.reserved", Kind::Int),
        col("on_maintenance", "h.on_maintenance", Kind::Int),
        col("failover_segment_id", "s.uuid", Kind::Text),
        col("created_at", "h.created_at", Kind::Int),
        col("updated_at", "h.updated_at", Kind::NullableInt),
        col("deleted_at", "h.deleted_at", Kind::NullableInt),
        col("deleted", "h.deleted", Kind::Int),
    ],
};

fn select(cond: &str) -> String {
    format!("SELECT {HOST_COLUMNS}, {COLUMNS_AS_S} FROM {FROM} WHERE {cond}")
}

fn from_row(row: &AnyRow) -> Result<Host, StoreError> {
    let c = Cols::new(row);
    Ok(Host {
        id: c.int("id")?,
        uuid: c.parsed("uuid")?,
        name: c.text("name")?,
        segment: segments::from_row(&Cols::prefixed(row, "s_"))?,
        host_type: c.opt_text("type")?,
        control_attributes: c.opt_text("control_attributes")?,
        reserved: c.bool("reserved")?,
        on_maintenance: c.bool("on_maintenance")?,
        created_at: c.ts("created_at")?,
        updated_at: c.opt_ts("updated_at")?,
        deleted_at: c.opt_ts("deleted_at")?,
        deleted: c.int("deleted")? != 0,
    })
}

impl Store {
    pub async fn host_create(&self, segment: SegmentId, new: NewHost) -> Result<Host, StoreError> {
        let mut tx = self.tx().await?;
        let seg = segments::lock(&mut tx, self.for_update(), segment).await?;
        name_free(&mut tx, &new.name, None).await?;
        let uuid = HostId::new_random();
        let now = Timestamp::now().truncate_to_seconds();
        let id = tx
            .insert(
                "host insert",
                "INSERT INTO hosts (uuid, name, segment_id, type, control_attributes, reserved, \
                 on_maintenance, created_at, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                args![
                    uuid.to_string(),
                    new.name.as_str(),
                    seg.id,
                    new.host_type.clone(),
                    new.control_attributes.clone(),
                    new.reserved,
                    new.on_maintenance,
                    now,
                ],
            )
            .await
            .map_err(|e| name_taken(e, &new.name))?;
        tx.commit().await?;
        Ok(Host {
            id,
            uuid,
            name: new.name,
            segment: seg,
            host_type: new.host_type,
            control_attributes: new.control_attributes,
            reserved: new.reserved,
            on_maintenance: new.on_maintenance,
            created_at: now,
            updated_at: None,
            deleted_at: None,
            deleted: false,
        })
    }

    /// 404s name the segment first when it does not exist, then the host, as Masakari does.
    pub async fn host_get(&self, segment: SegmentId, id: HostId) -> Result<Host, StoreError> {
        self.segment_get(segment).await?;
        let row = self
            .fetch_optional(
                "host get",
                &select("h.uuid = ? AND s.uuid = ? AND h.deleted = 0"),
                args![id.to_string(), segment.to_string()],
            )
            .await?
            .ok_or(StoreError::HostNotFound { segment, host: id })?;
        from_row(&row)
    }

    pub async fn host_get_by_name(&self, name: &str) -> Result<Host, StoreError> {
        let row = self
            .fetch_optional(
                "host get by name",
                &select("h.name = ? AND h.deleted = 0"),
                args![name],
            )
            .await?
            .ok_or_else(|| StoreError::HostNameNotFound(name.to_owned()))?;
        from_row(&row)
    }

    /// Every live host, in all segments (for monitors' and the engine's views).
    pub async fn host_get_by_uuid(&self, id: HostId) -> Result<Option<Host>, StoreError> {
        let row = self
            .fetch_optional(
                "host get by uuid",
                &select("h.uuid = ? AND h.deleted = 0"),
                args![id.to_string()],
            )
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    pub async fn host_list(
        &self,
        segment: SegmentId,
        filter: &HostFilter,
        page: &Page,
    ) -> Result<Vec<Host>, StoreError> {
        let seg = self.segment_get(segment).await?;
        self.check_marker("hosts", page).await?;
        let mut conds = vec!["h.segment_id = ?".to_owned(), "h.deleted = 0".to_owned()];
        let mut args: Vec<Arg> = args![seg.id];
        if let Some(t) = &filter.host_type {
            conds.push("h.type = ?".into());
            args.push(t.as_str().into());
        }
        if let Some(m) = filter.on_maintenance {
            conds.push("h.on_maintenance = ?".into());
            args.push(m.into());
        }
        if let Some(r) = filter.reserved {
            conds.push("h.reserved = ?".into());
            args.push(r.into());
        }
        if let Some(n) = &filter.name {
            conds.push("h.name = ?".into());
            args.push(n.as_str().into());
        }
        if let Some(a) = &filter.control_attributes {
            conds.push("h.control_attributes = ?".into());
            args.push(a.as_str().into());
        }
        let tail = LISTING.finish(page, &mut conds, &mut args)?;
        let rows = self
            .fetch_all(
                "host list",
                &format!("SELECT {HOST_COLUMNS}, {COLUMNS_AS_S} FROM {FROM}{tail}"),
                args,
            )
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Refused with `HostInUse` while a notification of a host of its segment is being handled.
    pub async fn host_update(
        &self,
        segment: SegmentId,
        id: HostId,
        update: HostUpdate,
    ) -> Result<Host, StoreError> {
        let mut tx = self.tx().await?;
        let (seg, current) = lock(&mut tx, self.for_update(), segment, id).await?;
        if segments::in_use(&mut tx, seg.id).await? {
            return Err(StoreError::HostInUse(id));
        }
        if let Some(name) = &update.name {
            name_free(&mut tx, name, Some(current.id)).await?;
        }
        let now = Timestamp::now().truncate_to_seconds();
        let next = Host {
            name: update.name.unwrap_or(current.name),
            host_type: update.host_type.unwrap_or(current.host_type),
            control_attributes: update
                .control_attributes
                .unwrap_or(current.control_attributes),
            reserved: update.reserved.unwrap_or(current.reserved),
            on_maintenance: update.on_maintenance.unwrap_or(current.on_maintenance),
            updated_at: Some(now),
            ..current
        };
        tx.execute(
            "host update",
            "UPDATE hosts SET name = ?, type = ?, control_attributes = ?, reserved = ?, \
             on_maintenance = ?, updated_at = ? WHERE id = ?",
            args![
                next.name.as_str(),
                next.host_type.clone(),
                next.control_attributes.clone(),
                next.reserved,
                next.on_maintenance,
                now,
                next.id,
            ],
        )
        .await
        .map_err(|e| name_taken(e, &next.name))?;
        tx.commit().await?;
        Ok(next)
    }

    pub async fn host_delete(&self, segment: SegmentId, id: HostId) -> Result<(), StoreError> {
        let mut tx = self.tx().await?;
        let (seg, current) = lock(&mut tx, self.for_update(), segment, id).await?;
        if segments::in_use(&mut tx, seg.id).await? {
            return Err(StoreError::HostInUse(id));
        }
        let now = Timestamp::now().truncate_to_seconds();
        tx.execute(
            "host delete",
            "UPDATE hosts SET deleted = id, deleted_at = ?, updated_at = ? WHERE id = ?",
            args![now, now, current.id],
        )
        .await?;
        tx.commit().await
    }
}

/// Locks the segment, then the host in it (always in this order, so writers cannot deadlock).
async fn lock(
    tx: &mut Tx,
    for_update: &str,
    segment: SegmentId,
    id: HostId,
) -> Result<(Segment, Host), StoreError> {
    let seg = segments::lock(tx, for_update, segment).await?;
    let row = tx
        .fetch_optional(
            "host lock",
            &format!(
                "{}{for_update}",
                select("h.uuid = ? AND h.segment_id = ? AND h.deleted = 0")
            ),
            args![id.to_string(), seg.id],
        )
        .await?
        .ok_or(StoreError::HostNotFound { segment, host: id })?;
    Ok((seg, from_row(&row)?))
}

/// Host names are unique among live hosts of all segments.
async fn name_free(tx: &mut Tx, name: &str, except: Option<i64>) -> Result<(), StoreError> {
    let row = tx
        .fetch_optional(
            "host name check",
            "SELECT id FROM hosts WHERE name = ? AND deleted = 0 AND id <> ?",
            args![name, except.unwrap_or(-1)],
        )
        .await?;
    match row {
        Some(_) => Err(StoreError::HostNameExists(name.to_owned())),
        None => Ok(()),
    }
}

fn name_taken(e: StoreError, name: &str) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::HostNameExists(name.to_owned())
    } else {
        e
    }
}
