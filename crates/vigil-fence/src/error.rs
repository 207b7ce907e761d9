//! How a fencing operation failed: one variant per way a power device can let us down, each
//! naming the device and host, with the underlying cause kept as a source rather than repeated.

use std::time::Duration;
use vigil_domain::{Classify, ErrorClass};

type Cause = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum FenceError {
    /// No answer at all: connection refused, no route, DNS, the agent's program missing.
    #[error("{device}: the power device of {host} is unreachable")]
    Unreachable {
        device: String,
        host: String,
        #[source]
        source: Cause,
    },
    /// The device refused the credentials (HTTP 401/403, an IPMI session refused).
    #[error("{device}: the power device of {host} refused the credentials")]
    Credentials { device: String, host: String },
    /// The credentials could not be read on this machine.
    #[error("{device}: reading the credentials for {host}")]
    CredentialsUnreadable {
        device: String,
        host: String,
        #[source]
        source: crate::credentials::SecretError,
    },
    /// The TLS handshake failed: an unknown CA, a name mismatch, an expired certificate.
    #[error("{device}: TLS with the power device of {host} failed")]
    Tls {
        device: String,
        host: String,
        #[source]
        source: Cause,
    },
    /// The operation did not complete within its timeout.
    #[error("{device}: {action} of {host} not confirmed within {:.1} s", .after.as_secs_f64())]
    TimedOut {
        device: String,
        host: String,
        action: &'static str,
        after: Duration,
    },
    /// The device answered with an error of its own.
    #[error("{device}: the power device of {host} answered an error: {detail}")]
    Device {
        device: String,
        host: String,
        detail: String,
    },
    /// An agent or tool exited with a failure.
    #[error("{device}: {action} of {host} failed ({status}): {stderr_tail}")]
    AgentFailed {
        device: String,
        host: String,
        action: &'static str,
        status: String,
        stderr_tail: String,
    },
    /// The device or tool answered something that cannot be understood.
    #[error("{device}: unexpected answer about {host}: {answer}")]
    BadAnswer {
        device: String,
        host: String,
        answer: String,
    },
    /// No system on the device matches the host.
    #[error("{device}: no system matches {host}")]
    NoSuchHost { device: String, host: String },
}

impl Classify for FenceError {
    fn class(&self) -> ErrorClass {
        match self {
            // A BMC rebooting or a congested network: the next attempt may get through.
            FenceError::Unreachable { .. }
            | FenceError::TimedOut { .. }
            | FenceError::AgentFailed { .. }
            | FenceError::Device { .. } => ErrorClass::Transient,
            FenceError::Credentials { .. }
            | FenceError::CredentialsUnreadable { .. }
            | FenceError::Tls { .. }
            | FenceError::BadAnswer { .. }
            | FenceError::NoSuchHost { .. } => ErrorClass::Fatal,
        }
    }
}

/// The last few lines of a tool's stderr: enough to say why, short enough for a step record.
pub(crate) fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    let joined = lines[start..].join(" / ");
    if joined.len() > 400 {
        let mut cut = joined.len() - 400;
        while !joined.is_char_boundary(cut) {
            cut += 1;
        }
        format!("…{}", &joined[cut..])
    } else if joined.is_empty() {
        "no output".to_owned()
    } else {
        joined
    }
}
