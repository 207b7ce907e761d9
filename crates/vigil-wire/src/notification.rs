//! Notifications: the report a monitor sends, and the body Masakari shows, with the recovery
//! workflow's steps from microversion 1.1.

use crate::envelope::keys;
use crate::lifecycle::Lifecycle;
use crate::time;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use vigil_domain::{
    HostId, Notification, NotificationId, NotificationStatus, NotificationType, ProgressDetail,
    SegmentId, Timestamp, WorkflowStep,
};

/// A notification as `GET /v1/notifications/{id}` shows it, fields in Masakari's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationBody {
    pub id: i64,
    pub notification_uuid: NotificationId,
    #[serde(with = "time::stamp")]
    pub generated_time: Timestamp,
    pub source_host_uuid: HostId,
    #[serde(rename = "type")]
    pub notification_type: NotificationType,
    pub payload: Map<String, Value>,
    pub status: NotificationStatus,
    pub failover_segment_uuid: Option<SegmentId>,
    pub message: Option<String>,
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
    /// Shown by `GET /v1/notifications/{id}` from microversion 1.1, after every other field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_workflow_details: Option<Vec<WorkflowStepBody>>,
}

keys!(NotificationBody, "notification", "notifications");

impl NotificationBody {
    /// The body of `n`; `workflow` is its steps when the microversion shows them.
    pub fn new(n: &Notification, workflow: Option<&[WorkflowStep]>) -> Self {
        Self {
            id: n.id,
            notification_uuid: n.uuid,
            generated_time: n.generated_time,
            source_host_uuid: n.source_host_uuid,
            notification_type: n.notification_type,
            payload: n.payload.clone(),
            status: n.status,
            failover_segment_uuid: n.failover_segment_uuid,
            message: n.message.clone(),
            lifecycle: n.lifecycle.into(),
            recovery_workflow_details: workflow
                .map(|steps| steps.iter().map(WorkflowStepBody::from).collect()),
        }
    }
}

impl From<&Notification> for NotificationBody {
    fn from(n: &Notification) -> Self {
        Self::new(n, None)
    }
}

/// One step of the recovery workflow.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WorkflowStepBody {
    pub name: String,
    /// 0.0 ..= 1.0
    pub progress: f64,
    pub state: String,
    pub progress_details: Vec<ProgressDetailBody>,
}

impl From<&WorkflowStep> for WorkflowStepBody {
    fn from(s: &WorkflowStep) -> Self {
        Self {
            name: s.name.clone(),
            progress: s.progress,
            state: s.state.clone(),
            progress_details: s
                .progress_details
                .iter()
                .map(ProgressDetailBody::from)
                .collect(),
        }
    }
}

/// A timestamped progress message of a step, as Masakari's taskflow listener records it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProgressDetailBody {
    pub timestamp: String,
    pub progress: String,
    pub message: String,
}

/// A step's progress message as Masakari records it: its time as `YYYY-MM-DD HH:MM:SS.ffffff`
/// (a space, not a `T`: taskflow's format) and its progress with one decimal.
pub fn progress_detail(at: Timestamp, progress: f64, message: &str) -> ProgressDetail {
    ProgressDetail {
        timestamp: at.naive().format("%Y-%m-%d %H:%M:%S%.6f").to_string(),
        progress: format!("{progress:.1}"),
        message: message.to_owned(),
    }
}

impl From<&ProgressDetail> for ProgressDetailBody {
    fn from(d: &ProgressDetail) -> Self {
        Self {
            timestamp: d.timestamp.clone(),
            progress: d.progress.clone(),
            message: d.message.clone(),
        }
    }
}

/// The body of `POST /v1/notifications`, a monitor's report. The payload's keys depend on the
/// notification type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateNotification {
    #[serde(rename = "type")]
    pub notification_type: NotificationType,
    pub hostname: String,
    /// Read like oslo's `parse_isotime` (any zone, converted to UTC); sent in Masakari's form.
    #[serde(with = "time::stamp")]
    pub generated_time: Timestamp,
    pub payload: Map<String, Value>,
}

keys!(CreateNotification, "notification");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Item;
    use serde_json::json;

    fn notification() -> Notification {
        let payload =
            json!({"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"});
        Notification {
            id: 12,
            uuid: "0b0a5f6c-3e8e-4a30-9a1a-5f6c3e8e34c9".parse().unwrap(),
            generated_time: Timestamp::from_micros(1_500_000_000_123_456),
            source_host_uuid: "5f6c3e8e-34c9-4a30-9a1a-0b0a5f6c3e8e".parse().unwrap(),
            notification_type: NotificationType::ComputeHost,
            payload: payload.as_object().unwrap().clone(),
            status: NotificationStatus::Running,
            failover_segment_uuid: Some("9a0b5e4c-1d2e-4f3a-8b7c-6d5e4f3a2b1c".parse().unwrap()),
            message: None,
            lifecycle: vigil_domain::Lifecycle::created(Timestamp::from_micros(
                1_500_000_001_000_000,
            )),
        }
    }

    const FIELDS: &str = r#""id":12,"notification_uuid":"0b0a5f6c-3e8e-4a30-9a1a-5f6c3e8e34c9","generated_time":"2017-07-14T02:40:00.123456","source_host_uuid":"5f6c3e8e-34c9-4a30-9a1a-0b0a5f6c3e8e","type":"COMPUTE_HOST","payload":{"event":"STOPPED","host_status":"NORMAL","cluster_status":"OFFLINE"},"status":"running","failover_segment_uuid":"9a0b5e4c-1d2e-4f3a-8b7c-6d5e4f3a2b1c","message":null,"created_at":"2017-07-14T02:40:01.000000","updated_at":null,"deleted_at":null,"deleted":false"#;

    #[test]
    fn workflow_details_come_last_and_only_when_asked_for() {
        let n = notification();
        let plain = Item(NotificationBody::from(&n));
        crate::assert_round_trip(&plain, &format!(r#"{{"notification":{{{FIELDS}}}}}"#));

        let steps = [WorkflowStep {
            name: "DisableComputeServiceTask".into(),
            progress: 1.0,
            state: "SUCCESS".into(),
            progress_details: vec![ProgressDetail {
                timestamp: "2017-07-14 02:40:02.000000".into(),
                progress: "1.0".into(),
                message: "Disabling compute service on host: 'node1'".into(),
            }],
        }];
        let detailed = Item(NotificationBody::new(&n, Some(&steps)));
        crate::assert_round_trip(
            &detailed,
            &format!(
                r#"{{"notification":{{{FIELDS},"recovery_workflow_details":[{{"name":"DisableComputeServiceTask","progress":1.0,"state":"SUCCESS","progress_details":[{{"timestamp":"2017-07-14 02:40:02.000000","progress":"1.0","message":"Disabling compute service on host: 'node1'"}}]}}]}}}}"#
            ),
        );
        let empty = NotificationBody::new(&n, Some(&[]));
        assert!(serde_json::to_string(&empty)
            .unwrap()
            .ends_with(r#""deleted":false,"recovery_workflow_details":[]}"#));
    }

    #[test]
    fn a_report_reads_any_zone_and_is_sent_in_utc() {
        let report: Item<CreateNotification> = serde_json::from_value(json!({"notification": {
            "type": "VM", "hostname": "node1", "generated_time": "2026-11-25 10:00:00+09:00",
            "payload": {"event": "LIFECYCLE"}}}))
        .unwrap();
        assert_eq!(report.0.notification_type, NotificationType::Vm);
        assert_eq!(
            serde_json::to_string(&report).unwrap(),
            r#"{"notification":{"type":"VM","hostname":"node1","generated_time":"2026-11-25T01:00:00.000000","payload":{"event":"LIFECYCLE"}}}"#
        );
    }
}
