//! The alerter: hands each host of the failed-host queue to the recovery service. Pacemaker
//! keeps one running (`ocf:vigil:alerter`); it claims a `yes` host (`<owner>@<time>`), delivers
//! it, and marks it `no` once accepted — a 409 (the service has that report already) counts as
//! accepted. A failed delivery puts the host back to `yes` and is tried again, with backoff,
//! for as long as it takes: a failure report is never dropped.
//!
//! Two drivers: `Masakari` (a `COMPUTE_HOST` notification to Vigil or Masakari) and `Https`
//! (the design's host-failure JSON to any endpoint, [`crate::https`]).

use crate::attrd::{Attrd, AttrdError};
use crate::https::{Failure, HttpsDriver, HttpsError};
use crate::queue::Entry;
use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use vigil_client::{Client, ClientError};
use vigil_domain::{Backoff, ErrorChain, NotificationType};
use vigil_wire::payload::{ClusterStatus, ComputeHostPayload, Event, HostStatus, Payload};
use vigil_wire::CreateNotification;

#[derive(Debug, thiserror::Error)]
pub enum AlerterError {
    #[error("reading the failed-host queue")]
    Read(#[source] AttrdError),
    #[error("updating {host} in the failed-host queue")]
    Write {
        host: String,
        #[source]
        source: AttrdError,
    },
}

/// A failed host not handed over.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("reporting to the Masakari-compatible API")]
    Masakari(#[source] ClientError),
    #[error("reporting to the HTTPS endpoint")]
    Https(#[source] HttpsError),
}

/// Where failed hosts are handed over.
pub enum Driver {
    /// A Masakari-compatible API (Vigil, or Masakari itself): a `COMPUTE_HOST` `STOPPED`
    /// notification, as masakari-hostmonitor sends.
    Masakari(Client),
    /// The design's host-failure report POSTed to an endpoint of the operator's.
    Https(HttpsDriver),
}

impl Driver {
    async fn deliver(&self, host: &str, failure: Failure) -> Result<(), DeliveryError> {
        match self {
            Driver::Https(driver) => driver
                .deliver(host, failure)
                .await
                .map_err(DeliveryError::Https),
            Driver::Masakari(client) => {
                let payload = Payload::ComputeHost(ComputeHostPayload {
                    event: Event::Stopped,
                    cluster_status: Some(ClusterStatus::Offline),
                    host_status: Some(HostStatus::Normal),
                });
                let report = CreateNotification {
                    notification_type: NotificationType::ComputeHost,
                    hostname: host.to_owned(),
                    generated_time: failure.at,
                    payload: payload.to_map(),
                };
                match client.create_notification(&report).await {
                    Err(e) if e.is_duplicate() => Ok(()),
                    other => other.map(drop).map_err(DeliveryError::Masakari),
                }
            }
        }
    }
}

/// A host whose delivery failed: when it may be tried again.
struct Retry {
    attempts: u32,
    next: Instant,
}

pub struct Alerter {
    queue: Attrd,
    driver: Driver,
    /// This alerter's name in its claims (by default the node's name, so that an alerter
    /// restarted on its node takes its own claims back at once).
    owner: String,
    backoff: Backoff,
    /// When each host was first seen failed (the report's `generated_time`) and the report's
    /// id: the same on every attempt, so the service can recognise a repeat.
    seen: HashMap<String, Failure>,
    retries: HashMap<String, Retry>,
}

impl Alerter {
    pub fn new(queue: Attrd, driver: Driver, owner: String) -> Alerter {
        Alerter {
            queue,
            driver,
            owner,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(60)),
            seen: HashMap::new(),
            retries: HashMap::new(),
        }
    }

    /// One look at the queue: every host this alerter may claim, and is not backing off from,
    /// is claimed and delivered. Returns how many were delivered.
    pub async fn pass(&mut self) -> Result<usize, AlerterError> {
        let now = unix_now();
        let entries = self.queue.entries().await.map_err(AlerterError::Read)?;
        let mut delivered = 0;
        for (host, entry) in entries {
            if !entry.claimable_by(&self.owner, now) {
                if entry == Entry::Delivered {
                    self.seen.remove(&host);
                }
                continue;
            }
            if self
                .retries
                .get(&host)
                .is_some_and(|r| Instant::now() < r.next)
            {
                continue;
            }
            let failure = *self.seen.entry(host.clone()).or_insert_with(Failure::now);
            let claim = Entry::Claimed {
                owner: self.owner.clone(),
                since: now,
            };
            self.set(&host, &claim).await?;
            match self.driver.deliver(&host, failure).await {
                Ok(()) => {
                    self.set(&host, &Entry::Delivered).await?;
                    self.retries.remove(&host);
                    self.seen.remove(&host);
                    delivered += 1;
                    tracing::info!(%host, "failed host handed to the recovery service");
                }
                Err(e) => {
                    self.set(&host, &Entry::Failed).await?;
                    let attempts = self.retries.get(&host).map_or(0, |r| r.attempts) + 1;
                    let wait = self.backoff.delay(attempts);
                    tracing::error!(%host, attempts, error = %ErrorChain(&e),
                        "delivery failed; trying again in {wait:?}");
                    self.retries.insert(
                        host,
                        Retry {
                            attempts,
                            next: Instant::now() + wait,
                        },
                    );
                }
            }
        }
        Ok(delivered)
    }

    async fn set(&self, host: &str, entry: &Entry) -> Result<(), AlerterError> {
        self.queue
            .set(host, entry)
            .await
            .map_err(|source| AlerterError::Write {
                host: host.to_owned(),
                source,
            })
    }

    /// Runs passes every `interval` until `stop` resolves; a failed pass is logged and the
    /// next one runs on time.
    pub async fn run(mut self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            if let Err(e) = self.pass().await {
                tracing::error!(error = %ErrorChain(&e), "alerter pass failed");
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = &mut stop => return,
            }
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
