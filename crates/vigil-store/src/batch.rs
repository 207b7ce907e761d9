//! Group commit for notification reports on SQLite.
//!
//! SQLite with `synchronous = FULL` makes every commit wait for the disk, so one transaction
//! per report caps intake at the disk's flush rate. Reports queued while a commit is in flight
//! are taken together: each is checked and inserted in order inside one transaction (so a
//! report sees the ones before it, and duplicates within a batch are caught), one commit makes
//! them all durable, and only then does each caller get its answer.
//!
//! The batches run on a thread of their own over a native SQLite connection (rusqlite), with
//! the statements prepared once. Through sqlx every statement was a round trip between the
//! async task and sqlx's connection thread (two thread wake-ups, and the `Any` driver
//! converting each argument and row); on a busy machine those cost more than SQLite's own work
//! and, since a batch runs its inserts one after another, they capped intake.
//!
//! This connection is a second writer beside the store's sqlx writer. SQLite serialises the two
//! (`BEGIN IMMEDIATE` with a busy timeout), but its busy wait polls, and a steady stream of
//! batches could starve the other writer; so both take the store's `write_turn` first, a fair
//! queue, and SQLite's lock is then only ever contended by other processes.

use crate::notifications::{accepted, parse_payload, payload_digest, PayloadColumns};
use crate::{NewNotification, StoreError};
use rusqlite::{
    params, Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Mutex};
use vigil_domain::{HostId, Notification, NotificationId, SegmentId, Timestamp};

/// Reports committed together at most.
const MAX_BATCH: usize = 256;

/// The common case in one statement: insert the report if its host exists, is not on
/// maintenance and has no duplicate. No row back means one of those checks failed, and
/// `checked_insert` finds which (a digest collision with a different payload lands there too,
/// and is inserted after comparing the payloads themselves).
const INSERT_IF_NEW: &str = "INSERT INTO notifications (notification_uuid, generated_time, type, \
     payload, payload_digest, status, source_host_uuid, failover_segment_uuid, created_at, \
     event, instance_uuid, host_status, deleted) \
     SELECT ?1, ?2, ?3, ?4, ?5, 'new', h.uuid, s.uuid, ?6, ?9, ?10, ?11, 0 \
     FROM hosts h JOIN segments s ON s.id = h.segment_id \
     WHERE h.name = ?7 AND h.deleted = 0 AND h.on_maintenance = 0 \
     AND NOT EXISTS (SELECT 1 FROM notifications d WHERE d.source_host_uuid = h.uuid \
       AND d.type = ?3 AND d.payload_digest = ?5 AND d.generated_time >= ?8 AND d.deleted = 0) \
     RETURNING id, source_host_uuid, failover_segment_uuid";

const HOST: &str = "SELECT uuid, on_maintenance FROM hosts WHERE name = ?1 AND deleted = 0";

const CANDIDATES: &str = "SELECT payload FROM notifications WHERE source_host_uuid = ?1 \
     AND type = ?2 AND payload_digest = ?3 AND generated_time >= ?4 AND deleted = 0";

/// The insert alone, once `checked_insert` has made the checks one by one. It takes the same
/// parameters as `INSERT_IF_NEW` (`?8` unused), so one binding serves both.
const INSERT: &str = "INSERT INTO notifications (notification_uuid, generated_time, type, \
     payload, payload_digest, status, source_host_uuid, failover_segment_uuid, created_at, \
     event, instance_uuid, host_status, deleted) \
     SELECT ?1, ?2, ?3, ?4, ?5, 'new', h.uuid, s.uuid, ?6, ?9, ?10, ?11, 0 \
     FROM hosts h JOIN segments s ON s.id = h.segment_id \
     WHERE h.name = ?7 AND h.deleted = 0 \
     RETURNING id, source_host_uuid, failover_segment_uuid";

type Reply = oneshot::Sender<Result<Notification, StoreError>>;

struct Job {
    new: NewNotification,
    window: Duration,
    reply: Reply,
}

#[derive(Clone)]
pub(crate) struct Batcher {
    jobs: mpsc::Sender<Job>,
}

impl Batcher {
    /// Opens the database file at `path` and starts the writer thread, which ends when the
    /// last clone of the returned handle is dropped.
    pub(crate) fn start(path: &Path, write_turn: Arc<Mutex<()>>) -> Result<Batcher, StoreError> {
        let conn = open(path).map_err(sqlite("open the intake connection"))?;
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        std::thread::Builder::new()
            .name("vigil-intake".into())
            .spawn(move || run(conn, rx, &write_turn))
            .map_err(|e| StoreError::Corrupt {
                what: "store",
                detail: format!("cannot start the notification writer: {e}"),
            })?;
        Ok(Batcher { jobs })
    }

    pub(crate) async fn submit(
        &self,
        new: NewNotification,
        window: Duration,
    ) -> Result<Notification, StoreError> {
        let (reply, answer) = oneshot::channel();
        let closed = || StoreError::Corrupt {
            what: "store",
            detail: "the notification writer has stopped".into(),
        };
        self.jobs
            .send(Job { new, window, reply })
            .await
            .map_err(|_| closed())?;
        answer.await.map_err(|_| closed())?
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The same settings as the sqlx connections (see `store::sqlite_pool`): a commit is on disk
    // before any caller hears of it.
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

fn run(mut conn: Connection, mut rx: mpsc::Receiver<Job>, write_turn: &Mutex<()>) {
    while let Some(first) = rx.blocking_recv() {
        let _turn = write_turn.blocking_lock();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&mut conn, batch);
    }
}

fn commit(conn: &mut Connection, batch: Vec<Job>) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return fail_all(batch, "notification batch begin", e),
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let result = store_one(&tx, &job.new, job.window);
        if let Err(StoreError::Sqlite { operation, source }) = &result {
            // The transaction may be unusable; nobody in this batch is stored (dropping `tx`
            // rolls it back). Every report earlier in the batch gets the same error, so that
            // the API answers them alike (503 for a busy database, which a retry may get past).
            for (reply, _) in results {
                let _ = Reply::send(
                    reply,
                    Err(StoreError::Sqlite {
                        operation,
                        source: source.clone(),
                    }),
                );
            }
            let _ = job.reply.send(result);
            return;
        }
        results.push((job.reply, result));
    }
    match tx.commit() {
        Ok(()) => {
            for (reply, result) in results {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            let source = Arc::new(e);
            for (reply, _) in results {
                let _ = reply.send(Err(StoreError::Sqlite {
                    operation: "notification batch commit",
                    source: source.clone(),
                }));
            }
        }
    }
}

fn fail_all(batch: Vec<Job>, operation: &'static str, e: rusqlite::Error) {
    let source = Arc::new(e);
    for job in batch {
        let _ = job.reply.send(Err(StoreError::Sqlite {
            operation,
            source: source.clone(),
        }));
    }
}

/// Checks and inserts one report inside the batch's transaction.
fn store_one(
    tx: &Transaction<'_>,
    new: &NewNotification,
    window: Duration,
) -> Result<Notification, StoreError> {
    let report = Report {
        uuid: NotificationId::new_random(),
        digest: payload_digest(&new.payload),
        payload_text: serde_json::to_string(&new.payload).map_err(|e| StoreError::Corrupt {
            what: "notification payload",
            detail: e.to_string(),
        })?,
        since: new.generated_time.saturating_sub_secs(window.as_secs()),
        now: Timestamp::now().truncate_to_seconds(),
        columns: PayloadColumns::of(new),
    };
    let inserted = insert(tx, INSERT_IF_NEW, new, &report)?;
    let (id, host, segment): (i64, String, Option<String>) = match inserted {
        Some(row) => row,
        None => checked_insert(tx, new, &report)?,
    };
    Ok(accepted(
        new.clone(),
        id,
        report.uuid,
        parse::<HostId>("source_host_uuid", &host)?,
        segment
            .map(|s| parse::<SegmentId>("failover_segment_uuid", &s))
            .transpose()?,
        report.now,
    ))
}

/// What `store_one` computes once for both of its statements.
struct Report {
    uuid: NotificationId,
    digest: String,
    payload_text: String,
    since: Timestamp,
    now: Timestamp,
    columns: PayloadColumns,
}

/// The checks one by one, to tell the caller which failed; inserts when none did (the fast
/// path's digest matched a different payload).
fn checked_insert(
    tx: &Transaction<'_>,
    new: &NewNotification,
    report: &Report,
) -> Result<(i64, String, Option<String>), StoreError> {
    let host: Option<(String, i64)> = tx
        .prepare_cached(HOST)
        .and_then(|mut st| {
            st.query_row(params![new.hostname], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(sqlite("notification host lookup"))?;
    let Some((host, on_maintenance)) = host else {
        return Err(StoreError::HostNameNotFound(new.hostname.clone()));
    };
    if on_maintenance != 0 && !new.accepted_on_maintenance() {
        return Err(StoreError::HostOnMaintenance(new.hostname.clone()));
    }
    let candidates: Vec<String> = tx
        .prepare_cached(CANDIDATES)
        .and_then(|mut st| {
            st.query_map(
                params![
                    host,
                    new.notification_type.as_str(),
                    report.digest,
                    report.since.as_micros(),
                ],
                |r| r.get(0),
            )?
            .collect()
        })
        .map_err(sqlite("notification duplicate check"))?;
    for text in &candidates {
        if parse_payload(text)? == new.payload {
            return Err(StoreError::DuplicateNotification(new.hostname.clone()));
        }
    }
    insert(tx, INSERT, new, report)?.ok_or_else(|| StoreError::Corrupt {
        what: "host",
        detail: format!("{} vanished inside a transaction", new.hostname),
    })
}

/// Runs `INSERT_IF_NEW` or `INSERT`; the new row's id, host and segment, if it was inserted.
fn insert(
    tx: &Transaction<'_>,
    sql: &str,
    new: &NewNotification,
    report: &Report,
) -> Result<Option<(i64, String, Option<String>)>, StoreError> {
    tx.prepare_cached(sql)
        .and_then(|mut st| {
            st.query_row(
                params![
                    report.uuid.to_string(),
                    new.generated_time.as_micros(),
                    new.notification_type.as_str(),
                    report.payload_text,
                    report.digest,
                    report.now.as_micros(),
                    new.hostname,
                    report.since.as_micros(),
                    report.columns.event,
                    report.columns.instance_uuid,
                    report.columns.host_status,
                ],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
        })
        .map_err(sqlite("notification insert"))
}

fn parse<T>(col: &str, text: &str) -> Result<T, StoreError>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| StoreError::Corrupt {
        what: "column",
        detail: format!("{col}: {e}"),
    })
}

fn sqlite(operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| StoreError::Sqlite {
        operation,
        source: Arc::new(e),
    }
}
