//! Typed identifiers, so a host's UUID cannot be passed where a segment's is expected.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub fn new_random() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Hyphenated lower case: the only form Masakari ever returns.
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// A failover segment's UUID.
    SegmentId
);
uuid_id!(
    /// A host's UUID (Vigil's, not Nova's compute service id).
    HostId
);
uuid_id!(
    /// A notification's UUID (`notification_uuid` on the wire).
    NotificationId
);
uuid_id!(
    /// A vmove's UUID.
    VMoveId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_hyphenated_lower_case() {
        let id: SegmentId = "9A0B5E4C-1D2E-4F3A-8B7C-6D5E4F3A2B1C".parse().unwrap();
        assert_eq!(id.to_string(), "9a0b5e4c-1d2e-4f3a-8b7c-6d5e4f3a2b1c");
    }

    #[test]
    fn rejects_non_uuid() {
        assert!("p1".parse::<HostId>().is_err());
    }
}
