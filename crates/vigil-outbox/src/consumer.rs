//! The consuming side: the oldest pending event, its acknowledgement, the dead-letter file.
//!
//! One consumer at a time holds `consume.lock`. Its cursor — the position after the last event
//! acknowledged — is the last record of `acked`, appended and synced on every acknowledgement
//! before the next event is read, so an acknowledged event is never handed out again; the file
//! is rewritten atomically with the cursor alone when it grows, and at open (which also drops
//! a torn last record). Segments wholly before the cursor are removed.

use crate::error::OutboxError;
use crate::frame::{self, Frame};
use crate::fsio::{self, Lock};
use crate::spool::{read_frame, Layout, OwnedFrame, Position, Stored};
use crate::Event;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use vigil_domain::Timestamp;

/// An event not yet acknowledged, the oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    pub event: Event,
    /// When it was appended: its maximum age counts from here.
    pub appended_at: Timestamp,
    /// Where its record starts.
    pub at: Position,
    /// Where the next record starts.
    pub(crate) end: Position,
}

/// One line of `dead-letter.jsonl`: an event that will not be delivered, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    #[serde(with = "vigil_wire::time::stamp")]
    pub dead_at: Timestamp,
    #[serde(with = "vigil_wire::time::optional")]
    pub appended_at: Option<Timestamp>,
    pub reason: DeadReason,
    /// The report; absent when its record could not be read as one.
    pub notification: Option<Event>,
    /// The record's text when it could not be read as a report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
}

/// Why an event went to the dead-letter file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DeadReason {
    /// The API refused it for good (a 4xx other than a duplicate): the body says why.
    Refused { status: u16, body: String },
    /// Not accepted within the maximum age; the last answer.
    Expired { attempts: u32, last_answer: String },
    /// A whole record (its checksum matches) whose content is no report: written by another
    /// version, or a bug.
    Unreadable { error: String },
}

/// The one consumer of an outbox: reads the oldest pending event, acknowledges it.
pub struct Consumer {
    layout: Layout,
    _lock: Lock,
    acks: AckLog,
    /// After the last acknowledged event; durable.
    cursor: Position,
    /// The open segment `cursor` is in.
    file: Option<(u64, File)>,
}

impl Consumer {
    /// Takes the consumer lock (refused with [`OutboxError::Busy`] while another holds it) and
    /// reads the cursor.
    pub(crate) fn open(layout: Layout, ack_log_bytes: u64) -> Result<Consumer, OutboxError> {
        let path = layout.consume_lock();
        let lock = match Lock::try_acquire(&path) {
            Ok(Some(lock)) => lock,
            Ok(None) => return Err(OutboxError::Busy { path }),
            Err(source) => return Err(OutboxError::Lock { path, source }),
        };
        let (acks, cursor) = AckLog::open(&layout, ack_log_bytes)?;
        let mut consumer = Consumer {
            layout,
            _lock: lock,
            acks,
            cursor,
            file: None,
        };
        consumer.remove_delivered()?;
        Ok(consumer)
    }

    /// The oldest pending event, `None` if there is none. Asking again without acknowledging
    /// gives the same event.
    pub fn oldest(&mut self) -> Result<Option<Pending>, OutboxError> {
        loop {
            let Some(file) = self.current_file()? else {
                return Ok(None);
            };
            let at = self.cursor;
            match self.read(&file, at)? {
                OwnedFrame::Record { payload, size } => {
                    let end = Position {
                        segment: at.segment,
                        offset: at.offset + size,
                    };
                    match serde_json::from_slice::<Stored>(&payload) {
                        Ok(s) => {
                            return Ok(Some(Pending {
                                event: s.notification,
                                appended_at: s.appended_at,
                                at,
                                end,
                            }))
                        }
                        Err(e) => self.unreadable(&payload, &e, end)?,
                    }
                }
                OwnedFrame::Incomplete | OwnedFrame::Corrupt => {
                    if !self.past_the_end(&file)? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Records that `p`, the event [`Consumer::oldest`] gave, is delivered: synced before this
    /// returns, so it is never handed out again.
    pub fn ack(&mut self, p: &Pending) -> Result<(), OutboxError> {
        if p.at != self.cursor {
            return Err(OutboxError::NotOldest {
                given: p.at.to_string(),
                expected: self.cursor.to_string(),
            });
        }
        self.advance(p.end)
    }

    /// Writes `p` to the dead-letter file with `reason` (synced), then acknowledges it.
    pub fn dead_letter(&mut self, p: &Pending, reason: DeadReason) -> Result<(), OutboxError> {
        if p.at != self.cursor {
            return Err(OutboxError::NotOldest {
                given: p.at.to_string(),
                expected: self.cursor.to_string(),
            });
        }
        self.write_dead_letter(&DeadLetter {
            dead_at: Timestamp::now(),
            appended_at: Some(p.appended_at),
            reason,
            notification: Some(p.event.clone()),
            record: None,
        })?;
        self.advance(p.end)
    }

    fn unreadable(
        &mut self,
        payload: &[u8],
        error: &serde_json::Error,
        end: Position,
    ) -> Result<(), OutboxError> {
        tracing::error!(
            at = %self.cursor,
            error = %error,
            "a spool record is no report; moved to the dead-letter file"
        );
        self.write_dead_letter(&DeadLetter {
            dead_at: Timestamp::now(),
            appended_at: None,
            reason: DeadReason::Unreadable {
                error: error.to_string(),
            },
            notification: None,
            record: Some(String::from_utf8_lossy(payload).into_owned()),
        })?;
        self.advance(end)
    }

    fn read(&self, file: &File, at: Position) -> Result<OwnedFrame, OutboxError> {
        read_frame(file, at.offset).map_err(|source| OutboxError::ReadSegment {
            path: self.layout.segment(at.segment),
            source,
        })
    }

    /// The segment the cursor is in, opened once; past a removed one (only by hand: this
    /// consumer never removes the cursor's), the next present.
    fn current_file(&mut self) -> Result<Option<File>, OutboxError> {
        if let Some((n, f)) = &self.file {
            if *n == self.cursor.segment {
                return Ok(Some(f.try_clone().map_err(|source| {
                    OutboxError::ReadSegment {
                        path: self.layout.segment(*n),
                        source,
                    }
                })?));
            }
        }
        loop {
            if let Some(f) = self.layout.open_segment(self.cursor.segment)? {
                let copy = f.try_clone().map_err(|source| OutboxError::ReadSegment {
                    path: self.layout.segment(self.cursor.segment),
                    source,
                })?;
                self.file = Some((self.cursor.segment, f));
                return Ok(Some(copy));
            }
            match self
                .layout
                .segments()?
                .into_iter()
                .find(|n| *n > self.cursor.segment)
            {
                Some(n) => self.advance(Position {
                    segment: n,
                    offset: 0,
                })?,
                None => return Ok(None),
            }
        }
    }

    /// At the cursor there is no whole record. If a later segment exists this one is final:
    /// read once more (its last record may have been completed just before the next segment
    /// was started), then move on, dropping a torn or damaged tail. In the last segment,
    /// nothing more is pending now; if everything in it is acknowledged, start a new segment
    /// so this one can go. Returns whether the cursor moved.
    fn past_the_end(&mut self, file: &File) -> Result<bool, OutboxError> {
        let at = self.cursor;
        let later = self
            .layout
            .segments()?
            .into_iter()
            .find(|n| *n > at.segment);
        let Some(next) = later else {
            return self.start_new_segment_if_idle(file);
        };
        if let OwnedFrame::Record { .. } = self.read(file, at)? {
            return Ok(true);
        }
        self.drop_tail(file, at);
        self.advance(Position {
            segment: next,
            offset: 0,
        })?;
        Ok(true)
    }

    /// Everything in the last segment is acknowledged: under the append lock (so no append
    /// lands meanwhile) start the next segment and move the cursor to it; the old file is then
    /// removed. The outbox ends with one empty file. Returns whether the cursor moved (or an
    /// append arrived: either way, look again).
    fn start_new_segment_if_idle(&mut self, file: &File) -> Result<bool, OutboxError> {
        let at = self.cursor;
        let len = file
            .metadata()
            .map_err(|source| OutboxError::ReadSegment {
                path: self.layout.segment(at.segment),
                source,
            })?
            .len();
        if at.offset == 0 && len == 0 {
            return Ok(false);
        }
        let _appends = self.layout.lock_appends()?;
        if self.layout.segments()?.last() != Some(&at.segment) {
            return Ok(true);
        }
        // Nobody is writing now: anything at the cursor is a whole record or a torn one.
        if let OwnedFrame::Record { .. } = self.read(file, at)? {
            return Ok(true);
        }
        self.drop_tail(file, at);
        let next = at.segment + 1;
        self.layout.create_segment(next)?;
        self.advance(Position {
            segment: next,
            offset: 0,
        })?;
        Ok(true)
    }

    fn drop_tail(&self, file: &File, at: Position) {
        let len = file.metadata().map(|m| m.len()).unwrap_or(at.offset);
        if len > at.offset {
            tracing::warn!(
                file = %self.layout.segment(at.segment).display(),
                bytes = len - at.offset,
                "dropping the torn or damaged end of a spool file (a crash while appending)"
            );
        }
    }

    /// Moves the cursor, durably, and removes the segments it has left behind.
    fn advance(&mut self, to: Position) -> Result<(), OutboxError> {
        self.acks.record(&self.layout, to)?;
        let left = to.segment != self.cursor.segment;
        self.cursor = to;
        if left {
            self.remove_delivered()?;
        }
        Ok(())
    }

    /// Removes every segment before the cursor's: all their events are acknowledged.
    fn remove_delivered(&mut self) -> Result<(), OutboxError> {
        for n in self.layout.segments()? {
            if n >= self.cursor.segment {
                break;
            }
            let path = self.layout.segment(n);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(OutboxError::RemoveSegment { path, source }),
            }
        }
        Ok(())
    }

    /// Appends one line and syncs it. A line torn by an earlier crash is ended first, so each
    /// line stays readable on its own.
    fn write_dead_letter(&mut self, letter: &DeadLetter) -> Result<(), OutboxError> {
        let path = self.layout.dead_letters();
        let failed = |source| OutboxError::WriteDeadLetter {
            path: path.clone(),
            source,
        };
        let mut file = fsio::open_append(&path).map_err(failed)?;
        let len = file.metadata().map_err(failed)?.len();
        let mut line = Vec::new();
        if len > 0 && fsio::read_upto(&file, len - 1, 1).map_err(failed)? != b"\n" {
            line.push(b'\n');
        }
        serde_json::to_writer(&mut line, letter).map_err(|e| failed(std::io::Error::other(e)))?;
        line.push(b'\n');
        file.write_all(&line).map_err(failed)?;
        file.sync_data().map_err(failed)
    }
}

/// `acked`: the cursor's history, of which only the last whole record counts.
struct AckLog {
    file: File,
    len: u64,
    limit: u64,
}

impl AckLog {
    /// The cursor (the first segment's start when nothing was ever acknowledged), with the
    /// file rewritten to hold it alone.
    fn open(layout: &Layout, limit: u64) -> Result<(AckLog, Position), OutboxError> {
        let cursor = match read_cursor(layout)? {
            Some(c) => c,
            None => Position {
                segment: layout.segments()?.first().copied().unwrap_or(1),
                offset: 0,
            },
        };
        let file = rewrite(layout, cursor)?;
        let len = frame::HEADER as u64 + 16;
        Ok((AckLog { file, len, limit }, cursor))
    }

    fn record(&mut self, layout: &Layout, to: Position) -> Result<(), OutboxError> {
        if self.len >= self.limit {
            self.file = rewrite(layout, to)?;
            self.len = frame::HEADER as u64 + 16;
            return Ok(());
        }
        let path = layout.acks();
        let failed = |source| OutboxError::WriteAck {
            path: path.clone(),
            source,
        };
        let record = frame::encode(&cursor_bytes(to));
        (&self.file).write_all(&record).map_err(failed)?;
        self.file.sync_data().map_err(failed)?;
        self.len += record.len() as u64;
        Ok(())
    }
}

fn cursor_bytes(p: Position) -> [u8; 16] {
    let mut b = [0; 16];
    b[..8].copy_from_slice(&p.segment.to_le_bytes());
    b[8..].copy_from_slice(&p.offset.to_le_bytes());
    b
}

/// Replaces `acked` with the one record of `cursor`; returns it open for appending.
fn rewrite(layout: &Layout, cursor: Position) -> Result<File, OutboxError> {
    let path = layout.acks();
    let failed = |source| OutboxError::WriteAck {
        path: path.clone(),
        source,
    };
    fsio::replace(&path, &frame::encode(&cursor_bytes(cursor))).map_err(failed)?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(failed)
}

/// The last whole record of `acked`, if there is one; read without any lock (the file is
/// only ever appended to or replaced whole).
pub(crate) fn read_cursor(layout: &Layout) -> Result<Option<Position>, OutboxError> {
    let path = layout.acks();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(OutboxError::ReadAcks { path, source }),
    };
    let mut cursor = None;
    let mut at = 0;
    while let Frame::Record { payload, size } = frame::decode(&bytes[at..]) {
        if let Ok(b) = <[u8; 16]>::try_from(payload) {
            cursor = Some(Position {
                segment: u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
                offset: u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
            });
        }
        at += size;
    }
    Ok(cursor)
}
