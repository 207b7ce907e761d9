//! The stored records. Field names follow Masakari's so the API layer maps them one to one.

use crate::{
    HostId, NotificationId, NotificationStatus, NotificationType, RecoveryMethod, SegmentId,
    Timestamp, VMoveId, VMoveStatus, VMoveType,
};
use serde_json::{Map, Value};

/// When a record was created, last changed and soft-deleted: the fields every Masakari resource
/// ends with (oslo.db's timestamp and soft-delete columns). A deleted row is kept, marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    pub deleted_at: Option<Timestamp>,
    pub deleted: bool,
}

impl Lifecycle {
    /// A record created at `at` and not changed since.
    pub fn created(at: Timestamp) -> Self {
        Self {
            created_at: at,
            updated_at: None,
            deleted_at: None,
            deleted: false,
        }
    }

    /// The same record, changed at `at`.
    pub fn updated(self, at: Timestamp) -> Self {
        Self {
            updated_at: Some(at),
            ..self
        }
    }
}

/// A failover segment: a set of hosts whose instances may be recovered onto each other.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    /// Database primary key; Masakari exposes it and uses it as the paging marker.
    pub id: i64,
    pub uuid: SegmentId,
    pub name: String,
    pub service_type: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub recovery_method: RecoveryMethod,
    pub lifecycle: Lifecycle,
}

/// A compute host under Vigil's protection. Its `name` is the Nova compute service's host name.
#[derive(Clone, Debug, PartialEq)]
pub struct Host {
    pub id: i64,
    pub uuid: HostId,
    pub name: String,
    /// The segment this host belongs to, loaded with it because every view shows it nested.
    pub segment: Segment,
    pub host_type: Option<String>,
    pub control_attributes: Option<String>,
    pub reserved: bool,
    pub on_maintenance: bool,
    pub lifecycle: Lifecycle,
}

/// A failure report from a monitor. Once stored it is kept until handled.
#[derive(Clone, Debug, PartialEq)]
pub struct Notification {
    pub id: i64,
    pub uuid: NotificationId,
    pub generated_time: Timestamp,
    pub source_host_uuid: HostId,
    pub notification_type: NotificationType,
    pub payload: Map<String, Value>,
    pub status: NotificationStatus,
    pub failover_segment_uuid: Option<SegmentId>,
    pub message: Option<String>,
    pub lifecycle: Lifecycle,
}

/// One instance moved (or to be moved) while recovering a failed host.
#[derive(Clone, Debug, PartialEq)]
pub struct VMove {
    pub id: i64,
    pub uuid: VMoveId,
    pub notification_uuid: NotificationId,
    /// What the engine recorded about the move.
    pub movement: InstanceMove,
    pub lifecycle: Lifecycle,
}

/// A vmove as the engine writes it, without the identity and timestamps the store gives it;
/// one per (notification, instance).
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceMove {
    pub instance_uuid: String,
    pub instance_name: String,
    pub source_host: Option<String>,
    pub dest_host: Option<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub vmove_type: VMoveType,
    pub status: VMoveStatus,
    pub message: Option<String>,
}

/// One step of a recovery flow as shown in `recovery_workflow_details`.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkflowStep {
    pub name: String,
    /// 0.0 ..= 1.0
    pub progress: f64,
    /// Taskflow-style state name: `PENDING`, `RUNNING`, `SUCCESS`, `FAILURE`, `REVERTED`.
    pub state: String,
    pub progress_details: Vec<ProgressDetail>,
}

/// A timestamped progress message of a workflow step.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ProgressDetail {
    pub timestamp: String,
    pub progress: String,
    pub message: String,
}
