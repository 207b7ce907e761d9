//! Hosts: the body Masakari shows (with its segment nested), and the bodies that create and
//! update one.

use crate::envelope::keys;
use crate::field::{present, BoolLike};
use crate::lifecycle::Lifecycle;
use crate::segment::SegmentBody;
use serde::{Deserialize, Serialize};
use vigil_domain::{Host, HostId, SegmentId};

/// A host as `GET /v1/segments/{id}/hosts/{id}` shows it, fields in Masakari's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostBody {
    pub id: i64,
    pub uuid: HostId,
    pub name: String,
    pub failover_segment_id: SegmentId,
    pub failover_segment: SegmentBody,
    #[serde(rename = "type")]
    pub host_type: Option<String>,
    pub reserved: bool,
    pub control_attributes: Option<String>,
    pub on_maintenance: bool,
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
}

keys!(HostBody, "host", "hosts");

impl From<&Host> for HostBody {
    fn from(h: &Host) -> Self {
        Self {
            id: h.id,
            uuid: h.uuid,
            name: h.name.clone(),
            failover_segment_id: h.segment.uuid,
            failover_segment: SegmentBody::from(&h.segment),
            host_type: h.host_type.clone(),
            reserved: h.reserved,
            control_attributes: h.control_attributes.clone(),
            on_maintenance: h.on_maintenance,
            lifecycle: h.lifecycle.into(),
        }
    }
}

/// The body of `POST /v1/segments/{id}/hosts`. `type` and `control_attributes` are required
/// but may be null.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateHost {
    pub name: String,
    #[serde(rename = "type")]
    pub host_type: Option<String>,
    pub control_attributes: Option<String>,
    #[serde(flatten)]
    pub flags: HostFlags,
}

keys!(CreateHost, "host");

/// The flags a client may set on a host, at create and at update alike; an absent one is
/// false on a new host and left as it is on an update.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostFlags {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved: Option<BoolLike>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_maintenance: Option<BoolLike>,
}

/// The body of `PUT /v1/segments/{id}/hosts/{id}`: only the fields present change;
/// `Some(None)` clears a nullable one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateHost {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub host_type: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub control_attributes: Option<Option<String>>,
    #[serde(flatten)]
    pub flags: HostFlags,
}

keys!(UpdateHost, "host");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::tests::{segment, SEGMENT};
    use crate::Item;
    use vigil_domain::Timestamp;

    #[test]
    fn a_host_round_trips_with_its_segment_nested() {
        let host = Host {
            id: 3,
            uuid: "5f6c3e8e-34c9-4a30-9a1a-0b0a5f6c3e8e".parse().unwrap(),
            name: "node1".into(),
            segment: segment(),
            host_type: Some("COMPUTE".into()),
            control_attributes: Some("SSH".into()),
            reserved: false,
            on_maintenance: true,
            lifecycle: vigil_domain::Lifecycle::created(Timestamp::from_micros(
                1_500_000_000_000_000,
            )),
        };
        crate::assert_round_trip(
            &Item(HostBody::from(&host)),
            &format!(
                r#"{{"host":{{"id":3,"uuid":"5f6c3e8e-34c9-4a30-9a1a-0b0a5f6c3e8e","name":"node1","failover_segment_id":"9a0b5e4c-1d2e-4f3a-8b7c-6d5e4f3a2b1c","failover_segment":{SEGMENT},"type":"COMPUTE","reserved":false,"control_attributes":"SSH","on_maintenance":true,"created_at":"2017-07-14T02:40:00.000000","updated_at":null,"deleted_at":null,"deleted":false}}}}"#
            ),
        );
    }

    #[test]
    fn host_requests_read_nulls_and_boolean_strings() {
        let create: Item<CreateHost> = serde_json::from_str(
            r#"{"host": {"name": "n", "type": null, "control_attributes": "x", "reserved": "True"}}"#,
        )
        .unwrap();
        assert_eq!(create.0.host_type, None);
        assert_eq!(create.0.flags.reserved, Some(BoolLike(true)));
        assert_eq!(
            serde_json::to_string(&create).unwrap(),
            r#"{"host":{"name":"n","type":null,"control_attributes":"x","reserved":true}}"#
        );
        let update: Item<UpdateHost> =
            serde_json::from_str(r#"{"host": {"type": null, "on_maintenance": false}}"#).unwrap();
        assert_eq!(update.0.host_type, Some(None));
        assert_eq!(update.0.control_attributes, None);
        assert_eq!(update.0.flags.on_maintenance, Some(BoolLike(false)));
    }
}
