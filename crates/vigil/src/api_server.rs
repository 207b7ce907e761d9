//! The API's listener: plain HTTP or HTTPS (rustls; the certificate re-read on SIGHUP), with
//! the bounds that keep clients from exhausting the process: open connections, header bytes,
//! and the time a client has to send its headers.
//!
//! An accept loop of our own on hyper's HTTP/1 connection, rather than `axum::serve` (none of
//! these knobs) or axum-server (its reloadable `RustlsConfig` would do, but it has no bound on
//! connections, and its handshake and header timeouts are hyper's anyway): hyper has the
//! header size and read timeout, tokio-rustls takes a fresh `ServerConfig` per connection, and
//! a semaphore in front of `accept` bounds connections, so no extra crate is needed.
//!
//! HTTP/1.1 only: Masakari's clients (python-requests, keystoneauth) speak nothing else, and
//! HTTP/2 would bring limits of its own (streams, flow control) to get right.

pub mod tls;

use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// The bounds on clients, from `[api]`.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once; more wait in the kernel's accept backlog.
    pub max_connections: usize,
    /// What `vigil_api` answers with a 431 fault; hyper refuses twice as much outright.
    pub max_header_size: usize,
    /// For the TLS handshake, and for each request's headers from when the connection opens
    /// or the previous response ends (hyper counts a keep-alive connection's idle time in it).
    pub header_read_timeout: Duration,
}

/// After an accept error (out of file descriptors, mostly), a pause before the next try.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown`, then lets connections in flight finish.
/// With `tls`, HTTPS, its certificate re-read on each SIGHUP.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<tls::Certificates>>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut hangups = match tls {
        Some(_) => Some(signal(SignalKind::hangup())?),
        None => None,
    };
    let http = Arc::new(http1_builder(&limits));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = hangup(&mut hangups) => {
                if let Some(certificates) = &tls {
                    certificates.reload_logged();
                }
            }
            (slot, accepted) = accept(&listener, &slots) => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = &e as &dyn std::error::Error, "accepting a connection");
                        tokio::time::sleep(ACCEPT_PAUSE).await;
                        continue;
                    }
                };
                let connection = Connection {
                    stream,
                    peer,
                    tls: tls.as_ref().map(|t| t.acceptor()),
                    app: app.clone(),
                    http: http.clone(),
                    handshake_timeout: limits.header_read_timeout,
                };
                let watcher = graceful.watcher();
                // Each connection's end is logged by `run`; the graceful shutdown waits for it.
                tokio::spawn(connection.run(slot, watcher));
            }
        }
    }
    // New clients are refused from here on, not queued.
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn http1_builder(limits: &Limits) -> http1::Builder {
    // Between our limit (a fault body) and hyper's (a bare 431 and a closed connection) the
    // client still hears why; hyper's bounds what one connection can make us buffer.
    let backstop = limits.max_header_size.saturating_mul(2).max(8192);
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(backstop);
    // hyper's default read buffer (about 400 KiB) holds any header up to its limit.
    if backstop > 400 * 1024 {
        http.max_buf_size(backstop);
    }
    http
}

/// The next connection once a slot is free, so that beyond the bound clients wait in the
/// backlog (and then their SYNs are dropped and retried by their kernel) at no cost to us.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (
    OwnedSemaphorePermit,
    std::io::Result<(TcpStream, SocketAddr)>,
) {
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the connection semaphore is never closed");
    (slot, listener.accept().await)
}

async fn hangup(hangups: &mut Option<Signal>) {
    match hangups {
        Some(signal) => {
            signal.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// One accepted connection and what serving it needs.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    app: axum::Router,
    http: Arc<http1::Builder>,
    handshake_timeout: Duration,
}

impl Connection {
    async fn run(self, slot: OwnedSemaphorePermit, watcher: Watcher) {
        let _slot = slot;
        let peer = self.peer;
        // Requests are answered one at a time per connection; small answers go out at once.
        let _ = self.stream.set_nodelay(true);
        // The handlers see the client's address (the per-client rate, logs).
        let service = TowerToHyperService::new(self.app.map_request(
            move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            },
        ));
        let served = match self.tls {
            None => {
                let conn = self
                    .http
                    .serve_connection(TokioIo::new(self.stream), service);
                watcher.watch(conn).await
            }
            Some(acceptor) => {
                let handshake = acceptor.accept(self.stream);
                let stream = match tokio::time::timeout(self.handshake_timeout, handshake).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = &e as &dyn std::error::Error, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let conn = self.http.serve_connection(TokioIo::new(stream), service);
                watcher.watch(conn).await
            }
        };
        // Timeouts, resets and malformed requests are the client's business, not an alarm.
        if let Err(e) = served {
            tracing::debug!(%peer, error = &e as &dyn std::error::Error, "API connection ended");
        }
    }
}
