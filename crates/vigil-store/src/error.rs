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

impl StoreError {
    /// The database could not be reached or would not serve: down, restarting, a connection
    /// lost, no connection free within the pool's acquire timeout, SQLite's lock held past its
    /// busy timeout. The API answers these with 503: nothing was done, and the same request may
    /// succeed once the database is back. Other transient failures (a deadlock, a bug's
    /// malformed statement) are not outages.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Connect { source, .. } | StoreError::Database { source, .. } => {
                sqlx_unavailable(source)
            }
            StoreError::Sqlite { source, .. } => matches!(
                source.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }
}

fn sqlx_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // SQLSTATE class 08 is "connection exception" (PostgreSQL and MariaDB alike);
            // 57P01-57P03 are PostgreSQL shutting down, crashed, or not yet accepting
            // connections; SQLite's 5 and 6 are SQLITE_BUSY and SQLITE_LOCKED.
            code.starts_with("08")
                || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "5" | "6")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_told_from_other_failures() {
        let database = |source| StoreError::Database {
            operation: "test",
            source,
        };
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(database(sqlx::Error::Io(refused)).is_unavailable());
        assert!(database(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(database(sqlx::Error::PoolClosed).is_unavailable());
        assert!(!database(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!database(sqlx::Error::Protocol("bad".into())).is_unavailable());
        let busy = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let sqlite = |e| StoreError::Sqlite {
            operation: "test",
            source: std::sync::Arc::new(e),
        };
        assert!(sqlite(busy).is_unavailable());
        assert!(!sqlite(rusqlite::Error::QueryReturnedNoRows).is_unavailable());
        assert!(!StoreError::MarkerNotFound("m".into()).is_unavailable());
    }
}
