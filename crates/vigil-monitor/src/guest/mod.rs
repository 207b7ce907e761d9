//! The guest-agent monitor: `guest-ping` to the QEMU guest agent of each running domain that
//! opted in, reported `VM` / `QEMU_GUEST_AGENT_ERROR` once per failure episode, as
//! masakari-monitors' introspective instance monitor reports it.
//!
//! Opting in is masakari-monitors': a domain is watched while it runs and has a guest-agent
//! channel (`org.qemu.guest_agent.0`, what Nova adds for an image with
//! `hw_qemu_guest_agent=yes`) whose socket path matches a pattern. Every `interval` a pass
//! lists those domains and pings each agent, in parallel, through libvirt; [`decide::step`]
//! turns each answer, failure or start into what the monitor knows and whether to report.
//! A start is a lifecycle `STARTED` event (through the instance monitor's [`Session`], which
//! wakes the runner) or, when the event was missed, a new libvirt domain id. The state of
//! every agent is persisted with the reports it decided, before they are appended.

pub mod decide;
pub mod libvirt;

use crate::instance::libvirt::Signal;
use crate::instance::link::{self, Connection, LibvirtConfig, LibvirtMonitorError, Linked};
use crate::instance::table::DomainEvent;
use crate::runner::Reconciler;
use decide::{Agent, Observation, Phase};
use libvirt::{GuestLibvirtError, Watched};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use vigil_domain::Timestamp;
use vigil_outbox::{Event, Outbox};

/// The monitor's name: its state file is `guest.json`, its status `guest.status.json`.
pub const NAME: &str = "guest";

/// masakari-monitors' `qemu_guest_agent_sock_path`: the socket Nova gives the channel.
pub const MASAKARI_SOCKET_PATTERN: &str =
    r"/var/lib/libvirt/qemu/org\.qemu\.guest_agent\..*\.instance-.*\.sock";

/// `vigil monitor guest`'s settings; the defaults are masakari-monitors'.
#[derive(Clone, Debug)]
pub struct GuestConfig {
    /// libvirtd, opened read-write (libvirt runs agent commands for read-write connections
    /// only), and where this node keeps its files.
    pub libvirt: LibvirtConfig,
    /// `guest_monitoring_interval`: 10 s between passes.
    pub interval: Duration,
    /// `guest_monitoring_timeout`: 2 s for an agent's answer.
    pub timeout: Duration,
    /// `guest_monitoring_failure_threshold`: 3 consecutive failures are reported.
    pub failure_threshold: u32,
    /// Which agent sockets opt their domain in, matched from the path's start.
    pub socket_pattern: Regex,
}

impl GuestConfig {
    pub fn new(libvirt: LibvirtConfig) -> Self {
        Self {
            libvirt,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(2),
            failure_threshold: 3,
            socket_pattern: Regex::new(MASAKARI_SOCKET_PATTERN).expect("a valid pattern"),
        }
    }
}

/// A watched domain as remembered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracked {
    pub name: String,
    /// libvirt's id of the run the agent was judged in.
    pub id: u32,
    pub agent: Agent,
}

/// What the state file holds, beside the reports not yet appended ([`crate::journal::Saved`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GuestState {
    /// Each watched domain by UUID.
    pub domains: BTreeMap<String, Tracked>,
}

/// The monitor's part of its status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Watching {
    #[serde(flatten)]
    pub connection: Connection,
    pub domains: Vec<WatchedAgent>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedAgent {
    pub uuid: String,
    pub name: String,
    pub phase: Phase,
    pub failures: u32,
}

pub type GuestMonitorError = LibvirtMonitorError<GuestLibvirtError>;

/// The guest-agent monitor, a [`Reconciler`]. Give the runner [`GuestMonitor::wake`]:
/// lifecycle events notify it.
pub struct GuestMonitor {
    config: GuestConfig,
    linked: Linked<GuestState, Watching>,
}

impl Reconciler for GuestMonitor {
    type Error = GuestMonitorError;
    const NAME: &'static str = NAME;

    async fn reconcile(&mut self) -> Result<Duration, GuestMonitorError> {
        let (mut next, _) = self.linked.begin_pass().await?;
        let mut reports = Vec::new();
        let (started, closed) = self.handle_signals();
        for uuid in &started {
            if let Some(tracked) = next.domains.get_mut(uuid) {
                tracing::info!(domain = %tracked.name, %uuid, "the domain started: its agent is judged afresh");
                tracked.agent = decide::step(tracked.agent, Observation::Started, 1).0;
            }
        }
        if closed {
            self.linked
                .link
                .disconnect(&mut self.linked.books.status.watching.connection)
                .await;
        } else {
            self.check_agents(&mut next, &mut reports).await?;
        }
        self.linked.books.save(next, reports)?;
        self.linked.books.append_unsent().await?;
        self.linked.books.status.last_error = None;
        self.write_status()?;
        Ok(self.linked.link.next_pass(self.config.interval))
    }

    fn error_policy(&mut self, error: &GuestMonitorError) -> Duration {
        self.linked.books.failed(error);
        self.linked.link.next_pass(self.config.interval)
    }
}

impl GuestMonitor {
    /// The monitor, with the state it saved before if any; it connects at its first pass.
    pub fn new(config: GuestConfig, outbox: Outbox) -> Result<Self, GuestMonitorError> {
        let linked = link::open(NAME, &config.libvirt, true, outbox, |connection| Watching {
            connection,
            domains: Vec::new(),
        })?;
        Ok(Self { config, linked })
    }

    /// What libvirt's callbacks notify: the runner's wake-up.
    pub fn wake(&self) -> Arc<Notify> {
        self.linked.wake()
    }

    /// The state as last saved.
    pub fn state(&self) -> &GuestState {
        self.linked.state()
    }

    /// The domains that started since the last pass, and whether the connection closed.
    fn handle_signals(&mut self) -> (BTreeSet<String>, bool) {
        let (events, closed) = self.linked.link.drain();
        let mut started = BTreeSet::new();
        for signal in events {
            if let Signal::Event {
                uuid,
                name,
                event: DomainEvent::Lifecycle { event, .. },
                ..
            } = signal
            {
                if event == virt::sys::VIR_DOMAIN_EVENT_STARTED as i32 {
                    tracing::debug!(domain = %name, %uuid, "the domain started");
                    started.insert(uuid);
                }
            }
        }
        (started, closed)
    }

    /// Lists the watched domains, pings their agents and records in `next` what follows.
    async fn check_agents(
        &mut self,
        next: &mut GuestState,
        reports: &mut Vec<Event>,
    ) -> Result<(), GuestMonitorError> {
        let (pattern, timeout) = (
            self.config.socket_pattern.clone(),
            i32::try_from(self.config.timeout.as_secs().max(1)).unwrap_or(i32::MAX),
        );
        let shown = &mut self.linked.books.status.watching.connection;
        let checking = self.linked.link.call(shown, move |session| {
            let watched = libvirt::watched_domains(session, &pattern)?;
            Ok::<_, GuestLibvirtError>(ping_all(watched, timeout))
        });
        let Some(checked) = checking.await.map_err(GuestMonitorError::Link)? else {
            return Ok(());
        };
        let checked = checked.map_err(GuestMonitorError::List)?;
        let now = Timestamp::now();
        self.linked.books.status.last_observation = Some(now);
        let mut domains = BTreeMap::new();
        let threshold = self.config.failure_threshold;
        for (watched, answered) in checked {
            let mut agent = match next.domains.get(&watched.uuid) {
                // Started again while no event was heard: judged afresh.
                Some(t) if t.id == watched.id => t.agent,
                _ => Agent::default(),
            };
            let (after, report) = match answered {
                Some(true) => decide::step(agent, Observation::Answered, threshold),
                Some(false) => decide::step(agent, Observation::Failed, threshold),
                // Paused: not pinged, kept as it was.
                None => (agent, false),
            };
            if after.phase != agent.phase {
                tracing::info!(domain = %watched.name, uuid = %watched.uuid, from = ?agent.phase,
                    to = ?after.phase, failures = after.failures, "guest agent");
            }
            agent = after;
            if report {
                reports.push(self.report(&watched.uuid, agent.failures, now));
            }
            domains.insert(
                watched.uuid,
                Tracked {
                    name: watched.name,
                    id: watched.id,
                    agent,
                },
            );
        }
        // Stopped, gone, or no longer opted in: forgotten; a start gives a new id anyway.
        next.domains = domains;
        Ok(())
    }

    fn report(&self, uuid: &str, failures: u32, at: Timestamp) -> Event {
        tracing::warn!(%uuid, failures, "the guest agent stopped answering: reporting the instance");
        let names = ("QEMU_GUEST_AGENT_ERROR", "STOPPED_FAILED");
        crate::instance::vm_report(&self.config.libvirt.hostname, uuid, names, at)
    }

    fn write_status(&mut self) -> Result<(), GuestMonitorError> {
        self.linked.books.status.watching.domains = self
            .linked
            .state()
            .domains
            .iter()
            .map(|(uuid, t)| WatchedAgent {
                uuid: uuid.clone(),
                name: t.name.clone(),
                phase: t.agent.phase,
                failures: t.agent.failures,
            })
            .collect();
        Ok(self.linked.books.write_status()?)
    }
}

impl link::Watching for Watching {
    fn connection(&mut self) -> &mut Connection {
        &mut self.connection
    }
}

/// Pings the agent of every running domain at once (one thread each, a few at a time), so
/// that hung agents cost one timeout per pass, not one each: `Some(answered)`, or `None` for
/// a domain not running.
fn ping_all(watched: Vec<Watched>, timeout: i32) -> Vec<(Watched, Option<bool>)> {
    const AT_ONCE: usize = 16;
    let mut checked = Vec::with_capacity(watched.len());
    let mut rest = watched.into_iter().peekable();
    while rest.peek().is_some() {
        let batch: Vec<Watched> = rest.by_ref().take(AT_ONCE).collect();
        let results: Vec<Option<bool>> = std::thread::scope(|scope| {
            let pings: Vec<_> = batch
                .iter()
                .map(|w| {
                    w.running
                        .then(|| scope.spawn(move || libvirt::ping(&w.domain, timeout)))
                })
                .collect();
            pings
                .into_iter()
                .zip(&batch)
                .map(|(ping, w)| {
                    ping.map(|ping| match ping.join() {
                        Ok(Ok(())) => true,
                        Ok(Err(e)) => {
                            tracing::debug!(domain = %w.name, error = %e, "guest-ping failed");
                            false
                        }
                        Err(_) => false,
                    })
                })
                .collect()
        });
        checked.extend(batch.into_iter().zip(results));
    }
    checked
}
