//! Masakari's request schemas, one per body, as the validator in `crate::schema` reads them.
//! Validation comes first so that its messages are Masakari's; only a validated body is read
//! into its `vigil_wire` type.

use crate::microversion::Version;
use crate::schema::{Format, Schema};
use vigil_domain::NotificationType;

fn string(min: usize, max: Option<usize>, format: Option<Format>) -> Schema {
    Schema::Str {
        nullable: false,
        min,
        max,
        pattern: None,
        format,
        one_of: None,
    }
}

fn nullable(max: Option<usize>, pattern: Option<&'static str>, format: Option<Format>) -> Schema {
    Schema::Str {
        nullable: true,
        min: 0,
        max,
        pattern,
        format,
        one_of: None,
    }
}

fn one_of(values: &'static [&'static str]) -> Schema {
    Schema::Str {
        nullable: false,
        min: 0,
        max: None,
        pattern: None,
        format: None,
        one_of: Some(values),
    }
}

/// An object of `properties` with no others allowed. An update (`!create`) needs at least one
/// of them; a create needs `required`.
fn object(
    properties: Vec<(&'static str, Schema)>,
    required: &'static [&'static str],
    create: bool,
) -> Schema {
    Schema::Object {
        properties,
        required: if create { required } else { &[] },
        pattern_properties: None,
        additional: false,
        any_of_required: !create,
    }
}

/// `{"<key>": inner}`, nothing else.
fn wrapper(key: &'static str, inner: Schema) -> Schema {
    Schema::Object {
        properties: vec![(key, inner)],
        required: match key {
            "segment" => &["segment"],
            "host" => &["host"],
            _ => &["notification"],
        },
        pattern_properties: None,
        additional: false,
        any_of_required: false,
    }
}

const RECOVERY_METHODS: &[&str] = &["auto", "reserved_host", "auto_priority", "rh_priority"];

/// `POST /v1/segments` (`create`) and `PUT /v1/segments/{id}`; `enabled` from 1.2.
pub fn segment(create: bool, version: Version) -> Schema {
    let mut properties = vec![
        ("name", string(1, Some(255), Some(Format::Name))),
        (
            "description",
            nullable(None, None, Some(Format::Description)),
        ),
        ("recovery_method", one_of(RECOVERY_METHODS)),
        ("service_type", string(1, Some(255), Some(Format::Name))),
    ];
    if version >= Version(1, 2) {
        properties.push(("enabled", Schema::BoolLike));
    }
    let required = &["name", "recovery_method", "service_type"];
    wrapper("segment", object(properties, required, create))
}

/// `POST /v1/segments/{id}/hosts` (`create`) and `PUT …/hosts/{id}`.
pub fn host(create: bool) -> Schema {
    let properties = vec![
        ("name", string(1, Some(255), Some(Format::Name))),
        ("type", nullable(Some(255), Some("^[a-zA-Z0-9]*$"), None)),
        (
            "control_attributes",
            nullable(None, None, Some(Format::Description)),
        ),
        ("reserved", Schema::BoolLike),
        ("on_maintenance", Schema::BoolLike),
    ];
    let required = &["name", "type", "control_attributes"];
    wrapper("host", object(properties, required, create))
}

const PAYLOAD_KEY: &str = "^[a-zA-Z0-9-_:. ]{1,255}$";

/// `POST /v1/notifications`, the payload checked only for its shape: [`payload`] checks its
/// keys once the type is known.
pub fn notification() -> Schema {
    let hostname = Schema::Str {
        nullable: false,
        min: 1,
        max: Some(255),
        pattern: Some("^[a-zA-Z0-9-._]*$"),
        format: None,
        one_of: None,
    };
    let payload = Schema::Object {
        properties: vec![],
        required: &[],
        pattern_properties: Some((PAYLOAD_KEY, Box::new(string(0, Some(255), None)))),
        additional: false,
        any_of_required: false,
    };
    let properties = vec![
        ("type", one_of(&["COMPUTE_HOST", "VM", "PROCESS"])),
        ("hostname", hostname),
        ("generated_time", string(0, None, Some(Format::DateTime))),
        ("payload", payload),
    ];
    let required = &["type", "hostname", "generated_time", "payload"];
    wrapper("notification", object(properties, required, true))
}

/// The payload of a notification of type `kind`.
pub fn payload(kind: NotificationType) -> Schema {
    let events = || one_of(&["STARTED", "STOPPED"]);
    let (properties, required): (Vec<(&'static str, Schema)>, &'static [&'static str]) = match kind
    {
        NotificationType::ComputeHost => (
            vec![
                ("event", events()),
                ("cluster_status", one_of(&["ONLINE", "OFFLINE"])),
                ("host_status", one_of(&["NORMAL", "UNKNOWN"])),
            ],
            &["event"],
        ),
        NotificationType::Process => (
            vec![
                ("process_name", string(1, Some(4096), None)),
                ("event", events()),
            ],
            &["process_name", "event"],
        ),
        NotificationType::Vm => (
            vec![
                ("instance_uuid", string(0, None, Some(Format::Uuid))),
                ("vir_domain_event", string(1, Some(255), None)),
                ("event", string(1, Some(255), None)),
            ],
            &["instance_uuid", "vir_domain_event", "event"],
        ),
    };
    object(properties, required, true)
}
