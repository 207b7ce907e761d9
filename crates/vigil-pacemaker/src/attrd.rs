//! The failed-host queue in Pacemaker's attribute manager, through `attrd_updater`: a private
//! node attribute (`-p`: kept by every node's pacemaker-attrd, never written to the CIB), so
//! it outlives any one node and any alerter.

use crate::queue::Entry;
use std::time::Duration;
use tokio::process::Command;

/// The attribute NovaEvacuate and fence_compute use.
pub const ATTRIBUTE: &str = "evacuate";

#[derive(Debug, thiserror::Error)]
pub enum AttrdError {
    #[error("running attrd_updater {args}")]
    Run {
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error("attrd_updater {args} did not finish in {secs} s")]
    Timeout { args: String, secs: u64 },
    #[error("attrd_updater {args} failed ({status}): {stderr}")]
    Failed {
        args: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
}

/// The queue as one cluster's attribute manager keeps it.
#[derive(Clone, Debug)]
pub struct Attrd {
    /// The `attrd_updater` to run (a path, or a name looked up on `PATH`).
    pub program: String,
    pub timeout: Duration,
}

impl Default for Attrd {
    fn default() -> Self {
        Self {
            program: "attrd_updater".into(),
            timeout: Duration::from_secs(30),
        }
    }
}

impl Attrd {
    /// Every host's entry. Hosts whose value is empty (deleted) or unreadable are left out.
    pub async fn entries(&self) -> Result<Vec<(String, Entry)>, AttrdError> {
        let out = self.run(&["-Q", "-A", "-n", ATTRIBUTE]).await?;
        Ok(parse_query(&out)
            .into_iter()
            .filter_map(|(host, value)| {
                let entry = Entry::parse(&value);
                if entry.is_none() && !value.is_empty() {
                    tracing::warn!(%host, %value, "ignoring a queue value no agent writes");
                }
                Some((host, entry?))
            })
            .collect())
    }

    /// `host`'s entry, if it has one.
    pub async fn get(&self, host: &str) -> Result<Option<Entry>, AttrdError> {
        Ok(self
            .entries()
            .await?
            .into_iter()
            .find_map(|(h, e)| (h == host).then_some(e)))
    }

    pub async fn set(&self, host: &str, entry: &Entry) -> Result<(), AttrdError> {
        let value = entry.to_string();
        self.run(&["-p", "-n", ATTRIBUTE, "-N", host, "-U", &value])
            .await
            .map(drop)
    }

    /// Removes `host`'s entry (attrd keeps the attribute with an empty value).
    pub async fn delete(&self, host: &str) -> Result<(), AttrdError> {
        self.run(&["-p", "-n", ATTRIBUTE, "-N", host, "-D"])
            .await
            .map(drop)
    }

    async fn run(&self, args: &[&str]) -> Result<String, AttrdError> {
        let shown = || args.join(" ");
        let child = Command::new(&self.program)
            .args(args)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(self.timeout, child)
            .await
            .map_err(|_| AttrdError::Timeout {
                args: shown(),
                secs: self.timeout.as_secs(),
            })?
            .map_err(|source| AttrdError::Run {
                args: shown(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() {
            return Ok(stdout);
        }
        // A query of an attribute no node has yet is not an error for the queue: it is empty.
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if args.contains(&"-Q") && is_absent(&stderr) {
            return Ok(String::new());
        }
        Err(AttrdError::Failed {
            args: shown(),
            status: out.status,
            stderr,
        })
    }
}

/// What attrd_updater says when the attribute does not exist.
fn is_absent(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains("no such") || s.contains("not found") || s.contains("does not exist")
}

/// `name="evacuate" host="c1" value="yes"` lines (attrd_updater's text output) as
/// `(host, value)`.
fn parse_query(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter_map(|line| Some((quoted(line, "host")?, quoted(line, "value")?)))
        .collect()
}

fn quoted(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("{key}=\""))? + key.len() + 2;
    let len = line[start..].find('"')?;
    Some(line[start..start + len].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_output_reads_as_host_and_value() {
        let out = "name=\"evacuate\" host=\"c1\" value=\"yes\"\n\
                   name=\"evacuate\" host=\"c2.example\" value=\"ctl1@1700000000\"\n\
                   name=\"evacuate\" host=\"c3\" value=\"\"\n\
                   garbage\n";
        assert_eq!(
            parse_query(out),
            [
                ("c1".to_owned(), "yes".to_owned()),
                ("c2.example".to_owned(), "ctl1@1700000000".to_owned()),
                ("c3".to_owned(), String::new()),
            ]
        );
        assert!(parse_query("").is_empty());
    }
}
