//! Passwords for power devices, read from a file or an environment variable at the moment they
//! are needed, so that the main configuration never holds one in plain text.

use serde::Deserialize;
use std::path::PathBuf;

/// Where a device's password comes from. Exactly one of the two is given.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// A file holding the password; a trailing newline is ignored.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The name of an environment variable holding the password.
    #[serde(default)]
    pub password_env: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("reading the password file {}", .path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the environment variable {name} is not set")]
    Env { name: String },
    #[error("give exactly one of password_file and password_env")]
    Ambiguous,
}

impl Secret {
    pub fn from_file(path: impl Into<PathBuf>) -> Secret {
        Secret {
            password_file: Some(path.into()),
            password_env: None,
        }
    }

    /// The password, read now: a rotated file is picked up without a restart.
    pub fn read(&self) -> Result<String, SecretError> {
        match (&self.password_file, &self.password_env) {
            (Some(path), None) => std::fs::read_to_string(path)
                .map(|s| s.trim_end_matches(['\n', '\r']).to_owned())
                .map_err(|source| SecretError::File {
                    path: path.clone(),
                    source,
                }),
            (None, Some(name)) => {
                std::env::var(name).map_err(|_| SecretError::Env { name: name.clone() })
            }
            _ => Err(SecretError::Ambiguous),
        }
    }
}
