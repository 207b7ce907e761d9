//! `/v1/segments`: failover segments.

use super::params::{listed, nothing_listed, Params};
use super::{ok, read, replace, schemas, segment_id};
use crate::error::ApiError;
use crate::routes::{json_response, Call};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vigil_domain::{RecoveryMethod, Segment};
use vigil_store::{NewSegment, SegmentFilter};
use vigil_wire::{CreateSegment, Item, SegmentBody, UpdateSegment};

pub async fn segment_list(call: &Call<'_>) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:segments:index")?;
    let (params, page) = Params::paged(call)?;
    let mut filter = SegmentFilter {
        service_type: params.text("service_type"),
        enabled: params.strict_bool("enabled")?,
        name: params.text("name"),
        ..Default::default()
    };
    // An unknown recovery method matches nothing.
    let Ok(method) = params.parsed::<RecoveryMethod>("recovery_method") else {
        return Ok(nothing_listed::<SegmentBody>());
    };
    filter.recovery_method = method;
    let rows = call.st.store.segment_list(&filter, &page).await?;
    Ok(listed(
        call,
        "segments",
        &rows,
        SegmentBody::from,
        |s| s.id,
        &page,
    ))
}

pub async fn segment_create(call: &Call<'_>) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:segments:create")?;
    let schema = schemas::segment(true, call.version);
    let Item(s): Item<CreateSegment> = read(&schema, call.json()?)?;
    let new = NewSegment {
        name: s.name,
        service_type: s.service_type,
        enabled: s.enabled.is_none_or(|e| e.0),
        description: s.description,
        recovery_method: s.recovery_method,
    };
    let created = call.st.store.segment_create(new).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &Item(SegmentBody::from(&created)),
    ))
}

pub async fn segment_show(call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:segments:detail")?;
    let seg = call.st.store.segment_get(segment_id(id)?).await?;
    Ok(ok(&Item(SegmentBody::from(&seg))))
}

pub async fn segment_update(call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:segments:update")?;
    let id = segment_id(id)?;
    let schema = schemas::segment(false, call.version);
    let Item(u): Item<UpdateSegment> = read(&schema, call.json()?)?;
    let change = |s: &mut Segment| {
        replace(&mut s.name, u.name);
        replace(&mut s.service_type, u.service_type);
        replace(&mut s.enabled, u.enabled.map(|e| e.0));
        replace(&mut s.description, u.description);
        replace(&mut s.recovery_method, u.recovery_method);
    };
    let seg = call.st.store.segment_update(id, change).await?;
    Ok(ok(&Item(SegmentBody::from(&seg))))
}

pub async fn segment_delete(call: &Call<'_>, id: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:segments:delete")?;
    call.st.store.segment_delete(segment_id(id)?).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
