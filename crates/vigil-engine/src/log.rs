//! The saga's log in the store: each step's record written under the notification's lease, so
//! an engine that lost its lease cannot overwrite the progress of the one that took over.

use crate::saga::{Ending, FlowLog, LogError, StepRecord, StepState};
use async_trait::async_trait;
use std::sync::Mutex;
use vigil_domain::{ProgressDetail, Timestamp, WorkflowStep};
use vigil_store::{FlowStep, Lease, Store, StoreError};

/// The saga's log in the store; progress details accumulate per step.
pub struct StoreLog {
    store: Store,
    lease: Lease,
    details: Mutex<std::collections::BTreeMap<String, Vec<ProgressDetail>>>,
    /// The step saved as running and not yet ended, with its last progress: where a note
    /// about a retry belongs.
    running: Mutex<Option<(String, f64)>>,
}

impl StoreLog {
    pub fn new(store: Store, lease: Lease) -> Self {
        Self {
            store,
            lease,
            details: Mutex::default(),
            running: Mutex::default(),
        }
    }
}

impl StoreLog {
    /// Appends a progress message to the running step `step` and writes its progress.
    pub async fn progress(
        &self,
        step: &str,
        progress: f64,
        message: &str,
    ) -> Result<(), StoreError> {
        if let Some((name, at)) = self.running.lock().expect("not poisoned").as_mut() {
            if name == step {
                *at = progress;
            }
        }
        let details = {
            let mut all = self.details.lock().expect("not poisoned");
            let entry = all.entry(step.to_owned()).or_default();
            entry.push(vigil_wire::progress_detail(
                Timestamp::now(),
                progress,
                message,
            ));
            entry.clone()
        };
        self.store
            .flow_step_progress(&self.lease, step, progress, &details)
            .await
    }

    /// Appends `message` to the running step's details at its current progress; nothing when
    /// no step is running (the flow's first records are still being read or written).
    pub async fn note_running(&self, message: &str) -> Result<(), StoreError> {
        let running = self.running.lock().expect("not poisoned").clone();
        match running {
            Some((step, progress)) => self.progress(&step, progress, message).await,
            None => Ok(()),
        }
    }
}

fn log_err(e: StoreError) -> LogError {
    match e {
        StoreError::LeaseLost(_) => LogError::LeaseLost,
        other => LogError::Store(other),
    }
}

const FINISHED: &str = "finished";
const IGNORED: &str = "ignored: ";

#[async_trait]
impl FlowLog for StoreLog {
    async fn load(&self) -> Result<Vec<StepRecord>, LogError> {
        let steps = self
            .store
            .flow_log_load(self.lease.notification)
            .await
            .map_err(log_err)?;
        let mut details = self.details.lock().expect("not poisoned");
        let mut out = Vec::new();
        for s in steps {
            details.insert(s.step.name.clone(), s.step.progress_details);
            let state = match s.step.state.as_str() {
                "SUCCESS" => StepState::Success,
                "FAILURE" => StepState::Failure,
                _ => StepState::Running,
            };
            let ending = match s.ending.as_deref() {
                Some(FINISHED) => Some(Ending::Finished),
                Some(e) => Some(Ending::Ignored(
                    e.strip_prefix(IGNORED).unwrap_or(e).to_owned(),
                )),
                None => None,
            };
            out.push(StepRecord {
                name: s.step.name,
                state,
                output: s
                    .output
                    .as_deref()
                    .and_then(|o| serde_json::from_str(o).ok())
                    .unwrap_or(serde_json::Value::Null),
                message: s.message.unwrap_or_default(),
                ending,
            });
        }
        Ok(out)
    }

    async fn save(&self, record: &StepRecord) -> Result<(), LogError> {
        #[cfg(feature = "crash-hook")]
        if record.state == StepState::Success {
            crash_point(&record.name);
        }
        let progress = match record.state {
            StepState::Running => 0.0,
            StepState::Success | StepState::Failure => 1.0,
        };
        *self.running.lock().expect("not poisoned") = match record.state {
            StepState::Running => Some((record.name.clone(), progress)),
            StepState::Success | StepState::Failure => None,
        };
        let details = {
            let mut all = self.details.lock().expect("not poisoned");
            let entry = all.entry(record.name.clone()).or_default();
            entry.push(vigil_wire::progress_detail(
                Timestamp::now(),
                progress,
                &record.message,
            ));
            entry.clone()
        };
        let step = FlowStep {
            step: WorkflowStep {
                name: record.name.clone(),
                state: record.state.as_str().to_owned(),
                progress,
                progress_details: details,
            },
            output: Some(record.output.to_string()),
            message: Some(record.message.clone()),
            ending: record.ending.as_ref().map(|e| match e {
                Ending::Finished => FINISHED.to_owned(),
                Ending::Ignored(why) => format!("{IGNORED}{why}"),
            }),
        };
        self.store
            .flow_step_save(&self.lease, &step)
            .await
            .map_err(log_err)
    }
}

/// Crash-safety tests' hook, built only with the `crash-hook` feature (the test binaries): with
/// `VIGIL_CRASH_FILE` set, an engine about to record step X as
/// completed — its effect done, its record not yet written, the worst moment to die — aborts
/// (no cleanup, its lease left to expire, as after kill -9) if the file names X. The file is
/// removed first, so of several engines exactly one crashes.
#[cfg(feature = "crash-hook")]
fn crash_point(step: &str) {
    let Some(path) = std::env::var_os("VIGIL_CRASH_FILE") else {
        return;
    };
    if std::fs::read_to_string(&path).is_ok_and(|s| s.trim() == step)
        && std::fs::remove_file(&path).is_ok()
    {
        tracing::error!(step, "VIGIL_CRASH_FILE names this step: aborting");
        std::process::abort();
    }
}
