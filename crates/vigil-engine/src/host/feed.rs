//! One shared watch on Nova's evacuation records away from the failed host, so Nova's API load
//! does not grow with the number of evacuations in flight.

use super::HostFailure;
use crate::nova::Migration;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// Nova's evacuation records away from the failed host, fetched once per poll interval for
/// every evacuation of the flow: one call, where asking per server would load Nova's API in
/// proportion to the parallelism just when Nova is busiest.
pub(super) struct MigrationFeed {
    rx: watch::Receiver<Option<Snapshot>>,
    poller: tokio::task::JoinHandle<()>,
    started: Instant,
    /// When this flow last acted on each server: a snapshot asked for earlier may not show it.
    acted: std::sync::Mutex<HashMap<String, Instant>>,
}

#[derive(Clone)]
pub(super) struct Snapshot {
    /// When the request for it was sent: it shows everything Nova accepted before.
    asked_at: Instant,
    pub(super) migrations: Arc<Vec<Migration>>,
}

impl MigrationFeed {
    pub(super) fn start(ctx: &HostFailure) -> MigrationFeed {
        let started = Instant::now();
        let (tx, rx) = watch::channel(None);
        let nova = ctx.claim.nova.clone();
        let host = ctx.host.name.clone();
        let poll = ctx.poll();
        let poller = tokio::spawn(async move {
            loop {
                let asked_at = Instant::now();
                match nova.evacuations_from(&host).await {
                    Ok(m) => {
                        let snapshot = Snapshot {
                            asked_at,
                            migrations: Arc::new(m),
                        };
                        if tx.send(Some(snapshot)).is_err() {
                            return;
                        }
                    }
                    // The evacuations wait for the next answer, up to their deadline.
                    Err(e) => tracing::warn!(error = %e, "listing evacuations, retrying"),
                }
                tokio::time::sleep(poll).await;
            }
        });
        MigrationFeed {
            rx,
            poller,
            started,
            acted: Default::default(),
        }
    }

    /// Since when a snapshot can be trusted for `server`: since this flow last acted on it, or
    /// since the feed started. That is after anything an earlier, crashed run of the flow did,
    /// since its lease had to expire (tens of seconds) before this run could take it over.
    pub(super) fn fresh_for(&self, server: &str) -> Instant {
        let acted = self.acted.lock().unwrap_or_else(|e| e.into_inner());
        acted.get(server).copied().unwrap_or(self.started)
    }

    /// Notes an action on `server` that snapshots must reflect; returns its time.
    pub(super) fn acted(&self, server: &str) -> Instant {
        let now = Instant::now();
        let mut acted = self.acted.lock().unwrap_or_else(|e| e.into_inner());
        acted.insert(server.to_owned(), now);
        now
    }

    /// The first snapshot asked for at or after `after`, or `None` at the deadline.
    pub(super) async fn after(&self, after: Instant, deadline: Instant) -> Option<Snapshot> {
        let mut rx = self.rx.clone();
        loop {
            if let Some(s) = rx.borrow_and_update().clone() {
                if s.asked_at >= after {
                    return Some(s);
                }
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }
}

impl Drop for MigrationFeed {
    fn drop(&mut self) {
        self.poller.abort();
    }
}
