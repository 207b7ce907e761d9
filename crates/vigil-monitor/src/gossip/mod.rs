//! The host monitor's `gossip` driver: membership and failure detection without Pacemaker.
//! The monitors of every compute node and controller are members of one SWIM group (the
//! `foca` crate: SWIM with its suspicion mechanism, timed as Lifeguard and memberlist time
//! it); a host SWIM declares down is reported `COMPUTE_HOST`/`STOPPED` by each member that
//! sees it so while in the majority ([`view`]), and `STARTED` when it comes back. Every member
//! reports on its own: the API counts the reports of one stop once.
//!
//! A pass runs SWIM ([`swim::Swim`]) until the membership changes or a probe period has gone
//! by, then [`view::decide`]s from the view, what it remembers of earlier passes and what was
//! reported before; it saves the hosts reported stopped and the reports in the state file and
//! appends the reports to the outbox (the monitor's [`Books`]): a host is reported once, even
//! across restarts of the monitor. [`GossipMonitor::membership`] (and the status) is the
//! membership view: each member up, suspect or down.

pub mod swim;
pub mod view;

pub use swim::{Peer, Timing};
pub use view::{Liveness, Sight};

use crate::journal::{Books, BooksError};
use crate::runner::Reconciler;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use swim::Swim;
use tokio::time::Instant;
use vigil_domain::{NotificationType, Timestamp};
use vigil_outbox::{Event, Outbox};
use vigil_wire::payload::{ClusterStatus, ComputeHostPayload, HostStatus, Payload};

/// The monitor's name: its state file is `gossip.json`, its status `gossip.status.json`.
pub const NAME: &str = "gossip";

/// How often the status file is rewritten when nothing changed.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// `vigil monitor host --driver gossip`'s settings.
#[derive(Clone, Debug)]
pub struct GossipConfig {
    /// This member's name: the host name reports about it carry.
    pub hostname: String,
    /// The address to listen on, which the other members reach this one at (port 0: any).
    pub bind: SocketAddr,
    /// Members to announce to until one answers; any live member will do.
    pub seeds: Vec<SocketAddr>,
    pub timing: Timing,
    /// Where the state and status files are.
    pub state_dir: PathBuf,
}

/// What the state file holds, beside the reports not yet appended ([`crate::journal::Saved`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GossipState {
    /// Hosts reported `STOPPED` and not yet seen back, with when.
    #[serde(with = "stamps")]
    pub stopped: BTreeMap<String, Timestamp>,
}

/// One member in the status, and in [`GossipMonitor::membership`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub addr: SocketAddr,
    pub liveness: Liveness,
}

/// The status's `watching`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Watching {
    pub addr: Option<SocketAddr>,
    /// Whether this member may report stops (see [`view`]).
    pub quorum: bool,
    pub members: Vec<Member>,
    pub reported_stopped: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    #[error(transparent)]
    Books(#[from] BooksError),
    #[error("the probe timing: {0}")]
    Timing(&'static str),
    #[error("{0} is not an address the other members can reach this one at")]
    Unreachable(SocketAddr),
    #[error("binding the gossip socket to {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("receiving from the gossip socket")]
    Receive(#[source] std::io::Error),
}

/// The gossip host monitor, a [`Reconciler`].
pub struct GossipMonitor {
    config: GossipConfig,
    books: Books<GossipState, Watching>,
    swim: Swim,
    status_written: Option<Instant>,
    /// What the view remembers between passes (see [`view::Memory`]).
    memory: view::Memory,
}

impl Reconciler for GossipMonitor {
    type Error = GossipError;
    const NAME: &'static str = NAME;

    /// Runs SWIM until the membership changes or a probe period has gone by, then decides:
    /// the next pass starts at once.
    async fn reconcile(&mut self) -> Result<Duration, GossipError> {
        let until = self.next_decision();
        let mut changed = false;
        while !changed && Instant::now() < until {
            changed = self.swim.step(until).await.map_err(GossipError::Receive)?;
        }
        let members = self.membership();
        let sight = Sight {
            members: members
                .values()
                .map(|m| (m.name.clone(), m.liveness))
                .collect(),
            hearing: self.swim.hearing(),
            heard: members
                .values()
                .filter(|m| self.swim.heard_from(m.addr))
                .map(|m| m.name.clone())
                .collect(),
        };
        let now = Timestamp::now();
        let stopped = &self.books.state().stopped;
        let decision = view::decide(
            &sight,
            &self.memory,
            stopped,
            now,
            self.config.timing.confirm,
        );
        let next = GossipState {
            stopped: decision.stopped,
        };
        let reports = decision.reports.into_iter().map(|report| {
            tracing::warn!(host = %report.host, event = %report.event, "reporting the host");
            compute_host(report, now)
        });
        self.books.save(next, reports.collect())?;
        self.books.status.last_observation = Some(now);
        self.books.append_unsent().await?;

        self.memory = decision.memory;
        let watching = Watching {
            addr: Some(self.addr()),
            quorum: sight.has_quorum(),
            members: members.into_values().collect(),
            reported_stopped: self.books.state().stopped.keys().cloned().collect(),
        };
        let stale = self
            .status_written
            .is_none_or(|at| at.elapsed() >= STATUS_EVERY);
        if watching != self.books.status.watching || self.books.status.last_error.is_some() || stale
        {
            self.books.status.watching = watching;
            self.books.status.last_error = None;
            self.write_status()?;
        }
        Ok(Duration::ZERO)
    }

    fn error_policy(&mut self, error: &GossipError) -> Duration {
        self.status_written = Some(Instant::now());
        self.books.failed(error);
        self.config.timing.probe_period
    }
}

impl GossipMonitor {
    /// Binds the socket and loads the state saved before, if any; joins at the first pass.
    pub async fn new(config: GossipConfig, outbox: Outbox) -> Result<Self, GossipError> {
        config.timing.check().map_err(GossipError::Timing)?;
        // The bound address is the member's identity: the others send to it.
        if config.bind.ip().is_unspecified() {
            return Err(GossipError::Unreachable(config.bind));
        }
        let mut books = Books::open(
            NAME,
            &config.state_dir,
            &config.hostname,
            outbox,
            Watching::default(),
        )?;
        let bind = |source| GossipError::Bind {
            addr: config.bind,
            source,
        };
        let socket = tokio::net::UdpSocket::bind(config.bind)
            .await
            .map_err(bind)?;
        let swim = Swim::new(
            config.hostname.clone(),
            socket,
            config.seeds.clone(),
            config.timing,
        )
        .map_err(bind)?;
        books.status.watching.addr = Some(swim.identity().addr);
        Ok(Self {
            config,
            books,
            swim,
            status_written: None,
            memory: view::Memory::default(),
        })
    }

    /// The address the other members reach this one at.
    pub fn addr(&self) -> SocketAddr {
        self.swim.identity().addr
    }

    /// The state as last saved.
    pub fn state(&self) -> &GossipState {
        self.books.state()
    }

    /// Every other member known, by name, and how this one sees it now.
    pub fn membership(&self) -> BTreeMap<String, Member> {
        let mut all = BTreeMap::<String, Member>::new();
        for (peer, liveness) in self.swim.members() {
            // Two addresses under one name (a host that moved): the liveliest one counts.
            let member = Member {
                name: peer.name.clone(),
                addr: peer.addr,
                liveness,
            };
            match all.get(&peer.name) {
                Some(m) if m.liveness >= liveness => {}
                _ => {
                    all.insert(peer.name.clone(), member);
                }
            }
        }
        all
    }

    /// When to decide again at the latest: after a probe period, or when a host seen going
    /// down has stayed down the confirmation delay.
    fn next_decision(&self) -> Instant {
        let now_us = Timestamp::now().as_micros();
        let confirm = self.config.timing.confirm.as_micros() as i64;
        let soonest = self
            .memory
            .dying
            .values()
            .map(|since| (since.as_micros() + confirm - now_us).max(0) as u64)
            .map(Duration::from_micros)
            .fold(self.config.timing.probe_period, Duration::min);
        Instant::now() + soonest
    }

    fn write_status(&mut self) -> Result<(), GossipError> {
        self.status_written = Some(Instant::now());
        Ok(self.books.write_status()?)
    }
}

/// Masakari's host monitor's payloads: `STOPPED` with the cluster `OFFLINE` and the host
/// `NORMAL` (as its consul driver asserts without a power check), `STARTED` with `ONLINE`.
fn compute_host(report: view::Report, at: Timestamp) -> Event {
    let cluster_status = match report.event {
        vigil_wire::payload::Event::Stopped => ClusterStatus::Offline,
        vigil_wire::payload::Event::Started => ClusterStatus::Online,
    };
    let payload = Payload::ComputeHost(ComputeHostPayload {
        event: report.event,
        cluster_status: Some(cluster_status),
        host_status: Some(HostStatus::Normal),
    });
    Event {
        notification_type: NotificationType::ComputeHost,
        hostname: report.host,
        generated_time: at,
        payload: payload.to_map(),
    }
}

/// The `stopped` map's times as the wire's ISO stamps.
mod stamps {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;
    use vigil_domain::Timestamp;

    #[derive(Serialize, Deserialize)]
    struct Stamp(#[serde(with = "vigil_wire::time::stamp")] Timestamp);

    pub fn serialize<S: Serializer>(
        map: &BTreeMap<String, Timestamp>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&String, Stamp> = map.iter().map(|(k, v)| (k, Stamp(*v))).collect();
        map.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, Timestamp>, D::Error> {
        let map = BTreeMap::<String, Stamp>::deserialize(d)?;
        Ok(map.into_iter().map(|(k, v)| (k, v.0)).collect())
    }
}
