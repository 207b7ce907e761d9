//! The OpenAPI 3.1 description of the Masakari v1 API as Vigil serves it, at
//! `GET /v1/openapi.json` (public, like `GET /`: it carries no data).
//!
//! Request bodies are the validator's own schemas (`resources::schemas`) rendered as JSON
//! Schema, so what the document promises and what the server checks cannot drift; responses are
//! described in `bodies`. `tests/api/openapi.rs` keeps the rest true: every route the dispatcher
//! serves is described and nothing else, and answers match their described status and schema.

mod bodies;

use crate::resources::schemas;
use crate::schema::{Format, Schema};
use bodies::{fault, item, list, named};
use serde_json::{json, Map, Value};
use std::sync::LazyLock;
use vigil_wire::{FALSE_STRINGS, TRUE_STRINGS};

/// The document, built once.
pub fn document() -> &'static str {
    static DOC: LazyLock<String> = LazyLock::new(|| build().to_string());
    &DOC
}

/// JSON Schema (2020-12, OpenAPI 3.1's) for what `schema` accepts. The `name` and
/// `description` formats (printable text) are named but no generator knows them.
pub fn json_schema(schema: &Schema) -> Value {
    match schema {
        Schema::Object {
            properties,
            required,
            pattern_properties,
            additional,
            any_of_required,
        } => {
            let props: Map<String, Value> = properties
                .iter()
                .map(|(k, s)| ((*k).to_owned(), json_schema(s)))
                .collect();
            let mut o = json!({"type": "object", "properties": props,
                "additionalProperties": additional});
            if !required.is_empty() {
                o["required"] = json!(required);
            }
            if let Some((pattern, sub)) = pattern_properties {
                o["patternProperties"] = json!({ *pattern: json_schema(sub) });
            }
            if *any_of_required {
                o["minProperties"] = json!(1);
            }
            o
        }
        Schema::Str {
            nullable,
            min,
            max,
            pattern,
            format,
            one_of,
        } => {
            let mut s = json!({"type": if *nullable { json!(["string", "null"]) } else { json!("string") }});
            if let Some(values) = one_of {
                s["enum"] = json!(values);
            }
            if *min > 0 {
                s["minLength"] = json!(min);
            }
            if let Some(max) = max {
                s["maxLength"] = json!(max);
            }
            if let Some(p) = pattern {
                s["pattern"] = json!(p);
            }
            // Masakari's own formats as patterns, which any client can generate from and
            // check; the standard ones by name.
            match format {
                Some(Format::Name) => s["pattern"] = json!(crate::schema::name_pattern()),
                Some(Format::Description) => {
                    s["pattern"] = json!(crate::schema::description_pattern())
                }
                Some(Format::DateTime) => s["format"] = json!("date-time"),
                Some(Format::Uuid) => s["format"] = json!("uuid"),
                None => {}
            }
            s
        }
        Schema::BoolLike => {
            let strings: Vec<&str> = TRUE_STRINGS.iter().chain(&FALSE_STRINGS).copied().collect();
            json!({"anyOf": [{"type": "boolean"}, {"type": "string", "enum": strings}]})
        }
    }
}

/// `POST /v1/notifications`: one variant per type, each with its own payload schema, as the
/// server checks them (shape first, then the payload of the type).
fn notification_request() -> Value {
    use vigil_domain::NotificationType as T;
    let shape = json_schema(&schemas::notification());
    let inner = &shape["properties"]["notification"];
    let variants: Vec<Value> = [T::ComputeHost, T::Vm, T::Process]
        .into_iter()
        .map(|kind| {
            let mut v = inner.clone();
            v["properties"]["type"] = json!({"type": "string", "enum": [kind.to_string()]});
            v["properties"]["payload"] = json_schema(&schemas::payload(kind));
            v
        })
        .collect();
    json!({"type": "object", "required": ["notification"], "additionalProperties": false,
        "properties": {"notification": {"oneOf": variants}}})
}

fn body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

/// An operation: its answers by status, with the faults every `/v1` call may get.
fn op(id: &str, summary: &str, params: Vec<Value>, ok: Vec<(u16, Value)>, faults: &[u16]) -> Value {
    let mut responses = Map::new();
    for (status, schema) in ok {
        let r = match schema {
            Value::Null => json!({"description": "No content."}),
            s => json!({"description": "Success.", "content": {"application/json": {"schema": s}}}),
        };
        responses.insert(status.to_string(), r);
    }
    // Authentication, policy, microversion and body-size refusals apply to every call.
    for status in [400, 401, 403, 406, 413].iter().chain(faults) {
        responses.insert(status.to_string(), fault(*status));
    }
    let mut parameters = vec![json!({"$ref": "#/components/parameters/microversion"})];
    parameters.extend(params);
    json!({"operationId": id, "summary": summary, "parameters": parameters,
        "responses": responses})
}

/// OpenAPI links from the `status` answer of `operation` to the operations in `targets`, their
/// parameters read from its body: a client (schemathesis's stateful phase) can go on from a
/// resource it made to the operations on that resource.
fn with_links(mut operation: Value, status: u16, targets: &[&str], parameters: Value) -> Value {
    let links: Map<String, Value> = targets
        .iter()
        .map(|t| {
            let link = json!({"operationId": t, "parameters": parameters});
            ((*t).to_owned(), link)
        })
        .collect();
    operation["responses"][status.to_string()]["links"] = Value::Object(links);
    operation
}

fn with_body(mut operation: Value, schema: Value) -> Value {
    operation["requestBody"] = body(schema);
    operation
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true,
        "schema": {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}})
}

fn query(name: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "schema": schema})
}

/// Paging and sorting (`resources::params`) plus a list's filters, all strings on the wire.
fn list_params(filters: &[&str]) -> Vec<Value> {
    let mut p = vec![
        query("limit", json!({"type": "integer", "minimum": 0})),
        query("marker", json!({"type": "integer"})),
        query("sort_key", json!({"type": "string"})),
        query(
            "sort_dir",
            json!({"type": "string", "enum": ["asc", "desc"]}),
        ),
    ];
    p.extend(filters.iter().map(|f| query(f, json!({"type": "string"}))));
    p
}

/// An operation Masakari routes only to refuse; its path parameters are described all the
/// same, or a client (schemathesis) cannot fill in the path.
fn bad_method(id: &str, params: Vec<Value>) -> Value {
    op(
        id,
        "Not allowed on this resource (Masakari's 405).",
        params,
        vec![],
        &[405],
    )
}

fn build() -> Value {
    let seg = || path_param("segment_id");
    let host = || path_param("host_id");
    let notif = || path_param("notification_id");
    let version = crate::microversion::MAX;
    let segment_body = |create| json_schema(&schemas::segment(create, version));
    let host_body = |create| json_schema(&schemas::host(create));
    let mut paths = Map::new();
    let mut path = |template: &str, item: Value| {
        paths.insert(template.to_owned(), item);
    };
    path(
        "/",
        json!({"get": {"operationId": "versions", "summary": "API versions.",
            "responses": {"200": {"description": "The versions.",
                "content": {"application/json": {"schema": named("versions")}}}}}}),
    );
    path(
        "/v1",
        json!({"get": op("version", "The v1 version document.", vec![],
            vec![(200, named("version"))], &[])}),
    );
    path(
        "/v1/openapi.json",
        json!({"get": {"operationId": "openapi", "summary": "This document.",
            "responses": {"200": {"description": "OpenAPI 3.1.",
                "content": {"application/json": {"schema": {"type": "object"}}}}}}}),
    );
    let filters = ["recovery_method", "service_type", "enabled", "name"];
    path(
        "/v1/segments",
        json!({
            "get": op("segment_list", "List segments.", list_params(&filters),
                vec![(200, list("segment"))], &[]),
            "post": with_links(with_body(op("segment_create", "Create a segment.", vec![],
                vec![(201, item("segment"))], &[409, 415]), segment_body(true)), 201,
                &["segment_show", "segment_update", "segment_delete", "host_list",
                    "host_create"],
                json!({"segment_id": "$response.body#/segment/uuid"})),
        }),
    );
    path(
        "/v1/segments/{segment_id}",
        json!({
            "get": op("segment_show", "Show a segment.", vec![seg()],
                vec![(200, item("segment"))], &[404]),
            "put": with_body(op("segment_update", "Update a segment.", vec![seg()],
                vec![(200, item("segment"))], &[404, 409, 415]), segment_body(false)),
            "delete": op("segment_delete", "Delete a segment.", vec![seg()],
                vec![(204, Value::Null)], &[404, 409]),
        }),
    );
    path(
        "/v1/segments/{segment_id}/action",
        json!({"post": bad_method("segment_action", vec![seg()])}),
    );
    let filters = [
        "type",
        "on_maintenance",
        "reserved",
        "name",
        "control_attributes",
    ];
    path(
        "/v1/segments/{segment_id}/hosts",
        json!({
            "get": op("host_list", "List a segment's hosts.",
                [vec![seg()], list_params(&filters)].concat(),
                vec![(200, list("host"))], &[404]),
            "post": with_links(with_body(op("host_create", "Add a host.", vec![seg()],
                vec![(201, item("host"))], &[404, 409, 415, 503]), host_body(true)), 201,
                &["host_show", "host_update", "host_delete"],
                json!({"segment_id": "$response.body#/host/failover_segment_id",
                    "host_id": "$response.body#/host/uuid"})),
        }),
    );
    path(
        "/v1/segments/{segment_id}/hosts/{host_id}",
        json!({
            "get": op("host_show", "Show a host.", vec![seg(), host()],
                vec![(200, item("host"))], &[404]),
            "put": with_body(op("host_update", "Update a host.", vec![seg(), host()],
                vec![(200, item("host"))], &[404, 409, 415, 503]), host_body(false)),
            "delete": op("host_delete", "Delete a host.", vec![seg(), host()],
                vec![(204, Value::Null)], &[404, 409]),
        }),
    );
    let filters = ["status", "type", "generated-since", "source_host_uuid"];
    path(
        "/v1/notifications",
        json!({
            "get": op("notification_list", "List notifications.", list_params(&filters),
                vec![(200, list("notification"))], &[]),
            "post": with_links(with_body(op("notification_create", "Report a failure.",
                vec![], vec![(202, item("notification"))], &[409, 415]),
                notification_request()), 202, &["notification_show", "vmove_list"],
                json!({"notification_id": "$response.body#/notification/notification_uuid"})),
        }),
    );
    path(
        "/v1/notifications/{notification_id}",
        json!({
            "get": op("notification_show", "Show a notification.", vec![notif()],
                vec![(200, item("notification"))], &[404]),
            "put": bad_method("notification_update", vec![notif()]),
            "delete": bad_method("notification_delete", vec![notif()]),
        }),
    );
    path(
        "/v1/notifications/{notification_id}/vmoves",
        json!({"get": op("vmove_list", "List a host recovery's instance moves (1.3).",
            [vec![notif()], list_params(&["status", "type"])].concat(),
            vec![(200, list("vmove"))], &[404])}),
    );
    path(
        "/v1/notifications/{notification_id}/vmoves/{vmove_id}",
        json!({
            "get": op("vmove_show", "Show an instance move (1.3).",
                vec![notif(), path_param("vmove_id")], vec![(200, item("vmove"))], &[404]),
            "put": bad_method("vmove_update", vec![notif(), path_param("vmove_id")]),
            "delete": bad_method("vmove_delete", vec![notif(), path_param("vmove_id")]),
        }),
    );
    path(
        "/v1/extensions",
        json!({"get": op("extension_list", "List extensions.", vec![],
            vec![(200, list("extension"))], &[])}),
    );
    path(
        "/v1/extensions/{alias}",
        json!({"get": op("extension_show", "Show an extension.", vec![path_param("alias")],
            vec![(200, item("extension"))], &[404])}),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Vigil: the Masakari v1 API", "version": version.to_string(),
            "description": "Masakari's instance-ha API v1 (microversions 1.0-1.3) as Vigil \
                serves it. Every /v1 path is also served under a project id \
                (/v1/{project_id}/...) and with a .json suffix. Errors are Masakari's fault \
                bodies: {\"<name>\": {\"code\": <status>, \"message\": \"...\"}}. Paths no route \
                serves get a plain-text 404."},
        "paths": paths,
        "components": {
            // Any string: entries for other services are ignored (1.0), as OpenStack's
            // microversion_parse does, and a malformed or unknown instance-ha version is a
            // 400 or 406 of the server's own, not a value the document forbids.
            "parameters": {"microversion": {"name": "OpenStack-API-Version", "in": "header",
                "required": false, "description": "`instance-ha X.Y` or `instance-ha latest`. \
                    Absent, or naming only other services: 1.0. Malformed: 400. Out of range: \
                    406.",
                "schema": {"type": "string", "examples": ["instance-ha 1.0", "instance-ha 1.1",
                    "instance-ha 1.2", "instance-ha 1.3", "instance-ha latest"]}}},
            "schemas": bodies::components(),
        },
    })
}
