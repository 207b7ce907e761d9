//! Which processes run: the command lines of `/proc/<pid>/cmdline`, arguments joined by
//! spaces as `ps -ef` shows them.
//!
//! masakari-monitors looks for `process_name` anywhere in `ps -ef`'s output; here it is looked
//! for in the command lines only, so a name that happens to match a user name or another
//! column no longer counts as running. Zombies and kernel threads have empty command lines
//! and never match.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("listing the processes in {path}")]
pub struct ScanError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// The command lines of the processes under `proc` (`/proc`) but this one.
pub fn command_lines(proc: &Path) -> Result<Vec<String>, ScanError> {
    let own = std::process::id().to_string();
    let entries = std::fs::read_dir(proc).map_err(|source| ScanError {
        path: proc.to_owned(),
        source,
    })?;
    let mut lines = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str() else { continue };
        if !pid.bytes().all(|b| b.is_ascii_digit()) || pid == own {
            continue;
        }
        // A process may end between the listing and the read: then it does not run. One
        // just past its exec may show an empty line for a moment: seen at the next pass.
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let line = join_args(&raw);
        if !line.is_empty() {
            lines.push(line);
        }
    }
    Ok(lines)
}

/// NUL-separated arguments joined by spaces (a process that rewrote its title may use spaces
/// already, or leave NULs at the end).
fn join_args(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    text.split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `process_name` is part of one of `lines`.
pub fn is_running(lines: &[String], process_name: &str) -> bool {
    lines.iter().any(|l| l.contains(process_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_joined_as_ps_shows_them() {
        assert_eq!(
            join_args(b"/usr/bin/python3\0/usr/bin/nova-compute\0--config-file\0x\0"),
            "/usr/bin/python3 /usr/bin/nova-compute --config-file x"
        );
        assert_eq!(
            join_args(b"nginx: worker process\0\0\0"),
            "nginx: worker process"
        );
        assert_eq!(join_args(b""), "");
    }

    #[test]
    fn a_running_process_is_found_and_this_one_is_left_out() {
        let mut child = std::process::Command::new("sleep")
            .arg("30.123")
            .spawn()
            .unwrap();
        // A process just past its exec may show an empty command line for a moment.
        let cmdline = format!("/proc/{}/cmdline", child.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::read(&cmdline).unwrap().is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "sleep never showed its arguments"
            );
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let lines = command_lines(Path::new("/proc")).unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(is_running(&lines, "sleep 30.123"), "{lines:?}");
        // This test's own command line is not among them.
        let own = join_args(&std::fs::read("/proc/self/cmdline").unwrap());
        assert!(!lines.contains(&own));
        assert!(!is_running(&lines, "no-such-process-b1d4"));
    }
}
