//! A PostgreSQL server of a test's own: initdb into a temporary directory, a free loopback port,
//! trust authentication. A test may crash it ([`PrivatePostgres::stop_immediate`]) and start it
//! again on the same data without disturbing the machine's shared server.

use crate::private_db::{self, free_port, run, PrivateDbError};
use std::path::{Path, PathBuf};

/// The name of the database [`PrivatePostgres::url`] points at.
const DATABASE: &str = "vigil";

/// A running PostgreSQL server with its data in a temporary directory; dropping it stops the
/// server (immediately) and removes the data.
#[derive(Debug)]
pub struct PrivatePostgres {
    bin: PathBuf,
    port: u16,
    // Dropped after the server is stopped (fields drop in order, after `Drop::drop`).
    dir: tempfile::TempDir,
    running: bool,
}

impl PrivatePostgres {
    /// Creates a cluster (`initdb`), starts it and creates the database [`Self::url`] names.
    /// Runs the server as the `postgres` user when the test runs as root (PostgreSQL refuses
    /// root).
    pub fn start() -> Result<Self, PrivateDbError> {
        let bin = postgres_bin()?;
        let dir = private_db::owned_tempdir("vigil-pg-", "postgres")?;
        let port = free_port()?;
        let pg = PrivatePostgres {
            bin,
            port,
            dir,
            running: false,
        };
        let data = pg.data_dir();
        pg.run_as_postgres(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            ],
        )?;
        let mut pg = pg;
        pg.start_again()?;
        pg.run_as_postgres(
            "createdb",
            &[
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "postgres",
                DATABASE,
            ],
        )?;
        Ok(pg)
    }

    /// `postgres://postgres@127.0.0.1:<port>/vigil`, a database created for the test.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{DATABASE}", self.port)
    }

    /// The loopback port the server listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's log file (every start appends to it); gone with the server.
    pub fn log(&self) -> std::path::PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// A crash: `pg_ctl stop -m immediate` ends every server process without a checkpoint;
    /// the next start recovers from the write-ahead log.
    pub fn stop_immediate(&mut self) -> Result<(), PrivateDbError> {
        self.pg_ctl_stop("immediate")
    }

    /// A clean shutdown (`pg_ctl stop -m fast`: open sessions are ended).
    pub fn stop(&mut self) -> Result<(), PrivateDbError> {
        self.pg_ctl_stop("fast")
    }

    /// Starts the server on the same data directory and port and waits until it accepts
    /// connections.
    pub fn start_again(&mut self) -> Result<(), PrivateDbError> {
        let data = self.data_dir();
        let log = self.log();
        // Sockets in the temporary directory, so that nothing in the shared /run/postgresql is
        // touched. fsync off: a test crashes the server process, never the machine, and the
        // kernel keeps what the server wrote.
        let options = format!(
            "-p {} -h 127.0.0.1 -k {} -c fsync=off -c max_connections=200",
            self.port,
            path_str(self.dir.path())
        );
        self.run_as_postgres(
            "pg_ctl",
            &[
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                path_str(&data),
                "-l",
                path_str(&log),
                "-o",
                &options,
            ],
        )?;
        self.running = true;
        Ok(())
    }

    fn pg_ctl_stop(&mut self, mode: &str) -> Result<(), PrivateDbError> {
        let data = self.data_dir();
        self.run_as_postgres("pg_ctl", &["stop", "-w", "-m", mode, "-D", path_str(&data)])?;
        self.running = false;
        Ok(())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run_as_postgres(&self, program: &str, args: &[&str]) -> Result<(), PrivateDbError> {
        let mut cmd = private_db::command_as("postgres", &self.bin.join(program));
        cmd.args(args);
        run(cmd).map(drop)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running {
            if let Err(e) = self.stop_immediate() {
                eprintln!("stopping the private PostgreSQL on port {}: {e}", self.port);
            }
        }
    }
}

/// Debian's `/usr/lib/postgresql/<version>/bin`, the newest version installed.
fn postgres_bin() -> Result<PathBuf, PrivateDbError> {
    let root = Path::new("/usr/lib/postgresql");
    let newest = std::fs::read_dir(root)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    newest.map(|(_, bin)| bin).ok_or(PrivateDbError::Missing {
        what: "PostgreSQL's server (/usr/lib/postgresql/<version>/bin/initdb; apt-get install postgresql)",
    })
}

fn path_str(path: &Path) -> &str {
    path.to_str()
        .expect("temporary directories have UTF-8 paths")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Connects with `psql` and runs one statement, printing its result unaligned.
    fn psql(pg: &PrivatePostgres, sql: &str) -> Result<String, PrivateDbError> {
        let mut cmd = Command::new(pg.bin.join("psql"));
        cmd.args(["-X", "-A", "-t", "-c", sql, &pg.url()]);
        run(cmd)
    }

    #[test]
    fn survives_a_crash_with_its_data() -> anyhow::Result<()> {
        let mut pg = PrivatePostgres::start()?;
        psql(&pg, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)")?;
        pg.stop_immediate()?;
        assert!(psql(&pg, "SELECT 1").is_err(), "the server is down");
        pg.start_again()?;
        assert_eq!(psql(&pg, "SELECT x FROM t")?.trim(), "7");
        pg.stop()?;
        pg.start_again()?;
        assert_eq!(psql(&pg, "SELECT count(*) FROM t")?.trim(), "1");
        let port = pg.port();
        drop(pg);
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "dropping it stops the server"
        );
        Ok(())
    }
}
