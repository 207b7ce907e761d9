//! A monitor's saved state and the reports it has decided but not yet appended to the outbox.
//! A report is saved with the state (synced) before it is appended, so a monitor killed in
//! between appends it at its next start (the API counts a repeat once, by its 409); reports
//! are appended in order, each dropped from the state once it is in the outbox.

use crate::status::{MonitorStatus, StatusError};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::path::{Path, PathBuf};
use vigil_domain::Timestamp;
use vigil_outbox::{Event, Outbox, OutboxError, StateError, StateFile};

/// What a monitor's state file holds: the monitor's own state `S`, with the reports it has
/// decided but not yet appended (`unsent`) beside its fields, as one JSON object.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Saved<S> {
    #[serde(flatten)]
    pub state: S,
    /// Reports decided and saved but not yet appended to the outbox.
    pub unsent: Vec<Event>,
}

/// Why a monitor's books could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum BooksError {
    #[error("creating the state directory {path}")]
    StateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("loading the monitor's state")]
    Load(#[source] StateError),
    #[error("saving the monitor's state")]
    Save(#[source] StateError),
    #[error("appending a report to the outbox")]
    Append(#[source] OutboxError),
    #[error("writing the status")]
    Status(#[source] StatusError),
}

/// What every monitor keeps besides what it observes: its state file (its state and its
/// unsent reports) and the state as last saved, its status, and the outbox it appends to.
/// `W` is the status's own part.
pub struct Books<S, W> {
    name: &'static str,
    state_dir: PathBuf,
    file: StateFile<Saved<S>>,
    saved: Saved<S>,
    outbox: Outbox,
    pub status: MonitorStatus<W>,
}

/// What a monitor's own state must be to be saved and compared: any plain data.
pub trait State: Clone + Default + PartialEq + Serialize + DeserializeOwned {}

impl<T: Clone + Default + PartialEq + Serialize + DeserializeOwned> State for T {}

impl<S: State, W: Serialize> Books<S, W> {
    /// Monitor `name`'s books: its state file `<state_dir>/<name>.json` (the directory
    /// created if missing) with the state saved before if any, and its status before its
    /// first pass.
    pub fn open(
        name: &'static str,
        state_dir: &Path,
        hostname: &str,
        outbox: Outbox,
        watching: W,
    ) -> Result<Self, BooksError> {
        std::fs::create_dir_all(state_dir).map_err(|source| BooksError::StateDir {
            path: state_dir.to_owned(),
            source,
        })?;
        let file = StateFile::new(state_dir.join(format!("{name}.json")));
        let saved: Saved<S> = file.load().map_err(BooksError::Load)?.unwrap_or_default();
        let status = MonitorStatus {
            monitor: name.into(),
            hostname: hostname.into(),
            pid: std::process::id(),
            started_at: Timestamp::now(),
            last_observation: None,
            outbox: outbox.dir().to_owned(),
            watching,
            reports_appended: 0,
            reports_not_appended: saved.unsent.len(),
            last_error: None,
        };
        Ok(Books {
            name,
            state_dir: state_dir.to_owned(),
            file,
            saved,
            outbox,
            status,
        })
    }

    /// The state as last saved.
    pub fn state(&self) -> &S {
        &self.saved.state
    }

    /// Saves `next` with `reports` after the unsent ones, if that changes what is saved (the
    /// file is synced: not every pass); the status shows how many reports wait.
    pub fn save(&mut self, next: S, reports: Vec<Event>) -> Result<(), BooksError> {
        let mut unsent = self.saved.unsent.clone();
        unsent.extend(reports);
        self.store(Saved {
            state: next,
            unsent,
        })
    }

    fn store(&mut self, next: Saved<S>) -> Result<(), BooksError> {
        if next != self.saved {
            self.file.save(&next).map_err(BooksError::Save)?;
            self.saved = next;
        }
        self.status.reports_not_appended = self.saved.unsent.len();
        Ok(())
    }

    /// Appends the saved reports in order, each removed from the state once in the outbox.
    pub async fn append_unsent(&mut self) -> Result<(), BooksError> {
        while let Some(event) = self.saved.unsent.first().cloned() {
            self.outbox
                .append(event)
                .await
                .map_err(BooksError::Append)?;
            self.status.reports_appended += 1;
            let mut next = self.saved.clone();
            next.unsent.remove(0);
            self.store(next)?;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Counts {
        seen: BTreeMap<String, u32>,
    }

    #[tokio::test]
    async fn the_state_file_holds_the_state_and_its_unsent_reports_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path().join("outbox")).unwrap();
        let state_dir = dir.path().join("state");
        let mut books: Books<Counts, ()> =
            Books::open("test", &state_dir, "compute-1", outbox.clone(), ()).unwrap();
        let report: Event = serde_json::from_value(serde_json::json!({
            "type": "PROCESS", "hostname": "compute-1",
            "generated_time": "2026-01-02T03:04:05.000000",
            "payload": {"process_name": "libvirtd", "event": "STOPPED"}
        }))
        .unwrap();
        let next = Counts {
            seen: [("a".to_owned(), 1)].into(),
        };
        books.save(next.clone(), vec![report.clone()]).unwrap();
        let file: serde_json::Value =
            serde_json::from_slice(&std::fs::read(state_dir.join("test.json")).unwrap()).unwrap();
        assert_eq!(file["seen"]["a"], 1);
        assert_eq!(file["unsent"][0]["hostname"], "compute-1");
        assert_eq!(books.status.reports_not_appended, 1);

        // Opened again: the report waits, and is appended once.
        drop(books);
        let mut books: Books<Counts, ()> =
            Books::open("test", &state_dir, "compute-1", outbox.clone(), ()).unwrap();
        assert_eq!(books.state(), &next);
        books.append_unsent().await.unwrap();
        books.append_unsent().await.unwrap();
        assert_eq!(outbox.pending().unwrap().len(), 1);
        assert_eq!(books.status.reports_not_appended, 0);
    }
}
