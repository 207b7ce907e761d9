//! VM moves (microversion 1.3): one instance moved during a host recovery, read-only.

use crate::envelope::keys;
use crate::lifecycle::Lifecycle;
use crate::time;
use serde::{Deserialize, Serialize};
use vigil_domain::{NotificationId, Timestamp, VMove, VMoveId, VMoveStatus, VMoveType};

/// A vmove as `GET /v1/notifications/{id}/vmoves/{id}` shows it, fields in Masakari's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VMoveBody {
    pub id: i64,
    pub uuid: VMoveId,
    pub notification_uuid: NotificationId,
    pub instance_uuid: String,
    pub instance_name: String,
    pub source_host: Option<String>,
    pub dest_host: Option<String>,
    #[serde(with = "time::optional")]
    pub start_time: Option<Timestamp>,
    #[serde(with = "time::optional")]
    pub end_time: Option<Timestamp>,
    #[serde(rename = "type")]
    pub vmove_type: VMoveType,
    pub status: VMoveStatus,
    pub message: Option<String>,
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
}

keys!(VMoveBody, "vmove", "vmoves");

impl From<&VMove> for VMoveBody {
    fn from(v: &VMove) -> Self {
        let m = &v.movement;
        Self {
            id: v.id,
            uuid: v.uuid,
            notification_uuid: v.notification_uuid,
            instance_uuid: m.instance_uuid.clone(),
            instance_name: m.instance_name.clone(),
            source_host: m.source_host.clone(),
            dest_host: m.dest_host.clone(),
            start_time: m.start_time,
            end_time: m.end_time,
            vmove_type: m.vmove_type,
            status: m.status,
            message: m.message.clone(),
            lifecycle: v.lifecycle.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Item, List};
    use vigil_domain::InstanceMove;

    #[test]
    fn a_vmove_round_trips_in_masakari_order() {
        let started = Timestamp::from_micros(1_500_000_000_000_000);
        let movement = InstanceMove {
            instance_uuid: "5f6c3e8e-34c9-4a30-9a1a-0b0a5f6c3e8e".into(),
            instance_name: "vm1".into(),
            source_host: Some("node1".into()),
            dest_host: None,
            start_time: Some(started),
            end_time: None,
            vmove_type: VMoveType::Evacuation,
            status: VMoveStatus::Ongoing,
            message: None,
        };
        let v = VMove {
            id: 1,
            uuid: "3e8e34c9-0b0a-4a30-9a1a-5f6c5f6c3e8e".parse().unwrap(),
            notification_uuid: "0b0a5f6c-3e8e-4a30-9a1a-5f6c3e8e34c9".parse().unwrap(),
            movement,
            lifecycle: vigil_domain::Lifecycle::created(started),
        };
        crate::assert_round_trip(
            &Item(VMoveBody::from(&v)),
            r#"{"vmove":{"id":1,"uuid":"3e8e34c9-0b0a-4a30-9a1a-5f6c5f6c3e8e","notification_uuid":"0b0a5f6c-3e8e-4a30-9a1a-5f6c3e8e34c9","instance_uuid":"5f6c3e8e-34c9-4a30-9a1a-0b0a5f6c3e8e","instance_name":"vm1","source_host":"node1","dest_host":null,"start_time":"2017-07-14T02:40:00.000000","end_time":null,"type":"evacuation","status":"ongoing","message":null,"created_at":"2017-07-14T02:40:00.000000","updated_at":null,"deleted_at":null,"deleted":false}}"#,
        );
        let empty: List<VMoveBody> = serde_json::from_str(r#"{"vmoves": []}"#).unwrap();
        assert_eq!(serde_json::to_string(&empty).unwrap(), r#"{"vmoves":[]}"#);
    }
}
