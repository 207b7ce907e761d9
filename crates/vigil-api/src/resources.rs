//! The handlers: segments, hosts, notifications, vmoves, extensions.

use crate::error::ApiError;
use crate::microversion::Version;
use crate::routes::{json_response, Call};
use crate::schema::{bool_like, validate, Format, Schema};
use crate::views;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use vigil_domain::{HostId, NotificationId, NotificationType, RecoveryMethod, SegmentId, VMoveId};
use vigil_store::{
    HostFilter, HostUpdate, NewHost, NewNotification, NewSegment, NotificationFilter, Page,
    SegmentFilter, SegmentUpdate, SortDir, StoreError, VMoveFilter,
};

/// Masakari's `osapi_max_limit`.
const MAX_LIMIT: u32 = 1000;

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

fn segment_schema(create: bool, version: Version) -> Schema {
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
    wrapper(
        "segment",
        Schema::Object {
            properties,
            required: if create {
                &["name", "recovery_method", "service_type"]
            } else {
                &[]
            },
            pattern_properties: None,
            additional: false,
            any_of_required: !create,
        },
    )
}

fn host_schema(create: bool) -> Schema {
    wrapper(
        "host",
        Schema::Object {
            properties: vec![
                ("name", string(1, Some(255), Some(Format::Name))),
                ("type", nullable(Some(255), Some("^[a-zA-Z0-9]*$"), None)),
                (
                    "control_attributes",
                    nullable(None, None, Some(Format::Description)),
                ),
                ("reserved", Schema::BoolLike),
                ("on_maintenance", Schema::BoolLike),
            ],
            required: if create {
                &["name", "type", "control_attributes"]
            } else {
                &[]
            },
            pattern_properties: None,
            additional: false,
            any_of_required: !create,
        },
    )
}

const PAYLOAD_KEY: &str = "^[a-zA-Z0-9-_:. ]{1,255}$";

fn notification_schema() -> Schema {
    wrapper(
        "notification",
        Schema::Object {
            properties: vec![
                ("type", one_of(&["COMPUTE_HOST", "VM", "PROCESS"])),
                (
                    "hostname",
                    Schema::Str {
                        nullable: false,
                        min: 1,
                        max: Some(255),
                        pattern: Some("^[a-zA-Z0-9-._]*$"),
                        format: None,
                        one_of: None,
                    },
                ),
                (
                    "generated_time",
                    Schema::Str {
                        nullable: false,
                        min: 0,
                        max: None,
                        pattern: None,
                        format: Some(Format::DateTime),
                        one_of: None,
                    },
                ),
                (
                    "payload",
                    Schema::Object {
                        properties: vec![],
                        required: &[],
                        pattern_properties: Some((
                            PAYLOAD_KEY,
                            Box::new(string(0, Some(255), None)),
                        )),
                        additional: false,
                        any_of_required: false,
                    },
                ),
            ],
            required: &["type", "hostname", "generated_time", "payload"],
            pattern_properties: None,
            additional: false,
            any_of_required: false,
        },
    )
}

fn payload_schema(kind: NotificationType) -> Schema {
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
                (
                    "instance_uuid",
                    Schema::Str {
                        nullable: false,
                        min: 0,
                        max: None,
                        pattern: None,
                        format: Some(Format::Uuid),
                        one_of: None,
                    },
                ),
                ("vir_domain_event", string(1, Some(255), None)),
                ("event", string(1, Some(255), None)),
            ],
            &["instance_uuid", "vir_domain_event", "event"],
        ),
    };
    Schema::Object {
        properties,
        required,
        pattern_properties: None,
        additional: false,
        any_of_required: false,
    }
}

fn checked(schema: &Schema, body: &Value) -> Result<(), ApiError> {
    validate(schema, body).map_err(|e| ApiError::bad_request(e.0))
}

fn inner<'a>(body: &'a Value, key: &str) -> &'a Map<String, Value> {
    body.get(key)
        .and_then(Value::as_object)
        .expect("validated by the schema")
}

fn text(m: &Map<String, Value>, key: &str) -> Option<String> {
    m.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// `Some(None)` for an explicit null, `Some(Some(s))` for a string, `None` when absent.
fn nullable_text(m: &Map<String, Value>, key: &str) -> Option<Option<String>> {
    m.get(key).map(|v| v.as_str().map(str::to_owned))
}

fn parse_id<T: std::str::FromStr>(
    raw: &str,
    not_found: impl FnOnce() -> ApiError,
) -> Result<T, ApiError> {
    raw.parse().map_err(|_| not_found())
}

fn ok(body: Value) -> Response {
    json_response(StatusCode::OK, body)
}

// ---- lists -------------------------------------------------------------------------------

/// Paging and sorting parameters, as Masakari reads them.
fn page(params: &[(String, String)]) -> Result<Page, ApiError> {
    let mut limit = MAX_LIMIT;
    let mut marker = None;
    let mut keys = Vec::new();
    let mut dirs = Vec::new();
    for (k, v) in params {
        match k.as_str() {
            "limit" => {
                let n: i64 = v.trim().parse().map_err(|_| {
                    ApiError::bad_request("Invalid input received: limit param must be an integer")
                })?;
                if n < 0 {
                    return Err(ApiError::bad_request(
                        "Invalid input received: limit must be >= 0",
                    ));
                }
                limit = u32::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
            }
            "marker" => {
                marker = Some(v.trim().parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!("Marker {v} could not be found."))
                })?);
            }
            "sort_key" => keys.push(v.trim().to_owned()),
            "sort_dir" => {
                dirs.push(match v.trim() {
                    "asc" => SortDir::Asc,
                    "desc" => SortDir::Desc,
                    _ => return Err(ApiError::bad_request(
                        "Invalid input received: Unknown sort direction, must be 'asc' or 'desc'",
                    )),
                })
            }
            _ => {}
        }
    }
    if dirs.len() > keys.len().max(1) {
        return Err(ApiError::bad_request(
            "Invalid input received: Sort direction size exceeds sort key size",
        ));
    }
    if keys.is_empty() {
        keys.push("created_at".to_owned());
    }
    let first = dirs.first().copied().unwrap_or(SortDir::Desc);
    let sort = keys
        .into_iter()
        .enumerate()
        .map(|(i, k)| (k, dirs.get(i).copied().unwrap_or(first)))
        .collect();
    Ok(Page {
        limit,
        marker,
        sort,
    })
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// oslo's `bool_from_string(strict=True)`.
fn strict_bool(params: &[(String, String)], key: &str) -> Result<Option<bool>, ApiError> {
    let Some(raw) = param(params, key) else {
        return Ok(None);
    };
    match raw.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Ok(Some(true)),
        "0" | "f" | "false" | "off" | "n" | "no" => Ok(Some(false)),
        _ => Err(ApiError::bad_request(format!(
            "Invalid value for {key}: Unrecognized value '{raw}', acceptable values are: '0', \
             '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
        ))),
    }
}

/// The list body, with a `next` link when the page is full (Masakari has none; clients ignore
/// it, and without it nothing past the first page was reachable by hand).
fn list_body(
    call: &Call<'_>,
    key: &str,
    path: &str,
    items: Vec<Value>,
    last_id: Option<i64>,
    page: &Page,
) -> Value {
    let mut body = Map::new();
    let full = page.limit > 0 && items.len() as u32 == page.limit;
    body.insert(key.to_owned(), Value::Array(items));
    if let (true, Some(last)) = (full, last_id) {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in call.params() {
            if k != "marker" && k != "limit" {
                q.append_pair(&k, &v);
            }
        }
        q.append_pair("limit", &page.limit.to_string());
        q.append_pair("marker", &last.to_string());
        body.insert(
            format!("{key}_links"),
            json!([{"rel": "next", "href": format!("{}/v1/{path}?{}", call.base, q.finish())}]),
        );
    }
    Value::Object(body)
}

// ---- segments ----------------------------------------------------------------------------

fn segment_id(raw: &str) -> Result<SegmentId, ApiError> {
    parse_id(raw, || {
        ApiError::not_found(format!("No failover segment with id {raw}."))
    })
}

pub async fn segment_list(call: &Call<'_>) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:segments:index")?;
    let params = call.params();
    let page = page(&params)?;
    let mut filter = SegmentFilter {
        service_type: param(&params, "service_type").map(str::to_owned),
        enabled: strict_bool(&params, "enabled")?,
        name: param(&params, "name").map(str::to_owned),
        ..Default::default()
    };
    if let Some(m) = param(&params, "recovery_method") {
        match m.parse::<RecoveryMethod>() {
            Ok(m) => filter.recovery_method = Some(m),
            // Masakari compares the raw string: an unknown method matches nothing.
            Err(_) => {
                return Ok(ok(list_body(
                    call,
                    "segments",
                    "segments",
                    vec![],
                    None,
                    &page,
                )))
            }
        }
    }
    let rows = call.st.store.segment_list(&filter, &page).await?;
    let last = rows.last().map(|s| s.id);
    let items = rows.iter().map(views::segment).collect();
    Ok(ok(list_body(
        call, "segments", "segments", items, last, &page,
    )))
}

pub async fn segment_create(call: &Call<'_>) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:segments:create")?;
    let body = call.json()?;
    checked(&segment_schema(true, call.version), &body)?;
    let s = inner(&body, "segment");
    let new = NewSegment {
        name: text(s, "name").unwrap_or_default(),
        service_type: text(s, "service_type").unwrap_or_default(),
        enabled: s.get("enabled").is_none_or(bool_like),
        description: s
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned),
        recovery_method: text(s, "recovery_method")
            .and_then(|m| m.parse().ok())
            .expect("validated by the schema"),
    };
    let created = call.st.store.segment_create(new).await?;
    Ok(json_response(
        StatusCode::CREATED,
        json!({ "segment": views::segment(&created) }),
    ))
}

pub async fn segment_show(call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:segments:detail")?;
    let seg = call.st.store.segment_get(segment_id(id)?).await?;
    Ok(ok(json!({ "segment": views::segment(&seg) })))
}

pub async fn segment_update(call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:segments:update")?;
    let id = segment_id(id)?;
    let body = call.json()?;
    checked(&segment_schema(false, call.version), &body)?;
    let s = inner(&body, "segment");
    let update = SegmentUpdate {
        name: text(s, "name"),
        service_type: text(s, "service_type"),
        enabled: s.get("enabled").map(bool_like),
        description: nullable_text(s, "description"),
        recovery_method: text(s, "recovery_method").and_then(|m| m.parse().ok()),
    };
    let seg = call.st.store.segment_update(id, update).await?;
    Ok(ok(json!({ "segment": views::segment(&seg) })))
}

pub async fn segment_delete(call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:segments:delete")?;
    call.st.store.segment_delete(segment_id(id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- hosts -------------------------------------------------------------------------------

fn host_id(segment: &str, raw: &str) -> Result<HostId, ApiError> {
    parse_id(raw, || {
        ApiError::not_found(format!(
            "Host '{raw}' under failover_segment '{segment}' could not be found."
        ))
    })
}

/// With a compute endpoint configured, a host must be a `nova-compute` service Nova knows.
async fn check_compute(call: &Call<'_>, name: &str) -> Result<(), ApiError> {
    let Some(check) = &call.st.compute_check else {
        return Ok(());
    };
    match check.compute_service_exists(name).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(ApiError::bad_request(format!(
            "Compute service with name {name} could not be found."
        ))),
        Err(e) => {
            tracing::error!(error = %e, host = name, "checking the host against Nova");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Could not check the host name against Nova's compute services; try again later.",
            ))
        }
    }
}

pub async fn host_list(call: &Call<'_>, segment: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:os-hosts:index")?;
    let seg = segment_id(segment)?;
    let params = call.params();
    let page = page(&params)?;
    let filter = HostFilter {
        host_type: param(&params, "type").map(str::to_owned),
        on_maintenance: strict_bool(&params, "on_maintenance")?,
        reserved: strict_bool(&params, "reserved")?,
        name: param(&params, "name").map(str::to_owned),
        control_attributes: param(&params, "control_attributes").map(str::to_owned),
    };
    let rows = call.st.store.host_list(seg, &filter, &page).await?;
    let last = rows.last().map(|h| h.id);
    let items = rows.iter().map(views::host).collect();
    let path = format!("segments/{seg}/hosts");
    Ok(ok(list_body(call, "hosts", &path, items, last, &page)))
}

pub async fn host_create(call: &Call<'_>, segment: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:os-hosts:create")?;
    let seg = segment_id(segment)?;
    let body = call.json()?;
    checked(&host_schema(true), &body)?;
    let h = inner(&body, "host");
    let name = text(h, "name").unwrap_or_default();
    // Masakari reports a missing segment before asking Nova about the name.
    call.st.store.segment_get(seg).await?;
    check_compute(call, &name).await?;
    let new = NewHost {
        name,
        host_type: h.get("type").and_then(Value::as_str).map(str::to_owned),
        control_attributes: h
            .get("control_attributes")
            .and_then(Value::as_str)
            .map(str::to_owned),
        reserved: h.get("reserved").is_some_and(bool_like),
        on_maintenance: h.get("on_maintenance").is_some_and(bool_like),
    };
    let host = call.st.store.host_create(seg, new).await?;
    Ok(json_response(
        StatusCode::CREATED,
        json!({ "host": views::host(&host) }),
    ))
}

pub async fn host_show(call: &Call<'_>, segment: &str, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:os-hosts:detail")?;
    let seg = segment_id(segment)?;
    let host = call.st.store.host_get(seg, host_id(segment, id)?).await?;
    Ok(ok(json!({ "host": views::host(&host) })))
}

pub async fn host_update(call: &Call<'_>, segment: &str, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:os-hosts:update")?;
    let seg = segment_id(segment)?;
    let hid = host_id(segment, id)?;
    let body = call.json()?;
    checked(&host_schema(false), &body)?;
    let h = inner(&body, "host");
    let name = text(h, "name");
    if let Some(name) = &name {
        let current = call.st.store.host_get(seg, hid).await?;
        if &current.name != name {
            check_compute(call, name).await?;
        }
    }
    let update = HostUpdate {
        name,
        host_type: nullable_text(h, "type"),
        control_attributes: nullable_text(h, "control_attributes"),
        reserved: h.get("reserved").map(bool_like),
        on_maintenance: h.get("on_maintenance").map(bool_like),
    };
    let host = call.st.store.host_update(seg, hid, update).await?;
    Ok(ok(json!({ "host": views::host(&host) })))
}

pub async fn host_delete(call: &Call<'_>, segment: &str, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:os-hosts:delete")?;
    let seg = segment_id(segment)?;
    call.st
        .store
        .host_delete(seg, host_id(segment, id)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- notifications -----------------------------------------------------------------------

fn notification_id(raw: &str) -> Result<NotificationId, ApiError> {
    parse_id(raw, || {
        ApiError::not_found(format!("No notification with id {raw}."))
    })
}

pub async fn notification_list(call: &Call<'_>) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:notifications:index")?;
    let params = call.params();
    let page = page(&params)?;
    let mut filter = NotificationFilter {
        status: param(&params, "status").map(str::to_owned),
        notification_type: param(&params, "type").map(str::to_owned),
        ..Default::default()
    };
    if let Some(since) = param(&params, "generated-since") {
        filter.generated_since = Some(
            vigil_wire::time::parse_isotime(since)
                .ok_or_else(|| ApiError::bad_request("Invalid generated-since value"))?,
        );
    }
    if let Some(h) = param(&params, "source_host_uuid") {
        match h.parse() {
            Ok(h) => filter.source_host_uuid = Some(h),
            Err(_) => {
                return Ok(ok(list_body(
                    call,
                    "notifications",
                    "notifications",
                    vec![],
                    None,
                    &page,
                )))
            }
        }
    }
    let rows = call.st.store.notification_list(&filter, &page).await?;
    let last = rows.last().map(|n| n.id);
    let items = rows.iter().map(views::notification).collect();
    Ok(ok(list_body(
        call,
        "notifications",
        "notifications",
        items,
        last,
        &page,
    )))
}

pub async fn notification_create(call: &Call<'_>) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:notifications:create")?;
    let body = call.json()?;
    checked(&notification_schema(), &body)?;
    let n = inner(&body, "notification");
    let kind: NotificationType = text(n, "type")
        .and_then(|t| t.parse().ok())
        .expect("validated by the schema");
    let payload = n
        .get("payload")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    checked(&payload_schema(kind), &Value::Object(payload.clone()))?;
    let hostname = text(n, "hostname").unwrap_or_default();
    let generated_time = text(n, "generated_time")
        .and_then(|t| vigil_wire::time::parse_isotime(&t))
        .expect("validated by the schema");
    let new = NewNotification {
        notification_type: kind,
        hostname: hostname.clone(),
        generated_time,
        payload,
    };
    let stored = match call
        .st
        .store
        .notification_create(new, call.st.dedup_window)
        .await
    {
        Ok(n) => n,
        Err(StoreError::HostOnMaintenance(_)) => {
            return Err(ApiError::conflict(format!(
                "Notification received from host {hostname} of type '{kind}' is ignored as the \
                 host is already under maintenance."
            )))
        }
        Err(StoreError::DuplicateNotification(_)) => {
            return Err(ApiError::conflict(format!(
                "Notification received from host {hostname} of type {kind} is duplicate."
            )))
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(wake) = &call.st.on_notification {
        wake();
    }
    Ok(json_response(
        StatusCode::ACCEPTED,
        json!({ "notification": views::notification(&stored) }),
    ))
}

pub async fn notification_show(call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:notifications:detail")?;
    let id = notification_id(id)?;
    let n = call.st.store.notification_get(id).await?;
    let mut view = views::notification(&n);
    if call.version >= Version(1, 1) {
        // From the store, so this never waits on an engine (Masakari: 500 after 60 s).
        let steps = call.st.store.workflow_steps(id).await?;
        view["recovery_workflow_details"] = views::workflow(&steps);
    }
    Ok(ok(json!({ "notification": view })))
}

// ---- vmoves ------------------------------------------------------------------------------

async fn host_notification(call: &Call<'_>, id: &str) -> Result<NotificationId, ApiError> {
    let nid = notification_id(id)?;
    let n = call.st.store.notification_get(nid).await?;
    if n.notification_type != NotificationType::ComputeHost {
        return Err(ApiError::bad_request(format!(
            "This notification {nid} without vm moves."
        )));
    }
    Ok(nid)
}

pub async fn vmove_list(call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:vmoves:index")?;
    let nid = host_notification(call, id).await?;
    let params = call.params();
    let page = page(&params)?;
    let filter = VMoveFilter {
        status: param(&params, "status").map(str::to_owned),
        vmove_type: param(&params, "type").map(str::to_owned),
    };
    let rows = call.st.store.vmove_list(nid, &filter, &page).await?;
    let last = rows.last().map(|v| v.id);
    let items = rows.iter().map(views::vmove).collect();
    let path = format!("notifications/{nid}/vmoves");
    Ok(ok(list_body(call, "vmoves", &path, items, last, &page)))
}

pub async fn vmove_show(call: &Call<'_>, id: &str, vmove: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:vmoves:detail")?;
    host_notification(call, id).await?;
    let vid: VMoveId = parse_id(vmove, || {
        ApiError::not_found(format!("No vm move with id {vmove}."))
    })?;
    let v = call.st.store.vmove_get(vid).await?;
    Ok(ok(json!({ "vmove": views::vmove(&v) })))
}

// ---- extensions --------------------------------------------------------------------------

const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("extensions", "Extensions", "Extension information."),
    ("notifications", "Notifications", "Notification support."),
    ("os-hosts", "Hosts", "Host management support."),
    ("segments", "Segments", "Segments support."),
    ("versions", "Versions", "API Version information."),
    ("vmoves", "VMoves", "VM moves support."),
];

fn extension(alias: &str, name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "alias": alias,
        "description": description,
        "namespace": "",
        "updated": "",
        "links": [],
    })
}

pub fn extension_list(call: &Call<'_>) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:extensions:index")?;
    let items: Vec<Value> = EXTENSIONS
        .iter()
        .map(|(a, n, d)| extension(a, n, d))
        .collect();
    Ok(ok(json!({ "extensions": items })))
}

pub fn extension_show(call: &Call<'_>, alias: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:extensions:detail")?;
    let (a, n, d) = EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .ok_or_else(|| ApiError::not_found("Extension not found."))?;
    Ok(ok(json!({ "extension": extension(a, n, d) })))
}
