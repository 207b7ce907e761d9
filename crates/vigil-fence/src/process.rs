//! Running a fencing tool (an agent, ipmitool, stonith_admin) with a hard deadline: the tool runs
//! in a process group of its own, and on timeout the whole group is killed, so a hung agent
//! cannot leave helpers (ssh, curl, sleep) behind holding the device.

use rustix::process::{kill_process_group, Pid, Signal};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// What a tool printed and how it ended.
#[derive(Debug)]
pub(crate) struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug)]
pub(crate) enum RunError {
    /// The program could not be started (missing, not executable).
    Spawn(std::io::Error),
    /// The deadline passed; the process group was killed.
    TimedOut,
}

/// Runs `program args…`, writes `stdin` to it, and waits at most `timeout`.
pub(crate) async fn run(
    program: &str,
    args: &[String],
    stdin: Option<&str>,
    timeout: Duration,
) -> Result<Finished, RunError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Group id = the child's pid: one signal reaches everything it starts.
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(RunError::Spawn)?;
    let pgid = child.id().map_or(0, |id| id as i32);
    let mut input = child.stdin.take();
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let text = stdin.unwrap_or_default().to_owned();
    let work = async move {
        if let Some(pipe) = input.as_mut() {
            // An agent that exits without reading its options closes the pipe: not our failure.
            let _ = pipe.write_all(text.as_bytes()).await;
        }
        drop(input);
        let (mut o, mut e) = (Vec::new(), Vec::new());
        let (_, _, status) =
            tokio::join!(out.read_to_end(&mut o), err.read_to_end(&mut e), async {
                child.wait().await
            });
        (status, o, e, child)
    };
    tokio::pin!(work);
    match tokio::time::timeout(timeout, &mut work).await {
        Ok((status, o, e, _)) => Ok(Finished {
            status: status.map_err(RunError::Spawn)?,
            stdout: String::from_utf8_lossy(&o).into_owned(),
            stderr: String::from_utf8_lossy(&e).into_owned(),
        }),
        Err(_) => {
            kill_group(pgid);
            // Let the wait finish so the leader is reaped, not left a zombie in the group.
            let _ = tokio::time::timeout(Duration::from_secs(5), &mut work).await;
            Err(RunError::TimedOut)
        }
    }
}

fn kill_group(pgid: i32) {
    if let Some(pid) = Pid::from_raw(pgid) {
        // ESRCH means the group is already gone, which is the goal.
        let _ = kill_process_group(pid, Signal::KILL);
    }
}
