//! How a call to OpenStack failed, and what a caller that may retry should make of it.

use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::path::PathBuf;
use vigil_domain::{Classify, ErrorClass};

/// A failed OpenStack operation: reading the credentials, authenticating, or one request.
#[derive(Debug, thiserror::Error)]
pub enum OsError {
    #[error("no clouds.yaml found for cloud {cloud}")]
    NoCloudsYaml { cloud: String },
    #[error("reading {path}")]
    ReadCloudsYaml {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a clouds.yaml")]
    ParseCloudsYaml {
        path: PathBuf,
        #[source]
        source: serde_yaml::Error,
    },
    #[error("{path} has no cloud named {cloud}")]
    NoSuchCloud { path: PathBuf, cloud: String },
    #[error("trusting the [openstack] CA file")]
    CaFile {
        #[source]
        source: crate::tls::CaFileError,
    },
    #[error("building the HTTP client")]
    HttpClient {
        #[source]
        source: reqwest::Error,
    },
    #[error("authenticating with Keystone at {url}")]
    Authenticate {
        url: String,
        #[source]
        source: Exchange,
    },
    #[error("the service catalog has no {service_type} endpoint for interface {interface:?} and region {region:?}")]
    NoEndpoint {
        service_type: String,
        interface: String,
        region: String,
    },
    /// One request to a service (Nova, or Keystone for a token validation).
    #[error("{method} {url}")]
    Request {
        method: Method,
        url: String,
        #[source]
        source: Exchange,
    },
    /// A service answered with JSON that does not have the shape its API documents.
    #[error("{service}'s answer for {what} is not what its API documents")]
    Unexpected {
        service: &'static str,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// What went wrong in one HTTP exchange.
#[derive(Debug, thiserror::Error)]
pub enum Exchange {
    #[error("no answer")]
    Send(#[source] reqwest::Error),
    /// The service refused; `message` is the one of its error body (its words, not a cause).
    #[error("answered {status}: {message}")]
    Status { status: StatusCode, message: String },
    #[error("the answer could not be read")]
    Read(#[source] reqwest::Error),
    #[error("the answer is not the expected JSON")]
    Decode(#[source] serde_json::Error),
    #[error("Keystone sent no X-Subject-Token")]
    NoSubjectToken,
    #[error("the token has no readable expires_at")]
    NoExpiry,
}

impl OsError {
    /// The HTTP status the service answered, if it answered with an error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            OsError::Authenticate { source, .. } | OsError::Request { source, .. } => {
                match source {
                    Exchange::Status { status, .. } => Some(*status),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The service's own error message, if it answered with an error.
    pub fn message(&self) -> Option<&str> {
        match self {
            OsError::Authenticate {
                source: Exchange::Status { message, .. },
                ..
            }
            | OsError::Request {
                source: Exchange::Status { message, .. },
                ..
            } => Some(message),
            _ => None,
        }
    }

    /// Nova's 400 "Compute service of X is still in use": it does not see the host down yet,
    /// so an evacuation or a service deletion must wait.
    pub fn compute_service_in_use(&self) -> bool {
        self.status() == Some(StatusCode::BAD_REQUEST)
            && self
                .message()
                .is_some_and(|m| m.contains("is still in use"))
    }
}

impl Classify for OsError {
    fn class(&self) -> ErrorClass {
        match self {
            OsError::Request { source, .. } => source.class(),
            // Keystone down or restarting is worth waiting for; anything else it says about our
            // credentials or its address will not change by asking again.
            OsError::Authenticate { source, .. } => match source.class() {
                ErrorClass::Transient => ErrorClass::Transient,
                _ => ErrorClass::Fatal,
            },
            _ => ErrorClass::Fatal,
        }
    }
}

impl Classify for Exchange {
    fn class(&self) -> ErrorClass {
        match self {
            Exchange::Send(_) | Exchange::Read(_) => ErrorClass::Transient,
            Exchange::Status { status, message } => classify_status(*status, message),
            Exchange::Decode(_) | Exchange::NoSubjectToken | Exchange::NoExpiry => {
                ErrorClass::Fatal
            }
        }
    }
}

/// A refusal's class, Nova's two 400s that describe a passing state included.
fn classify_status(status: StatusCode, message: &str) -> ErrorClass {
    match status {
        StatusCode::NOT_FOUND => ErrorClass::Gone,
        StatusCode::CONFLICT => ErrorClass::Conflict,
        StatusCode::TOO_MANY_REQUESTS => ErrorClass::Transient,
        s if s.is_server_error() => ErrorClass::Transient,
        // The service of a failed host is not seen down yet (evacuate, service delete).
        StatusCode::BAD_REQUEST if message.contains("is still in use") => ErrorClass::Transient,
        // confirmResize while the migration record is not (yet, or any more) `finished`,
        // though the server already shows VERIFY_RESIZE: a state to look at, not a refusal.
        StatusCode::BAD_REQUEST if message.contains("has not been resized") => ErrorClass::Conflict,
        _ => ErrorClass::Fatal,
    }
}

/// The message of an OpenStack error body (`{"badRequest": {"message": …}}`, Keystone's
/// `{"error": {"message": …}}`), or the raw text.
pub(crate) async fn refusal(resp: reqwest::Response) -> Exchange {
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    let message = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|v| {
            v.as_object()
                .and_then(|o| o.values().next().cloned())
                .and_then(|inner| {
                    inner
                        .get("message")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
        })
        .unwrap_or(text);
    Exchange::Status { status, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(status: u16, message: &str) -> Exchange {
        Exchange::Status {
            status: StatusCode::from_u16(status).unwrap(),
            message: message.into(),
        }
    }

    fn refused(status: u16, message: &str) -> OsError {
        OsError::Request {
            method: Method::POST,
            url: "http://nova/servers/x/action".into(),
            source: exchange(status, message),
        }
    }

    fn keystone(status: u16) -> OsError {
        OsError::Authenticate {
            url: "http://k/v3/auth/tokens".into(),
            source: exchange(status, "Keystone's words"),
        }
    }

    #[test]
    fn answers_are_classified_once() {
        use ErrorClass::*;
        let cases = [
            (404, "Instance x could not be found.", Gone),
            (409, "Cannot 'evacuate' instance x now", Conflict),
            (500, "Unexpected API Error.", Transient),
            (503, "", Transient),
            (429, "", Transient),
            (400, "Compute service of c1 is still in use.", Transient),
            (400, "Instance has not been resized.", Conflict),
            (400, "Invalid input for field/attribute host.", Fatal),
            (403, "Policy doesn't allow it.", Fatal),
        ];
        for (status, message, class) in cases {
            assert_eq!(
                refused(status, message).class(),
                class,
                "{status} {message}"
            );
        }
        assert!(refused(400, "Compute service of c1 is still in use.").compute_service_in_use());
        // Keystone down is worth waiting for, our credentials refused is not.
        assert_eq!(keystone(502).class(), Transient);
        assert_eq!(keystone(401).class(), Fatal);
        assert_eq!(keystone(404).class(), Fatal);
    }

    #[test]
    fn messages_do_not_repeat_their_cause() {
        let e = refused(409, "Cannot 'evacuate' instance x");
        assert_eq!(e.to_string(), "POST http://nova/servers/x/action");
        let cause = std::error::Error::source(&e).unwrap().to_string();
        assert_eq!(cause, "answered 409 Conflict: Cannot 'evacuate' instance x");
    }
}
