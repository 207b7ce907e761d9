//! Vmoves (the instances a recovery moved) and the host flags a recovery sets: the records an
//! engine writes about the world, each checked against its lease.

use crate::claims::{check_lease, Lease};
use crate::listing::{Filter, Table};
use crate::sql::{args, Arg, Cols, Columns};
use crate::store::{Queries, Tx};
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
        let mut tx = self.tx().await?;
        check_lease(&mut tx, self.for_update(), lease).await?;
        let vmove_id = vmove_upsert(&mut tx, lease.notification, m).await?;
        tx.commit().await?;
        self.vmove_get(vmove_id).await
    }

    /// Records several moves as [`Store::vmove_put`] does, in one transaction.
    pub async fn vmoves_put(
        &self,
        lease: &Lease,
        moves: &[InstanceMove],
    ) -> Result<(), StoreError> {
        self.vmoves_record(lease, moves, Recorded::Overwrite).await
    }

    /// Records the moves a recovery is about to make (as the engine states them, `pending`) in
    /// one transaction, if `lease` is still the current claim. A move already recorded — by
    /// an earlier run of a resumed flow — is left as it is.
    pub async fn vmoves_announce(
        &self,
        lease: &Lease,
        moves: &[InstanceMove],
    ) -> Result<(), StoreError> {
        self.vmoves_record(lease, moves, Recorded::Keep).await
    }

    /// Records `moves` in one transaction under `lease`, each new one inserted and each
    /// already recorded treated as `recorded` says.
    async fn vmoves_record(
        &self,
        lease: &Lease,
        moves: &[InstanceMove],
        recorded: Recorded,
    ) -> Result<(), StoreError> {
        let mut tx = self.tx().await?;
        check_lease(&mut tx, self.for_update(), lease).await?;
        for m in moves {
            match recorded {
                Recorded::Overwrite => {
                    vmove_upsert(&mut tx, lease.notification, m).await?;
                }
                Recorded::Keep => {
                    if vmove_find(&mut tx, lease.notification, m).await?.is_none() {
                        vmove_insert(&mut tx, lease.notification, m).await?;
                    }
                }
            }
        }
        tx.commit().await
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

/// What recording a move does to one already recorded for its instance.
#[derive(Clone, Copy)]
enum Recorded {
    /// Writes the move over it: the engine's latest word on the move.
    Overwrite,
    /// Leaves it: announcing never undoes what an earlier run moved on.
    Keep,
}

/// The live vmove of `m`'s instance in a notification's recovery.
async fn vmove_upsert(
    tx: &mut Tx,
    notification: NotificationId,
    m: &InstanceMove,
) -> Result<VMoveId, StoreError> {
    match vmove_find(tx, notification, m).await? {
        Some(uuid) => vmove_update(tx, uuid, m).await,
        None => vmove_insert(tx, notification, m).await,
    }
}

async fn vmove_find(
    tx: &mut Tx,
    notification: NotificationId,
    m: &InstanceMove,
) -> Result<Option<VMoveId>, StoreError> {
    tx.fetch_optional(
        "vmove find",
        "SELECT uuid FROM vmoves WHERE notification_uuid = ? AND instance_uuid = ? \
         AND deleted = 0",
        args![notification.to_string(), m.instance_uuid.as_str()],
    )
    .await?
    .map(|row| Cols::new(&row).parsed("uuid"))
    .transpose()
}

/// What the engine says of a move, written on insert and on update alike.
fn vmove_fields(m: &InstanceMove) -> Columns {
    Columns::new()
        .set("instance_name", m.instance_name.as_str())
        .set("source_host", m.source_host.clone())
        .set("dest_host", m.dest_host.clone())
        .set("start_time", m.start_time)
        .set("end_time", m.end_time)
        .set("type", m.vmove_type.as_str())
        .set("status", m.status.as_str())
        .set("message", m.message.clone())
}

async fn vmove_update(tx: &mut Tx, uuid: VMoveId, m: &InstanceMove) -> Result<VMoveId, StoreError> {
    let row = vmove_fields(m).set("updated_at", Timestamp::now().truncate_to_seconds());
    let sql = row.update("vmoves", "uuid = ?");
    tx.execute("vmove update", &sql, row.args(args![uuid.to_string()]))
        .await?;
    Ok(uuid)
}

async fn vmove_insert(
    tx: &mut Tx,
    notification: NotificationId,
    m: &InstanceMove,
) -> Result<VMoveId, StoreError> {
    let uuid = VMoveId::new_random();
    let row = vmove_fields(m)
        .set("uuid", uuid.to_string())
        .set("notification_uuid", notification.to_string())
        .set("instance_uuid", m.instance_uuid.as_str())
        .set("created_at", Timestamp::now().truncate_to_seconds())
        .set("deleted", 0_i64);
    tx.insert("vmove insert", &row.insert("vmoves"), row.args(vec![]))
        .await?;
    Ok(uuid)
}
