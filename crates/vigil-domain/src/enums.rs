//! The closed vocabularies of the domain, each with its exact Masakari spelling.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A string that is not one of an enumeration's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind}")]
pub struct ParseEnumError {
    pub kind: &'static str,
    pub value: String,
}

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = ParseEnumError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(ParseEnumError { kind: $kind, value: s.to_owned() }),
                }
            }
        }
    };
}

wire_enum!(
    /// How a segment recovers the instances of a failed host.
    RecoveryMethod, "recovery method" {
        Auto => "auto",
        ReservedHost => "reserved_host",
        AutoPriority => "auto_priority",
        RhPriority => "rh_priority",
    }
);

wire_enum!(
    /// What failed, as reported by a monitor.
    NotificationType, "notification type" {
        ComputeHost => "COMPUTE_HOST",
        Vm => "VM",
        Process => "PROCESS",
    }
);

wire_enum!(
    /// Where a notification is in its life.
    NotificationStatus, "notification status" {
        New => "new",
        Running => "running",
        Error => "error",
        Failed => "failed",
        Ignored => "ignored",
        Finished => "finished",
    }
);

wire_enum!(
    /// How an instance was moved.
    VMoveType, "vmove type" {
        Evacuation => "evacuation",
        Migration => "migration",
        LiveMigration => "live_migration",
    }
);

wire_enum!(
    /// Progress of one instance move.
    VMoveStatus, "vmove status" {
        Pending => "pending",
        Ongoing => "ongoing",
        Succeeded => "succeeded",
        Failed => "failed",
        Ignored => "ignored",
    }
);

impl NotificationStatus {
    /// Statuses that still hold a host's segment "in use": Masakari refuses to edit or delete a
    /// segment or host while one of its notifications is in one of them.
    pub const IN_PROGRESS: &'static [NotificationStatus] = &[
        NotificationStatus::New,
        NotificationStatus::Running,
        NotificationStatus::Error,
    ];

    /// A status after which nothing more will happen to the notification.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            NotificationStatus::Finished | NotificationStatus::Failed | NotificationStatus::Ignored
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_spelling() {
        for m in RecoveryMethod::ALL {
            assert_eq!(m.as_str().parse::<RecoveryMethod>().unwrap(), *m);
        }
        for s in NotificationStatus::ALL {
            assert_eq!(s.as_str().parse::<NotificationStatus>().unwrap(), *s);
        }
    }

    #[test]
    fn spellings_are_case_sensitive() {
        assert!("compute_host".parse::<NotificationType>().is_err());
        assert_eq!(
            "COMPUTE_HOST".parse::<NotificationType>().unwrap(),
            NotificationType::ComputeHost
        );
    }
}
