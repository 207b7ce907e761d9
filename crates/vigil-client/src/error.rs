//! How a call to the Masakari API failed: before anything was sent (configuration), with no
//! answer, or with an answer that is not the one asked for (its status and body kept).

use reqwest::Method;
use vigil_domain::{Classify, ErrorClass};
use vigil_openstack::OsError;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no API address: noauth needs `url` (with Keystone the catalog's instance-ha endpoint is used when it is empty)")]
    NoUrl,
    #[error("trusting the CA file")]
    Ca(#[source] vigil_openstack::tls::CaFileError),
    #[error("building the HTTP client")]
    HttpClient {
        #[source]
        source: reqwest::Error,
    },
    #[error("setting up the Keystone session")]
    Session {
        #[source]
        source: Box<OsError>,
    },
    /// No answer: connection refused or reset, a timeout, TLS.
    #[error("{method} {url}")]
    Send {
        method: Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// Through Keystone: no token, no endpoint in the catalog, or no answer.
    #[error("{method} {path} through Keystone")]
    Keystone {
        method: Method,
        path: String,
        #[source]
        source: Box<OsError>,
    },
    /// The API answered with an error status; `body` is what it sent, whole.
    #[error("{method} {url} answered {status}: {}", fault_message(body))]
    Refused {
        method: Method,
        url: String,
        status: u16,
        body: String,
    },
    #[error("reading the answer ({status}) of {method} {url}")]
    Read {
        method: Method,
        url: String,
        status: u16,
        #[source]
        source: reqwest::Error,
    },
    #[error("the answer ({status}) of {method} {url} is not the expected JSON")]
    Decode {
        method: Method,
        url: String,
        status: u16,
        #[source]
        source: serde_json::Error,
    },
}

impl ClientError {
    /// The status and body of the API's answer, if it answered at all: what a sender decides
    /// on. A success whose body could not be read still counts as an answer of its status.
    pub fn answered(&self) -> Option<(u16, &str)> {
        match self {
            ClientError::Refused { status, body, .. } => Some((*status, body)),
            ClientError::Read { status, .. } | ClientError::Decode { status, .. } => {
                Some((*status, ""))
            }
            _ => None,
        }
    }

    pub fn status(&self) -> Option<u16> {
        self.answered().map(|(status, _)| status)
    }

    /// 409: the API has this report already (or ignores its host, on maintenance).
    pub fn is_duplicate(&self) -> bool {
        self.status() == Some(409)
    }
}

impl Classify for ClientError {
    fn class(&self) -> ErrorClass {
        match self {
            ClientError::Send { .. } | ClientError::Read { .. } => ErrorClass::Transient,
            ClientError::Keystone { source, .. } => source.class(),
            ClientError::Refused { status, .. } => match status {
                404 => ErrorClass::Gone,
                409 => ErrorClass::Conflict,
                408 | 429 | 500..=599 => ErrorClass::Transient,
                _ => ErrorClass::Fatal,
            },
            _ => ErrorClass::Fatal,
        }
    }
}

/// The message of a Masakari fault body (`{"badRequest": {"code": 400, "message": …}}`), or
/// the body itself.
fn fault_message(body: &str) -> String {
    serde_json::from_str::<vigil_wire::FaultBody>(body)
        .map(|f| f.fault.message)
        .unwrap_or_else(|_| body.trim().to_owned())
}
