//! API errors, the one place store errors become Masakari's faults (`vigil_wire::FaultBody`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use vigil_store::StoreError;
use vigil_wire::FaultBody;

/// An error answer. Everything a handler can fail with becomes one of these.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
    /// Masakari's 404 for an id that names no `what` (`failover segment`, `notification`, …).
    pub fn no_such(what: &str, id: impl std::fmt::Display) -> Self {
        Self::not_found(format!("No {what} with id {id}."))
    }
    /// Masakari's 409 for a name another live `what` (`Failover segment`, `Host`) has.
    fn name_exists(what: &str, name: &str) -> Self {
        Self::conflict(format!("{what} with name {name} already exists."))
    }
    /// Masakari's 409 for a change refused while a notification of the segment is handled.
    fn in_use(what: &str, id: impl std::fmt::Display) -> Self {
        Self::conflict(format!(
            "{what} {id} can't be updated as it is in-use to process notifications."
        ))
    }
    pub fn forbidden(rule: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            format!("Policy doesn't allow {rule} to be performed."),
        )
    }
    pub fn bad_method(method: &str, action: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!(
                "The request method: '{method}' with action: '{action}' is not allowed on this resource"
            ),
        )
    }
    /// Something the API needs (the database, Keystone) cannot be reached: nothing was done,
    /// and the same request may succeed later. The cause goes to the log.
    pub fn unavailable(what: &str, cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::warn!(error = cause, "{what} unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The {what} is temporarily unavailable. Please retry later."),
        )
    }
    /// An unexpected failure: the cause goes to the log, the client gets no internals.
    pub fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        // Recorded as an error value, the log line carries its whole source chain.
        tracing::error!(error = cause, "unexpected error serving a request");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Unexpected API Error. Please check the Vigil API log for details.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = FaultBody::new(self.status.as_u16(), self.message);
        let text = serde_json::to_string(&body).expect("a fault body is strings and a number");
        let mut resp = (self.status, text).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        resp
    }
}

/// webob's plain-text 404 for paths no route matches (Masakari answers these in text).
pub fn plain_not_found() -> Response {
    let mut resp = (
        StatusCode::NOT_FOUND,
        "404 Not Found\n\nThe resource could not be found.\n\n   ",
    )
        .into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=UTF-8"),
    );
    resp
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::SegmentNotFound(id) => ApiError::no_such("failover segment", id),
            StoreError::HostNotFound { segment, host } => ApiError::not_found(format!(
                "Host '{host}' under failover_segment '{segment}' could not be found."
            )),
            StoreError::HostNameNotFound(name) => {
                ApiError::bad_request(format!("Host with name {name} could not be found."))
            }
            StoreError::NotificationNotFound(id) => ApiError::no_such("notification", id),
            StoreError::VMoveNotFound(id) => ApiError::no_such("vm move", id),
            StoreError::SegmentNameExists(name) => ApiError::name_exists("Failover segment", &name),
            StoreError::HostNameExists(name) => ApiError::name_exists("Host", &name),
            StoreError::SegmentInUse(id) => ApiError::in_use("Failover segment", id),
            StoreError::HostInUse(id) => ApiError::in_use("Host", id),
            StoreError::MarkerNotFound(m) => {
                ApiError::bad_request(format!("Marker {m} could not be found."))
            }
            StoreError::InvalidSortKey(k) => ApiError::bad_request(format!(
                "InvalidSortKey('Sort key supplied is invalid: {k}')"
            )),
            // Raised with the notification type by the handler, which knows it.
            StoreError::HostOnMaintenance(host) => ApiError::conflict(format!(
                "Notification received from host {host} is ignored as the host is already under maintenance."
            )),
            StoreError::DuplicateNotification(host) => ApiError::conflict(format!(
                "Notification received from host {host} is duplicate."
            )),
            // A report answered so was not stored: the store commits before it answers.
            other if other.is_unavailable() => ApiError::unavailable("database", &other),
            other => ApiError::internal(&other),
        }
    }
}
