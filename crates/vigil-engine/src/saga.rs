//! Recovery flows as sagas: a declared list of named steps whose outputs are persisted one by
//! one, so a flow interrupted by a crash is resumed by any engine from its last completed step.
//!
//! The runner never retries a step itself (steps own their retry policy, see ARCHITECTURE.md);
//! it only guarantees order, persistence before progress, and resumption.

use async_trait::async_trait;
use serde_json::Value;
use std::collections::BTreeMap;

/// Where a step stands, with taskflow's state names (they reach `recovery_workflow_details`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepState {
    Running,
    Success,
    Failure,
}

impl StepState {
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Running => "RUNNING",
            StepState::Success => "SUCCESS",
            StepState::Failure => "FAILURE",
        }
    }
}

/// The persisted record of one step of one attempt.
#[derive(Clone, Debug, PartialEq)]
pub struct StepRecord {
    pub name: String,
    pub state: StepState,
    /// What later steps and a resumed flow need from this one.
    pub output: Value,
    pub message: String,
    /// Set when this step ended the flow early, so a resumed flow ends the same way.
    pub ending: Option<Ending>,
}

/// How a flow ends when nothing failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    Finished,
    /// The report needs no action (e.g. an event Vigil does not act on).
    Ignored(String),
}

/// What a step decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Go on with the next step; the value is this step's persisted output.
    Continue(Value),
    /// Stop the flow here, successfully (e.g. "no instances on the host": finished).
    Stop(Ending, String),
}

/// A step failed; the flow stops and the notification goes to `error`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    pub message: String,
}

impl StepError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// The durable log of one flow, owned by the engine holding the notification's lease.
#[async_trait]
pub trait FlowLog: Send + Sync {
    /// The records of completed or interrupted steps, in order.
    async fn load(&self) -> Result<Vec<StepRecord>, LogError>;
    /// Persists (inserts or replaces) the record of the step named in `record`.
    async fn save(&self, record: &StepRecord) -> Result<(), LogError>;
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// Another engine took the notification over; this one must stop touching it.
    #[error("the lease on this notification was lost")]
    LeaseLost,
    #[error("the flow log could not be written")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Outputs of the steps completed so far, by step name.
pub type Outputs = BTreeMap<String, Value>;

/// One step of a flow. `run` must be safe to run twice: a crash after its effect and before its
/// record is saved makes the resumed flow run it again.
#[async_trait]
pub trait Step<C: Sync>: Send + Sync {
    fn name(&self) -> &str;
    async fn run(&self, ctx: &C, done: &Outputs) -> Result<Outcome, StepError>;
}

/// Why a flow did not reach an ending.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("step {step} failed")]
    Step {
        step: String,
        #[source]
        source: StepError,
    },
    #[error("recording step {step}")]
    Log {
        step: String,
        #[source]
        source: LogError,
    },
}

/// Runs `steps` in order, skipping those the log shows as completed.
pub async fn run_flow<C: Sync>(
    steps: &[Box<dyn Step<C>>],
    ctx: &C,
    log: &dyn FlowLog,
) -> Result<Ending, FlowError> {
    let log_err = |step: &str| {
        let step = step.to_owned();
        move |source| FlowError::Log { step, source }
    };
    let mut done = Outputs::new();
    for record in log.load().await.map_err(log_err("<load>"))? {
        if record.state == StepState::Success {
            if let Some(ending) = record.ending {
                return Ok(ending);
            }
            done.insert(record.name, record.output);
        }
    }
    for step in steps {
        let name = step.name();
        if done.contains_key(name) {
            continue;
        }
        let mut record = StepRecord {
            name: name.to_owned(),
            state: StepState::Running,
            output: Value::Null,
            message: format!("{name} started"),
            ending: None,
        };
        log.save(&record).await.map_err(log_err(name))?;
        match step.run(ctx, &done).await {
            Ok(Outcome::Continue(output)) => {
                record.state = StepState::Success;
                record.output = output.clone();
                record.message = format!("{name} completed");
                log.save(&record).await.map_err(log_err(name))?;
                done.insert(name.to_owned(), output);
            }
            Ok(Outcome::Stop(ending, message)) => {
                record.state = StepState::Success;
                record.message = message;
                record.ending = Some(ending.clone());
                log.save(&record).await.map_err(log_err(name))?;
                return Ok(ending);
            }
            Err(source) => {
                record.state = StepState::Failure;
                record.message = source.message.clone();
                log.save(&record).await.map_err(log_err(name))?;
                return Err(FlowError::Step {
                    step: name.to_owned(),
                    source,
                });
            }
        }
    }
    Ok(Ending::Finished)
}

#[cfg(test)]
mod tests;
