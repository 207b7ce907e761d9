//! A TCP proxy on loopback that a test can cut and restore, so that a service (the lab's
//! Keystone, a database) is down for the process under test alone, while everyone else sharing
//! it goes on using it. It can also slow a service down: each chunk a client sends waits a
//! delay before it goes on, so every request of a kept-alive connection is delayed.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Forwards connections on [`TcpProxy::addr`] to a target. While cut, the port refuses
/// connections and those open are closed; restored, it listens on the same port again.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    /// Milliseconds each chunk from a client waits.
    delay_ms: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to TARGET.
    pub async fn start(target: SocketAddr) -> std::io::Result<TcpProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (up, watching) = watch::channel(true);
        let delay_ms = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(serve(listener, addr, target, watching, delay_ms.clone()));
        Ok(TcpProxy {
            addr,
            up,
            delay_ms,
            task,
        })
    }

    /// Delays what clients send by DELAY from now on (zero: forwarded at once).
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Closes every forwarded connection and the listening port: the target looks down.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Listens again on the same port.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts while up; when cut, drops the listener (and, through the watch, every connection)
/// and binds the same address again once restored.
async fn serve(
    listener: TcpListener,
    addr: SocketAddr,
    target: SocketAddr,
    mut up: watch::Receiver<bool>,
    delay_ms: Arc<AtomicU64>,
) {
    let mut listener = Some(listener);
    loop {
        let Some(open) = &listener else {
            if up.wait_for(|up| *up).await.is_err() {
                return;
            }
            match TcpListener::bind(addr).await {
                Ok(l) => listener = Some(l),
                Err(e) => {
                    tracing::error!(%addr, error = %e, "the proxy could not listen again");
                    return;
                }
            }
            continue;
        };
        let accepted = tokio::select! {
            biased;
            changed = up.wait_for(|up| !*up) => match changed {
                Ok(_) => None,
                Err(_) => return,
            },
            accepted = open.accept() => Some(accepted),
        };
        match accepted {
            Some(Ok((client, _))) => drop(tokio::spawn(forward(
                client,
                target,
                up.clone(),
                delay_ms.clone(),
            ))),
            Some(Err(_)) => {}
            None => listener = None,
        }
    }
}

/// Copies both ways until either side closes or the proxy is cut; what the client sends
/// waits the delay first.
async fn forward(
    client: TcpStream,
    target: SocketAddr,
    mut up: watch::Receiver<bool>,
    delay_ms: Arc<AtomicU64>,
) {
    let Ok(server) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async move {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let delay = delay_ms.load(Ordering::Relaxed);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::select! {
        biased;
        _ = up.wait_for(|up| !*up) => {}
        _ = async { tokio::join!(upstream, downstream) } => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server: what a connection sends comes back.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (mut r, mut w) = conn.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn round_trip(conn: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        conn.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn cut_closes_and_refuses_restore_forwards_again() {
        let proxy = TcpProxy::start(echo().await).await.unwrap();
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        assert_eq!(round_trip(&mut open).await.unwrap(), b"ping");

        proxy.cut();
        assert!(
            round_trip(&mut open).await.is_err(),
            "an open connection is closed"
        );
        // The port is released once the proxy's task has seen the cut.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while TcpStream::connect(proxy.addr()).await.is_ok() {
            assert!(tokio::time::Instant::now() < deadline, "still listening");
            tokio::task::yield_now().await;
        }

        proxy.restore();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut again = loop {
            if let Ok(conn) = TcpStream::connect(proxy.addr()).await {
                break conn;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not listening again"
            );
            tokio::task::yield_now().await;
        };
        assert_eq!(round_trip(&mut again).await.unwrap(), b"ping");
    }

    #[tokio::test]
    async fn a_delay_holds_back_what_clients_send() {
        let proxy = TcpProxy::start(echo().await).await.unwrap();
        let mut conn = TcpStream::connect(proxy.addr()).await.unwrap();
        proxy.set_delay(Duration::from_millis(300));
        let start = std::time::Instant::now();
        assert_eq!(round_trip(&mut conn).await.unwrap(), b"ping");
        assert!(start.elapsed() >= Duration::from_millis(300));
        proxy.set_delay(Duration::ZERO);
        assert_eq!(round_trip(&mut conn).await.unwrap(), b"ping");
    }
}
