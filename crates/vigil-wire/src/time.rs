//! Datetimes on the wire: parsed like oslo's `parse_isotime`, shown as Masakari shows them
//! (`Timestamp`'s `Display`: `YYYY-MM-DDTHH:MM:SS.ffffff`, UTC, no zone).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer, Serializer};
use vigil_domain::Timestamp;

/// ISO 8601 with `T` or a space, optional fraction, optional zone (`Z`, `+09:00`, `+0900`);
/// a time without a zone is UTC. The result is UTC, like Masakari's naive UTC datetimes.
pub fn parse_isotime(s: &str) -> Option<Timestamp> {
    let s = s.trim();
    let normal = s.replacen(' ', "T", 1);
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M%:z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(&normal, fmt) {
            return Some(Timestamp::from_datetime(dt.with_timezone(&Utc)));
        }
    }
    let naive = normal.strip_suffix('Z').unwrap_or(&normal);
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(naive, fmt) {
            return Some(Timestamp::from_datetime(dt.and_utc()));
        }
    }
    NaiveDate::parse_from_str(naive, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|dt| Timestamp::from_datetime(dt.and_utc()))
}

fn read<E: serde::de::Error>(text: &str) -> Result<Timestamp, E> {
    parse_isotime(text).ok_or_else(|| E::custom(format!("'{text}' is not a 'date-time'")))
}

/// `#[serde(with = "time::stamp")]` for a `Timestamp` field.
pub mod stamp {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(t)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        read(&String::deserialize(d)?)
    }
}

/// `#[serde(with = "time::optional")]` for an `Option<Timestamp>` field, `null` when absent.
pub mod optional {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.collect_str(t),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| read(&text))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_are_converted_to_utc() {
        for (sent, read) in [
            ("2017-04-24 08:34:46", "2017-04-24T08:34:46.000000"),
            ("2017-04-24T08:34:46+09:00", "2017-04-23T23:34:46.000000"),
            ("2017-04-24T08:34:46.123456Z", "2017-04-24T08:34:46.123456"),
            ("2017-04-24T08:34:46+0900", "2017-04-23T23:34:46.000000"),
            ("2017-04-24", "2017-04-24T00:00:00.000000"),
        ] {
            let shown = parse_isotime(sent).map(|t| t.to_string());
            assert_eq!(shown.as_deref(), Some(read), "{sent}");
        }
        assert!(parse_isotime("yesterday").is_none());
        assert!(parse_isotime("2017-13-01T00:00:00").is_none());
    }
}
