//! The spool: numbered segment files of framed records, appended under a lock and synced
//! before an append returns.
//!
//! Layout of an outbox directory:
//! - `00000000000000000001.seg`, …: the events, oldest file first;
//! - `append.lock`: held by whoever appends, or starts a new segment;
//! - `consume.lock`, `acked`, `dead-letter.jsonl`: the consumer's (`consumer.rs`).
//!
//! Only the last segment is ever written to, and only after its bytes were checked to be whole
//! records: a segment that ends in a torn or damaged record (a writer killed mid-write) is
//! never appended to again, a new one is started. So a torn record is always the last thing in
//! its file, and once a later file exists an earlier one never changes again.

use crate::error::OutboxError;
use crate::frame::{self, Frame};
use crate::fsio::{self, Lock};
use crate::Event;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use vigil_domain::Timestamp;

/// Where a record starts (or, after the last one, where the next will): a segment's number
/// and a byte offset in it. Positions order like the records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}

/// The files of one outbox directory.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn segment(&self, n: u64) -> PathBuf {
        self.dir.join(format!("{n:020}.seg"))
    }

    pub fn append_lock(&self) -> PathBuf {
        self.dir.join("append.lock")
    }

    pub fn consume_lock(&self) -> PathBuf {
        self.dir.join("consume.lock")
    }

    pub fn acks(&self) -> PathBuf {
        self.dir.join("acked")
    }

    pub fn dead_letters(&self) -> PathBuf {
        self.dir.join("dead-letter.jsonl")
    }

    /// The segment numbers present, in order.
    pub fn segments(&self) -> Result<Vec<u64>, OutboxError> {
        let failed = |source| OutboxError::ListSpool {
            path: self.dir.clone(),
            source,
        };
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(failed)? {
            let name = entry.map_err(failed)?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = name
                .strip_suffix(".seg")
                .filter(|n| n.len() == 20)
                .and_then(|n| n.parse::<u64>().ok())
            {
                found.push(n);
            }
        }
        found.sort_unstable();
        Ok(found)
    }

    pub fn lock_appends(&self) -> Result<Lock, OutboxError> {
        let path = self.append_lock();
        Lock::acquire(&path).map_err(|source| OutboxError::Lock { path, source })
    }

    /// Opens segment `n`, creating it (and syncing the directory) if it does not exist.
    pub fn create_segment(&self, n: u64) -> Result<File, OutboxError> {
        let path = self.segment(n);
        fsio::open_append(&path).map_err(|source| OutboxError::CreateSegment { path, source })
    }

    /// Opens segment `n` for reading; `None` if it is gone (delivered and removed).
    pub fn open_segment(&self, n: u64) -> Result<Option<File>, OutboxError> {
        let path = self.segment(n);
        match File::open(&path) {
            Ok(f) => Ok(Some(f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(OutboxError::ReadSegment { path, source }),
        }
    }
}

/// A record's content: the report and when it was appended (the start of its maximum age).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stored {
    #[serde(with = "vigil_wire::time::stamp")]
    pub appended_at: Timestamp,
    pub notification: Event,
}

/// The record of `event` appended now.
pub(crate) fn encode(event: &Event, appended_at: Timestamp) -> Result<Vec<u8>, OutboxError> {
    let stored = Stored {
        appended_at,
        notification: event.clone(),
    };
    let payload = serde_json::to_vec(&stored).map_err(|source| OutboxError::Encode { source })?;
    if payload.len() > frame::MAX_PAYLOAD {
        return Err(OutboxError::TooLarge {
            bytes: payload.len(),
        });
    }
    Ok(frame::encode(&payload))
}

/// The frame at `offset` of `file`, read from disk.
pub(crate) enum OwnedFrame {
    Record { payload: Vec<u8>, size: u64 },
    Incomplete,
    Corrupt,
}

pub(crate) fn read_frame(file: &File, offset: u64) -> std::io::Result<OwnedFrame> {
    let header = fsio::read_upto(file, offset, frame::HEADER)?;
    let size = match frame::decode(&header) {
        Frame::Corrupt(_) => return Ok(OwnedFrame::Corrupt),
        // A whole header: its length says how much to read (decode saw no payload yet).
        Frame::Incomplete if header.len() == frame::HEADER => {
            frame::HEADER + u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize
        }
        Frame::Incomplete => return Ok(OwnedFrame::Incomplete),
        Frame::Record { size, .. } => size,
    };
    let bytes = fsio::read_upto(file, offset, size)?;
    Ok(match frame::decode(&bytes) {
        Frame::Record { payload, size } => OwnedFrame::Record {
            payload: payload.to_vec(),
            size: size as u64,
        },
        Frame::Incomplete => OwnedFrame::Incomplete,
        Frame::Corrupt(_) => OwnedFrame::Corrupt,
    })
}

/// The appending side of one process: the last segment it wrote to, and how far it has
/// checked that segment's bytes to be whole records.
#[derive(Default)]
pub(crate) struct Writer {
    active: Option<Active>,
}

struct Active {
    segment: u64,
    file: File,
    /// Bytes from the start known to be whole records.
    checked: u64,
}

impl Writer {
    /// Appends `record` to the last segment and syncs it; returns where it starts.
    pub fn append(
        &mut self,
        layout: &Layout,
        record: &[u8],
        segment_bytes: u64,
    ) -> Result<Position, OutboxError> {
        let _lock = layout.lock_appends()?;
        // Taken out and put back only on success: after any error the next append starts by
        // checking the segment afresh.
        let mut active = match (self.active.take(), layout.segments()?.last().copied()) {
            (Some(a), Some(last)) if a.segment == last => a,
            (_, Some(last)) => Active::open(layout, last)?,
            // No file at all (removed by hand): start past the consumer's cursor, where it
            // will look.
            (_, None) => {
                let cursor = crate::consumer::read_cursor(layout)?;
                Active::open(layout, cursor.map_or(1, |c| c.segment + 1))?
            }
        };
        let sound = active.check(layout)?;
        if !sound {
            tracing::warn!(
                file = %layout.segment(active.segment).display(),
                "the spool file ends with a torn or damaged record (a crash while appending); \
                 continuing in a new file"
            );
        }
        if !sound || active.checked >= segment_bytes {
            active = Active::open(layout, active.segment + 1)?;
        }
        let at = Position {
            segment: active.segment,
            offset: active.checked,
        };
        let path = layout.segment(active.segment);
        let failed = |source| OutboxError::Append {
            path: path.clone(),
            source,
        };
        // One write: a crash leaves the record whole or a torn tail the checksum catches.
        (&active.file).write_all(record).map_err(failed)?;
        active.file.sync_data().map_err(failed)?;
        active.checked += record.len() as u64;
        self.active = Some(active);
        Ok(at)
    }
}

impl Active {
    fn open(layout: &Layout, segment: u64) -> Result<Active, OutboxError> {
        Ok(Active {
            segment,
            file: layout.create_segment(segment)?,
            checked: 0,
        })
    }

    /// Checks the bytes others appended since this process last looked (all of them the
    /// first time); false if they do not end with a whole record. Called under the append
    /// lock, so nobody is writing: a partial record is a torn one.
    fn check(&mut self, layout: &Layout) -> Result<bool, OutboxError> {
        let path = layout.segment(self.segment);
        let failed = |source| OutboxError::ReadSegment {
            path: path.clone(),
            source,
        };
        let len = self.file.metadata().map_err(failed)?.len();
        if len < self.checked {
            return Ok(false);
        }
        let bytes = fsio::read_upto(&self.file, self.checked, (len - self.checked) as usize)
            .map_err(failed)?;
        let mut at = 0;
        while at < bytes.len() {
            match frame::decode(&bytes[at..]) {
                Frame::Record { size, .. } => at += size,
                Frame::Incomplete | Frame::Corrupt(_) => return Ok(false),
            }
        }
        self.checked = len;
        Ok(true)
    }
}

/// Whether `dir` exists; creates it (and syncs its parent) if not.
pub(crate) fn ensure_dir(dir: &Path) -> Result<(), OutboxError> {
    if dir.is_dir() {
        return Ok(());
    }
    let failed = |source| OutboxError::CreateDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(failed)?;
    fsio::sync_dir(fsio::parent(dir)).map_err(failed)
}
