//! What the harnesses share: a `vigil` service process they start, address and stop, and
//! where their figures go.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Writes a harness's `report` to `bench/results/<kind>-<time>.txt` and prints it with the
/// file's name.
/// The environment variable `name` read as a `T`, or `default` when it is not set.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|e| anyhow::anyhow!("{name}={v:?}: {e}")),
        Err(_) => Ok(default),
    }
}

/// `vigil db sync` on the server database at `database_url`, as an operator migrates one
/// (SQLite, an empty URL, migrates itself when Vigil starts).
pub fn db_sync(vigil: &str, data_dir: &std::path::Path, database_url: &str) -> Result<()> {
    if database_url.is_empty() {
        return Ok(());
    }
    let status = Command::new(vigil)
        .args(["db", "sync", "--data-dir"])
        .arg(data_dir)
        .env("VIGIL_DATABASE__URL", database_url)
        .status()
        .with_context(|| format!("running {vigil} db sync"))?;
    if !status.success() {
        bail!("vigil db sync failed");
    }
    Ok(())
}

/// A fresh PostgreSQL database for one run, dropped afterwards by `psql`.
pub fn postgres_database(admin: &str, name: &str, create: bool) -> Result<()> {
    let sql = if create {
        format!("CREATE DATABASE {name}")
    } else {
        format!("DROP DATABASE IF EXISTS {name}")
    };
    let status = Command::new("psql")
        .args([admin, "-qc", &sql])
        .status()
        .context("running psql")?;
    if !status.success() {
        bail!("psql {sql} failed");
    }
    Ok(())
}

pub fn publish(kind: &str, report: &str) -> Result<PathBuf> {
    let dir = PathBuf::from("bench/results");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = dir.join(format!(
        "{kind}-{}.txt",
        chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
    ));
    std::fs::write(&file, report).with_context(|| format!("writing {}", file.display()))?;
    print!("{report}");
    println!("results written to {}", file.display());
    Ok(file)
}

/// A running `vigil` service; killed when dropped.
pub struct Service {
    child: Child,
    /// Its v1 API, e.g. `http://127.0.0.1:41234/v1`.
    pub base: String,
    /// Lines it logged, after listening, that tell of a panic.
    panics: Arc<AtomicUsize>,
}

impl Service {
    /// Spawns `command` (a `vigil` service told to `--listen 127.0.0.1:0`) and waits for the
    /// address it logs. With `echo`, its later log lines go to our stderr.
    pub fn spawn(mut command: Command, echo: bool) -> Result<Service> {
        let mut child = command
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {:?}", command.get_program()))?;
        let stderr = child.stderr.take().context("stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let Some(line) = lines.next() else {
                bail!("vigil exited before listening")
            };
            let line = line?;
            if let (true, Some(i)) = (line.contains("listening"), line.find("address=")) {
                break line[i + 8..]
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .to_owned();
            }
        };
        // Keep draining the pipe so the service never blocks on a full stderr.
        let panics = Arc::new(AtomicUsize::new(0));
        let seen = panics.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if line.contains("panicked") {
                    seen.fetch_add(1, Ordering::Relaxed);
                    eprintln!("[vigil] {line}");
                } else if echo {
                    eprintln!("[vigil] {line}");
                }
            }
        });
        Ok(Service {
            child,
            base: format!("http://{addr}/v1"),
            panics,
        })
    }
}

impl Service {
    /// Panics it has logged so far (each reported on our stderr).
    pub fn panics(&self) -> usize {
        self.panics.load(Ordering::Relaxed)
    }

    /// CPU time the service has used so far (user + system), from `/proc/PID/stat`: on a
    /// machine Nova shares, what Vigil burns is taken from Nova.
    pub fn cpu_seconds(&self) -> Result<f64> {
        cpu_seconds(self.child.id())
    }
}

/// CPU time process `pid` has used so far (user + system), from `/proc/PID/stat`.
pub fn cpu_seconds(pid: u32) -> Result<f64> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // Fields after the command name (which may hold spaces), counted from field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .with_context(|| format!("field {} of {path}", i + 3))
    };
    // utime and stime are fields 14 and 15; clock ticks are 100 per second on Linux.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Process `pid`'s resident memory and its proportional share (shared pages divided among
/// the processes that map them), in MB, from `/proc/PID/smaps_rollup`.
pub fn memory_mb(pid: u32) -> Result<(f64, f64)> {
    let path = format!("/proc/{pid}/smaps_rollup");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kb = |key: &str| -> Result<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .with_context(|| format!("{key} in {path}"))
    };
    Ok((kb("Rss:")? / 1024.0, kb("Pss:")? / 1024.0))
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
