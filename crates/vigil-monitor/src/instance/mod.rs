//! The instance monitor: libvirt domain events reported to the outbox as masakari-monitors'
//! instancemonitor reports them (`VM` notifications, its event table), with a filter.
//!
//! libvirt's callbacks ([`libvirt`]) send each event down a channel and wake the runner; a
//! pass handles what arrived. A pass also connects when there is no connection (after a
//! start, or after libvirtd went away: keepalive or a closed socket ends a connection, and
//! passes retry on a backoff), and after every connect, and every `resync_interval`, lists
//! the domains and compares them with the power it remembers of each (persisted): a domain
//! that stopped while nobody listened — the monitor stopped, libvirtd down — is reported as
//! the stop event masakari-monitors would have received ([`table::missed_event`]).
//! As the process monitor does, a pass saves the reports it decided with the new state
//! before it appends them, so a monitor killed anywhere appends them at its next start.

pub mod libvirt;
pub mod link;
pub mod table;

use crate::runner::Reconciler;
use libvirt::{LibvirtError, Listed, Signal};
use link::{Connection, LibvirtConfig, LibvirtMonitorError, Linked};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use table::{DomainEvent, EventFilter, Power};
use tokio::sync::Notify;
use vigil_domain::{NotificationType, Timestamp};
use vigil_outbox::{Event, Outbox};
use vigil_wire::payload::{Payload, VmPayload};

/// The monitor's name: its state file is `instance.json`, its status `instance.status.json`.
pub const NAME: &str = "instance";

/// `vigil monitor instance`'s settings; the defaults are masakari-monitors' where it has one.
#[derive(Clone, Debug)]
pub struct InstanceConfig {
    /// libvirtd, opened read-only, and where this node keeps its files.
    pub libvirt: LibvirtConfig,
    /// Which of the table's reports are appended (all by default).
    pub filter: EventFilter,
    /// How often the domains are listed again while connected, in case an event was lost.
    pub resync_interval: Duration,
}

impl InstanceConfig {
    pub fn new(libvirt: LibvirtConfig) -> Self {
        Self {
            libvirt,
            filter: EventFilter::default(),
            resync_interval: Duration::from_secs(60),
        }
    }
}

/// A domain as remembered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub name: String,
    pub power: Power,
}

/// What the state file holds, beside the reports not yet appended ([`crate::journal::Saved`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceState {
    /// Each domain by UUID.
    pub domains: BTreeMap<String, Seen>,
}

/// The monitor's part of its status.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Watching {
    #[serde(flatten)]
    pub connection: Connection,
    #[serde(with = "vigil_wire::time::optional")]
    pub last_listing: Option<Timestamp>,
    pub domains: Vec<WatchedDomain>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchedDomain {
    pub uuid: String,
    pub name: String,
    pub power: Power,
}

pub type InstanceMonitorError = LibvirtMonitorError<LibvirtError>;

/// The instance monitor, a [`Reconciler`]. Give the runner [`InstanceMonitor::wake`]: the
/// callbacks notify it.
pub struct InstanceMonitor {
    config: InstanceConfig,
    linked: Linked<InstanceState, Watching>,
    last_listing: Option<std::time::Instant>,
}

impl Reconciler for InstanceMonitor {
    type Error = InstanceMonitorError;
    const NAME: &'static str = NAME;

    async fn reconcile(&mut self) -> Result<Duration, InstanceMonitorError> {
        let (mut next, connected) = self.linked.begin_pass().await?;
        let mut reports = Vec::new();
        let resync = self
            .last_listing
            .is_none_or(|at| at.elapsed() >= self.config.resync_interval);
        if connected || resync {
            self.list(&mut next, &mut reports).await?;
        }
        let closed = self.handle_signals(&mut next, &mut reports);
        self.linked.books.save(next, reports)?;
        self.linked.books.append_unsent().await?;
        if closed {
            self.linked
                .link
                .disconnect(&mut self.linked.books.status.watching.connection)
                .await;
        }
        self.linked.books.status.last_error = None;
        self.write_status()?;
        Ok(self.linked.link.next_pass(self.config.resync_interval))
    }

    fn error_policy(&mut self, error: &InstanceMonitorError) -> Duration {
        self.linked.books.failed(error);
        self.linked
            .link
            .next_pass(self.config.libvirt.reconnect.ceiling(1))
    }
}

impl InstanceMonitor {
    /// The monitor, with the state it saved before if any; it connects at its first pass.
    pub fn new(config: InstanceConfig, outbox: Outbox) -> Result<Self, InstanceMonitorError> {
        let linked = link::open(NAME, &config.libvirt, false, outbox, |connection| {
            Watching {
                connection,
                ..Watching::default()
            }
        })?;
        Ok(Self {
            config,
            linked,
            last_listing: None,
        })
    }

    /// What libvirt's callbacks notify: the runner's wake-up.
    pub fn wake(&self) -> Arc<Notify> {
        self.linked.wake()
    }

    /// The state as last saved.
    pub fn state(&self) -> &InstanceState {
        self.linked.state()
    }

    /// Lists the domains and records in `next` what changed since they were last seen,
    /// reporting the stops that happened unseen.
    async fn list(
        &mut self,
        next: &mut InstanceState,
        reports: &mut Vec<Event>,
    ) -> Result<(), InstanceMonitorError> {
        let shown = &mut self.linked.books.status.watching.connection;
        let listing = self.linked.link.call(shown, |session| session.domains());
        let Some(listed) = listing.await.map_err(InstanceMonitorError::Link)? else {
            return Ok(());
        };
        let listed = listed.map_err(InstanceMonitorError::List)?;
        let now = Timestamp::now();
        self.last_listing = Some(std::time::Instant::now());
        self.linked.books.status.last_observation = Some(now);
        self.linked.books.status.watching.last_listing = Some(now);
        self.apply_listing(next, reports, listed, now);
        Ok(())
    }

    fn apply_listing(
        &self,
        next: &mut InstanceState,
        reports: &mut Vec<Event>,
        listed: Vec<Listed>,
        now: Timestamp,
    ) {
        let mut domains = BTreeMap::new();
        for d in listed {
            if let Some(before) = next.domains.get(&d.uuid) {
                if let Some(missed) = table::missed_event(before.power, d.state, d.reason) {
                    tracing::warn!(domain = %d.name, uuid = %d.uuid, event = ?missed,
                        "the domain changed while the monitor was not listening");
                    reports.extend(self.report(&d.uuid, missed, now));
                }
            }
            let power = table::power_of(d.state);
            domains.insert(
                d.uuid,
                Seen {
                    name: d.name,
                    power,
                },
            );
        }
        for (uuid, gone) in &next.domains {
            if !domains.contains_key(uuid) {
                // Undefined or migrated away: masakari-monitors reports neither.
                tracing::info!(domain = %gone.name, %uuid, "the domain is gone");
            }
        }
        next.domains = domains;
    }

    /// Handles every signal that arrived; true if the connection closed.
    fn handle_signals(&mut self, next: &mut InstanceState, reports: &mut Vec<Event>) -> bool {
        let (events, closed) = self.linked.link.drain();
        for signal in events {
            if let Signal::Event {
                uuid,
                name,
                event,
                at,
            } = signal
            {
                self.linked.books.status.last_observation = Some(at);
                tracing::debug!(domain = %name, %uuid, ?event, "libvirt event");
                if table::is_news(next.domains.get(&uuid).map(|s| s.power), event) {
                    reports.extend(self.report(&uuid, event, at));
                }
                apply_event(next, uuid, name, event);
            }
        }
        closed
    }

    /// The report for `event`, if the table and the filter let it through.
    fn report(&self, uuid: &str, event: DomainEvent, at: Timestamp) -> Option<Event> {
        let names = table::masakari_names(event)?;
        if !self.config.filter.allows(names) {
            tracing::info!(%uuid, event = names.0, detail = names.1, "filtered out");
            return None;
        }
        tracing::warn!(%uuid, event = names.0, detail = names.1, "reporting the instance");
        Some(vm_report(&self.config.libvirt.hostname, uuid, names, at))
    }

    fn write_status(&mut self) -> Result<(), InstanceMonitorError> {
        self.linked.books.status.watching.domains = self
            .linked
            .state()
            .domains
            .iter()
            .map(|(uuid, seen)| WatchedDomain {
                uuid: uuid.clone(),
                name: seen.name.clone(),
                power: seen.power,
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

/// What a domain's event changes of it: forgotten when undefined, its power when the event
/// says.
fn apply_event(next: &mut InstanceState, uuid: String, name: String, event: DomainEvent) {
    if event
        == (DomainEvent::Lifecycle {
            event: virt::sys::VIR_DOMAIN_EVENT_UNDEFINED as i32,
            detail: 0,
        })
    {
        next.domains.remove(&uuid);
    } else if let Some(power) = table::power_after(event) {
        next.domains.insert(uuid, Seen { name, power });
    }
}

/// A `VM` report as masakari-monitors sends it: `(event, vir_domain_event)` about `uuid`.
pub(crate) fn vm_report(hostname: &str, uuid: &str, names: (&str, &str), at: Timestamp) -> Event {
    let payload = Payload::Vm(VmPayload {
        instance_uuid: uuid.to_owned(),
        vir_domain_event: names.1.to_owned(),
        event: names.0.to_owned(),
    });
    Event {
        notification_type: NotificationType::Vm,
        hostname: hostname.to_owned(),
        generated_time: at,
        payload: payload.to_map(),
    }
}
