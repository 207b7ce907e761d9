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
            let Some(service) = parts.next() else {
                continue;
            };
            if !service.eq_ignore_ascii_case(SERVICE) {
                continue;
            }
            // microversion_parse keeps everything after the service as the version.
            let version: Vec<&str> = parts.collect();
            match version.len() {
                1 => {}
                0 => return Err(malformed(entry.trim())),
                _ => return Err(malformed(&version.join(" "))),
            }
            requested = Some(version[0].to_owned());
        }
    }
    let Some(text) = requested else {
        return Ok(MIN);
    };
    // Masakari compares with `==`: `LATEST` is a malformed version, not the latest.
    if text == "latest" {
        return Ok(MAX);
    }
    let parsed = parse(&text).ok_or_else(|| malformed(&text))?;
    if parsed < MIN || parsed > MAX {
        return Err(ApiError::new(
            StatusCode::NOT_ACCEPTABLE,
            format!(
                "Version {text} is not supported by the API. Minimum is {MIN} and maximum is {MAX}."
            ),
        ));
    }
    Ok(parsed)
}

/// Masakari's `^([1-9]\d*)\.([1-9]\d*|0)$`: no sign, no leading zero. A number too large for
/// a `u32` is well formed and out of range (406), so it saturates.
fn parse(text: &str) -> Option<Version> {
    let (major, minor) = text.split_once('.')?;
    let number = |s: &str, zero_ok: bool| {
        let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let leading_zero = s.starts_with('0') && !(zero_ok && s == "0");
        (digits && !leading_zero).then(|| s.parse::<u32>().unwrap_or(u32::MAX))
    };
    Some(Version(number(major, false)?, number(minor, true)?))
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
        for bad in [
            "01.1", "1.01", "+1.2", "1.-0", "0.9", "1.2 1.3", "LATEST", "1.", ".1",
        ] {
            let e = negotiate(&with(&format!("instance-ha {bad}"))).unwrap_err();
            assert_eq!(e.status, 400, "{bad}");
        }
        let e = negotiate(&with("instance-ha 1.99999999999")).unwrap_err();
        assert_eq!(e.status, 406);
        assert_eq!(
            e.message,
            "Version 1.99999999999 is not supported by the API. Minimum is 1.0 and maximum is 1.3."
        );
    }
}
