//! A monitor's saved state and the reports it has decided but not yet appended to the outbox.
//! A report is saved with the state (synced) before it is appended, so a monitor killed in
//! between appends it at its next start (the API counts a repeat once, by its 409); reports
//! are appended in order, each dropped from the state once it is in the outbox.

use crate::status::MonitorStatus;
use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};
use vigil_domain::Timestamp;
use vigil_outbox::{Event, Outbox, OutboxError, StateError, StateFile};

/// A monitor's state, with its reports not yet appended.
pub trait Journaled: Clone + Default + PartialEq + Serialize + DeserializeOwned {
    fn unsent(&self) -> &Vec<Event>;
    fn unsent_mut(&mut self) -> &mut Vec<Event>;
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("creating the state directory {path}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("loading the monitor's state")]
    Load(#[source] StateError),
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("appending a report to the outbox")]
    Append(#[source] OutboxError),
    #[error("saving the monitor's state")]
    Save(#[source] StateError),
}

/// The state file and the state as last saved.
pub struct Journal<S> {
    file: StateFile<S>,
    state: S,
}

impl<S: Journaled> Journal<S> {
    /// Monitor `name`'s journal, `<state_dir>/<name>.json` (the directory created if
    /// missing), and its status before its first pass.
    pub fn open<W>(
        name: &str,
        state_dir: &Path,
        hostname: &str,
        outbox: &Outbox,
        watching: W,
    ) -> Result<(Self, MonitorStatus<W>), OpenError> {
        std::fs::create_dir_all(state_dir).map_err(|source| OpenError::StateDir {
            path: state_dir.to_owned(),
            source,
        })?;
        let journal =
            Self::load(state_dir.join(format!("{name}.json"))).map_err(OpenError::Load)?;
        let status = MonitorStatus {
            monitor: name.into(),
            hostname: hostname.into(),
            pid: std::process::id(),
            started_at: Timestamp::now(),
            last_observation: None,
            outbox: outbox.dir().to_owned(),
            watching,
            reports_appended: 0,
            reports_not_appended: journal.state().unsent().len(),
            last_error: None,
        };
        Ok((journal, status))
    }

    /// The state saved at `path` before, or the default.
    pub fn load(path: PathBuf) -> Result<Self, StateError> {
        let file = StateFile::new(path);
        let state = file.load()?.unwrap_or_default();
        Ok(Journal { file, state })
    }

    /// The state as last saved.
    pub fn state(&self) -> &S {
        &self.state
    }

    /// Saves `next` if it differs from what is saved (the file is synced: not every pass);
    /// `status` shows how many reports wait.
    pub fn save<W>(&mut self, next: S, status: &mut MonitorStatus<W>) -> Result<(), StateError> {
        if next != self.state {
            self.file.save(&next)?;
            self.state = next;
        }
        status.reports_not_appended = self.state.unsent().len();
        Ok(())
    }

    /// Appends the saved reports in order, each removed from the state once in the outbox.
    pub async fn append_unsent<W>(
        &mut self,
        outbox: &Outbox,
        status: &mut MonitorStatus<W>,
    ) -> Result<(), JournalError> {
        while let Some(event) = self.state.unsent().first().cloned() {
            outbox.append(event).await.map_err(JournalError::Append)?;
            status.reports_appended += 1;
            let mut next = self.state.clone();
            next.unsent_mut().remove(0);
            self.save(next, status).map_err(JournalError::Save)?;
        }
        Ok(())
    }
}
