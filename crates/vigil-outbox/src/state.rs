//! [`StateFile`]: a monitor's small persisted state (the last status seen of each node, domain
//! or process), so a change that happened while the monitor was stopped is still reported.

use crate::error::StateError;
use crate::fsio;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A JSON file holding one `T`, replaced atomically: after a crash at any point it holds the
/// previous state or the new one, whole.
pub struct StateFile<T> {
    path: PathBuf,
    /// Saves of one handle take turns: they share the temporary file.
    saving: Mutex<()>,
    _state: PhantomData<fn() -> T>,
}

impl<T: Serialize + DeserializeOwned> StateFile<T> {
    /// The state kept at `path` (its directory must exist). One handle per file: two
    /// processes saving the same file would share its temporary file.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            saving: Mutex::new(()),
            _state: PhantomData,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state; `None` if nothing was ever saved (a first start).
    pub fn load(&self) -> Result<Option<T>, StateError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateError::Read {
                    path: self.path.clone(),
                    source,
                })
            }
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| StateError::Parse {
                path: self.path.clone(),
                source,
            })
    }

    /// Replaces the saved state with `state`: written to a temporary file, synced, renamed
    /// over the old one, the directory synced, before this returns.
    pub fn save(&self, state: &T) -> Result<(), StateError> {
        let bytes = serde_json::to_vec_pretty(state).map_err(|source| StateError::Encode {
            path: self.path.clone(),
            source,
        })?;
        let _turn = self.saving.lock().unwrap_or_else(|p| p.into_inner());
        fsio::replace(&self.path, &bytes).map_err(|source| StateError::Write {
            path: self.path.clone(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Seen {
        domains: BTreeMap<String, String>,
    }

    #[test]
    fn saves_replace_the_state_whole_and_a_first_start_finds_none() {
        let dir = tempfile::tempdir().unwrap();
        let file = StateFile::<Seen>::new(dir.path().join("instance.json"));
        assert_eq!(file.load().unwrap(), None);
        let mut seen = Seen {
            domains: BTreeMap::from([("d1".into(), "running".into())]),
        };
        file.save(&seen).unwrap();
        seen.domains.insert("d2".into(), "shut off".into());
        file.save(&seen).unwrap();
        assert_eq!(file.load().unwrap(), Some(seen));
        // Only the state file is left: the temporary one was renamed over it.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["instance.json"]);
    }

    #[test]
    fn a_file_that_is_not_the_state_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("process.json");
        std::fs::write(&path, "{\"domains\": 3}").unwrap();
        let err = StateFile::<Seen>::new(&path).load().unwrap_err();
        assert!(
            matches!(&err, StateError::Parse { path: p, .. } if *p == path),
            "{err}"
        );
    }
}
