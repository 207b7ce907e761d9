//! Vmoves (the instances a recovery moved) and the host flags a recovery sets: the records an
//! engine writes about the world, each checked against its lease.

use crate::claims::{check_lease, Lease};
use crate::listing::{col, Kind, Listing};
use crate::sql::{args, Arg, Cols};
use crate::{Page, Store, StoreError, VMoveFilter};
use sqlx::any::AnyRow;
use vigil_domain::{HostId, InstanceMove, NotificationId, Timestamp, VMove, VMoveId};

const VMOVE_COLUMNS: &str = "v.id, v.uuid, v.notification_uuid, v.instance_uuid, \
     v.instance_name, v.source_host, v.dest_host, v.start_time, v.end_time, v.type, v.status, \
     v.message, v.created_at, v.updated_at, v.deleted_at, v.deleted";

const VMOVE_LISTING: Listing = Listing {
    from: "vmoves v",
    id: "v.id",
    columns: &[
        col("id", "v.id", Kind::Int),
        col("uuid", "v.uuid", Kind::Text),
        col("notification_uuid", "v.notification_uuid", Kind::Text),
        col("instance_uuid", "v.instance_uuid", Kind::Text),
        col("instance_name", "v.instance_name", Kind::Text),
        col("source_host", "v.source_host", Kind::NullableText),
        col("dest_host", "v.dest_host", Kind::NullableText),
        col("start_time", "v.start_time", Kind::NullableInt),
        col("end_time", "v.end_time", Kind::NullableInt),
        col("type", "v.type", Kind::Text),
        col("status", "v.status", Kind::Text),
        col("message", "v.message", Kind::NullableText),
        col("created_at", "v.created_at", Kind::Int),
        col("updated_at", "v.updated_at", Kind::NullableInt),
        col("deleted_at", "v.deleted_at", Kind::NullableInt),
        col("deleted", "v.deleted", Kind::Int),
    ],
};

fn vmove_from_row(row: &AnyRow) -> Result<VMove, StoreError> {
    let c = Cols::new(row);
    Ok(VMove {
        id: c.int("id")?,
        uuid: c.parsed("uuid")?,
        notification_uuid: c.parsed("notification_uuid")?,
        movement: InstanceMove {
            instance_uuid: c.text("instance_uuid")?,
            instance_name: c.text("instance_name")?,
            source_host: c.opt_text("source_host")?,
            dest_host: c.opt_text("dest_host")?,
            start_time: c.opt_ts("start_time")?,
            end_time: c.opt_ts("end_time")?,
            vmove_type: c.parsed("type")?,
            status: c.parsed("status")?,
            message: c.opt_text("message")?,
        },
        created_at: c.ts("created_at")?,
        updated_at: c.opt_ts("updated_at")?,
        deleted_at: c.opt_ts("deleted_at")?,
        deleted: c.int("deleted")? != 0,
    })
}

impl Store {
    /// The vmoves of a notification. The caller checks the notification exists.
    pub async fn vmove_list(
        &self,
        notification: NotificationId,
        filter: &VMoveFilter,
        page: &Page,
    ) -> Result<Vec<VMove>, StoreError> {
        self.check_marker("vmoves", page).await?;
        let mut conds = vec![
            "v.notification_uuid = ?".to_owned(),
            "v.deleted = 0".to_owned(),
        ];
        let mut args: Vec<Arg> = args![notification.to_string()];
        if let Some(s) = &filter.status {
            conds.push("v.status = ?".into());
            args.push(s.as_str().into());
        }
        if let Some(t) = &filter.vmove_type {
            conds.push("v.type = ?".into());
            args.push(t.as_str().into());
        }
        let tail = VMOVE_LISTING.finish(page, &mut conds, &mut args)?;
        let rows = self
            .fetch_all(
                "vmove list",
                &format!("SELECT {VMOVE_COLUMNS} FROM vmoves v{tail}"),
                args,
            )
            .await?;
        rows.iter().map(vmove_from_row).collect()
    }

    pub async fn vmove_get(&self, id: VMoveId) -> Result<VMove, StoreError> {
        let row = self
            .fetch_optional(
                "vmove get",
                &format!("SELECT {VMOVE_COLUMNS} FROM vmoves v WHERE v.uuid = ? AND v.deleted = 0"),
                args![id.to_string()],
            )
            .await?
            .ok_or(StoreError::VMoveNotFound(id))?;
        vmove_from_row(&row)
    }

    /// Records an instance move (inserted on first sight, updated after), if `lease` is still
    /// the current claim on the notification.
    pub async fn vmove_put(&self, lease: &Lease, m: &InstanceMove) -> Result<VMove, StoreError> {
        let id = lease.notification;
        let mut tx = self.tx().await?;
        check_lease(&mut tx, self.for_update(), lease).await?;
        let now = Timestamp::now().truncate_to_seconds();
        let existing = tx
            .fetch_optional(
                "vmove find",
                "SELECT uuid FROM vmoves WHERE notification_uuid = ? AND instance_uuid = ? \
                 AND deleted = 0",
                args![id.to_string(), m.instance_uuid.as_str()],
            )
            .await?;
        // What the engine says, in the order both statements below bind it.
        let fields: Vec<Arg> = args![
            m.instance_name.as_str(),
            m.source_host.clone(),
            m.dest_host.clone(),
            m.start_time,
            m.end_time,
            m.vmove_type.as_str(),
            m.status.as_str(),
            m.message.clone(),
            now,
        ];
        let vmove_id: VMoveId = match existing {
            Some(row) => {
                let uuid: VMoveId = Cols::new(&row).parsed("uuid")?;
                let mut all = fields;
                all.push(uuid.to_string().into());
                tx.execute(
                    "vmove update",
                    "UPDATE vmoves SET instance_name = ?, source_host = ?, dest_host = ?, \
                     start_time = ?, end_time = ?, type = ?, status = ?, message = ?, \
                     updated_at = ? WHERE uuid = ?",
                    all,
                )
                .await?;
                uuid
            }
            None => {
                let uuid = VMoveId::new_random();
                let mut all = args![uuid.to_string(), id.to_string(), m.instance_uuid.as_str()];
                all.extend(fields);
                tx.insert(
                    "vmove insert",
                    "INSERT INTO vmoves (uuid, notification_uuid, instance_uuid, instance_name, \
                     source_host, dest_host, start_time, end_time, type, status, message, \
                     created_at, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)",
                    all,
                )
                .await?;
                uuid
            }
        };
        tx.commit().await?;
        self.vmove_get(vmove_id).await
    }

    /// Sets a host's flags on behalf of a recovery, if `lease` is still the current claim (the
    /// API's "in use" rule does not apply: the engine is the one using it).
    pub async fn host_set_flags(
        &self,
        lease: &Lease,
        host: HostId,
        on_maintenance: Option<bool>,
        reserved: Option<bool>,
    ) -> Result<(), StoreError> {
        let mut tx = self.tx().await?;
        check_lease(&mut tx, self.for_update(), lease).await?;
        if on_maintenance.is_none() && reserved.is_none() {
            return Ok(());
        }
        // A flag left `None` keeps its value.
        tx.execute(
            "host flags",
            "UPDATE hosts SET on_maintenance = COALESCE(?, on_maintenance), \
             reserved = COALESCE(?, reserved), updated_at = ? WHERE uuid = ? AND deleted = 0",
            vec![
                Arg::OptInt(on_maintenance.map(i64::from)),
                Arg::OptInt(reserved.map(i64::from)),
                Timestamp::now().truncate_to_seconds().into(),
                host.to_string().into(),
            ],
        )
        .await?;
        tx.commit().await
    }
}
