//! UTC timestamps with microsecond precision, stored as integers and shown without a zone.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use std::fmt;

/// A point in time, UTC, microsecond precision.
///
/// Kept as microseconds since the Unix epoch so every database stores and sorts it the same way
/// (SQLite has no datetime type; MySQL `DATETIME` would drop the microseconds Masakari keeps).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    pub fn now() -> Self {
        Self::from_datetime(Utc::now())
    }

    pub fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    pub fn as_micros(self) -> i64 {
        self.0
    }

    pub fn from_datetime(dt: DateTime<Utc>) -> Self {
        Self(dt.timestamp_micros())
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        Utc.timestamp_micros(self.0).single().unwrap_or_default()
    }

    pub fn naive(self) -> NaiveDateTime {
        self.to_datetime().naive_utc()
    }

    /// The same instant with the sub-second part dropped: Masakari zeroes microseconds of
    /// `created_at`/`updated_at` when it writes them, and clients have seen nothing else.
    pub fn truncate_to_seconds(self) -> Self {
        Self(self.0 - self.0.rem_euclid(1_000_000))
    }

    pub fn saturating_sub_secs(self, secs: u64) -> Self {
        let secs = i64::try_from(secs).unwrap_or(i64::MAX / 1_000_000);
        Self(self.0.saturating_sub(secs.saturating_mul(1_000_000)))
    }
}

impl fmt::Display for Timestamp {
    /// Masakari's wire format: `YYYY-MM-DDTHH:MM:SS.ffffff`, UTC, no zone designator.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.naive().format("%Y-%m-%dT%H:%M:%S%.6f"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_masakari() {
        let t = Timestamp::from_micros(1_500_000_000_123_456);
        assert_eq!(t.to_string(), "2017-07-14T02:40:00.123456");
        assert_eq!(
            t.truncate_to_seconds().to_string(),
            "2017-07-14T02:40:00.000000"
        );
    }

    #[test]
    fn truncation_rounds_down_before_the_epoch_too() {
        let t = Timestamp::from_micros(-1);
        assert_eq!(t.truncate_to_seconds().as_micros(), -1_000_000);
    }
}
