//! A TCP proxy on loopback that a test can cut and restore, so that a service (the lab's
//! Keystone, a database) is down for the process under test alone, while everyone else sharing
//! it goes on using it.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Forwards connections on [`TcpProxy::addr`] to a target. While cut, the port refuses
/// connections and those open are closed; restored, it listens on the same port again.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    up: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free loopback port and forwards to TARGET.
    pub async fn start(target: SocketAddr) -> std::io::Result<TcpProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (up, watching) = watch::channel(true);
        let task = tokio::spawn(serve(listener, addr, target, watching));
        Ok(TcpProxy { addr, up, task })
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
            Some(Ok((client, _))) => drop(tokio::spawn(forward(client, target, up.clone()))),
            Some(Err(_)) => {}
            None => listener = None,
        }
    }
}

/// Copies both ways until either side closes or the proxy is cut.
async fn forward(mut client: TcpStream, target: SocketAddr, mut up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(target).await else {
        return;
    };
    tokio::select! {
        biased;
        _ = up.wait_for(|up| !*up) => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
}
