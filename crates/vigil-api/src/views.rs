//! The JSON shape of each resource, field for field and in Masakari's order.

use serde_json::{json, Value};
use vigil_domain::{Host, Notification, Segment, Timestamp, VMove, WorkflowStep};

fn ts(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_string()))
}

pub fn segment(s: &Segment) -> Value {
    json!({
        "id": s.id,
        "uuid": s.uuid.to_string(),
        "name": s.name,
        "service_type": s.service_type,
        "enabled": s.enabled,
        "description": s.description,
        "recovery_method": s.recovery_method.as_str(),
        "created_at": s.created_at.to_string(),
        "updated_at": ts(s.updated_at),
        "deleted_at": ts(s.deleted_at),
        "deleted": s.deleted,
    })
}

pub fn host(h: &Host) -> Value {
    json!({
        "id": h.id,
        "uuid": h.uuid.to_string(),
        "name": h.name,
        "failover_segment_id": h.segment.uuid.to_string(),
        "failover_segment": segment(&h.segment),
        "type": h.host_type,
        "reserved": h.reserved,
        "control_attributes": h.control_attributes,
        "on_maintenance": h.on_maintenance,
        "created_at": h.created_at.to_string(),
        "updated_at": ts(h.updated_at),
        "deleted_at": ts(h.deleted_at),
        "deleted": h.deleted,
    })
}

pub fn notification(n: &Notification) -> Value {
    json!({
        "id": n.id,
        "notification_uuid": n.uuid.to_string(),
        "generated_time": n.generated_time.to_string(),
        "source_host_uuid": n.source_host_uuid.to_string(),
        "type": n.notification_type.as_str(),
        "payload": n.payload,
        "status": n.status.as_str(),
        "failover_segment_uuid": n.failover_segment_uuid.map(|s| s.to_string()),
        "message": n.message,
        "created_at": n.created_at.to_string(),
        "updated_at": ts(n.updated_at),
        "deleted_at": ts(n.deleted_at),
        "deleted": n.deleted,
    })
}

pub fn workflow(steps: &[WorkflowStep]) -> Value {
    Value::Array(
        steps
            .iter()
            .map(|s| {
                json!({
                    "name": s.name,
                    "progress": s.progress,
                    "state": s.state,
                    "progress_details": s.progress_details,
                })
            })
            .collect(),
    )
}

pub fn vmove(v: &VMove) -> Value {
    json!({
        "id": v.id,
        "uuid": v.uuid.to_string(),
        "notification_uuid": v.notification_uuid.to_string(),
        "instance_uuid": v.movement.instance_uuid,
        "instance_name": v.movement.instance_name,
        "source_host": v.movement.source_host,
        "dest_host": v.movement.dest_host,
        "start_time": ts(v.movement.start_time),
        "end_time": ts(v.movement.end_time),
        "type": v.movement.vmove_type.as_str(),
        "status": v.movement.status.as_str(),
        "message": v.movement.message,
        "created_at": v.created_at.to_string(),
        "updated_at": ts(v.updated_at),
        "deleted_at": ts(v.deleted_at),
        "deleted": v.deleted,
    })
}
