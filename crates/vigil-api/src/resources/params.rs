//! Query parameters as Masakari reads them: paging and sorting, filters, strict booleans; and
//! the `next` link of a full page.

use crate::error::ApiError;
use crate::routes::Call;
use axum::response::Response;
use serde::Serialize;
use vigil_store::{Page, SortDir};
use vigil_wire::{Link, List, Listed};

use super::ok;

/// Masakari's `osapi_max_limit`.
const MAX_LIMIT: u32 = 1000;

/// The request's query parameters, in order, repeated keys kept.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn of(call: &Call<'_>) -> Self {
        Self(call.params())
    }

    /// The parameters of a query string (without its `?`).
    pub fn parse(query: &str) -> Self {
        Self(crate::routes::query_params(query))
    }

    /// The parameters of a list, and the page they ask for.
    pub fn paged(call: &Call<'_>) -> Result<(Self, Page), ApiError> {
        let params = Self::of(call);
        let page = params.page()?;
        Ok((params, page))
    }

    /// The last value of `key`, as Masakari's webob reads a repeated parameter.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The last value of `key`, owned, for a filter.
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).map(str::to_owned)
    }

    /// The last value of `key` read as a `T`: `Err` for one that is not a `T`, which no row
    /// can have (Masakari compares the raw string, and finds nothing).
    pub fn parsed<T: std::str::FromStr>(&self, key: &str) -> Result<Option<T>, NoMatch> {
        self.get(key)
            .map(|raw| raw.parse().map_err(|_| NoMatch))
            .transpose()
    }

    /// oslo's `bool_from_string(strict=True)`.
    pub fn strict_bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        let Some(raw) = self.get(key) else {
            return Ok(None);
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "t" | "true" | "on" | "y" | "yes" => Ok(Some(true)),
            "0" | "f" | "false" | "off" | "n" | "no" => Ok(Some(false)),
            _ => Err(ApiError::bad_request(format!(
                "Invalid value for {key}: Unrecognized value '{raw}', acceptable values are: \
                 '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
            ))),
        }
    }

    /// Paging and sorting parameters, with Masakari's defaults and messages.
    pub fn page(&self) -> Result<Page, ApiError> {
        let mut limit = MAX_LIMIT;
        let mut marker = None;
        let mut keys = Vec::new();
        let mut dirs = Vec::new();
        for (k, v) in &self.0 {
            match k.as_str() {
                "limit" => limit = parse_limit(v)?,
                "marker" => {
                    marker = Some(v.trim().parse::<i64>().map_err(|_| {
                        ApiError::bad_request(format!("Marker {v} could not be found."))
                    })?);
                }
                "sort_key" => keys.push(v.trim().to_owned()),
                "sort_dir" => dirs.push(parse_dir(v)?),
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
        // A key without a direction of its own takes the first one given.
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
}

fn parse_limit(v: &str) -> Result<u32, ApiError> {
    let n: i64 = v.trim().parse().map_err(|_| {
        ApiError::bad_request("Invalid input received: limit param must be an integer")
    })?;
    if n < 0 {
        return Err(ApiError::bad_request(
            "Invalid input received: limit must be >= 0",
        ));
    }
    Ok(u32::try_from(n).unwrap_or(MAX_LIMIT).min(MAX_LIMIT))
}

fn parse_dir(v: &str) -> Result<SortDir, ApiError> {
    match v.trim() {
        "asc" => Ok(SortDir::Asc),
        "desc" => Ok(SortDir::Desc),
        _ => Err(ApiError::bad_request(
            "Invalid input received: Unknown sort direction, must be 'asc' or 'desc'",
        )),
    }
}

/// A filter value no row can have.
pub struct NoMatch;

/// The answer to a list no row matches.
pub fn nothing_listed<B: Listed + Serialize>() -> Response {
    ok(&List::<B>::default())
}

/// The answer to a list: a page of `rows`, each shown as `show` makes it, with a `next` link
/// when the page is full (Masakari has none; clients ignore it, and without it nothing past
/// the first page was reachable by hand). `path` is the collection's path below `/v1/`; `id`
/// reads a row's integer id, the marker.
pub fn listed<'r, R, B: Listed + Serialize>(
    call: &Call<'_>,
    path: &str,
    rows: &'r [R],
    show: impl Fn(&'r R) -> B,
    id: impl Fn(&R) -> i64,
    page: &Page,
) -> Response {
    let items: Vec<B> = rows.iter().map(show).collect();
    let full = page.limit > 0 && items.len() as u32 == page.limit;
    let links = match (full, rows.last().map(id)) {
        (true, Some(last)) => {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in call.params() {
                if k != "marker" && k != "limit" {
                    q.append_pair(&k, &v);
                }
            }
            q.append_pair("limit", &page.limit.to_string());
            q.append_pair("marker", &last.to_string());
            let href = format!("{}/v1/{path}?{}", call.base, q.finish());
            Some(vec![Link::new("next", href)])
        }
        _ => None,
    };
    ok(&List { items, links })
}
