//! Unique names: a segment's among live segments, a host's among live hosts of all segments.
//! Checked before a write, so the client hears which name is taken, and enforced by a unique
//! index, so two concurrent writers cannot both pass the check.

use crate::sql::{args, is_unique_violation, Columns};
use crate::store::{Queries, Tx};
use crate::StoreError;
use vigil_domain::{Lifecycle, Timestamp};

/// A record with a unique name, as a client creates and changes it.
pub(crate) trait Named {
    /// Its row's id, its name, and its lifecycle (for an update to touch).
    fn named(&mut self) -> (i64, &str, &mut Lifecycle);
    /// What a client sets, each value beside its column.
    fn fields(&self) -> Columns;
}

/// The names of one table's live rows.
pub(crate) struct UniqueNames {
    pub table: &'static str,
    /// The check's name in errors.
    pub check: &'static str,
    /// The client's error for a name that is taken.
    pub taken: fn(String) -> StoreError,
}

impl UniqueNames {
    /// Fails with `taken` when a live row other than `except` has `name`.
    pub(crate) async fn check_free(
        &self,
        tx: &mut Tx,
        name: &str,
        except: Option<i64>,
    ) -> Result<(), StoreError> {
        let sql = format!(
            "SELECT id FROM {} WHERE name = ? AND deleted = 0 AND id <> ?",
            self.table
        );
        let row = tx
            .fetch_optional(self.check, &sql, args![name, except.unwrap_or(-1)])
            .await?;
        match row {
            Some(_) => Err((self.taken)(name.to_owned())),
            None => Ok(()),
        }
    }

    /// Inserts `row` once its `name` is checked free; the new row's id.
    pub(crate) async fn insert(
        &self,
        tx: &mut Tx,
        op: &'static str,
        name: &str,
        row: Columns,
    ) -> Result<i64, StoreError> {
        self.check_free(tx, name, None).await?;
        let row = row.set("deleted", 0_i64);
        tx.insert(op, &row.insert(self.table), row.args(vec![]))
            .await
            .map_err(|e| self.refused(e, name))
    }

    /// Applies `change` to `record`, read under its row lock, and stores the result; a new name
    /// must be free.
    pub(crate) async fn update<T: Named>(
        &self,
        tx: &mut Tx,
        op: &'static str,
        mut record: T,
        change: impl FnOnce(&mut T),
    ) -> Result<T, StoreError> {
        let before = record.named().1.to_owned();
        change(&mut record);
        let now = Timestamp::now().truncate_to_seconds();
        let row = record.fields().set("updated_at", now);
        let (id, name, lifecycle) = record.named();
        if name != before {
            self.check_free(tx, name, Some(id)).await?;
        }
        *lifecycle = lifecycle.updated(now);
        tx.execute(op, &row.update(self.table, "id = ?"), row.args(args![id]))
            .await
            .map_err(|e| self.refused(e, name))?;
        Ok(record)
    }

    /// `e`, or `taken` when it is the unique index refusing `name` (a concurrent writer won).
    pub(crate) fn refused(&self, e: StoreError, name: &str) -> StoreError {
        if is_unique_violation(&e) {
            (self.taken)(name.to_owned())
        } else {
            e
        }
    }
}
