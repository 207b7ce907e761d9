//! The process monitor: keeps the processes of Masakari's `process_list.yaml` running,
//! restarting them locally, and reports to the outbox the ones it cannot bring back
//! (`PROCESS`/`STOPPED`) and their return (`STARTED`).
//!
//! A pass: read the list again (as masakari-monitors does every cycle), look at `/proc` once,
//! [`decide`] each process from its persisted [`Phase`], save the new phases and the reports
//! to the state file, append the reports to the outbox, then run the start and restart
//! commands. Saved before acted on: a monitor killed in a restart does not forget the
//! attempt, and a report decided is appended even if the monitor dies right after deciding it.
//! A report appended twice (killed between the append and the save that follows) carries the
//! same `generated_time` and payload, which the API counts once (409).

mod command;
mod decide;
mod list;
mod scan;

pub use command::CommandError;
pub use decide::{decide, Action, Phase, RestartPolicy};
pub use list::{ListError, ProcessEntry};
pub use scan::ScanError;

use crate::journal::{Books, BooksError};
use crate::runner::Reconciler;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use vigil_domain::{ErrorChain, NotificationType, Timestamp};
use vigil_outbox::{Event, Outbox};
use vigil_wire::payload::{Payload, ProcessPayload};

/// The monitor's name: its state file is `process.json`, its status `process.status.json`.
pub const NAME: &str = "process";

/// `vigil monitor process`'s settings; the defaults are masakari-monitors' `[process]`.
#[derive(Clone, Debug)]
pub struct ProcessConfig {
    /// `process_list.yaml`, read again at every pass.
    pub process_list: PathBuf,
    /// The host name reports carry.
    pub hostname: String,
    /// Where the state and status files are.
    pub state_dir: PathBuf,
    /// `check_interval`: the time between two passes (5 s).
    pub check_interval: Duration,
    /// `restart_retries` (3) and `restart_interval` (5 s).
    pub restart: RestartPolicy,
    /// The longest a start or restart command may run before it is killed and counts as
    /// failed (masakari-monitors waits forever).
    pub command_timeout: Duration,
    /// The process table (`/proc`; tests may point elsewhere).
    pub proc_dir: PathBuf,
}

impl ProcessConfig {
    pub fn new(process_list: PathBuf, hostname: String, state_dir: PathBuf) -> Self {
        Self {
            process_list,
            hostname,
            state_dir,
            check_interval: Duration::from_secs(5),
            restart: RestartPolicy::default(),
            command_timeout: Duration::from_secs(300),
            proc_dir: PathBuf::from("/proc"),
        }
    }
}

/// What the state file holds, beside the reports not yet appended ([`crate::journal::Saved`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessState {
    /// Each listed process by `process_name`; a process no longer listed is forgotten.
    pub processes: BTreeMap<String, Phase>,
}

/// One watched process in the status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Watched {
    pub process_name: String,
    #[serde(flatten)]
    pub phase: Phase,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessMonitorError {
    #[error(transparent)]
    Books(#[from] BooksError),
    #[error("reading the process list")]
    List(#[source] ListError),
    #[error("looking at the running processes")]
    Scan(#[source] ScanError),
}

/// The process monitor, a [`Reconciler`].
pub struct ProcessMonitor {
    config: ProcessConfig,
    books: Books<ProcessState, Vec<Watched>>,
    list: Vec<ProcessEntry>,
}

impl Reconciler for ProcessMonitor {
    type Error = ProcessMonitorError;
    const NAME: &'static str = NAME;

    async fn reconcile(&mut self) -> Result<Duration, ProcessMonitorError> {
        self.reload_list()?;
        let lines =
            scan::command_lines(&self.config.proc_dir).map_err(ProcessMonitorError::Scan)?;
        let now = Timestamp::now();

        let mut next = ProcessState::default();
        let (mut reports, mut commands) = (Vec::new(), Vec::new());
        for entry in &self.list {
            let name = &entry.process_name;
            if next.processes.contains_key(name) {
                continue; // listed twice: watched once
            }
            let running = scan::is_running(&lines, name);
            let before = self.books.state().processes.get(name);
            let (phase, action) = decide(before, running, now, self.config.restart);
            if before != Some(&phase) {
                let phase = serde_json::to_string(&phase).unwrap_or_default();
                tracing::info!(process = %name, %phase, "process state changed");
            }
            match action {
                Some(Action::Report(event)) => reports.push(self.report(entry, event, now)),
                Some(action) => commands.push((entry.clone(), action)),
                None => {}
            }
            next.processes.insert(name.clone(), phase);
        }
        self.books.save(next, reports)?;
        self.books.status.last_observation = Some(now);
        self.books.append_unsent().await?;

        for (entry, action) in commands {
            self.act(&entry, action).await?;
        }
        self.books.status.last_error = None;
        self.write_status()?;
        Ok(self.wait())
    }

    fn error_policy(&mut self, error: &ProcessMonitorError) -> Duration {
        self.books.failed(error);
        self.config.check_interval
    }
}

impl ProcessMonitor {
    /// The monitor, with the state it saved before if any.
    pub fn new(config: ProcessConfig, outbox: Outbox) -> Result<Self, ProcessMonitorError> {
        let books = Books::open(
            NAME,
            &config.state_dir,
            &config.hostname,
            outbox,
            Vec::new(),
        )?;
        Ok(Self {
            config,
            books,
            list: Vec::new(),
        })
    }

    /// The state as last saved.
    pub fn state(&self) -> &ProcessState {
        self.books.state()
    }

    fn reload_list(&mut self) -> Result<(), ProcessMonitorError> {
        match list::load(&self.config.process_list) {
            Ok(list) => {
                self.list = list;
                Ok(())
            }
            Err(e) => Err(ProcessMonitorError::List(e)),
        }
    }

    fn report(
        &self,
        entry: &ProcessEntry,
        event: vigil_wire::payload::Event,
        at: Timestamp,
    ) -> Event {
        let payload = Payload::Process(ProcessPayload {
            process_name: entry.reported_name().to_owned(),
            event,
        });
        tracing::warn!(process = %entry.process_name, %event, "reporting the process");
        Event {
            notification_type: NotificationType::Process,
            hostname: self.config.hostname.clone(),
            generated_time: at,
            payload: payload.to_map(),
        }
    }

    /// Runs a start or a restart; the next attempt is counted from its end, as
    /// masakari-monitors sleeps `restart_interval` after a failure.
    async fn act(
        &mut self,
        entry: &ProcessEntry,
        action: Action,
    ) -> Result<(), ProcessMonitorError> {
        let steps = match action {
            Action::Start => command::Steps {
                which: "start",
                pre: entry.pre_start_command.as_deref(),
                main: entry.start_command.as_deref(),
                post: entry.post_start_command.as_deref(),
            },
            Action::Restart => command::Steps {
                which: "restart",
                pre: entry.pre_restart_command.as_deref(),
                main: entry.restart_command.as_deref(),
                post: entry.post_restart_command.as_deref(),
            },
            Action::Report(_) => return Ok(()),
        };
        let name = &entry.process_name;
        tracing::info!(process = %name, "running the {} commands", steps.which);
        match command::run_steps(&steps, entry.run_as_root, self.config.command_timeout).await {
            Ok(()) => tracing::info!(process = %name, "{} commands done", steps.which),
            Err(e) => {
                tracing::warn!(process = %name, error = %ErrorChain(&e), "{} failed", steps.which)
            }
        }
        let mut next = self.books.state().clone();
        if let Some(Phase::Down { next: at, .. }) = next.processes.get_mut(name) {
            *at = decide::after(Timestamp::now(), self.config.restart.interval);
        }
        Ok(self.books.save(next, Vec::new())?)
    }

    /// Until the next pass: the check interval, or sooner when a restart is due.
    fn wait(&self) -> Duration {
        let now = Timestamp::now().as_micros();
        self.books
            .state()
            .processes
            .values()
            .filter_map(|p| match p {
                Phase::Down { next, .. } => {
                    Some(next.as_micros().saturating_sub(now).max(0) as u64)
                }
                _ => None,
            })
            .map(Duration::from_micros)
            .fold(self.config.check_interval, Duration::min)
    }

    fn write_status(&mut self) -> Result<(), ProcessMonitorError> {
        self.books.status.watching = self
            .books
            .state()
            .processes
            .iter()
            .map(|(name, phase)| Watched {
                process_name: name.clone(),
                phase: phase.clone(),
            })
            .collect();
        Ok(self.books.write_status()?)
    }
}
