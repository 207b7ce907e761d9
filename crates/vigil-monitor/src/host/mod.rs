//! The host monitor: reports the compute hosts that go down (`COMPUTE_HOST`/`STOPPED`) and come
//! back (`STARTED`), from the membership view of a driver.
//!
//! A driver is anything that yields a [`Membership`]: each node up or not, when it was last
//! fenced, and whether this view has quorum. `pacemaker` reads `crm_mon`; others (gossip,
//! Consul) plug in the same way. A pass: observe; without quorum, report nothing and change
//! nothing (the other side of a partition decides); else [`decide`] each node from its
//! persisted [`NodeRecord`], save the records and the reports (the monitor's [`Books`]), and
//! append the reports to the outbox. This host itself is never reported, as masakari-monitors
//! does: it cannot see its own death. Nodes that leave the view are forgotten.

mod decide;
pub mod pacemaker;

pub use decide::{decide, Known, NodeRecord, Report};

use crate::journal::{Books, BooksError};
use crate::runner::Reconciler;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;
use vigil_domain::{NotificationType, Timestamp};
use vigil_outbox::{Event, Outbox};
use vigil_wire::payload::{self, ClusterStatus, ComputeHostPayload, HostStatus, Payload};

/// The monitor's name: its state file is `host.json`, its status `host.status.json`.
pub const NAME: &str = "host";

/// What a driver sees of the cluster at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Membership {
    /// Whether this side of the cluster has quorum; without it nothing is reported.
    pub quorum: bool,
    /// Every node by name (the name the API knows the host by).
    pub nodes: BTreeMap<String, Member>,
}

/// One node as a driver sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Up and trusted to be: a node the driver doubts is not up.
    pub up: bool,
    /// The newest successful fencing of the node the driver knows of, by the fencer's clock;
    /// `None` if none, or if the driver knows nothing of fencing.
    #[serde(with = "vigil_wire::time::optional")]
    pub fenced_at: Option<Timestamp>,
    /// What the driver saw, in words, for the status.
    pub detail: String,
}

/// A source of membership views.
pub trait Driver: Send {
    type Error: std::error::Error + Send + Sync + 'static;

    /// Its name in the status (`pacemaker`, …).
    fn name(&self) -> &'static str;

    /// The membership now.
    fn observe(&mut self) -> impl Future<Output = Result<Membership, Self::Error>> + Send;
}

/// `vigil monitor host`'s settings; the defaults are masakari-monitors' `[host]`, but the
/// interval (60 s there).
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// This host's name: never reported.
    pub hostname: String,
    /// Where the state and status files are.
    pub state_dir: PathBuf,
    /// The time between two passes.
    pub interval: Duration,
    /// Consecutive samples that must agree before a change is reported (1).
    pub monitoring_samples: u32,
}

impl HostConfig {
    pub fn new(hostname: String, state_dir: PathBuf) -> Self {
        Self {
            hostname,
            state_dir,
            interval: Duration::from_secs(5),
            monitoring_samples: 1,
        }
    }
}

/// What the state file holds, beside the reports not yet appended ([`crate::journal::Saved`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    pub nodes: BTreeMap<String, NodeRecord>,
}

/// The status's own part.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Watching {
    pub driver: String,
    /// Whether the last view had quorum (`null` before the first).
    pub quorum: Option<bool>,
    pub nodes: Vec<WatchedNode>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchedNode {
    pub name: String,
    /// What was last reported (or recorded at first sight).
    pub known: Known,
    #[serde(flatten)]
    pub seen: Member,
}

#[derive(Debug, thiserror::Error)]
pub enum HostMonitorError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Books(#[from] BooksError),
    #[error("observing the membership")]
    Observe(#[source] E),
}

/// The host monitor over driver `D`, a [`Reconciler`].
pub struct HostMonitor<D> {
    config: HostConfig,
    books: Books<HostState, Watching>,
    driver: D,
}

impl<D: Driver> Reconciler for HostMonitor<D> {
    type Error = HostMonitorError<D::Error>;
    const NAME: &'static str = NAME;

    async fn reconcile(&mut self) -> Result<Duration, Self::Error> {
        // Reports saved by a pass that could not append them go first, quorum or not.
        self.books.append_unsent().await?;
        let view = self
            .driver
            .observe()
            .await
            .map_err(HostMonitorError::Observe)?;
        let now = Timestamp::now();
        self.books.status.last_observation = Some(now);
        // Said once, when it changes, not at every pass.
        if self.books.status.watching.quorum != Some(view.quorum) {
            match view.quorum {
                true => tracing::info!(driver = self.driver.name(), "quorum: watching"),
                false => {
                    tracing::warn!(driver = self.driver.name(), "no quorum: reporting nothing")
                }
            }
        }
        self.books.status.watching.quorum = Some(view.quorum);
        if view.quorum {
            self.apply(&view, now)?;
            self.books.append_unsent().await?;
        }
        self.books.status.last_error = None;
        self.write_status(&view)?;
        Ok(self.config.interval)
    }

    fn error_policy(&mut self, error: &Self::Error) -> Duration {
        self.books.failed(error);
        self.config.interval
    }
}

impl<D: Driver> HostMonitor<D> {
    /// The monitor, with the state it saved before if any.
    pub fn new(
        config: HostConfig,
        driver: D,
        outbox: Outbox,
    ) -> Result<Self, HostMonitorError<D::Error>> {
        let books = Books::open(
            NAME,
            &config.state_dir,
            &config.hostname,
            outbox,
            Watching {
                driver: driver.name().into(),
                ..Watching::default()
            },
        )?;
        Ok(Self {
            config,
            books,
            driver,
        })
    }

    /// The state as last saved.
    pub fn state(&self) -> &HostState {
        self.books.state()
    }

    /// Decides every node of `view` and saves the records and reports.
    fn apply(
        &mut self,
        view: &Membership,
        now: Timestamp,
    ) -> Result<(), HostMonitorError<D::Error>> {
        let before = self.books.state();
        let (mut next, mut reports) = (HostState::default(), Vec::new());
        for (name, seen) in &view.nodes {
            if *name == self.config.hostname {
                continue;
            }
            let was = before.nodes.get(name);
            let (record, report) = decide(was, seen, self.config.monitoring_samples);
            if was.map(|r| r.known) != Some(record.known) {
                let (detail, known) = (&seen.detail, record.known);
                tracing::info!(node = %name, %detail, ?known, "node state changed");
            }
            if let Some(report) = report {
                reports.push(self.report(name, report, now));
            }
            next.nodes.insert(name.clone(), record);
        }
        Ok(self.books.save(next, reports)?)
    }

    fn report(&self, node: &str, report: Report, at: Timestamp) -> Event {
        let (event, cluster_status, host_status) = match report {
            Report::Started => (
                payload::Event::Started,
                ClusterStatus::Online,
                HostStatus::Normal,
            ),
            Report::Stopped { fenced } => {
                let host = if fenced {
                    HostStatus::Normal
                } else {
                    HostStatus::Unknown
                };
                (payload::Event::Stopped, ClusterStatus::Offline, host)
            }
        };
        tracing::warn!(node, %event, host_status = host_status.as_str(), "reporting the host");
        let payload = Payload::ComputeHost(ComputeHostPayload {
            event,
            cluster_status: Some(cluster_status),
            host_status: Some(host_status),
        });
        Event {
            notification_type: NotificationType::ComputeHost,
            hostname: node.to_owned(),
            generated_time: at,
            payload: payload.to_map(),
        }
    }

    fn write_status(&mut self, view: &Membership) -> Result<(), HostMonitorError<D::Error>> {
        let records = &self.books.state().nodes;
        self.books.status.watching.nodes = view
            .nodes
            .iter()
            .filter_map(|(name, seen)| {
                let known = records.get(name)?.known;
                Some(WatchedNode {
                    name: name.clone(),
                    known,
                    seen: seen.clone(),
                })
            })
            .collect();
        Ok(self.books.write_status()?)
    }
}
