//! The fields every Masakari resource ends with: when its row was created, last changed and
//! deleted (oslo.db's timestamp and soft-delete columns, shown as they are).

use crate::time;
use serde::{Deserialize, Serialize};
use vigil_domain::Timestamp;

/// `created_at`, `updated_at`, `deleted_at`, `deleted`, in that order; flattened into each
/// resource body after its own fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    #[serde(with = "time::stamp")]
    pub created_at: Timestamp,
    #[serde(with = "time::optional")]
    pub updated_at: Option<Timestamp>,
    #[serde(with = "time::optional")]
    pub deleted_at: Option<Timestamp>,
    pub deleted: bool,
}

impl From<vigil_domain::Lifecycle> for Lifecycle {
    fn from(l: vigil_domain::Lifecycle) -> Self {
        Self {
            created_at: l.created_at,
            updated_at: l.updated_at,
            deleted_at: l.deleted_at,
            deleted: l.deleted,
        }
    }
}
