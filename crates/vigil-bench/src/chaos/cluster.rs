//! The Vigil under test: `vigil api` and `vigil engine` replicas sharing one PostgreSQL, each
//! a process the harness may kill -9 and start again. An API replica keeps its port across
//! restarts, so its clients find it again as a load balancer would.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Api,
    Engine,
}

impl Role {
    fn subcommand(self) -> &'static str {
        match self {
            Role::Api => "api",
            Role::Engine => "engine",
        }
    }
}

/// One replica: its process while it runs, and what starts it again.
struct Replica {
    role: Role,
    /// For an API: the fixed `127.0.0.1:PORT` it listens on.
    listen: Option<String>,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

pub struct Cluster {
    vigil: PathBuf,
    vars: Vec<(String, String)>,
    replicas: Vec<Replica>,
    /// Processes started, first starts included: restarts are this less the replicas.
    pub starts: usize,
}

impl Cluster {
    /// Migrates the database with `vigil db sync`, then starts `apis` API and `engines` engine
    /// replicas with the configuration overrides `vars`; their logs go to `dir`.
    pub fn start(
        vigil: &Path,
        vars: Vec<(String, String)>,
        dir: &Path,
        apis: usize,
        engines: usize,
    ) -> Result<Cluster> {
        let out = Command::new(vigil)
            .args(["db", "sync", "--data-dir"])
            .arg(dir.join("sync"))
            .envs(vars.iter().map(|(k, v)| (k, v)))
            .output()
            .context("running vigil db sync")?;
        if !out.status.success() {
            bail!("vigil db sync: {}", String::from_utf8_lossy(&out.stderr));
        }
        let mut replicas = Vec::new();
        for (role, n) in [(Role::Api, apis), (Role::Engine, engines)] {
            for i in 0..n {
                let name = format!("{}{i}", role.subcommand());
                let listen = match role {
                    Role::Api => Some(format!("127.0.0.1:{}", free_port()?)),
                    Role::Engine => None,
                };
                replicas.push(Replica {
                    role,
                    listen,
                    data_dir: dir.join(&name),
                    log: dir.join(format!("{name}.log")),
                    child: None,
                });
            }
        }
        let mut cluster = Cluster {
            vigil: vigil.to_owned(),
            vars,
            replicas,
            starts: 0,
        };
        for i in 0..cluster.replicas.len() {
            cluster.start_replica(i)?;
        }
        Ok(cluster)
    }

    /// The API replicas' v1 URLs, running or not.
    pub fn api_urls(&self) -> Vec<String> {
        self.replicas
            .iter()
            .filter_map(|r| r.listen.as_ref())
            .map(|l| format!("http://{l}/v1"))
            .collect()
    }

    /// Kills (SIGKILL) the `which`-th replica of `role`, counted modulo their number.
    pub fn kill(&mut self, role: Role, which: usize) -> Result<usize> {
        let index = self.nth(role, which)?;
        if let Some(mut child) = self.replicas[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        Ok(index)
    }

    /// Starts replica `index` again (it keeps its port and data directory).
    pub fn restart(&mut self, index: usize) -> Result<()> {
        self.start_replica(index)
    }

    /// Starts every replica that is not running (after a trial whose restart failed).
    pub fn heal(&mut self) -> Result<()> {
        for i in 0..self.replicas.len() {
            let exited = match self.replicas[i].child.as_mut() {
                None => true,
                Some(c) => c.try_wait()?.is_some(),
            };
            if exited {
                self.start_replica(i)?;
            }
        }
        Ok(())
    }

    fn nth(&self, role: Role, which: usize) -> Result<usize> {
        let of_role: Vec<usize> = (0..self.replicas.len())
            .filter(|i| self.replicas[*i].role == role)
            .collect();
        if of_role.is_empty() {
            bail!("no {role:?} replica");
        }
        Ok(of_role[which % of_role.len()])
    }

    /// Starts the replica and waits until it serves (an API logs where it listens, an engine
    /// that it started); its log lines are appended to its file.
    fn start_replica(&mut self, index: usize) -> Result<()> {
        let r = &self.replicas[index];
        let mut command = Command::new(&self.vigil);
        command.arg(r.role.subcommand());
        if let Some(listen) = &r.listen {
            command.args(["--listen", listen]);
        }
        command
            .arg("--data-dir")
            .arg(&r.data_dir)
            .envs(self.vars.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().context("starting a vigil replica")?;
        let stderr = child.stderr.take().context("stderr")?;
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&r.log)
            .with_context(|| format!("opening {}", r.log.display()))?;
        let ready_word = match r.role {
            Role::Api => "listening",
            Role::Engine => "engine started",
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = writeln!(log, "{line}");
                if line.contains(ready_word) {
                    let _ = tx.send(());
                }
            }
        });
        // An API restarted at once after a kill may find its port still held for a moment;
        // it then exits, and the next heal() starts it again.
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "vigil {} was not ready within 60 s (log: {})",
                r.role.subcommand(),
                r.log.display()
            );
        }
        self.replicas[index].child = Some(child);
        self.starts += 1;
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            if let Some(mut child) = r.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A loopback port free now (the OS's choice, released for the replica to take).
fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
