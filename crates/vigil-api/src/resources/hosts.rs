//! `/v1/segments/{id}/hosts`: the hosts of a segment.

use super::params::{listed, Params};
use super::{ok, parse_id, read, replace, schemas, segment_id};
use crate::error::ApiError;
use crate::routes::{json_response, Call};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vigil_domain::{Host, HostId};
use vigil_store::{HostFilter, NewHost};
use vigil_wire::{CreateHost, HostBody, Item, UpdateHost};

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
    let (params, page) = Params::paged(call)?;
    let filter = HostFilter {
        host_type: params.text("type"),
        on_maintenance: params.strict_bool("on_maintenance")?,
        reserved: params.strict_bool("reserved")?,
        name: params.text("name"),
        control_attributes: params.text("control_attributes"),
    };
    let rows = call.st.store.host_list(seg, &filter, &page).await?;
    let path = format!("segments/{seg}/hosts");
    Ok(listed(call, &path, &rows, HostBody::from, |h| h.id, &page))
}

pub async fn host_create(call: &Call<'_>, segment: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:os-hosts:create")?;
    let seg = segment_id(segment)?;
    let Item(h): Item<CreateHost> = read(&schemas::host(true), call.json()?)?;
    // Masakari reports a missing segment before asking Nova about the name.
    call.st.store.segment_get(seg).await?;
    check_compute(call, &h.name).await?;
    let new = NewHost {
        name: h.name,
        host_type: h.host_type,
        control_attributes: h.control_attributes,
        reserved: h.flags.reserved.is_some_and(|b| b.0),
        on_maintenance: h.flags.on_maintenance.is_some_and(|b| b.0),
    };
    let host = call.st.store.host_create(seg, new).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &Item(HostBody::from(&host)),
    ))
}

pub async fn host_show(call: &Call<'_>, segment: &str, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:os-hosts:detail")?;
    let seg = segment_id(segment)?;
    let host = call.st.store.host_get(seg, host_id(segment, id)?).await?;
    Ok(ok(&Item(HostBody::from(&host))))
}

pub async fn host_update(call: &Call<'_>, segment: &str, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:os-hosts:update")?;
    let seg = segment_id(segment)?;
    let hid = host_id(segment, id)?;
    let Item(h): Item<UpdateHost> = read(&schemas::host(false), call.json()?)?;
    if let Some(name) = &h.name {
        let current = call.st.store.host_get(seg, hid).await?;
        if &current.name != name {
            check_compute(call, name).await?;
        }
    }
    let change = |host: &mut Host| {
        replace(&mut host.name, h.name);
        replace(&mut host.host_type, h.host_type);
        replace(&mut host.control_attributes, h.control_attributes);
        replace(&mut host.reserved, h.flags.reserved.map(|b| b.0));
        replace(
            &mut host.on_maintenance,
            h.flags.on_maintenance.map(|b| b.0),
        );
    };
    let host = call.st.store.host_update(seg, hid, change).await?;
    Ok(ok(&Item(HostBody::from(&host))))
}

pub async fn host_delete(call: &Call<'_>, segment: &str, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:os-hosts:delete")?;
    let seg = segment_id(segment)?;
    let hid = host_id(segment, id)?;
    call.st.store.host_delete(seg, hid).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
