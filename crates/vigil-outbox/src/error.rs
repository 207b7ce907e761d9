//! How an outbox operation failed: one variant per operation, the file it was on, the cause as
//! the source.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("creating the outbox directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("locking {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process (or another handle of this one) delivers from this outbox already.
    #[error("another dispatcher is consuming the outbox (it holds {path})")]
    Busy { path: PathBuf },
    #[error("listing the spool {path}")]
    ListSpool {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("creating the spool file {path}")]
    CreateSegment {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the spool file {path}")]
    ReadSegment {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("appending to the spool file {path}")]
    Append {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("removing the delivered spool file {path}")]
    RemoveSegment {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The event cannot be written as a record (too large to be a report).
    #[error("a report of {bytes} bytes is larger than a record may be")]
    TooLarge { bytes: usize },
    #[error("encoding the report")]
    Encode {
        #[source]
        source: serde_json::Error,
    },
    #[error("reading the acknowledgements {path}")]
    ReadAcks {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("recording an acknowledgement in {path}")]
    WriteAck {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A caller acknowledged something else than the oldest pending event: a bug in the caller.
    #[error("acknowledging a record at {given} while the oldest pending one is at {expected}")]
    NotOldest { given: String, expected: String },
    #[error("writing to the dead-letter file {path}")]
    WriteDeadLetter {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the dead-letter file {path}")]
    ReadDeadLetter {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A blocking file operation's thread ended without an answer (it panicked).
    #[error("the outbox's file operation did not complete")]
    Blocking {
        #[source]
        source: tokio::task::JoinError,
    },
}

/// How a state file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("reading the state file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the state file {path} is not the expected JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("encoding the state for {path}")]
    Encode {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing the state file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
