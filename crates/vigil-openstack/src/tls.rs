//! A CA file added to the certificates an HTTPS client trusts, for every Vigil client that
//! takes one (the API client, the Redfish driver).

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CaFileError {
    #[error("reading the CA file {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the CA file {} holds a certificate that cannot be read", .path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("the CA file {} holds no PEM certificate", .path.display())]
    Empty { path: PathBuf },
}

/// `builder` trusting every certificate of the PEM file at `path` besides the built-in roots.
pub fn trust_ca_file(
    mut builder: reqwest::ClientBuilder,
    path: &Path,
) -> Result<reqwest::ClientBuilder, CaFileError> {
    let pem = std::fs::read(path).map_err(|source| CaFileError::Read {
        path: path.to_owned(),
        source,
    })?;
    let certs =
        reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| CaFileError::Parse {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(CaFileError::Empty {
            path: path.to_owned(),
        });
    }
    for cert in certs {
        builder = builder.add_root_certificate(cert);
    }
    Ok(builder)
}
