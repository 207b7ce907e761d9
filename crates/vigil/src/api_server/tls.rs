//! The API's certificate and key: read from PEM files at start, and again on SIGHUP. Each
//! connection takes the configuration in force when it is accepted, so a reload changes what
//! new connections see and never touches one in flight.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use tokio_rustls::TlsAcceptor;

/// Why a certificate and key could not be used (at start: fatal; on reload: the old stay).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading the certificate file {}", .path.display())]
    ReadCertificate {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the certificate file {} holds no PEM certificate", .path.display())]
    NoCertificate { path: PathBuf },
    #[error("reading the private key file {}", .path.display())]
    ReadKey {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },
    #[error("the certificate {} with the key {} cannot serve TLS", .cert.display(), .key.display())]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: rustls::Error,
    },
}

/// The certificate files and the TLS configuration read from them last.
pub struct Certificates {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<ServerConfig>>,
}

impl Certificates {
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Certificates, TlsError> {
        Ok(Certificates {
            current: RwLock::new(Arc::new(server_config(cert_file, key_file)?)),
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
        })
    }

    /// A handshake with the configuration in force now.
    pub fn acceptor(&self) -> TlsAcceptor {
        let config = self.current.read().unwrap_or_else(PoisonError::into_inner);
        TlsAcceptor::from(config.clone())
    }

    /// Re-reads the files; on failure the configuration in force stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = Arc::new(server_config(&self.cert_file, &self.key_file)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
        Ok(())
    }

    /// [`Certificates::reload`], with the outcome logged (the SIGHUP handler's).
    pub fn reload_logged(&self) {
        match self.reload() {
            Ok(()) => tracing::info!(cert = %self.cert_file.display(), "API certificate reloaded"),
            Err(e) => tracing::error!(
                error = &e as &dyn std::error::Error,
                "API certificate not reloaded; the previous one stays in use"
            ),
        }
    }
}

fn server_config(cert_file: &Path, key_file: &Path) -> Result<ServerConfig, TlsError> {
    let read_cert = |source| TlsError::ReadCertificate {
        path: cert_file.to_owned(),
        source,
    };
    let chain = CertificateDer::pem_file_iter(cert_file)
        .map_err(read_cert)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(read_cert)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_file.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|source| TlsError::ReadKey {
        path: key_file.to_owned(),
        source,
    })?;
    let unusable = |source| TlsError::Unusable {
        cert: cert_file.to_owned(),
        key: key_file.to_owned(),
        source,
    };
    // The ring provider named outright: the process links no other, and must not guess.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(unusable)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(unusable)?;
    // The API speaks HTTP/1.1 only (see `api_server`), and says so in the handshake.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}
