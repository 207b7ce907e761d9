//! Hosts, each loaded with its segment.

use crate::listing::{Filter, Table};
use crate::names::{Named, UniqueNames};
use crate::segments::{self, COLUMNS_AS_S};
use crate::sql::{args, Cols, Columns};
use crate::store::{Queries, Tx};
use crate::{HostFilter, NewHost, Page, Store, StoreError};
use sqlx::any::AnyRow;
use vigil_domain::{Host, HostId, Lifecycle, SegmentId, Timestamp};

const HOST_COLUMNS: &str = "h.id, h.uuid, h.name, h.type, h.control_attributes, h.reserved, \
     h.on_maintenance, h.created_at, h.updated_at, h.deleted_at, h.deleted";

/// Every host is read with its segment.
const HOSTS: Table<Host> = Table {
    from: "hosts h JOIN segments s ON s.id = h.segment_id",
    columns: HOST_COLUMNS,
    also: COLUMNS_AS_S,
    nullable_text: &["type", "control_attributes"],
    nullable_int: &[],
    joined: &[("failover_segment_id", "s.uuid")],
    read: from_row,
};

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
        lifecycle: c.lifecycle()?,
    })
}

impl Named for Host {
    fn named(&mut self) -> (i64, &str, &mut Lifecycle) {
        (self.id, &self.name, &mut self.lifecycle)
    }
    fn fields(&self) -> Columns {
        Columns::new()
            .set("name", self.name.as_str())
            .set("type", self.host_type.clone())
            .set("control_attributes", self.control_attributes.clone())
            .set("reserved", self.reserved)
            .set("on_maintenance", self.on_maintenance)
    }
}

const NAMES: UniqueNames = UniqueNames {
    table: "hosts",
    check: "host name check",
    taken: StoreError::HostNameExists,
};

impl Store {
    pub async fn host_create(&self, segment: SegmentId, new: NewHost) -> Result<Host, StoreError> {
        let mut tx = self.tx().await?;
        let seg = segments::lock(&mut tx, self.for_update(), segment).await?;
        let now = Timestamp::now().truncate_to_seconds();
        let mut created = Host {
            id: 0, // the database's, known once inserted
            uuid: HostId::new_random(),
            name: new.name,
            segment: seg,
            host_type: new.host_type,
            control_attributes: new.control_attributes,
            reserved: new.reserved,
            on_maintenance: new.on_maintenance,
            lifecycle: Lifecycle::created(now),
        };
        let row = created
            .fields()
            .set("uuid", created.uuid.to_string())
            .set("segment_id", created.segment.id)
            .set("created_at", now);
        created.id = NAMES
            .insert(&mut tx, "host insert", &created.name, row)
            .await?;
        tx.commit().await?;
        Ok(created)
    }

    /// 404s name the segment first when it does not exist, then the host, as Masakari does.
    pub async fn host_get(&self, segment: SegmentId, id: HostId) -> Result<Host, StoreError> {
        self.segment_get(segment).await?;
        let cond = "h.uuid = ? AND s.uuid = ?";
        self.find(
            &HOSTS,
            "host get",
            cond,
            args![id.to_string(), segment.to_string()],
        )
        .await?
        .ok_or(StoreError::HostNotFound { segment, host: id })
    }

    pub async fn host_get_by_name(&self, name: &str) -> Result<Host, StoreError> {
        self.find(&HOSTS, "host get by name", "h.name = ?", args![name])
            .await?
            .ok_or_else(|| StoreError::HostNameNotFound(name.to_owned()))
    }

    /// Every live host, in all segments (for monitors' and the engine's views).
    pub async fn host_get_by_uuid(&self, id: HostId) -> Result<Option<Host>, StoreError> {
        let id = id.to_string();
        self.find(&HOSTS, "host get by uuid", "h.uuid = ?", args![id])
            .await
    }

    pub async fn host_list(
        &self,
        segment: SegmentId,
        filter: &HostFilter,
        page: &Page,
    ) -> Result<Vec<Host>, StoreError> {
        let seg = self.segment_get(segment).await?;
        let filter = Filter::live("h")
            .with("h.segment_id = ?", seg.id)
            .when("h.type = ?", filter.host_type.as_deref())
            .when("h.on_maintenance = ?", filter.on_maintenance)
            .when("h.reserved = ?", filter.reserved)
            .when("h.name = ?", filter.name.as_deref())
            .when(
                "h.control_attributes = ?",
                filter.control_attributes.as_deref(),
            );
        self.list(&HOSTS, "host list", filter, page).await
    }

    /// Applies `change` to the host under its row lock and stores the result. Refused with
    /// `HostInUse` while a notification of a host of its segment is being handled.
    pub async fn host_update(
        &self,
        segment: SegmentId,
        id: HostId,
        change: impl FnOnce(&mut Host) + Send,
    ) -> Result<Host, StoreError> {
        let mut tx = self.tx().await?;
        let current = lock_unused(&mut tx, self.for_update(), segment, id).await?;
        let next = NAMES
            .update(&mut tx, "host update", current, change)
            .await?;
        tx.commit().await?;
        Ok(next)
    }

    pub async fn host_delete(&self, segment: SegmentId, id: HostId) -> Result<(), StoreError> {
        let mut tx = self.tx().await?;
        let current = lock_unused(&mut tx, self.for_update(), segment, id).await?;
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

/// Locks the segment, then the host in it (always in this order, so writers cannot deadlock);
/// refused with `HostInUse` while a notification of a host of the segment is being handled.
async fn lock_unused(
    tx: &mut Tx,
    for_update: &str,
    segment: SegmentId,
    id: HostId,
) -> Result<Host, StoreError> {
    let seg = segments::lock(tx, for_update, segment).await?;
    let row = tx
        .fetch_optional(
            "host lock",
            &HOSTS.find("h.uuid = ? AND h.segment_id = ?", for_update),
            args![id.to_string(), seg.id],
        )
        .await?
        .ok_or(StoreError::HostNotFound { segment, host: id })?;
    let host = from_row(&row)?;
    if segments::in_use(tx, seg.id).await? {
        return Err(StoreError::HostInUse(id));
    }
    Ok(host)
}
