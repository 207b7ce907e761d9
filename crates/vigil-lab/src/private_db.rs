//! What the private database servers share: their error, a free port, a temporary directory a
//! server's own user owns, and running a command as that user when the test runs as root.

use std::path::Path;
use std::process::Command;

/// A failure to set up, start or stop a private database server.
#[derive(Debug, thiserror::Error)]
pub enum PrivateDbError {
    #[error("{what} is not installed")]
    Missing { what: &'static str },
    #[error("creating a temporary directory for the server")]
    TempDir(#[source] std::io::Error),
    #[error("finding a free loopback port")]
    Port(#[source] std::io::Error),
    #[error("could not run `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}):\n{output}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
        output: String,
    },
    #[error("the server did not accept connections within {secs} s; its log ends:\n{log}")]
    NotReady { secs: u64, log: String },
}

/// A loopback port nobody listens on now. (Another process may take it before the server
/// binds it; the server's start then fails loudly rather than talking to a stranger.)
pub(crate) fn free_port() -> Result<u16, PrivateDbError> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).map_err(PrivateDbError::Port)?;
    Ok(listener.local_addr().map_err(PrivateDbError::Port)?.port())
}

/// Whether this process runs as root, when servers that refuse root must change user.
pub(crate) fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A temporary directory owned by USER when running as root (so its server may write there).
pub(crate) fn owned_tempdir(prefix: &str, user: &str) -> Result<tempfile::TempDir, PrivateDbError> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(PrivateDbError::TempDir)?;
    if is_root() {
        let mut chown = Command::new("chown");
        chown.arg(format!("{user}:")).arg(dir.path());
        run(chown)?;
    }
    Ok(dir)
}

/// PROGRAM run as USER when this process is root (through `runuser`), else as is.
pub(crate) fn command_as(user: &str, program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", user, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// Runs CMD to its end; its standard output, or an error with everything it printed.
pub(crate) fn run(mut cmd: Command) -> Result<String, PrivateDbError> {
    let command = format!("{cmd:?}");
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| PrivateDbError::Spawn {
            command: command.clone(),
            source,
        })?;
    if !out.status.success() {
        return Err(PrivateDbError::Failed {
            command,
            status: out.status,
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The last lines of a server's log file, for an error message.
pub(crate) fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
