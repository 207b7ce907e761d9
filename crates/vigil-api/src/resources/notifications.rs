//! `/v1/notifications`: monitors' failure reports, and the vmoves (1.3) of a host recovery.

use super::params::{listed, nothing_listed, Params};
use super::{checked, notification_id, ok, parse_id, read, schemas};
use crate::error::ApiError;
use crate::microversion::Version;
use crate::routes::{json_response, Call};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use vigil_domain::{NotificationId, NotificationType, VMoveId};
use vigil_store::{NewNotification, NotificationFilter, StoreError, VMoveFilter};
use vigil_wire::{CreateNotification, Item, NotificationBody, VMoveBody};

pub async fn notification_list(call: &Call<'_>) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:notifications:index")?;
    let (params, page) = Params::paged(call)?;
    let mut filter = NotificationFilter {
        status: params.text("status"),
        notification_type: params.text("type"),
        ..Default::default()
    };
    if let Some(since) = params.get("generated-since") {
        filter.generated_since = Some(
            vigil_wire::time::parse_isotime(since)
                .ok_or_else(|| ApiError::bad_request("Invalid generated-since value"))?,
        );
    }
    // Not a UUID, so no host's: nothing matches.
    let Ok(host) = params.parsed("source_host_uuid") else {
        return Ok(nothing_listed::<NotificationBody>());
    };
    filter.source_host_uuid = host;
    let rows = call.st.store.notification_list(&filter, &page).await?;
    let show = NotificationBody::from;
    Ok(listed(call, "notifications", &rows, show, |n| n.id, &page))
}

pub async fn notification_create(call: &Call<'_>) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:notifications:create")?;
    let Item(n): Item<CreateNotification> = read(&schemas::notification(), call.json()?)?;
    let kind = n.notification_type;
    // The payload's keys depend on the type, so it is checked second, as Masakari does.
    checked(&schemas::payload(kind), &Value::Object(n.payload.clone()))?;
    let hostname = n.hostname;
    let new = NewNotification {
        notification_type: kind,
        hostname: hostname.clone(),
        generated_time: n.generated_time,
        payload: n.payload,
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
        &Item(NotificationBody::from(&stored)),
    ))
}

pub async fn notification_show(call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:notifications:detail")?;
    let id = notification_id(id)?;
    let n = call.st.store.notification_get(id).await?;
    let steps = if call.version >= Version(1, 1) {
        // From the store, so this never waits on an engine (Masakari: 500 after 60 s).
        Some(call.st.store.workflow_steps(id).await?)
    } else {
        None
    };
    Ok(ok(&Item(NotificationBody::new(&n, steps.as_deref()))))
}

/// The notification `id`, which must be a host failure: only those move instances.
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
    let (params, page) = Params::paged(call)?;
    let filter = VMoveFilter {
        status: params.text("status"),
        vmove_type: params.text("type"),
    };
    let rows = call.st.store.vmove_list(nid, &filter, &page).await?;
    let path = format!("notifications/{nid}/vmoves");
    Ok(listed(call, &path, &rows, VMoveBody::from, |v| v.id, &page))
}

pub async fn vmove_show(call: &Call<'_>, id: &str, vmove: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:vmoves:detail")?;
    host_notification(call, id).await?;
    let vid: VMoveId = parse_id(vmove, || ApiError::no_such("vm move", vmove))?;
    let v = call.st.store.vmove_get(vid).await?;
    Ok(ok(&Item(VMoveBody::from(&v))))
}
