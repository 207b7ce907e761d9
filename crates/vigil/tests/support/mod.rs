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
