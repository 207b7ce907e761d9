//! Running a process's start and restart commands, as masakari-monitors runs them: each string
//! split at spaces (no shell), `pre` then the command then `post`, stopping at the first that
//! fails; as root through `sudo -n` when asked for and the monitor is not root.
//!
//! A command fails when it cannot be started, exits with another status than 0, or outlives
//! its timeout (then it is killed). Unlike masakari-monitors, output on stderr is not a
//! failure: the commands' output goes to the monitor's stderr (the journal), not to a pipe
//! a started daemon could hold open.

use std::os::fd::AsFd;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("no {which} command is configured")]
    Missing { which: &'static str },
    #[error("starting `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status})")]
    Failed { command: String, status: ExitStatus },
    #[error("`{command}` did not finish within {} s; killed", .after.as_secs_f64())]
    TimedOut { command: String, after: Duration },
}

/// The three commands of one start or restart.
pub struct Steps<'a> {
    /// `start` or `restart`, for messages.
    pub which: &'static str,
    pub pre: Option<&'a str>,
    pub main: Option<&'a str>,
    pub post: Option<&'a str>,
}

/// Runs `pre`, the command and `post` in turn, each within `timeout`; the first failure ends it.
pub async fn run_steps(
    steps: &Steps<'_>,
    as_root: bool,
    timeout: Duration,
) -> Result<(), CommandError> {
    let main = steps
        .main
        .filter(|c| !c.trim().is_empty())
        .ok_or(CommandError::Missing { which: steps.which })?;
    for command in [steps.pre, Some(main), steps.post].into_iter().flatten() {
        if !command.trim().is_empty() {
            run(command, as_root, timeout).await?;
        }
    }
    Ok(())
}

/// Runs one command line.
pub async fn run(command: &str, as_root: bool, timeout: Duration) -> Result<(), CommandError> {
    let mut words = command.split_whitespace();
    let sudo = as_root && !crate::is_root();
    let program = if sudo {
        "sudo"
    } else {
        words.next().unwrap_or("")
    };
    let mut cmd = tokio::process::Command::new(program);
    if sudo {
        cmd.arg("-n");
    }
    cmd.args(words)
        .stdin(Stdio::null())
        .stdout(to_stderr())
        .stderr(to_stderr())
        .kill_on_drop(true);
    let spawned = |source| CommandError::Spawn {
        command: command.to_owned(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawned)?;
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status.map_err(spawned)?,
        Err(_) => {
            let _ = child.kill().await;
            return Err(CommandError::TimedOut {
                command: command.to_owned(),
                after: timeout,
            });
        }
    };
    if !status.success() {
        return Err(CommandError::Failed {
            command: command.to_owned(),
            status,
        });
    }
    Ok(())
}

/// The monitor's own stderr for a command's output (the journal under systemd); null if it
/// cannot be shared.
fn to_stderr() -> Stdio {
    std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn steps_run_in_order_and_the_first_failure_ends_them() {
        let dir = tempfile::tempdir().unwrap();
        let mark = |n: &str| format!("touch {}", dir.path().join(n).display());
        let (pre, main, post) = (mark("pre"), mark("main"), mark("post"));
        let steps = Steps {
            which: "restart",
            pre: Some(&pre),
            main: Some(&main),
            post: Some(&post),
        };
        run_steps(&steps, false, SECOND).await.unwrap();
        for n in ["pre", "main", "post"] {
            assert!(dir.path().join(n).exists(), "{n}");
        }

        let (pre, main2) = ("false".to_owned(), mark("main2"));
        let steps = Steps {
            which: "restart",
            pre: Some(&pre),
            main: Some(&main2),
            post: None,
        };
        let err = run_steps(&steps, false, SECOND).await.unwrap_err();
        assert!(
            matches!(&err, CommandError::Failed { command, .. } if command == "false"),
            "{err}"
        );
        assert!(!dir.path().join("main2").exists());
    }

    #[tokio::test]
    async fn a_missing_program_an_empty_command_and_a_slow_one_fail() {
        let err = run("/nonexistent/vigil-restart", false, SECOND)
            .await
            .unwrap_err();
        assert!(matches!(err, CommandError::Spawn { .. }), "{err}");
        let steps = Steps {
            which: "start",
            pre: None,
            main: Some("  "),
            post: None,
        };
        let err = run_steps(&steps, false, SECOND).await.unwrap_err();
        assert_eq!(err.to_string(), "no start command is configured");
        let err = run("sleep 5", false, Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(matches!(err, CommandError::TimedOut { .. }), "{err}");
    }
}
