//! Entry points for the fuzz targets (`fuzz/`) into the parsers at the API's edge, which are
//! private to the crate otherwise. Each takes raw input and returns what the parser decided,
//! as the status and message a client would get; none may panic.
//!
//! [`TARGETS`] are the fuzz targets' bodies: each takes the fuzzer's bytes and returns `Err`
//! only when an invariant is broken. `cargo fuzz` runs them from `fuzz/fuzz_targets/`, and
//! `cargo test` replays the seed corpora in `fuzz/corpus/<target>/` through the same functions.

use crate::error::ApiError;
use crate::microversion::{self, Version};
use crate::resources::schemas;
use crate::schema::{validate, Schema};
use axum::http::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::Value;
use vigil_domain::NotificationType;
use vigil_wire::payload::Payload;
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

/// An invariant a fuzz target found broken: what it panics with.
pub type Bug = String;

/// A fuzz target's body: the fuzzer's bytes in, `Err` only for a broken invariant.
pub type Target = fn(&[u8]) -> Result<(), Bug>;

/// The fuzz targets this crate holds, by their name under `fuzz/fuzz_targets/`.
pub const TARGETS: &[(&str, Target)] = &[
    ("microversion", microversion_target),
    ("query", query_target),
    ("body", body),
    ("payload", payload),
    ("route_template", template_target),
];

/// NUL-separated header values: a version in 1.0–1.3, or a 400 or 406 with a message.
pub fn microversion_target(data: &[u8]) -> Result<(), Bug> {
    let values: Vec<&[u8]> = data.split(|b| *b == 0).collect();
    match microversion(&values) {
        Ok((1, minor)) if minor <= 3 => Ok(()),
        Ok((major, minor)) => Err(format!("accepted {major}.{minor}")),
        Err((400 | 406, message)) if !message.is_empty() => Ok(()),
        Err((status, message)) => Err(format!("refused with {status} {message:?}")),
    }
}

/// A query string (bytes read as UTF-8, lossily, as a URI's query is): accepted or a 400.
pub fn query_target(data: &[u8]) -> Result<(), Bug> {
    match query(&String::from_utf8_lossy(data)) {
        Ok(()) | Err((400, _)) => Ok(()),
        Err((status, message)) => Err(format!("refused with {status} {message:?}")),
    }
}

/// A notification payload, read as each notification type's: one the API's schema accepts
/// reads into its typed [`Payload`] (the engine would otherwise ignore an accepted report), and
/// a typed payload written back as JSON reads as itself.
pub fn payload(data: &[u8]) -> Result<(), Bug> {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return Ok(());
    };
    let Value::Object(map) = &value else {
        return Ok(());
    };
    for &kind in NotificationType::ALL {
        let valid = validate(&schemas::payload(kind), &value).is_ok();
        let parsed = match (Payload::parse(kind, map), valid) {
            (Ok(p), _) => p,
            (Err(e), true) => {
                return Err(format!("{kind} payload valid, unreadable: {e}: {value}"))
            }
            (Err(_), false) => continue,
        };
        if parsed.notification_type() != kind {
            return Err(format!(
                "{kind} payload read as {}",
                parsed.notification_type()
            ));
        }
        let again = Payload::parse(kind, &parsed.to_map())
            .map_err(|e| format!("{kind} payload written back, unreadable: {e}: {value}"))?;
        if again != parsed {
            return Err(format!("{kind} payload changed on a round trip: {value}"));
        }
        if valid && validate(&schemas::payload(kind), &Value::Object(parsed.to_map())).is_err() {
            return Err(format!("{kind} payload written back, invalid: {value}"));
        }
    }
    Ok(())
}

/// A request path's metrics label: `other` or a template starting with `/`.
pub fn template_target(data: &[u8]) -> Result<(), Bug> {
    let t = template(&String::from_utf8_lossy(data));
    if t == "other" || t.starts_with('/') {
        Ok(())
    } else {
        Err(format!("label {t:?}"))
    }
}

/// Runs every file of `fuzz/corpus/<name>/` through its target, for `cargo test`: the seeds,
/// and every input a fuzzer once found a bug with. Panics on a broken invariant, and on a
/// target without seeds (a replay of nothing would pass unnoticed).
pub fn replay(targets: &[(&str, Target)]) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    for (name, target) in targets {
        let dir = root.join(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut seen = 0;
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if let Err(bug) = target(&data) {
                panic!("{}: {bug}", path.display());
            }
            seen += 1;
        }
        assert!(seen > 0, "no seeds in {}", dir.display());
    }
}

#[cfg(test)]
mod tests {
    /// The API's parsers over their seed corpora.
    #[test]
    fn seed_corpora_replay_cleanly() {
        super::replay(super::TARGETS);
    }
}
