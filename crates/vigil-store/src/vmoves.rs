//! Vmoves (the instances a recovery moved) and the host flags a recovery sets: the records an
//! engine writes about the world, each checked against its lease.

use crate::claims::{check_lease, Lease};
use crate::listing::{Filter, Table};
use crate::sql::{args, Arg, Cols, Columns};
use crate::store::Queries;
use crate::{Page, Store, StoreError, VMoveFilter};
use sqlx::any::AnyRow;
use vigil_domain::{HostId, InstanceMove, NotificationId, Timestamp, VMove, VMoveId};

const VMOVE_COLUMNS: &str = "v.id, v.uuid, v.notification_uuid, v.instance_uuid, \
     v.instance_name, v.source_host, v.dest_host, v.start_time, v.end_time, v.type, v.status, \
     v.message, v.created_at, v.updated_at, v.deleted_at, v.deleted";

const VMOVES: Table<VMove> = Table {
    from: "vmoves v",
    columns: VMOVE_COLUMNS,
    also: "",
    nullable_text: &["source_host", "dest_host", "message"],
    nullable_int: &["start_time", "end_time"],
    joined: &[],
    read: vmove_from_row,
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
        lifecycle: c.lifecycle()?,
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
        let filter = Filter::live("v")
            .with("v.notification_uuid = ?", notification.to_string())
            .when("v.status = ?", filter.status.as_deref())
            .when("v.type = ?", filter.vmove_type.as_deref());
        self.list(&VMOVES, "vmove list", filter, page).await
    }

    pub async fn vmove_get(&self, id: VMoveId) -> Result<VMove, StoreError> {
        self.find(&VMOVES, "vmove get", "v.uuid = ?", args![id.to_string()])
            .await?
            .ok_or(StoreError::VMoveNotFound(id))
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
        // What the engine says, written by either statement below.
        let fields = Columns::new()
            .set("instance_name", m.instance_name.as_str())
            .set("source_host", m.source_host.clone())
            .set("dest_host", m.dest_host.clone())
            .set("start_time", m.start_time)
            .set("end_time", m.end_time)
            .set("type", m.vmove_type.as_str())
            .set("status", m.status.as_str())
            .set("message", m.message.clone());
        let vmove_id: VMoveId = match existing {
            Some(row) => {
                let uuid: VMoveId = Cols::new(&row).parsed("uuid")?;
                let row = fields.set("updated_at", now);
                let sql = row.update("vmoves", "uuid = ?");
                tx.execute("vmove update", &sql, row.args(args![uuid.to_string()]))
                    .await?;
                uuid
            }
            None => {
                let uuid = VMoveId::new_random();
                let row = fields
                    .set("uuid", uuid.to_string())
                    .set("notification_uuid", id.to_string())
                    .set("instance_uuid", m.instance_uuid.as_str())
                    .set("created_at", now)
                    .set("deleted", 0_i64);
                tx.insert("vmove insert", &row.insert("vmoves"), row.args(vec![]))
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
