//! A monitor's saved state and the reports it has decided but not yet appended to the outbox.
//! A report is saved with the state (synced) before it is appended, so a monitor killed in
//! between appends it at its next start (the API counts a repeat once, by its 409); reports
//! are appended in order, each dropped from the state once it is in the outbox.

use crate::status::{MonitorStatus, StatusError};
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

/// Why a monitor's books could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum BooksError {
    #[error("opening the monitor's state")]
    Open(#[source] OpenError),
    #[error("saving the monitor's state")]
    Save(#[source] StateError),
    #[error("appending the saved reports to the outbox")]
    Append(#[source] JournalError),
    #[error("writing the status")]
    Status(#[source] StatusError),
}

/// What every monitor keeps besides what it observes: its journal (state and unsent
/// reports), its status, and the outbox it appends to. `W` is the status's own part.
pub struct Books<S, W> {
    name: &'static str,
    state_dir: PathBuf,
    journal: Journal<S>,
    outbox: Outbox,
    pub status: MonitorStatus<W>,
}

impl<S: Journaled, W: Serialize> Books<S, W> {
    /// Monitor `name`'s books in `state_dir`, with the state saved before if any.
    pub fn open(
        name: &'static str,
        state_dir: &Path,
        hostname: &str,
        outbox: Outbox,
        watching: W,
    ) -> Result<Self, BooksError> {
        let (journal, status) = Journal::open(name, state_dir, hostname, &outbox, watching)
            .map_err(BooksError::Open)?;
        Ok(Books {
            name,
            state_dir: state_dir.to_owned(),
            journal,
            outbox,
            status,
        })
    }

    /// The state as last saved.
    pub fn state(&self) -> &S {
        self.journal.state()
    }

    /// Saves `next` (see [`Journal::save`]).
    pub fn save(&mut self, next: S) -> Result<(), BooksError> {
        self.journal
            .save(next, &mut self.status)
            .map_err(BooksError::Save)
    }

    /// Appends the saved reports to the outbox (see [`Journal::append_unsent`]).
    pub async fn append_unsent(&mut self) -> Result<(), BooksError> {
        self.journal
            .append_unsent(&self.outbox, &mut self.status)
            .await
            .map_err(BooksError::Append)
    }

    /// Replaces the status file.
    pub fn write_status(&self) -> Result<(), BooksError> {
        crate::status::write(&self.state_dir, self.name, &self.status).map_err(BooksError::Status)
    }

    /// After a failed pass: the error goes in the status, which is written (a failure to
    /// write it is only logged: the pass's error is the one that matters).
    pub fn failed(&mut self, error: &(dyn std::error::Error + 'static)) {
        self.status.last_error = Some(vigil_domain::ErrorChain(error).to_string());
        if let Err(e) = self.write_status() {
            tracing::warn!(error = %vigil_domain::ErrorChain(&e), "the status could not be written");
        }
    }
}
