//! `OpenStack-API-Version: instance-ha X.Y` negotiation.

use crate::error::ApiError;
use axum::http::{HeaderMap, StatusCode};

pub const MIN: Version = Version(1, 0);
pub const MAX: Version = Version(1, 3);
pub const HEADER: &str = "OpenStack-API-Version";
const SERVICE: &str = "instance-ha";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32);

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// The version a request asks for: absent → 1.0, `latest` → 1.3; malformed → 400, out of
/// range → 406. Other services' entries in the header are ignored, as microversion_parse does.
pub fn negotiate(headers: &HeaderMap) -> Result<Version, ApiError> {
    let mut requested = None;
    for value in headers.get_all(HEADER) {
        let Ok(text) = value.to_str() else {
            return Err(malformed(&String::from_utf8_lossy(value.as_bytes())));
        };
        for entry in text.split(',') {
            let mut parts = entry.split_whitespace();
            let (Some(service), version) = (parts.next(), parts.next()) else {
                continue;
            };
            if !service.eq_ignore_ascii_case(SERVICE) {
                continue;
            }
            let Some(version) = version else {
                return Err(malformed(entry.trim()));
            };
            requested = Some(version.to_owned());
        }
    }
    let Some(text) = requested else {
        return Ok(MIN);
    };
    if text.eq_ignore_ascii_case("latest") {
        return Ok(MAX);
    }
    let parsed = text
        .split_once('.')
        .and_then(|(a, b)| Some(Version(a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| malformed(&text))?;
    if parsed < MIN || parsed > MAX {
        return Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Version {parsed} is not supported by the API. Minimum is {MIN} and maximum is {MAX}."
            ),
        ));
    }
    Ok(parsed)
}

fn malformed(text: &str) -> ApiError {
    ApiError::bad_request(format!(
        "API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER, v.parse().unwrap());
        h
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&HeaderMap::new()).unwrap(), MIN);
        assert_eq!(negotiate(&with("instance-ha 1.2")).unwrap(), Version(1, 2));
        assert_eq!(negotiate(&with("instance-ha latest")).unwrap(), MAX);
        assert_eq!(negotiate(&with("compute 2.1")).unwrap(), MIN);
        assert_eq!(negotiate(&with("instance-ha 1.9")).unwrap_err().status, 406);
        assert_eq!(negotiate(&with("instance-ha 1")).unwrap_err().status, 400);
        assert_eq!(negotiate(&with("instance-ha abc")).unwrap_err().status, 400);
    }
}
