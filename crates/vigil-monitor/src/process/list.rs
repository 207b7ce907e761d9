//! Masakari's `process_list.yaml`, read unchanged: a YAML list of the processes to watch and
//! the commands that start and restart them.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One entry of the list. Empty commands (`pre_start_command:`) are `None`; a key left out is
/// read as empty too, as serde reads any missing `Option` (masakari-monitors would fail on it).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ProcessEntry {
    /// Looked for in the running processes' command lines; its last `/`-separated part is the
    /// name reported.
    pub process_name: String,
    pub start_command: Option<String>,
    pub pre_start_command: Option<String>,
    pub post_start_command: Option<String>,
    pub restart_command: Option<String>,
    pub pre_restart_command: Option<String>,
    pub post_restart_command: Option<String>,
    /// Run the commands as root (through `sudo -n` when the monitor is not root).
    #[serde(default)]
    pub run_as_root: bool,
}

impl ProcessEntry {
    /// The name a report carries: the last part of `process_name` split at `/`, as
    /// masakari-monitors sends it (`/usr/sbin/libvirtd` → `libvirtd`; a command line such as
    /// `/usr/bin/python3 /usr/bin/masakari-hostmonitor` → `masakari-hostmonitor`).
    pub fn reported_name(&self) -> &str {
        match self.process_name.rsplit('/').next() {
            Some(last) if !last.trim().is_empty() => last,
            _ => &self.process_name,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("reading the process list {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the process list {path} is not a list of processes")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("the process list {path} has an entry with an empty process_name")]
    EmptyName { path: PathBuf },
}

/// Reads the list at `path`. An empty file is an empty list.
pub fn load(path: &Path) -> Result<Vec<ProcessEntry>, ListError> {
    let text = std::fs::read_to_string(path).map_err(|source| ListError::Read {
        path: path.to_owned(),
        source,
    })?;
    let list: Option<Vec<ProcessEntry>> =
        serde_yaml::from_str(&text).map_err(|source| ListError::Parse {
            path: path.to_owned(),
            source,
        })?;
    let list = list.unwrap_or_default();
    if list.iter().any(|e| e.process_name.trim().is_empty()) {
        return Err(ListError::EmptyName {
            path: path.to_owned(),
        });
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two entries as masakari-monitors' sample writes them (comments, empty values, `True`).
    const SAMPLE: &str = "\
# Define the monitoring processes as follows:
-
    # libvirtd
    process_name: /usr/sbin/libvirtd
    start_command: systemctl start libvirtd
    pre_start_command:
    post_start_command:
    restart_command: systemctl restart libvirtd
    pre_restart_command:
    post_restart_command:
    run_as_root: True
-
    # instancemonitor
    process_name: /usr/bin/python /usr/local/bin/masakari-instancemonitor
    start_command: systemctl start masakari-instancemonitor
    pre_start_command: /bin/true
    post_start_command:
    restart_command: systemctl restart masakari-instancemonitor
    pre_restart_command:
    post_restart_command: /bin/true --after
    run_as_root: False
";

    #[test]
    fn masakaris_sample_is_read_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("process_list.yaml");
        std::fs::write(&path, SAMPLE).unwrap();
        let list = load(&path).unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(
            list[0],
            ProcessEntry {
                process_name: "/usr/sbin/libvirtd".into(),
                start_command: Some("systemctl start libvirtd".into()),
                pre_start_command: None,
                post_start_command: None,
                restart_command: Some("systemctl restart libvirtd".into()),
                pre_restart_command: None,
                post_restart_command: None,
                run_as_root: true,
            }
        );
        assert_eq!(list[1].pre_start_command.as_deref(), Some("/bin/true"));
        assert_eq!(
            list[1].post_restart_command.as_deref(),
            Some("/bin/true --after")
        );
        assert!(!list[1].run_as_root);
        assert_eq!(list[0].reported_name(), "libvirtd");
        assert_eq!(list[1].reported_name(), "masakari-instancemonitor");
    }

    #[test]
    fn an_empty_file_is_an_empty_list_and_a_bad_one_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("process_list.yaml");
        std::fs::write(&path, "# nothing yet\n").unwrap();
        assert_eq!(load(&path).unwrap(), []);
        std::fs::write(&path, "process_name: sshd\n").unwrap();
        let err = load(&path).unwrap_err();
        assert!(
            matches!(&err, ListError::Parse { path: p, .. } if *p == path),
            "{err}"
        );
        std::fs::write(&path, "- process_name: ''\n").unwrap();
        assert!(matches!(load(&path), Err(ListError::EmptyName { .. })));
    }

    #[test]
    fn a_name_without_slashes_or_ending_in_one_is_reported_whole() {
        let entry = |name: &str| ProcessEntry {
            process_name: name.into(),
            start_command: None,
            pre_start_command: None,
            post_start_command: None,
            restart_command: None,
            pre_restart_command: None,
            post_restart_command: None,
            run_as_root: false,
        };
        assert_eq!(entry("nova-compute").reported_name(), "nova-compute");
        assert_eq!(entry("/opt/odd/").reported_name(), "/opt/odd/");
    }
}
