//! The durable outbox of Vigil's compute-node monitors: a report is on disk before anything
//! else happens, and stays there until the API has it.
//!
//! A monitor [`Outbox::append`]s each report (a `POST /v1/notifications` body); the call
//! returns once the record is synced (and a new file's directory), so a monitor killed right
//! after finds it again. A [`Dispatcher`] delivers the reports in order through a [`Sink`] (the
//! Masakari client) with jittered exponential backoff until the API accepts them; only a
//! configurable maximum age, or a refusal that will not change, ends the retries, and then the
//! report goes to a dead-letter file, logged as an error. Each delivery is acknowledged on disk
//! before the next report is sent, so an acknowledged report is never sent again; a report sent
//! but not yet acknowledged when the process died is sent again, and the API's duplicate
//! detection (409) makes it count once.
//!
//! - `frame`: the record format (length, CRC-32C, payload): a torn or damaged record is
//!   detected and dropped, never misread;
//! - `spool`: the segment files and appending to them;
//! - `consumer`: the oldest pending report, acknowledgements, the dead-letter file;
//! - `decide`: what an answer of the API means for a report (a table);
//! - `dispatch`: the delivery loop;
//! - `state`: [`StateFile`], a monitor's own small state (last seen status of each node,
//!   domain, process), replaced atomically.
//!
//! Several processes may append to one outbox (a monitor, `vigil notify`); one consumes.
//! Nothing here depends on the store, the engine or the API: compute nodes run only this.

mod consumer;
mod decide;
mod dispatch;
mod error;
pub mod frame;
mod fsio;
mod spool;
mod state;

pub use consumer::{Consumer, DeadLetter, DeadReason, Pending};
pub use decide::{decide, Answer, Outcome};
pub use dispatch::{DeliveryConfig, DispatchStatus, Dispatcher, DispatcherHandle, Retrying, Sink};
pub use error::{OutboxError, StateError};
pub use spool::Position;
pub use state::StateFile;

use spool::{Layout, Writer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use vigil_domain::Timestamp;

/// A report to deliver: the body of `POST /v1/notifications`.
pub type Event = vigil_wire::CreateNotification;

/// How an outbox lays out its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxOptions {
    /// A new segment file is started once the last one holds this many bytes; delivered
    /// segments are removed whole, so the disk holds at most about this much besides what is
    /// pending.
    pub segment_bytes: u64,
    /// The acknowledgement log is rewritten to its last record once it holds this many bytes
    /// (24 bytes an acknowledgement).
    pub ack_log_bytes: u64,
}

impl Default for OutboxOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 20,
            ack_log_bytes: 64 << 10,
        }
    }
}

/// A handle on an outbox directory; cheap to clone, shared by a process's monitors and its
/// dispatcher.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    layout: Layout,
    options: OutboxOptions,
    writer: Mutex<Writer>,
    /// Wakes this process's dispatcher at once; appends by other processes are seen at its
    /// next poll.
    appended: tokio::sync::Notify,
}

impl Outbox {
    /// Opens the outbox in `dir`, creating the directory if needed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Outbox, OutboxError> {
        Self::open_with(dir, OutboxOptions::default())
    }

    pub fn open_with(
        dir: impl Into<PathBuf>,
        options: OutboxOptions,
    ) -> Result<Outbox, OutboxError> {
        let dir = dir.into();
        spool::ensure_dir(&dir)?;
        Ok(Outbox {
            inner: Arc::new(Inner {
                layout: Layout { dir },
                options,
                writer: Mutex::new(Writer::default()),
                appended: tokio::sync::Notify::new(),
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.layout.dir
    }

    /// Appends `event` and returns once it is synced to disk. Blocks on the disk: from async
    /// code, use [`Outbox::append`].
    pub fn append_blocking(&self, event: &Event) -> Result<Position, OutboxError> {
        let record = spool::encode(event, Timestamp::now())?;
        // A panic elsewhere while holding the lock leaves the writer as it was before an
        // append, which the next append checks anyway.
        let mut writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let at = writer.append(
            &self.inner.layout,
            &record,
            self.inner.options.segment_bytes,
        )?;
        drop(writer);
        self.inner.appended.notify_one();
        Ok(at)
    }

    /// Appends `event` and returns once it is synced to disk.
    pub async fn append(&self, event: Event) -> Result<Position, OutboxError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.append_blocking(&event))
            .await
            .map_err(|source| OutboxError::Blocking { source })?
    }

    /// The consumer of this outbox, for a dispatcher; refused with [`OutboxError::Busy`] while
    /// another one (in any process) holds it.
    pub fn consumer(&self) -> Result<Consumer, OutboxError> {
        Consumer::open(self.inner.layout.clone(), self.inner.options.ack_log_bytes)
    }

    /// The pending events, oldest first: a snapshot for status and tests, read without the
    /// consumer's lock (while a dispatcher runs it may already be out of date).
    pub fn pending(&self) -> Result<Vec<Pending>, OutboxError> {
        let layout = &self.inner.layout;
        let segments = layout.segments()?;
        let cursor = consumer::read_cursor(layout)?.unwrap_or(Position {
            segment: segments.first().copied().unwrap_or(1),
            offset: 0,
        });
        let mut pending = Vec::new();
        for n in segments.into_iter().filter(|n| *n >= cursor.segment) {
            let Some(file) = layout.open_segment(n)? else {
                continue;
            };
            let mut offset = if n == cursor.segment {
                cursor.offset
            } else {
                0
            };
            while let spool::OwnedFrame::Record { payload, size } = spool::read_frame(&file, offset)
                .map_err(|source| OutboxError::ReadSegment {
                    path: layout.segment(n),
                    source,
                })?
            {
                let at = Position { segment: n, offset };
                offset += size;
                if let Ok(s) = serde_json::from_slice::<spool::Stored>(&payload) {
                    pending.push(Pending {
                        event: s.notification,
                        appended_at: s.appended_at,
                        at,
                        end: Position { segment: n, offset },
                    });
                }
            }
        }
        Ok(pending)
    }

    /// The dead-letter file's entries, oldest first (a line torn by a crash is skipped).
    pub fn dead_letters(&self) -> Result<Vec<DeadLetter>, OutboxError> {
        let path = self.inner.layout.dead_letters();
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(OutboxError::ReadDeadLetter { path, source }),
        }
    }

    /// Resolves when this process appends (a dispatcher's wake-up).
    pub(crate) async fn appended(&self) {
        self.inner.appended.notified().await
    }
}
