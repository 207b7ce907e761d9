//! Entry points for the fuzz targets (`fuzz/`) into the parsers at the API's edge, which are
//! private to the crate otherwise. Each takes raw input and returns what the parser decided,
//! as the status and message a client would get; none may panic.

use crate::error::ApiError;
use crate::microversion::{self, Version};
use crate::resources::schemas;
use crate::schema::{validate, Schema};
use axum::http::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::Value;
use vigil_wire::{CreateHost, CreateNotification, CreateSegment, Item, UpdateHost, UpdateSegment};

/// A refusal: the status and the fault message.
pub type Refusal = (u16, String);

fn refusal(e: ApiError) -> Refusal {
    (e.status.as_u16(), e.message)
}

/// `OpenStack-API-Version` negotiation over these header values (the ones `http` accepts).
pub fn microversion(values: &[&[u8]]) -> Result<(u32, u32), Refusal> {
    let mut headers = HeaderMap::new();
    for v in values {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            headers.append(microversion::HEADER, v);
        }
    }
    microversion::negotiate(&headers)
        .map(|v| (v.0, v.1))
        .map_err(refusal)
}

/// A list's query string read as paging and sorting, and its boolean filters.
pub fn query(query: &str) -> Result<(), Refusal> {
    let params = crate::resources::params::Params::parse(query);
    params.page().map_err(refusal)?;
    for key in ["enabled", "reserved", "on_maintenance"] {
        params.strict_bool(key).map_err(refusal)?;
    }
    Ok(())
}

/// A request body validated against each of Masakari's request schemas, and read into its
/// wire type when valid: a valid body the type cannot read is a bug (the server's 500).
pub fn body(bytes: &[u8]) -> Result<(), String> {
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Ok(());
    };
    for minor in 0..=3 {
        let v = Version(1, minor);
        readable::<Item<CreateSegment>>(&schemas::segment(true, v), &value)?;
        readable::<Item<UpdateSegment>>(&schemas::segment(false, v), &value)?;
    }
    readable::<Item<CreateHost>>(&schemas::host(true), &value)?;
    readable::<Item<UpdateHost>>(&schemas::host(false), &value)?;
    if readable::<Item<CreateNotification>>(&schemas::notification(), &value)? {
        let Item(n): Item<CreateNotification> =
            serde_json::from_value(value).map_err(|e| e.to_string())?;
        let _ = validate(
            &schemas::payload(n.notification_type),
            &Value::Object(n.payload),
        );
    }
    Ok(())
}

/// Whether `value` is valid under `schema`; `Err` when it is but `T` cannot read it.
pub(crate) fn readable<T: DeserializeOwned>(
    schema: &Schema,
    value: &Value,
) -> Result<bool, String> {
    if validate(schema, value).is_err() {
        return Ok(false);
    }
    serde_json::from_value::<T>(value.clone())
        .map(|_| true)
        .map_err(|e| format!("valid under the schema, unreadable: {e}: {value}"))
}

/// The path's metrics label and route template (must never panic on any path).
pub fn template(path: &str) -> &'static str {
    crate::routes::template(path)
}
