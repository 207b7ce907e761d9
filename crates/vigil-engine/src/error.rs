//! How a recovery step fails: one variant per kind of failed operation, the cause kept as a
//! `#[source]` so the step log and the notification's message show the whole chain.

use crate::fence::GateError;
use crate::nova::NovaError;
use vigil_domain::{Classify, ErrorClass};
use vigil_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// A Nova call failed (a transient failure only after the retry policy gave up).
    #[error("{action}")]
    Nova {
        action: String,
        #[source]
        source: NovaError,
    },
    #[error("{action}")]
    Store {
        action: String,
        #[source]
        source: StoreError,
    },
    #[error("fencing {host} with {fencer}")]
    Fence {
        host: String,
        fencer: String,
        #[source]
        source: GateError,
    },
    /// A step ran without the output of a step it needs: the flow is assembled wrongly.
    #[error("the output of {step} is missing")]
    MissingOutput { step: &'static str },
    #[error("the output of {step} cannot be read")]
    BadOutput {
        step: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// An operator's `exec` command could not be run.
    #[error("{command}: could not start")]
    Exec {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// An operator's webhook could not be reached.
    #[error("webhook {url}")]
    Webhook {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The step decided not to go on: a safety gate, a timeout, a refusal by Nova's state or
    /// by an operator step. The text is the whole reason.
    #[error("{0}")]
    Refused(String),
}

impl StepError {
    pub fn nova(action: impl Into<String>, source: NovaError) -> Self {
        StepError::Nova {
            action: action.into(),
            source,
        }
    }

    pub fn store(action: impl Into<String>, source: StoreError) -> Self {
        StepError::Store {
            action: action.into(),
            source,
        }
    }

    pub fn refused(reason: impl Into<String>) -> Self {
        StepError::Refused(reason.into())
    }
}

impl Classify for StepError {
    fn class(&self) -> ErrorClass {
        match self {
            StepError::Nova { source, .. } => source.class(),
            StepError::Store { source, .. } => source.class(),
            StepError::Fence { source, .. } => source.class(),
            StepError::Webhook { .. } => ErrorClass::Transient,
            StepError::MissingOutput { .. }
            | StepError::BadOutput { .. }
            | StepError::Exec { .. }
            | StepError::Refused(_) => ErrorClass::Fatal,
        }
    }
}

/// An error and its causes, outermost first, as one line: what the step log keeps.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    vigil_domain::ErrorChain(error).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_keeps_every_cause() {
        let id: vigil_domain::NotificationId =
            "0b0a5f6c-3e8e-4a30-9a1a-5f6c3e8e34c9".parse().unwrap();
        let e = StepError::store("recording the vmove", StoreError::LeaseLost(id));
        assert_eq!(
            chain(&e),
            "recording the vmove: the lease on notification 0b0a5f6c-3e8e-4a30-9a1a-5f6c3e8e34c9 \
             is no longer held"
        );
        assert_eq!(chain(&StepError::refused("no scheduler")), "no scheduler");
    }
}
