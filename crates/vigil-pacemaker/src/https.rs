//! The alerter's `https` driver, for a recovery controller that is neither Vigil nor Masakari:
//! each failed host POSTed to the operator's endpoint as the instance-HA design's host-failure
//! report (`event_type` "host failure", version "1.0"). TLS trusts the system's roots and a CA
//! file, or nothing (`insecure`); the alerter authenticates with a bearer token, a client
//! certificate, or both.
//!
//! A retry sends the same body, `id` included, so the endpoint can tell a repeat from a new
//! failure; 2xx and 409 (it has that report already) count as accepted, anything else is tried
//! again. Redirects are not followed: a POST turned into a GET would look delivered.

use std::path::{Path, PathBuf};
use std::time::Duration;
use uuid::Uuid;
use vigil_domain::Timestamp;
use vigil_openstack::tls::CaFileError;

/// How to reach the endpoint.
#[derive(Clone, Debug, Default)]
pub struct HttpsConfig {
    pub url: String,
    /// PEM certificates trusted besides the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate: for a test bed, never in production.
    pub insecure: bool,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
    /// A client certificate (PEM, the chain) and its private key (PEM), for endpoints that
    /// authenticate their callers by TLS.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Reported to the controller as the failed host's `on_shared_storage`: true only when
    /// its instances' disks are on storage the other hosts share.
    pub on_shared_storage: bool,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    #[error("trusting the CA file")]
    Ca(#[source] CaFileError),
    #[error("reading {}", .path.display())]
    ReadIdentity {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the client certificate {} and its key cannot be used", .cert.display())]
    Identity {
        cert: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("a client key without a client certificate")]
    KeyWithoutCert,
    #[error("building the HTTP client")]
    Build(#[source] reqwest::Error),
    /// No answer: connection refused or reset, a timeout, TLS.
    #[error("POST {url}")]
    Send {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("POST {url} answered {status}{}", body_suffix(body))]
    Refused {
        url: String,
        status: u16,
        body: String,
    },
}

/// `: <body>`, or nothing for an empty body.
fn body_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

/// One failure of one host, as the alerter first saw it: the same on every attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Failure {
    pub id: Uuid,
    pub at: Timestamp,
}

impl Failure {
    pub fn now() -> Failure {
        Failure {
            id: Uuid::new_v4(),
            at: Timestamp::now(),
        }
    }
}

/// The report's body: `generated_time` in RFC 3339 (UTC), `failure_time` in seconds since
/// the Unix epoch, `hostname` the host's name as the queue holds it (Nova's name for it).
pub fn report(host: &str, failure: Failure, on_shared_storage: bool) -> serde_json::Value {
    serde_json::json!({
        "id": failure.id,
        "event_type": "host failure",
        "version": "1.0",
        "generated_time": failure.at.to_datetime().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        "payload": {
            "hostname": host,
            "on_shared_storage": on_shared_storage,
            "failure_time": failure.at.as_micros().div_euclid(1_000_000),
        },
    })
}

pub struct HttpsDriver {
    http: reqwest::Client,
    url: String,
    bearer_token: Option<String>,
    on_shared_storage: bool,
}

impl HttpsDriver {
    pub fn new(config: &HttpsConfig) -> Result<HttpsDriver, HttpsError> {
        let mut builder = reqwest::Client::builder()
            .timeout(config.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(config.insecure);
        if let Some(path) = &config.ca_file {
            builder = vigil_openstack::tls::trust_ca_file(builder, path).map_err(HttpsError::Ca)?;
        }
        match (&config.client_cert, &config.client_key) {
            (Some(cert), key) => builder = builder.identity(identity(cert, key.as_deref())?),
            (None, Some(_)) => return Err(HttpsError::KeyWithoutCert),
            (None, None) => {}
        }
        Ok(HttpsDriver {
            http: builder.build().map_err(HttpsError::Build)?,
            url: config.url.clone(),
            bearer_token: config.bearer_token.clone(),
            on_shared_storage: config.on_shared_storage,
        })
    }

    /// Hands one failed host over; `Ok` once the endpoint accepted it (or had it already).
    pub async fn deliver(&self, host: &str, failure: Failure) -> Result<(), HttpsError> {
        let mut request =
            self.http
                .post(&self.url)
                .json(&report(host, failure, self.on_shared_storage));
        if let Some(token) = &self.bearer_token {
            request = request.bearer_auth(token);
        }
        let send = |source| HttpsError::Send {
            url: self.url.clone(),
            source,
        };
        let response = request.send().await.map_err(send)?;
        let status = response.status();
        if status.is_success() || status == reqwest::StatusCode::CONFLICT {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        Err(HttpsError::Refused {
            url: self.url.clone(),
            status: status.as_u16(),
            body: body.trim().chars().take(500).collect(),
        })
    }
}

/// The client certificate and its key as one PEM identity; the key may be in the
/// certificate's own file.
fn identity(cert: &Path, key: Option<&Path>) -> Result<reqwest::Identity, HttpsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| HttpsError::ReadIdentity {
            path: path.to_owned(),
            source,
        })
    };
    let mut pem = read(cert)?;
    if let Some(key) = key {
        pem.push(b'\n');
        pem.extend(read(key)?);
    }
    reqwest::Identity::from_pem(&pem).map_err(|source| HttpsError::Identity {
        cert: cert.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_has_the_fields_of_the_design() {
        let failure = Failure {
            id: Uuid::parse_str("6f1c3a53-8d39-4a3a-9f0e-0ad8b3c2d101").unwrap(),
            at: Timestamp::from_micros(1_500_000_000_123_456),
        };
        let want = serde_json::json!({
            "id": "6f1c3a53-8d39-4a3a-9f0e-0ad8b3c2d101",
            "event_type": "host failure",
            "version": "1.0",
            "generated_time": "2017-07-14T02:40:00.123456Z",
            "payload": {
                "hostname": "compute-1.example.org",
                "on_shared_storage": true,
                "failure_time": 1_500_000_000,
            },
        });
        assert_eq!(report("compute-1.example.org", failure, true), want);
        let before_epoch = Failure {
            at: Timestamp::from_micros(-1),
            ..failure
        };
        assert_eq!(
            report("h", before_epoch, false)["payload"]["failure_time"],
            -1
        );
    }

    #[test]
    fn a_refusal_says_what_the_endpoint_answered() {
        let refused = |body: &str| HttpsError::Refused {
            url: "https://ha.example.org/failures".into(),
            status: 503,
            body: body.into(),
        };
        assert_eq!(
            refused("").to_string(),
            "POST https://ha.example.org/failures answered 503"
        );
        assert_eq!(
            refused("busy").to_string(),
            "POST https://ha.example.org/failures answered 503: busy"
        );
    }
}
