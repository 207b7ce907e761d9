//! The response bodies of the OpenAPI document, as `vigil_wire` serializes them. Each schema is
//! written out in full where it is used (no `$ref`), so a test can check an answer against it
//! alone; `components` lists them once more for readers.

use serde_json::{json, Map, Value};

fn string() -> Value {
    json!({"type": "string"})
}

fn nullable_string() -> Value {
    json!({"type": ["string", "null"]})
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn strings(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

/// `YYYY-MM-DDTHH:MM:SS.ffffff`, as Masakari shows datetimes.
fn stamp(nullable: bool) -> Value {
    let ty = if nullable {
        json!(["string", "null"])
    } else {
        json!("string")
    };
    json!({"type": ty, "pattern": "^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{6}$"})
}

/// An object with exactly these properties, all required (the wire types always write all).
fn exact(props: Vec<(&str, Value)>, optional: &[&str]) -> Value {
    let required: Vec<&str> = props
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !optional.contains(k))
        .collect();
    let properties: Map<String, Value> =
        props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    json!({"type": "object", "properties": properties, "required": required,
        "additionalProperties": false})
}

fn lifecycle() -> Vec<(&'static str, Value)> {
    vec![
        ("created_at", stamp(false)),
        ("updated_at", stamp(true)),
        ("deleted_at", stamp(true)),
        ("deleted", json!({"type": "boolean"})),
    ]
}

fn link() -> Value {
    exact(
        vec![("rel", string()), ("type", string()), ("href", string())],
        &["type"],
    )
}

fn links() -> Value {
    json!({"type": "array", "items": link()})
}

fn segment() -> Value {
    let mut p = vec![
        ("id", json!({"type": "integer"})),
        ("uuid", uuid()),
        ("name", string()),
        ("service_type", string()),
        ("enabled", json!({"type": "boolean"})),
        ("description", nullable_string()),
        (
            "recovery_method",
            strings(&["auto", "reserved_host", "auto_priority", "rh_priority"]),
        ),
    ];
    p.extend(lifecycle());
    exact(p, &[])
}

fn host() -> Value {
    let mut p = vec![
        ("id", json!({"type": "integer"})),
        ("uuid", uuid()),
        ("name", string()),
        ("failover_segment_id", uuid()),
        ("failover_segment", segment()),
        ("type", nullable_string()),
        ("reserved", json!({"type": "boolean"})),
        ("control_attributes", nullable_string()),
        ("on_maintenance", json!({"type": "boolean"})),
    ];
    p.extend(lifecycle());
    exact(p, &[])
}

fn workflow_step() -> Value {
    let detail = exact(
        vec![
            ("timestamp", string()),
            ("progress", string()),
            ("message", string()),
        ],
        &[],
    );
    exact(
        vec![
            ("name", string()),
            ("progress", json!({"type": "number"})),
            ("state", string()),
            (
                "progress_details",
                json!({"type": "array", "items": detail}),
            ),
        ],
        &[],
    )
}

fn notification() -> Value {
    let mut p = vec![
        ("id", json!({"type": "integer"})),
        ("notification_uuid", uuid()),
        ("generated_time", stamp(false)),
        ("source_host_uuid", uuid()),
        ("type", strings(&["COMPUTE_HOST", "VM", "PROCESS"])),
        ("payload", json!({"type": "object"})),
        (
            "status",
            strings(&["new", "running", "error", "failed", "ignored", "finished"]),
        ),
        ("failover_segment_uuid", json!({"type": ["string", "null"]})),
        ("message", nullable_string()),
    ];
    p.extend(lifecycle());
    // From microversion 1.1, on `show` only.
    p.push((
        "recovery_workflow_details",
        json!({"type": "array", "items": workflow_step()}),
    ));
    exact(p, &["recovery_workflow_details"])
}

fn vmove() -> Value {
    let mut p = vec![
        ("id", json!({"type": "integer"})),
        ("uuid", uuid()),
        ("notification_uuid", uuid()),
        ("instance_uuid", string()),
        ("instance_name", string()),
        ("source_host", nullable_string()),
        ("dest_host", nullable_string()),
        ("start_time", stamp(true)),
        ("end_time", stamp(true)),
        (
            "type",
            strings(&["evacuation", "migration", "live_migration"]),
        ),
        (
            "status",
            strings(&["pending", "ongoing", "succeeded", "failed", "ignored"]),
        ),
        ("message", nullable_string()),
    ];
    p.extend(lifecycle());
    exact(p, &[])
}

fn extension() -> Value {
    exact(
        vec![
            ("name", string()),
            ("alias", string()),
            ("description", string()),
            ("namespace", string()),
            ("updated", string()),
            ("links", links()),
        ],
        &[],
    )
}

fn version_entry() -> Value {
    let media = exact(vec![("base", string()), ("type", string())], &[]);
    exact(
        vec![
            ("id", string()),
            ("status", string()),
            ("version", string()),
            ("min_version", string()),
            ("updated", string()),
            ("links", links()),
            ("media-types", json!({"type": "array", "items": media})),
        ],
        &["media-types"],
    )
}

/// A resource's body by its singular name.
fn resource(name: &str) -> Value {
    match name {
        "segment" => segment(),
        "host" => host(),
        "notification" => notification(),
        "vmove" => vmove(),
        "extension" => extension(),
        "version" => version_entry(),
        other => unreachable!("no body named {other}"),
    }
}

/// `{"<name>": {…}}`.
pub fn item(name: &str) -> Value {
    exact(vec![(name, resource(name))], &[])
}

/// `{"<name>s": […], "<name>s_links": […]}`, the links only on a full page.
pub fn list(name: &str) -> Value {
    let key = format!("{name}s");
    let links_key = format!("{name}s_links");
    exact(
        vec![
            (
                key.as_str(),
                json!({"type": "array", "items": resource(name)}),
            ),
            (links_key.as_str(), links()),
        ],
        &[links_key.as_str()],
    )
}

/// The discovery documents: `versions` (`GET /`) and `version` (`GET /v1`).
pub fn named(name: &str) -> Value {
    match name {
        "versions" => exact(
            vec![(
                "versions",
                json!({"type": "array", "items": version_entry()}),
            )],
            &[],
        ),
        _ => item(name),
    }
}

/// Masakari's fault body for `status`: `{"<fault name>": {"code": status, "message": …}}`.
pub fn fault(status: u16) -> Value {
    let name = vigil_wire::fault_name(status);
    let inner = exact(
        vec![
            ("code", json!({"type": "integer", "const": status})),
            ("message", string()),
        ],
        &[],
    );
    json!({"description": format!("Refused: {name}."),
        "content": {"application/json": {"schema": exact(vec![(name, inner)], &[])}}})
}

/// Every body once, by name, for readers of the document.
pub fn components() -> Value {
    let mut m = Map::new();
    for name in ["segment", "host", "notification", "vmove", "extension"] {
        m.insert(name.to_owned(), resource(name));
    }
    m.insert("version".to_owned(), version_entry());
    m.insert(
        "fault".to_owned(),
        json!({"type": "object", "minProperties": 1, "maxProperties": 1,
            "additionalProperties": exact(vec![("code", json!({"type": "integer"})),
                ("message", string())], &[])}),
    );
    Value::Object(m)
}
