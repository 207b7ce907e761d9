//! Field types of request bodies that plain serde types do not express: Masakari's lenient
//! booleans, and updates that tell "set to null" from "leave alone".

use serde::de::{self, Unexpected, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The strings Masakari's `boolean` parameter type reads as true, in its schema's order.
pub const TRUE_STRINGS: [&str; 10] = [
    "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
];
/// The strings it reads as false.
pub const FALSE_STRINGS: [&str; 10] = [
    "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no",
];

/// A boolean as Masakari accepts it in bodies: JSON `true`/`false` or one of
/// [`TRUE_STRINGS`]/[`FALSE_STRINGS`]. Sent as a JSON boolean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoolLike(pub bool);

impl Serialize for BoolLike {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(self.0)
    }
}

impl<'de> Deserialize<'de> for BoolLike {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = BoolLike;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a boolean or one of Masakari's boolean strings")
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> Result<BoolLike, E> {
                Ok(BoolLike(b))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<BoolLike, E> {
                if TRUE_STRINGS.contains(&s) {
                    Ok(BoolLike(true))
                } else if FALSE_STRINGS.contains(&s) {
                    Ok(BoolLike(false))
                } else {
                    Err(E::invalid_value(Unexpected::Str(s), &self))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// `#[serde(default, deserialize_with = "field::present")]` on an `Option<Option<T>>`: absent
/// is `None`, `null` is `Some(None)`, a value is `Some(Some(v))`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_read_masakari_strings_and_refuse_others() {
        let read = |s: &str| serde_json::from_str::<BoolLike>(s).map(|b| b.0);
        assert!(read("true").unwrap());
        assert!(read("\"Yes\"").unwrap());
        assert!(!read("\"off\"").unwrap());
        assert!(read("\"maybe\"").is_err());
        assert!(read("1").is_err());
        assert_eq!(serde_json::to_string(&BoolLike(false)).unwrap(), "false");
    }
}
