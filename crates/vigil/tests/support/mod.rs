//! Runs the real `vigil` binary for end-to-end tests and finds the address it bound.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A `vigil` process started by a test; killed (by its own PID) when dropped.
pub struct Vigil {
    child: Child,
    pub addr: SocketAddr,
}

impl Vigil {
    /// Starts `vigil <subcommand> --listen 127.0.0.1:0 --data-dir <data_dir> <extra…>` and waits
    /// until it logs the address it listens on.
    pub fn start(subcommand: &str, data_dir: &Path, extra: &[&str]) -> Vigil {
        Self::start_with_env(subcommand, data_dir, extra, &[])
    }

    /// Like [`Vigil::start`], with extra environment variables (configuration overrides).
    pub fn start_with_env(
        subcommand: &str,
        data_dir: &Path,
        extra: &[&str],
        vars: &[(&str, &str)],
    ) -> Vigil {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .envs(vars.iter().copied())
            .arg(subcommand)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vigil");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        // Keep draining stderr after the address is found so the child never blocks on a pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[vigil] {line}");
                if let Some(addr) = bound_address(&line) {
                    let _ = tx.send(addr);
                }
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("vigil did not log its listening address within 60 s");
            }
        };
        Vigil { child, addr }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// A `vigil engine` process (it listens on nothing): started, and ready once it logs
/// "engine started"; killed (SIGKILL, by its own PID) when dropped or by [`Engine::kill`].
pub struct Engine {
    child: Child,
}

impl Engine {
    pub fn start(data_dir: &Path, vars: &[(&str, &str)]) -> Engine {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .envs(vars.iter().copied())
            .arg("engine")
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn vigil engine");
        let pid = child.id();
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[engine {pid}] {line}");
                if line.contains("engine started") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            panic!("vigil engine did not start within 60 s");
        }
        Engine { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has ended (reaped if so).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// kill -9, as a crash.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `address=IP:PORT` from the service's "listening" log line.
fn bound_address(line: &str) -> Option<SocketAddr> {
    if !line.contains("listening") {
        return None;
    }
    let rest = &line[line.find("address=")? + "address=".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

#[test]
fn finds_the_address_in_a_log_line() {
    let line = "2026-11-24T22:00:00Z  INFO vigil: API listening address=127.0.0.1:40123";
    assert_eq!(
        bound_address(line),
        Some("127.0.0.1:40123".parse().unwrap())
    );
    assert_eq!(bound_address("INFO other address=1.2.3.4:5"), None);
}
