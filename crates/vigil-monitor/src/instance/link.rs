//! A monitor's link to libvirtd, shared by the instance and guest-agent monitors: a
//! [`Session`] opened when a pass finds none, dropped when libvirt says it closed, opened
//! again on a backoff; the callbacks' signals read from its channel.

use super::libvirt::{LibvirtError, Session, Signal, Sink};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use vigil_domain::Backoff;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connecting to libvirt")]
    Connect(#[source] LibvirtError),
    #[error("a libvirt call was cut short")]
    Blocking(#[source] tokio::task::JoinError),
}

/// How to reach libvirtd and keep the connection.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    pub uri: String,
    /// Read-only for the instance monitor (as masakari-monitors'); agent commands need
    /// read-write.
    pub read_write: bool,
    /// Keepalive probes every `.0` seconds, the connection closed after `.1` unanswered.
    pub keepalive: (i32, u32),
    /// The pause before reconnecting, growing with each failed attempt.
    pub reconnect: Backoff,
}

pub struct Link {
    config: LinkConfig,
    sink: Arc<Sink>,
    signals: mpsc::UnboundedReceiver<Signal>,
    session: Option<Arc<Session>>,
    /// Sessions tried; each one's id.
    attempts: u64,
    failed_connects: u32,
    connections: u64,
}

impl Link {
    /// Not connected yet: [`Link::connect`] does.
    pub fn new(config: LinkConfig) -> Link {
        let (tx, signals) = mpsc::unbounded_channel();
        let sink = Arc::new(Sink {
            tx,
            wake: Arc::new(Notify::new()),
        });
        Link {
            config,
            sink,
            signals,
            session: None,
            attempts: 0,
            failed_connects: 0,
            connections: 0,
        }
    }

    /// What the callbacks notify: the runner's wake-up.
    pub fn wake(&self) -> Arc<Notify> {
        self.sink.wake.clone()
    }

    pub fn session(&self) -> Option<Arc<Session>> {
        self.session.clone()
    }

    pub fn is_connected(&self) -> bool {
        self.session.is_some()
    }

    /// Connections made so far, the first included.
    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// How long to wait before the next attempt to connect.
    pub fn retry_delay(&self) -> Duration {
        self.config.reconnect.delay(self.failed_connects)
    }

    /// Opens a session (blocking work, off the runtime's threads).
    pub async fn connect(&mut self) -> Result<(), LinkError> {
        self.attempts += 1;
        let (config, sink, id) = (self.config.clone(), self.sink.clone(), self.attempts);
        let opened = tokio::task::spawn_blocking(move || {
            Session::open(&config.uri, config.read_write, config.keepalive, sink, id)
        })
        .await
        .map_err(LinkError::Blocking)?;
        let session = opened.map_err(|e| {
            self.failed_connects = self.failed_connects.saturating_add(1);
            LinkError::Connect(e)
        })?;
        tracing::info!(uri = %self.config.uri, "connected to libvirt");
        self.failed_connects = 0;
        self.connections += 1;
        self.session = Some(Arc::new(session));
        Ok(())
    }

    /// Drops the connection (deregistering talks to libvirtd: off the runtime's threads).
    pub async fn disconnect(&mut self) {
        if let Some(session) = self.session.take() {
            let _ = tokio::task::spawn_blocking(move || drop(session)).await;
        }
    }

    /// The events that arrived since the last call, and whether the current session closed.
    pub fn drain(&mut self) -> (Vec<Signal>, bool) {
        let current = self.session.as_ref().map(|s| s.id);
        let (mut events, mut closed) = (Vec::new(), false);
        while let Ok(signal) = self.signals.try_recv() {
            match signal {
                Signal::Closed { session, reason } => {
                    if Some(session) == current {
                        tracing::warn!(reason, "the libvirt connection closed; reconnecting");
                        closed = true;
                    }
                }
                event => events.push(event),
            }
        }
        (events, closed)
    }
}
