//! `/v1/extensions`: the fixed list of Masakari's API extensions.

use super::ok;
use crate::error::ApiError;
use crate::routes::Call;
use axum::response::Response;
use vigil_wire::{extensions, Item, List};

pub fn extension_list(call: &Call<'_>) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:extensions:index")?;
    Ok(ok(&List {
        items: extensions(),
        links: None,
    }))
}

pub fn extension_show(call: &Call<'_>, alias: &str) -> Result<Response, ApiError> {
    call.authorize("os_masakari_api:extensions:detail")?;
    let extension = extensions()
        .into_iter()
        .find(|e| e.alias == alias)
        .ok_or_else(|| ApiError::not_found("Extension not found."))?;
    Ok(ok(&Item(extension)))
}
