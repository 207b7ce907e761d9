//! The ways a store operation fails. The API crate turns these into Masakari's error bodies.

use vigil_domain::{HostId, NotificationId, SegmentId, VMoveId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("segment {0} not found")]
    SegmentNotFound(SegmentId),
    #[error("host {host} not found in segment {segment}")]
    HostNotFound { segment: SegmentId, host: HostId },
    #[error("no host named {0}")]
    HostNameNotFound(String),
    #[error("notification {0} not found")]
    NotificationNotFound(NotificationId),
    #[error("vmove {0} not found")]
    VMoveNotFound(VMoveId),
    #[error("a segment named {0} already exists")]
    SegmentNameExists(String),
    #[error("a host named {0} already exists")]
    HostNameExists(String),
    /// A segment (or one of its hosts) has notifications still being processed.
    #[error("segment {0} is in use by notifications being processed")]
    SegmentInUse(SegmentId),
    /// A host's segment has notifications still being processed.
    #[error("host {0} is in use by notifications being processed")]
    HostInUse(HostId),
    #[error("host {0} is on maintenance")]
    HostOnMaintenance(String),
    /// Same type, host and payload within the duplicate-detection window.
    #[error("duplicate notification from host {0}")]
    DuplicateNotification(String),
    /// Another engine has taken the notification over (or it is no longer running).
    #[error("the lease on notification {0} is no longer held")]
    LeaseLost(NotificationId),
    #[error("marker {0} not found")]
    MarkerNotFound(String),
    #[error("invalid sort key {0}")]
    InvalidSortKey(String),
    #[error("connecting to the database at {url}")]
    Connect {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("applying database migrations")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("database operation {operation} failed")]
    Database {
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// On SQLite's native notification-intake connection (see `batch`). Shared, because one
    /// failed commit is every report in its batch's answer.
    #[error("SQLite operation {operation} failed")]
    Sqlite {
        operation: &'static str,
        #[source]
        source: std::sync::Arc<rusqlite::Error>,
    },
    /// A stored value that cannot be read back (a bug or a hand-edited database).
    #[error("corrupt {what} in the database: {detail}")]
    Corrupt { what: &'static str, detail: String },
}

impl vigil_domain::Classify for StoreError {
    fn class(&self) -> vigil_domain::ErrorClass {
        use vigil_domain::ErrorClass::*;
        match self {
            StoreError::SegmentNotFound(_)
            | StoreError::HostNotFound { .. }
            | StoreError::HostNameNotFound(_)
            | StoreError::NotificationNotFound(_)
            | StoreError::VMoveNotFound(_) => Gone,
            StoreError::SegmentNameExists(_)
            | StoreError::HostNameExists(_)
            | StoreError::SegmentInUse(_)
            | StoreError::HostInUse(_)
            | StoreError::HostOnMaintenance(_)
            | StoreError::DuplicateNotification(_)
            | StoreError::LeaseLost(_) => Conflict,
            // A database restarting, a pool timing out, a connection reset: the next try may
            // work. (A malformed statement would fail every time, but that is a bug, not input.)
            StoreError::Connect { .. }
            | StoreError::Database { .. }
            | StoreError::Sqlite { .. } => Transient,
            StoreError::MarkerNotFound(_)
            | StoreError::InvalidSortKey(_)
            | StoreError::Migrate(_)
            | StoreError::Corrupt { .. } => Fatal,
        }
    }
}
