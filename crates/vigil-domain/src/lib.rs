//! Vigil's domain: the things an operator and a monitor talk about, with no I/O and no wire format.
//!
//! Segments group hosts that may take over each other's instances; a notification is a failure
//! report from a monitor; a vmove records one instance moved during a host recovery. The HTTP
//! representation of these lives in `vigil-wire`, their storage in `vigil-store`.

mod backoff;
mod enums;
mod ids;
mod model;
pub mod plan;
mod retry;
mod time;

pub use backoff::Backoff;
pub use enums::{
    NotificationStatus, NotificationType, ParseEnumError, RecoveryMethod, VMoveStatus, VMoveType,
};
pub use ids::{HostId, NotificationId, SegmentId, VMoveId};
pub use model::{
    Host, InstanceMove, Lifecycle, Notification, ProgressDetail, Segment, VMove, WorkflowStep,
};
pub use retry::{Classify, ErrorChain, ErrorClass};
pub use time::Timestamp;
