//! Failover segments: the body Masakari shows, and the bodies that create and update one.

use crate::envelope::keys;
use crate::field::{present, BoolLike};
use crate::lifecycle::Lifecycle;
use serde::{Deserialize, Serialize};
use vigil_domain::{RecoveryMethod, Segment, SegmentId};

/// A segment as `GET /v1/segments/{id}` shows it, fields in Masakari's order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentBody {
    pub id: i64,
    pub uuid: SegmentId,
    pub name: String,
    pub service_type: String,
    pub enabled: bool,
    pub description: Option<String>,
    pub recovery_method: RecoveryMethod,
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
}

keys!(SegmentBody, "segment", "segments");

impl From<&Segment> for SegmentBody {
    fn from(s: &Segment) -> Self {
        Self {
            id: s.id,
            uuid: s.uuid,
            name: s.name.clone(),
            service_type: s.service_type.clone(),
            enabled: s.enabled,
            description: s.description.clone(),
            recovery_method: s.recovery_method,
            lifecycle: s.lifecycle.into(),
        }
    }
}

/// The body of `POST /v1/segments`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreateSegment {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub recovery_method: RecoveryMethod,
    pub service_type: String,
    /// Accepted from microversion 1.2; a segment is enabled unless it says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<BoolLike>,
}

keys!(CreateSegment, "segment");

/// The body of `PUT /v1/segments/{id}`: only the fields present change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateSegment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `Some(None)` clears the description.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_method: Option<RecoveryMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_type: Option<String>,
    /// From microversion 1.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<BoolLike>,
}

keys!(UpdateSegment, "segment");

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{Item, Link, List};
    use vigil_domain::Timestamp;

    pub(crate) fn segment() -> Segment {
        Segment {
            id: 7,
            uuid: "9a0b5e4c-1d2e-4f3a-8b7c-6d5e4f3a2b1c".parse().unwrap(),
            name: "seg".into(),
            service_type: "COMPUTE".into(),
            enabled: true,
            description: None,
            recovery_method: RecoveryMethod::ReservedHost,
            lifecycle: vigil_domain::Lifecycle {
                updated_at: Some(Timestamp::from_micros(1_500_000_001_000_000)),
                ..vigil_domain::Lifecycle::created(Timestamp::from_micros(1_500_000_000_000_000))
            },
        }
    }

    pub(crate) const SEGMENT: &str = r#"{"id":7,"uuid":"9a0b5e4c-1d2e-4f3a-8b7c-6d5e4f3a2b1c","name":"seg","service_type":"COMPUTE","enabled":true,"description":null,"recovery_method":"reserved_host","created_at":"2017-07-14T02:40:00.000000","updated_at":"2017-07-14T02:40:01.000000","deleted_at":null,"deleted":false}"#;

    #[test]
    fn a_segment_round_trips_in_masakari_order() {
        let body = Item(SegmentBody::from(&segment()));
        crate::assert_round_trip(&body, &format!(r#"{{"segment":{SEGMENT}}}"#));
    }

    #[test]
    fn a_list_shows_links_only_when_there_is_a_next_page() {
        let one = SegmentBody::from(&segment());
        let list = List {
            items: vec![one.clone()],
            links: None,
        };
        let text = serde_json::to_string(&list).unwrap();
        assert_eq!(text, format!(r#"{{"segments":[{SEGMENT}]}}"#));
        let next = List {
            items: vec![one],
            links: Some(vec![Link::new(
                "next",
                "http://x/v1/segments?marker=7".into(),
            )]),
        };
        let text = serde_json::to_string(&next).unwrap();
        assert!(
            text.ends_with(
                r#"],"segments_links":[{"rel":"next","href":"http://x/v1/segments?marker=7"}]}"#
            ),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<List<SegmentBody>>(&text).unwrap(),
            next
        );
    }

    #[test]
    fn updates_tell_null_from_absent() {
        let read = |s: &str| serde_json::from_str::<Item<UpdateSegment>>(s).unwrap().0;
        assert_eq!(read(r#"{"segment": {}}"#), UpdateSegment::default());
        let cleared = read(r#"{"segment": {"description": null, "enabled": "off"}}"#);
        assert_eq!(cleared.description, Some(None));
        assert_eq!(cleared.enabled, Some(BoolLike(false)));
        assert_eq!(
            serde_json::to_string(&Item(cleared)).unwrap(),
            r#"{"segment":{"description":null,"enabled":false}}"#
        );
        let create: Item<CreateSegment> = serde_json::from_str(
            r#"{"segment": {"name": "a", "recovery_method": "auto", "service_type": "C"}}"#,
        )
        .unwrap();
        assert_eq!(create.0.enabled, None);
        assert_eq!(create.0.recovery_method, RecoveryMethod::Auto);
    }
}
