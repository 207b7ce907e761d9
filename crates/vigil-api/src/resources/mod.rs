//! The handlers, one module per resource, with what they share: reading validated bodies into
//! their `vigil_wire` types, path ids, and answers. `schemas` holds Masakari's request
//! schemas, `params` the query parameters and list bodies.

mod extensions;
mod hosts;
mod notifications;
pub(crate) mod params;
pub(crate) mod schemas;
mod segments;

pub use extensions::{extension_list, extension_show};
pub use hosts::{host_create, host_delete, host_list, host_show, host_update};
pub use notifications::{
    notification_create, notification_list, notification_show, vmove_list, vmove_show,
};
pub use segments::{segment_create, segment_delete, segment_list, segment_show, segment_update};

use crate::error::ApiError;
use crate::routes::json_response;
use crate::schema::{validate, Schema};
use axum::http::StatusCode;
use axum::response::Response;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use vigil_domain::{NotificationId, SegmentId};

/// 400 with the validator's message unless `value` matches `schema`.
fn checked(schema: &Schema, value: &Value) -> Result<(), ApiError> {
    validate(schema, value).map_err(|e| ApiError::bad_request(e.0))
}

/// `body` validated against `schema`, then read as its wire type. The schema accepts nothing
/// the type cannot read, so a failure to read is Vigil's bug, answered as one.
fn read<T: DeserializeOwned>(schema: &Schema, body: Value) -> Result<T, ApiError> {
    checked(schema, &body)?;
    serde_json::from_value(body).map_err(|e| ApiError::internal(&e))
}

/// An id from the path; one that does not parse names no resource (Masakari: 404).
fn parse_id<T: std::str::FromStr>(
    raw: &str,
    not_found: impl FnOnce() -> ApiError,
) -> Result<T, ApiError> {
    raw.parse().map_err(|_| not_found())
}

/// Masakari's update: a field the body has replaces the record's.
fn replace<T>(field: &mut T, from_body: Option<T>) {
    if let Some(value) = from_body {
        *field = value;
    }
}

fn segment_id(raw: &str) -> Result<SegmentId, ApiError> {
    parse_id(raw, || ApiError::no_such("failover segment", raw))
}

fn notification_id(raw: &str) -> Result<NotificationId, ApiError> {
    parse_id(raw, || ApiError::no_such("notification", raw))
}

fn ok<T: Serialize>(body: &T) -> Response {
    json_response(StatusCode::OK, body)
}
