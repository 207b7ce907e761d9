//! Masakari's error bodies: `{"<faultName>": {"code": N, "message": "…"}}`, the fault name
//! chosen by the status code.

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What went wrong: the HTTP status again, and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    pub code: u16,
    pub message: String,
}

/// A fault under its name, e.g. `{"badRequest": {"code": 400, "message": "…"}}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultBody {
    pub name: String,
    pub fault: Fault,
}

impl FaultBody {
    /// The body Masakari answers with for status `code`.
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        Self {
            name: fault_name(code).to_owned(),
            fault: Fault {
                code,
                message: message.into(),
            },
        }
    }
}

/// The fault name Masakari's fault wrapper gives a status code.
pub fn fault_name(code: u16) -> &'static str {
    match code {
        400 => "badRequest",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "itemNotFound",
        405 => "badMethod",
        409 => "conflictingRequest",
        413 | 429 => "overLimit",
        415 => "badMediaType",
        501 => "notImplemented",
        503 => "serviceUnavailable",
        _ => "masakariFault",
    }
}

impl Serialize for FaultBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(&self.name, &self.fault)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for FaultBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = FaultBody;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with one fault under its name")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FaultBody, A::Error> {
                let (name, fault) = map
                    .next_entry::<String, Fault>()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                if map.next_key::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(2, &self));
                }
                Ok(FaultBody { name, fault })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_round_trips_under_its_name() {
        let body = FaultBody::new(409, "Host with name node1 already exists.");
        crate::assert_round_trip(
            &body,
            r#"{"conflictingRequest":{"code":409,"message":"Host with name node1 already exists."}}"#,
        );
        assert_eq!(FaultBody::new(406, "x").name, "masakariFault");
        assert!(serde_json::from_str::<FaultBody>("{}").is_err());
        assert!(serde_json::from_str::<FaultBody>(
            r#"{"a":{"code":1,"message":""},"b":{"code":1,"message":""}}"#
        )
        .is_err());
    }
}
