//! Runs the real `vigil` binary for end-to-end tests and finds the address it bound.

#![allow(dead_code)] // each test binary uses a different part of this module

pub mod api;
pub mod clients;
pub mod cluster;
pub mod lab;
pub mod metrics;
pub mod monitor;

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
        let mut command = vigil_command(vars);
        command
            .arg(subcommand)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra);
        let (child, addr) = spawn_until(command, subcommand, bound_address);
        Vigil { child, addr }
    }

    /// Like [`Vigil::start_with_env`], and every line it logs from then on.
    pub fn start_logged(
        subcommand: &str,
        data_dir: &Path,
        vars: &[(&str, &str)],
    ) -> (Vigil, LogLines) {
        let mut command = vigil_command(vars);
        command
            .arg(subcommand)
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("spawn vigil {subcommand}: {e}"));
        let label = format!("{subcommand} {}", child.id());
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[{label}] {line}");
                let _ = tx.send(line);
            }
        });
        let lines = LogLines(rx);
        // Killed by `Drop` should the address never come.
        let mut vigil = Vigil {
            child,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        vigil.addr = lines.wait_for(Duration::from_secs(60), bound_address);
        (vigil, lines)
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// `vigil api` validating Keystone tokens with the lab admin's credentials `c`, its data in
/// `dir`.
pub fn api_under_keystone(c: &vigil_openstack::Credentials, dir: &Path) -> Vigil {
    let vars = [
        ("VIGIL_API__AUTH_STRATEGY", "keystone"),
        ("VIGIL_OPENSTACK__AUTH_URL", c.auth_url.as_str()),
        ("VIGIL_OPENSTACK__USERNAME", c.username.as_str()),
        ("VIGIL_OPENSTACK__PASSWORD", c.password.as_str()),
        ("VIGIL_OPENSTACK__PROJECT_NAME", c.project_name.as_str()),
    ];
    Vigil::start_with_env("api", &dir.join("data"), &[], &vars)
}

/// The lines a `vigil` process logs, in order, as they come.
pub struct LogLines(mpsc::Receiver<String>);

impl LogLines {
    /// The first line from now on that `found` accepts; panics after `within`.
    pub fn wait_for<T>(&self, within: Duration, found: impl Fn(&str) -> Option<T>) -> T {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) => {
                    if let Some(v) = found(&line) {
                        return v;
                    }
                }
                Err(_) => panic!("no such log line within {within:?}"),
            }
        }
    }

    /// The lines logged since the last look, without waiting.
    pub fn so_far(&self) -> Vec<String> {
        self.0.try_iter().collect()
    }

    /// Waits for a line containing `text`.
    pub fn wait_for_text(&self, within: Duration, text: &str) {
        self.wait_for(within, |line| line.contains(text).then_some(()));
    }
}

/// A `vigil engine` process (it listens on nothing): started, and ready once it logs
/// "engine started"; killed (SIGKILL, by its own PID) when dropped or by [`Engine::kill`].
pub struct Engine {
    child: Child,
}

impl Engine {
    pub fn start(data_dir: &Path, vars: &[(&str, &str)]) -> Engine {
        let mut command = vigil_command(vars);
        command.arg("engine").arg("--data-dir").arg(data_dir);
        let started = |line: &str| line.contains("engine started").then_some(());
        let (child, ()) = spawn_until(command, "engine", started);
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

/// Runs `command` to its end; panics, showing what it printed, unless it succeeded.
pub fn succeeded(command: &mut Command, what: &str) -> std::process::Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("running {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The test build's `vigil` with `vars`, logging plainly at info to a piped stderr.
fn vigil_command(vars: &[(&str, &str)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_vigil"));
    command
        .envs(vars.iter().copied())
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    command
}

/// Spawns `command` and waits up to 60 s for a log line `ready` accepts; its stderr is echoed
/// as `[<what> <pid>] …` for the whole life of the process.
fn spawn_until<T: Send + 'static>(
    mut command: Command,
    what: &str,
    ready: fn(&str) -> Option<T>,
) -> (Child, T) {
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn vigil {what}: {e}"));
    let label = format!("{what} {}", child.id());
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = mpsc::channel();
    // Keep draining stderr after the line is found so the child never blocks on a pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[{label}] {line}");
            if let Some(found) = ready(&line) {
                let _ = tx.send(found);
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(found) => (child, found),
        Err(_) => {
            let _ = child.kill();
            panic!("vigil {what} was not ready within 60 s");
        }
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
