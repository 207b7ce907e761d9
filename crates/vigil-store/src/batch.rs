//! Group commit for notification reports on SQLite.
//!
//! SQLite with `synchronous = FULL` makes every commit wait for the disk, so one transaction
//! per report caps intake at the disk's flush rate. Reports queued while a commit is in flight
//! are taken together: each is checked and inserted in order inside one transaction (so a
//! report sees the ones before it, and duplicates within a batch are caught), one commit makes
//! them all durable, and only then does each caller get its answer.

use crate::notifications::{create_in, try_insert};
use crate::store::{Backend, Tx};
use crate::{NewNotification, StoreError};
use sqlx::AnyPool;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use vigil_domain::Notification;

/// Reports committed together at most.
const MAX_BATCH: usize = 256;

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
    pub(crate) fn start(writer: AnyPool) -> Batcher {
        let (jobs, rx) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(run(writer, rx));
        Batcher { jobs }
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

async fn run(writer: AnyPool, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&writer, batch).await;
    }
}

async fn commit(writer: &AnyPool, batch: Vec<Job>) {
    let tx = match writer.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => return fail_all(batch, "begin", e),
    };
    let mut tx = Tx {
        backend: Backend::Sqlite,
        tx,
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        // Same digest but a different payload (a hash collision) also lands in `create_in`,
        // which compares the payloads themselves.
        let result = match try_insert(&mut tx, &job.new, job.window).await {
            Ok(Some(n)) => Ok(n),
            Ok(None) => create_in(&mut tx, "", job.new, job.window).await,
            Err(e) => Err(e),
        };
        if let Err(StoreError::Database { .. }) = &result {
            // The transaction is unusable; nobody in this batch was stored.
            let _ = job.reply.send(result);
            for (reply, _) in results {
                let _ = Reply::send(
                    reply,
                    Err(StoreError::Corrupt {
                        what: "batch",
                        detail: "a database error aborted the batch; retry".into(),
                    }),
                );
            }
            return;
        }
        results.push((job.reply, result));
    }
    match tx.tx.commit().await {
        Ok(()) => {
            for (reply, result) in results {
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            let message = e.to_string();
            for (reply, _) in results {
                let _ = reply.send(Err(StoreError::Database {
                    operation: "notification batch commit",
                    source: sqlx::Error::Protocol(message.clone()),
                }));
            }
        }
    }
}

fn fail_all(batch: Vec<Job>, operation: &'static str, e: sqlx::Error) {
    let message = e.to_string();
    for job in batch {
        let _ = job.reply.send(Err(StoreError::Database {
            operation,
            source: sqlx::Error::Protocol(message.clone()),
        }));
    }
}
