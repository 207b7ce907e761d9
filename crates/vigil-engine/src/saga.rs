//! Recovery flows as sagas: a declared list of named steps whose outputs are persisted one by
//! one, so a flow interrupted by a crash is resumed by any engine from its last completed step.
//!
//! A step's output is a typed value stored under the step's name and read back through an
//! [`Output`] key; a step declares the outputs it needs, and [`check_flow`] refuses a flow in
//! which a needed step does not come first. The runner never retries a step itself (steps own
//! their retry policy, `crate::retry`); it only guarantees order, persistence before progress,
//! and resumption.

pub use crate::error::StepError;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::time::Instant;
use vigil_metrics::{FlowMetrics, StepOutcome};

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
    /// Go on with the next step; the value is this step's persisted output (see [`Output::put`]).
    Continue(Value),
    /// Stop the flow here, successfully (e.g. "no instances on the host": finished).
    Stop(Ending, String),
}

/// A step's identity: its name and the steps whose outputs it reads.
#[derive(Clone, Copy, Debug)]
pub struct StepKey {
    pub name: &'static str,
    /// They must come before it in the flow.
    pub needs: &'static [&'static str],
}

/// The typed key of a step's output: the step's name and the type of what it stores.
pub struct Output<T> {
    key: StepKey,
    _type: PhantomData<fn() -> T>,
}

impl<T> Output<T> {
    pub const fn of(step: &'static str) -> Self {
        Output {
            key: StepKey {
                name: step,
                needs: &[],
            },
            _type: PhantomData,
        }
    }

    /// The key of a step that reads the outputs of `needs`: declared with its output, so a
    /// flow module's keys say what each of its steps depends on.
    pub const fn after(self, needs: &'static [&'static str]) -> Self {
        Output {
            key: StepKey {
                name: self.key.name,
                needs,
            },
            _type: PhantomData,
        }
    }

    pub const fn step(&self) -> &'static str {
        self.key.name
    }

    pub const fn key(&self) -> StepKey {
        self.key
    }
}

impl<T: Serialize + DeserializeOwned> Output<T> {
    /// The output of the step, which must have completed in this flow: a missing output is a
    /// wrongly assembled flow, never a default.
    pub fn get(&self, done: &Outputs) -> Result<T, StepError> {
        let value = done.0.get(self.key.name).ok_or(StepError::MissingOutput {
            step: self.key.name,
        })?;
        self.decode(value.clone())
    }

    /// Reads a stored output, e.g. from the log of an earlier flow.
    pub fn decode(&self, value: Value) -> Result<T, StepError> {
        serde_json::from_value(value).map_err(|source| StepError::BadOutput {
            step: self.key.name,
            source,
        })
    }

    /// The step's outcome carrying `value` as its output.
    pub fn put(&self, value: &T) -> Result<Outcome, StepError> {
        serde_json::to_value(value)
            .map(Outcome::Continue)
            .map_err(|source| StepError::BadOutput {
                step: self.key.name,
                source,
            })
    }
}

/// The outputs of the steps completed so far, read through their [`Output`] keys.
#[derive(Clone, Debug, Default)]
pub struct Outputs(BTreeMap<String, Value>);

impl Outputs {
    fn contains(&self, step: &str) -> bool {
        self.0.contains_key(step)
    }

    fn insert(&mut self, step: String, output: Value) {
        self.0.insert(step, output);
    }

    /// Every output by step name, for operator steps (they get the flow's context as JSON).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(&self.0).unwrap_or_default()
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
    Store(#[source] vigil_store::StoreError),
}

/// One step of a flow. `run` must be safe to run twice: a crash after its effect and before its
/// record is saved makes the resumed flow run it again.
#[async_trait]
pub trait Step<C: Sync>: Send + Sync {
    /// The step's one name: in the log, in `recovery_workflow_details` and in `[engine.flows]`.
    fn name(&self) -> &str;
    /// The steps whose outputs this one reads; they must come before it in the flow.
    fn needs(&self) -> &'static [&'static str] {
        &[]
    }
    async fn run(&self, ctx: &C, done: &Outputs) -> Result<Outcome, StepError>;
}

/// A step whose name and needs are constants, its output key's: every built-in step. A flow
/// lists it as `builtin(step)`; operator steps, whose names are configured, implement `Step`.
pub(crate) trait BuiltinStep<C: Sync>: Send + Sync {
    const KEY: StepKey;
    fn run(
        &self,
        ctx: &C,
        done: &Outputs,
    ) -> impl std::future::Future<Output = Result<Outcome, StepError>> + Send;
}

/// A built-in step as the runner sees it.
pub(crate) fn builtin<C: Sync, S: BuiltinStep<C> + 'static>(step: S) -> Box<dyn Step<C>> {
    Box::new(Builtin(step))
}

struct Builtin<S>(S);

#[async_trait]
impl<C: Sync, S: BuiltinStep<C>> Step<C> for Builtin<S> {
    fn name(&self) -> &str {
        S::KEY.name
    }
    fn needs(&self) -> &'static [&'static str] {
        S::KEY.needs
    }
    async fn run(&self, ctx: &C, done: &Outputs) -> Result<Outcome, StepError> {
        self.0.run(ctx, done).await
    }
}

/// Why a list of steps is not a flow.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FlowDefError {
    #[error("{step} needs the output of {needs}, which does not run before it")]
    MissingNeed { step: String, needs: &'static str },
    #[error("{0} appears twice")]
    Duplicate(String),
}

/// Checks that every step's needs run before it and that names are unique (the log is keyed
/// by name).
pub fn check_flow<C: Sync>(steps: &[Box<dyn Step<C>>]) -> Result<(), FlowDefError> {
    for (i, step) in steps.iter().enumerate() {
        let before = &steps[..i];
        if before.iter().any(|s| s.name() == step.name()) {
            return Err(FlowDefError::Duplicate(step.name().to_owned()));
        }
        if let Some(needs) = step
            .needs()
            .iter()
            .find(|n| !before.iter().any(|s| s.name() == **n))
        {
            return Err(FlowDefError::MissingNeed {
                step: step.name().to_owned(),
                needs,
            });
        }
    }
    Ok(())
}

/// Why a flow did not reach an ending.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error("{step}")]
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

/// Runs `steps` in order, skipping those the log shows as completed; `metrics` times each
/// step that runs.
pub async fn run_flow<C: Sync>(
    steps: &[Box<dyn Step<C>>],
    ctx: &C,
    log: &dyn FlowLog,
    metrics: &FlowMetrics,
) -> Result<Ending, FlowError> {
    let log_err = |step: &str| {
        let step = step.to_owned();
        move |source| FlowError::Log { step, source }
    };
    let mut done = Outputs::default();
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
        if done.contains(name) {
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
        let started = Instant::now();
        let result = step.run(ctx, &done).await;
        let outcome = match &result {
            Ok(Outcome::Continue(_)) => StepOutcome::Success,
            Ok(Outcome::Stop(..)) => StepOutcome::Stopped,
            Err(_) => StepOutcome::Failure,
        };
        metrics.step(name, outcome, started.elapsed());
        match result {
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
                record.message = crate::error::chain(&source);
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
