//! Unique names: a segment's among live segments, a host's among live hosts of all segments.
//! Checked before a write, so the client hears which name is taken, and enforced by a unique
//! index, so two concurrent writers cannot both pass the check.

use crate::sql::{args, is_unique_violation};
use crate::store::Tx;
use crate::StoreError;

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

    /// `e`, or `taken` when it is the unique index refusing `name` (a concurrent writer won).
    pub(crate) fn refused(&self, e: StoreError, name: &str) -> StoreError {
        if is_unique_violation(&e) {
            (self.taken)(name.to_owned())
        } else {
            e
        }
    }
}
