//! A MariaDB server of a test's own: `mariadb-install-db` into a temporary directory,
//! `mariadbd` on a free loopback port and a socket in that directory, root without a password.
//! A test may crash it ([`PrivateMariadb::stop_immediate`]) and start it again on the same data
//! without disturbing the machine's shared server.

use crate::private_db::{self, free_port, log_tail, run, PrivateDbError};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The name of the database [`PrivateMariadb::url`] points at.
const DATABASE: &str = "vigil";
/// How long a start may take before it is an error.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// A running MariaDB server with its data in a temporary directory; dropping it kills the
/// server and removes the data.
#[derive(Debug)]
pub struct PrivateMariadb {
    port: u16,
    server: Option<Child>,
    // Dropped after the server is stopped (fields drop in order, after `Drop::drop`).
    dir: tempfile::TempDir,
}

impl PrivateMariadb {
    /// Creates the system tables (`mariadb-install-db`), starts the server and creates the
    /// database [`Self::url`] names. As root, the server runs as the `mysql` user.
    pub fn start() -> Result<Self, PrivateDbError> {
        for program in ["mariadb-install-db", "mariadbd", "mariadb"] {
            if which(program).is_none() {
                return Err(PrivateDbError::Missing {
                    what: "MariaDB's server (mariadb-install-db, mariadbd, mariadb; apt-get \
                           install mariadb-server)",
                });
            }
        }
        let dir = private_db::owned_tempdir("vigil-mariadb-", "mysql")?;
        let mut db = PrivateMariadb {
            port: free_port()?,
            server: None,
            dir,
        };
        let mut install = Command::new("mariadb-install-db");
        install
            .arg("--no-defaults")
            .arg(format!("--datadir={}", db.data_dir().display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"]);
        if private_db::is_root() {
            install.arg("--user=mysql");
        }
        run(install)?;
        db.start_again()?;
        db.mariadb(&format!("CREATE DATABASE {DATABASE}"))?;
        Ok(db)
    }

    /// `mysql://root@127.0.0.1:<port>/vigil`, a database created for the test.
    pub fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The loopback port the server listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A crash: the server is killed (SIGKILL); the next start recovers from InnoDB's log.
    pub fn stop_immediate(&mut self) -> Result<(), PrivateDbError> {
        if let Some(mut server) = self.server.take() {
            // An error means it has already exited, which is what was wanted.
            let _ = server.kill();
            server.wait().map_err(|source| PrivateDbError::Spawn {
                command: "waiting for mariadbd".to_owned(),
                source,
            })?;
        }
        Ok(())
    }

    /// A clean shutdown (SIGTERM, and waiting for the server to exit).
    pub fn stop(&mut self) -> Result<(), PrivateDbError> {
        if let Some(mut server) = self.server.take() {
            let pid = rustix::process::Pid::from_child(&server);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            server.wait().map_err(|source| PrivateDbError::Spawn {
                command: "waiting for mariadbd".to_owned(),
                source,
            })?;
        }
        Ok(())
    }

    /// Starts the server on the same data directory and port and waits until it accepts
    /// connections.
    pub fn start_again(&mut self) -> Result<(), PrivateDbError> {
        let dir = self.dir.path();
        let log = dir.join("mariadbd.err");
        let mut cmd = Command::new("mariadbd");
        cmd.arg("--no-defaults")
            .arg(format!("--datadir={}", self.data_dir().display()))
            .arg(format!("--socket={}", dir.join("mariadbd.sock").display()))
            .arg(format!("--pid-file={}", dir.join("mariadbd.pid").display()))
            .arg(format!("--log-error={}", log.display()))
            .arg(format!("--port={}", self.port))
            // Commits reach the kernel at once (a test kills the process, never the
            // machine), without a flush to disk each.
            .args([
                "--bind-address=127.0.0.1",
                "--skip-log-bin",
                "--innodb-flush-log-at-trx-commit=2",
                "--max-connections=200",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if private_db::is_root() {
            cmd.arg("--user=mysql");
        }
        let server = cmd.spawn().map_err(|source| PrivateDbError::Spawn {
            command: format!("{cmd:?}"),
            source,
        })?;
        self.server = Some(server);
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if self.mariadb("SELECT 1").is_ok() {
                return Ok(());
            }
            let exited = self
                .server
                .as_mut()
                .and_then(|s| s.try_wait().ok().flatten())
                .is_some();
            if exited || Instant::now() >= deadline {
                self.stop_immediate()?;
                return Err(PrivateDbError::NotReady {
                    secs: READY_WITHIN.as_secs(),
                    log: log_tail(&log),
                });
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs SQL over TCP as root; its output, tab-separated without headers.
    pub fn mariadb(&self, sql: &str) -> Result<String, PrivateDbError> {
        let mut cmd = Command::new("mariadb");
        cmd.args([
            "--no-defaults",
            "--protocol=tcp",
            "-h",
            "127.0.0.1",
            "-u",
            "root",
        ])
        .arg(format!("-P{}", self.port))
        .args(["-N", "-B", "-e", sql]);
        run(cmd)
    }
}

impl Drop for PrivateMariadb {
    fn drop(&mut self) {
        if let Err(e) = self.stop_immediate() {
            eprintln!("stopping the private MariaDB on port {}: {e}", self.port);
        }
    }
}

/// PROGRAM's path on `PATH` (or in /usr/sbin, which a root shell has but a test's may not).
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(program))
        .find(|p| Path::new(p).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn survives_a_crash_with_its_data() -> anyhow::Result<()> {
        let mut db = PrivateMariadb::start()?;
        db.mariadb("CREATE TABLE vigil.t (x int); INSERT INTO vigil.t VALUES (7)")?;
        db.stop_immediate()?;
        assert!(db.mariadb("SELECT 1").is_err(), "the server is down");
        db.start_again()?;
        assert_eq!(db.mariadb("SELECT x FROM vigil.t")?.trim(), "7");
        db.stop()?;
        db.start_again()?;
        assert_eq!(db.mariadb("SELECT count(*) FROM vigil.t")?.trim(), "1");
        let port = db.port();
        drop(db);
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "dropping it stops the server"
        );
        Ok(())
    }
}
