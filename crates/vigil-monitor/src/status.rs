//! Monitors' status files: each monitor replaces `<state-dir>/<name>.status.json` after every
//! pass, and `vigil monitor status` reads them from another process.
//!
//! A status is replaced atomically (a temporary file renamed over it) but not synced: it
//! describes the last pass, and a crash loses nothing the next pass does not write again.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use vigil_domain::Timestamp;

const SUFFIX: &str = ".status.json";

/// What every monitor's status says; `watching` is the monitor's own part.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MonitorStatus<W> {
    pub monitor: String,
    pub hostname: String,
    pub pid: u32,
    #[serde(with = "vigil_wire::time::stamp")]
    pub started_at: Timestamp,
    /// When the last pass observed (`null` before the first).
    #[serde(with = "vigil_wire::time::optional")]
    pub last_observation: Option<Timestamp>,
    /// The outbox the monitor appends to.
    pub outbox: PathBuf,
    /// What it watches and what it last saw of each.
    pub watching: W,
    /// Reports appended to the outbox since the monitor started.
    pub reports_appended: u64,
    /// Reports decided but not yet in the outbox (its disk failed); appended at the next pass.
    pub reports_not_appended: usize,
    /// The last failed pass's error, cleared by a pass that succeeds.
    pub last_error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("writing the status file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("listing the status directory {path}")]
    List {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the status file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the status file {path} is not JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// The status file of monitor `name` in `dir`.
pub fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}{SUFFIX}"))
}

/// Replaces monitor `name`'s status file in `dir` with `status`.
pub fn write<W: Serialize>(
    dir: &Path,
    name: &str,
    status: &MonitorStatus<W>,
) -> Result<(), StatusError> {
    let path = path(dir, name);
    let tmp = dir.join(format!(".{name}{SUFFIX}.tmp"));
    // A status is plain data: serializing it cannot fail.
    let bytes = serde_json::to_vec_pretty(status).unwrap_or_default();
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|source| StatusError::Write { path, source })
}

/// Every monitor's status in `dir`, by file name order, as JSON (the reader need not know
/// each monitor's `watching`).
pub fn read_all(dir: &Path) -> Result<Vec<serde_json::Value>, StatusError> {
    let list = |source| StatusError::List {
        path: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list)? {
        let path = entry.map_err(list)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(SUFFIX) && !name.starts_with('.') {
            paths.push(path);
        }
    }
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).map_err(|source| StatusError::Read {
                path: path.clone(),
                source,
            })?;
            serde_json::from_slice(&bytes).map_err(|source| StatusError::Parse { path, source })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_status_is_read_back_by_name_and_temporary_files_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let status = MonitorStatus {
            monitor: "process".into(),
            hostname: "compute-1".into(),
            pid: 42,
            started_at: Timestamp::from_micros(1_700_000_000_000_000),
            last_observation: None,
            outbox: "/var/spool/vigil".into(),
            watching: vec!["nova-compute"],
            reports_appended: 1,
            reports_not_appended: 0,
            last_error: None,
        };
        write(dir.path(), "process", &status).unwrap();
        write(dir.path(), "process", &status).unwrap();
        std::fs::write(dir.path().join(".instance.status.json.tmp"), "{").unwrap();
        let all = read_all(dir.path()).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0]["monitor"], "process");
        assert_eq!(all[0]["started_at"], "2023-11-14T22:13:20.000000");
        assert_eq!(all[0]["last_observation"], serde_json::Value::Null);
        assert_eq!(all[0]["watching"][0], "nova-compute");
    }
}
