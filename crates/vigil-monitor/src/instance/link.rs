//! A monitor's link to libvirtd, shared by the instance and guest-agent monitors: a
//! [`Session`] opened when a pass finds none, dropped when libvirt says it closed, opened
//! again on a backoff; the callbacks' signals read from its channel. Both monitors' settings,
//! status and books start here too ([`LibvirtConfig`], [`Connection`], [`open`]).

use super::libvirt::{LibvirtError, Session, Signal, Sink};
use crate::journal::{Books, BooksError, State};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};
use vigil_domain::Backoff;
use vigil_outbox::Outbox;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("connecting to libvirt")]
    Connect(#[source] LibvirtError),
    #[error("a libvirt call was cut short")]
    Blocking(#[source] tokio::task::JoinError),
}

/// A libvirt monitor's failed pass: its books, its link, or the listing it makes through the
/// link (`E`: the instance monitor's domains, the guest monitor's opted-in agents).
#[derive(Debug, thiserror::Error)]
pub enum LibvirtMonitorError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Books(#[from] BooksError),
    #[error(transparent)]
    Link(LinkError),
    #[error("listing the domains to watch")]
    List(#[source] E),
}

/// What the instance and guest-agent monitors are both told: where libvirtd is and how the
/// connection to it is kept, and this node's name and state directory.
#[derive(Clone, Debug)]
pub struct LibvirtConfig {
    /// `[libvirt] connection_uri`: `qemu:///system`.
    pub uri: String,
    pub hostname: String,
    pub state_dir: PathBuf,
    /// Keepalive probes every `.0` seconds, the connection closed after `.1` unanswered
    /// (masakari-monitors: 5, 3).
    pub keepalive: (i32, u32),
    /// The pause before reconnecting, growing with each failed attempt (masakari-monitors
    /// waits 3 s, always).
    pub reconnect: Backoff,
}

impl LibvirtConfig {
    pub fn new(uri: String, hostname: String, state_dir: PathBuf) -> Self {
        Self {
            uri,
            hostname,
            state_dir,
            keepalive: (5, 3),
            reconnect: Backoff::new(Duration::from_secs(1), Duration::from_secs(30)),
        }
    }
}

/// The connection in a libvirt monitor's status (its fields among the monitor's own).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub libvirt_uri: String,
    pub connected: bool,
    /// Connections made since the monitor started (the first included).
    pub connections: u64,
}

/// A libvirt monitor's status part: its own fields around its [`Connection`].
pub trait Watching: Serialize {
    fn connection(&mut self) -> &mut Connection;
}

/// What a libvirt monitor keeps besides its settings: its books and its link to libvirtd.
pub struct Linked<S, W> {
    pub books: Books<S, W>,
    pub link: Link,
}

/// A libvirt monitor's books and link, not connected yet (its first pass connects), with the
/// state it saved before if any. `read_write`: see [`Link::new`]; `watching` makes the
/// status's own part around its connection.
pub fn open<S: State, W: Watching>(
    name: &'static str,
    config: &LibvirtConfig,
    read_write: bool,
    outbox: Outbox,
    watching: impl FnOnce(Connection) -> W,
) -> Result<Linked<S, W>, BooksError> {
    let connection = Connection {
        libvirt_uri: config.uri.clone(),
        ..Connection::default()
    };
    let books = Books::open(
        name,
        &config.state_dir,
        &config.hostname,
        outbox,
        watching(connection),
    )?;
    let link = Link::new(config.clone(), read_write);
    Ok(Linked { books, link })
}

impl<S: State, W: Watching> Linked<S, W> {
    /// A pass's start: the reports a killed monitor had decided are appended first, then a
    /// connection is made if there is none. The state for the pass to change, and whether it
    /// connected now.
    pub async fn begin_pass<E: std::error::Error + 'static>(
        &mut self,
    ) -> Result<(S, bool), LibvirtMonitorError<E>> {
        self.books.append_unsent().await?;
        let next = self.books.state().clone();
        let shown = self.books.status.watching.connection();
        let connected = self
            .link
            .connect(shown)
            .await
            .map_err(LibvirtMonitorError::Link)?;
        Ok((next, connected))
    }

    /// What libvirt's callbacks notify: the runner's wake-up.
    pub fn wake(&self) -> Arc<Notify> {
        self.link.wake()
    }

    /// The state as last saved.
    pub fn state(&self) -> &S {
        self.books.state()
    }
}

pub struct Link {
    config: LibvirtConfig,
    read_write: bool,
    sink: Arc<Sink>,
    signals: mpsc::UnboundedReceiver<Signal>,
    session: Option<Arc<Session>>,
    /// Sessions tried; each one's id.
    attempts: u64,
    failed_connects: u32,
    connections: u64,
}

impl Link {
    /// Not connected yet: [`Link::connect`] does. Read-only unless `read_write`: the
    /// instance monitor's is (as masakari-monitors'); agent commands need read-write.
    pub fn new(config: LibvirtConfig, read_write: bool) -> Link {
        let (tx, signals) = mpsc::unbounded_channel();
        let sink = Arc::new(Sink {
            tx,
            wake: Arc::new(Notify::new()),
        });
        Link {
            config,
            read_write,
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

    pub fn is_connected(&self) -> bool {
        self.session.is_some()
    }

    /// Until the next pass: `connected` while connected, else the pause before the next
    /// attempt to connect.
    pub fn next_pass(&self, connected: Duration) -> Duration {
        match self.is_connected() {
            true => connected,
            false => self.config.reconnect.delay(self.failed_connects),
        }
    }

    /// Opens a session unless one is open (blocking work, off the runtime's threads);
    /// `shown`, the status's part, says so. True if it opened one.
    pub async fn connect(&mut self, shown: &mut Connection) -> Result<bool, LinkError> {
        if self.is_connected() {
            return Ok(false);
        }
        self.attempts += 1;
        let (config, sink, id) = (self.config.clone(), self.sink.clone(), self.attempts);
        let read_write = self.read_write;
        let opened = tokio::task::spawn_blocking(move || {
            Session::open(&config.uri, read_write, config.keepalive, sink, id)
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
        shown.connections = self.connections;
        shown.connected = true;
        Ok(true)
    }

    /// Runs `call` on the session off the runtime's threads: `Ok(None)` if there is none. A
    /// call that fails drops the connection (and `shown` says so): the next pass connects
    /// afresh.
    pub async fn call<T, E>(
        &mut self,
        shown: &mut Connection,
        call: impl FnOnce(&Session) -> Result<T, E> + Send + 'static,
    ) -> Result<Option<Result<T, E>>, LinkError>
    where
        T: Send + 'static,
        E: Send + 'static,
    {
        let Some(session) = self.session.clone() else {
            return Ok(None);
        };
        let called = tokio::task::spawn_blocking(move || call(&session))
            .await
            .map_err(LinkError::Blocking)?;
        if called.is_err() {
            self.disconnect(shown).await;
        }
        Ok(Some(called))
    }

    /// Drops the connection (deregistering talks to libvirtd: off the runtime's threads);
    /// `shown` says so.
    pub async fn disconnect(&mut self, shown: &mut Connection) {
        if let Some(session) = self.session.take() {
            let _ = tokio::task::spawn_blocking(move || drop(session)).await;
        }
        shown.connected = false;
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
