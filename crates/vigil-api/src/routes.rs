//! Request dispatch. Masakari's router decides between a plain-text 404 (no route), a JSON 405
//! (route without that action) and the handlers, and accepts every path with or without a
//! project id and a `.json` suffix; a hand-written dispatcher reproduces that exactly, which
//! axum's own router (with its own 404/405 bodies) would not.

use crate::error::{plain_not_found, ApiError};
use crate::microversion::{self, Version};
use crate::policy::PolicyTarget;
use crate::{resources, ApiState};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use regex::Regex;
use serde::Serialize;
use serde_json::Value;
use std::sync::LazyLock;
use std::time::Instant;

/// The caller the request's credentials name, or the 401 that refuses it (the API's and the
/// status page's data alike); 503 when Keystone cannot be asked, as keystonemiddleware
/// answers: the token may well be valid, so refusing it as unauthorized would be wrong.
pub(crate) async fn authenticated(
    st: &ApiState,
    headers: &HeaderMap,
) -> Result<crate::auth::RequestContext, Response> {
    st.auth.authenticate(headers).await.map_err(|e| {
        match &e {
            crate::auth::AuthError::Keystone(cause) => {
                ApiError::unavailable("Keystone service", cause.as_ref())
            }
            _ => ApiError::new(
                StatusCode::UNAUTHORIZED,
                format!("Authentication required: {e}"),
            ),
        }
        .into_response()
    })
}

/// Answers a request and records how long it took under its route's template.
pub async fn dispatch(State(st): State<ApiState>, req: Request) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = template(req.uri().path());
    let metrics = st.metrics.clone();
    let response = match crate::limits::refusal(&st.limits, &req) {
        Some(refused) => refused,
        None => answer(st, req).await,
    };
    metrics.api_request(
        method.as_str(),
        route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

async fn answer(st: ApiState, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let base = base_url(&st, &parts.headers);
    if path == "/" || path.is_empty() {
        return if parts.method == Method::GET || parts.method == Method::HEAD {
            json_response(
                StatusCode::OK,
                &vigil_wire::versions(
                    &base,
                    microversion::MIN.to_string(),
                    microversion::MAX.to_string(),
                ),
            )
        } else {
            plain_not_found()
        };
    }
    if path == "/healthcheck" {
        return (StatusCode::OK, "OK").into_response();
    }
    if crate::ui::is_ui(&path) {
        return crate::ui::answer(&st, &parts.method, &path, &parts.headers).await;
    }
    let Some(rest) = path
        .strip_prefix("/v1")
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return json_response(
            StatusCode::MULTIPLE_CHOICES,
            &vigil_wire::choices(&base, &path),
        );
    };
    // The API's description carries no data: public, like the versions at `/`.
    if rest == "/openapi.json" && (parts.method == Method::GET || parts.method == Method::HEAD) {
        let mut resp = (StatusCode::OK, crate::openapi::document()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        return resp;
    }
    let ctx = match authenticated(&st, &parts.headers).await {
        Ok(ctx) => ctx,
        Err(refused) => return refused,
    };
    let version = match microversion::negotiate(&parts.headers) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let mut response = if rest.is_empty() || rest == "/" {
        let doc = vigil_wire::version_document(
            &base,
            microversion::MIN.to_string(),
            microversion::MAX.to_string(),
        );
        json_response(StatusCode::OK, &doc)
    } else {
        let body = match read_body(&st, &parts.headers, body).await {
            Ok(b) => b,
            Err(e) => return with_version(e.into_response(), version),
        };
        let query = parts.uri.query().unwrap_or("");
        if let Err(e) = refuse_nul_in_query(query) {
            return with_version(e.into_response(), version);
        }
        let call = Call {
            st: &st,
            ctx: &ctx,
            version,
            method: &parts.method,
            headers: &parts.headers,
            query,
            body,
            base: &base,
        };
        match route(&call, rest).await {
            Ok(r) => r,
            Err(Routed::NoRoute) => return plain_not_found(),
            Err(Routed::Error(e)) => e.into_response(),
        }
    };
    if response.status() != StatusCode::NOT_ACCEPTABLE {
        response = with_version(response, version);
    }
    response
}

fn with_version(mut response: Response, version: Version) -> Response {
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("instance-ha {version}")) {
        h.insert(microversion::HEADER, v);
    }
    h.insert(header::VARY, HeaderValue::from_static(microversion::HEADER));
    response
}

/// Everything a handler may look at.
pub struct Call<'a> {
    pub st: &'a ApiState,
    pub ctx: &'a crate::auth::RequestContext,
    pub version: Version,
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    pub query: &'a str,
    pub body: Bytes,
    pub base: &'a str,
}

impl Call<'_> {
    /// 403 unless policy allows `rule`.
    pub fn authorize(&self, rule: &str) -> Result<(), ApiError> {
        let target = PolicyTarget {
            project_id: self.ctx.project_id.clone(),
        };
        if self.st.policy.enforce(rule, self.ctx, &target) {
            Ok(())
        } else {
            Err(ApiError::forbidden(rule))
        }
    }

    /// The JSON body of a POST or PUT; Masakari's messages for what is not one.
    pub fn json(&self) -> Result<Value, ApiError> {
        check_content_type(self.headers)?;
        if self.body.is_empty() {
            return Ok(Value::Null);
        }
        let text = std::str::from_utf8(&self.body)
            .map_err(|_| ApiError::bad_request("Malformed request body"))?;
        let value: Value = serde_json::from_str(text)
            .map_err(|_| ApiError::bad_request("Malformed request body"))?;
        if holds_nul(&value) {
            return Err(ApiError::bad_request(
                "Invalid input: NUL characters (\\u0000) are not allowed",
            ));
        }
        Ok(value)
    }

    /// Query parameters in order; repeated keys are kept.
    pub fn params(&self) -> Vec<(String, String)> {
        query_params(self.query)
    }
}

/// Query parameters in order; repeated keys are kept.
pub fn query_params(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// PostgreSQL cannot store a NUL character in text, and no name, filter or identifier Masakari
/// knows holds one: refused at the edge, alike on every database, rather than failing in the
/// store. A URI carries no raw NUL, so `%00` is the only way one gets into a decoded key or
/// value: looked for in the raw query, which the handlers parse later anyway.
fn refuse_nul_in_query(query: &str) -> Result<(), ApiError> {
    if query.contains("%00") {
        return Err(ApiError::bad_request(
            "Invalid query string: NUL characters (%00) are not allowed",
        ));
    }
    Ok(())
}

/// Whether a NUL character is in any key or string of `value`.
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

pub enum Routed {
    NoRoute,
    Error(ApiError),
}

impl From<ApiError> for Routed {
    fn from(e: ApiError) -> Self {
        Routed::Error(e)
    }
}

static PROJECT: LazyLock<Regex> = LazyLock::new(|| Regex::new("^[0-9a-f-]+$").expect("valid"));

const COLLECTIONS: &[&str] = &["segments", "notifications", "extensions"];

/// The segments of a path below `/v1`, without a trailing slash or a `.json` suffix.
fn path_segments(rest: &str) -> Vec<&str> {
    let mut segs: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    if segs.last() == Some(&"") && segs.len() > 1 {
        segs.pop();
    }
    if let Some(last) = segs.last_mut() {
        if let Some(stripped) = last.strip_suffix(".json") {
            *last = stripped;
        }
    }
    segs
}

/// The route a path asks for, identifiers and project id left out: a metrics label with a
/// bounded number of values. Paths no route serves are all `other`. Placeholders are
/// `:name`, not `{name}`: braces inside label values are valid, but trip simple parsers.
pub(crate) fn template(path: &str) -> &'static str {
    match path {
        "" | "/" => return "/",
        "/healthcheck" => return "/healthcheck",
        "/v1/openapi.json" => return "/v1/openapi.json",
        p if crate::ui::is_ui(p) => return crate::ui::template(p),
        _ => {}
    }
    let Some(rest) = path
        .strip_prefix("/v1")
        .filter(|r| r.is_empty() || r.starts_with('/'))
    else {
        return "other";
    };
    let mut segs = path_segments(rest);
    if segs
        .first()
        .is_some_and(|first| !COLLECTIONS.contains(first) && PROJECT.is_match(first))
    {
        segs.remove(0);
    }
    match segs.as_slice() {
        [] | [""] => "/v1",
        ["segments"] => "/v1/segments",
        ["segments", _] => "/v1/segments/:segment_id",
        ["segments", _, "action"] => "/v1/segments/:segment_id/action",
        ["segments", _, "hosts"] => "/v1/segments/:segment_id/hosts",
        ["segments", _, "hosts", _] => "/v1/segments/:segment_id/hosts/:host_id",
        ["notifications"] => "/v1/notifications",
        ["notifications", _] => "/v1/notifications/:notification_id",
        ["notifications", _, "vmoves"] => "/v1/notifications/:notification_id/vmoves",
        ["notifications", _, "vmoves", _] => "/v1/notifications/:notification_id/vmoves/:vmove_id",
        ["extensions"] => "/v1/extensions",
        ["extensions", _] => "/v1/extensions/:alias",
        _ => "other",
    }
}

async fn route(call: &Call<'_>, rest: &str) -> Result<Response, Routed> {
    let mut segs = path_segments(rest);
    if let Some(first) = segs.first().copied() {
        if !COLLECTIONS.contains(&first) {
            if !PROJECT.is_match(first) {
                return Err(Routed::NoRoute);
            }
            if let Some(own) = &call.ctx.project_id {
                if own != first {
                    return Err(ApiError::bad_request(format!(
                        "Malformed request URL: URL's project_id '{first}' doesn't match \
                         Context's project_id '{own}'"
                    ))
                    .into());
                }
            }
            segs.remove(0);
        }
    }
    let m = call.method;
    use resources as r;
    let resp = match (segs.as_slice(), m) {
        (["segments"], &Method::GET) => r::segment_list(call).await?,
        (["segments"], &Method::POST) => r::segment_create(call).await?,
        (["segments", id], &Method::GET) => r::segment_show(call, id).await?,
        (["segments", id], &Method::PUT) => r::segment_update(call, id).await?,
        (["segments", id], &Method::DELETE) => r::segment_delete(call, id).await?,
        (["segments", _, "action"], &Method::POST) => {
            return Err(ApiError::bad_method("POST", "action").into())
        }
        (["segments", id, "hosts"], &Method::GET) => r::host_list(call, id).await?,
        (["segments", id, "hosts"], &Method::POST) => r::host_create(call, id).await?,
        (["segments", s, "hosts", h], &Method::GET) => r::host_show(call, s, h).await?,
        (["segments", s, "hosts", h], &Method::PUT) => r::host_update(call, s, h).await?,
        (["segments", s, "hosts", h], &Method::DELETE) => r::host_delete(call, s, h).await?,
        (["notifications"], &Method::GET) => r::notification_list(call).await?,
        (["notifications"], &Method::POST) => r::notification_create(call).await?,
        (["notifications", id], &Method::GET) => r::notification_show(call, id).await?,
        (["notifications", _], &Method::PUT) => {
            return Err(ApiError::bad_method("PUT", "update").into())
        }
        (["notifications", _], &Method::DELETE) => {
            return Err(ApiError::bad_method("DELETE", "delete").into())
        }
        (["notifications", id, "vmoves"], &Method::GET) => r::vmove_list(call, id).await?,
        (["notifications", n, "vmoves", v], &Method::GET) => r::vmove_show(call, n, v).await?,
        (["notifications", _, "vmoves", _], &Method::PUT) => {
            return Err(ApiError::bad_method("PUT", "update").into())
        }
        (["notifications", _, "vmoves", _], &Method::DELETE) => {
            return Err(ApiError::bad_method("DELETE", "delete").into())
        }
        (["extensions"], &Method::GET) => r::extension_list(call)?,
        (["extensions", alias], &Method::GET) => r::extension_show(call, alias)?,
        _ => return Err(Routed::NoRoute),
    };
    Ok(resp)
}

async fn read_body(st: &ApiState, headers: &HeaderMap, body: Body) -> Result<Bytes, ApiError> {
    let too_large = || ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "Request is too large.");
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > st.max_body_size) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, st.max_body_size)
        .await
        .map_err(|_| too_large())
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let ct = ct
        .to_str()
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    match ct.to_ascii_lowercase().as_str() {
        "" | "application/json" | "application/vnd.openstack.masakari+json" | "text/plain" => {
            Ok(())
        }
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Content-Type",
        )),
    }
}

/// `body` as JSON, serialized in its types' field order (Masakari's).
pub fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let text = match serde_json::to_string(body) {
        Ok(text) => text,
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    let mut resp = (status, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// Where links point: the configured prefix, or the scheme and host the client used.
fn base_url(st: &ApiState, headers: &HeaderMap) -> String {
    if let Some(prefix) = &st.link_prefix {
        return prefix.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let proto = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or(st.scheme);
    format!("{proto}://{host}")
}

#[cfg(test)]
mod tests {
    use super::template;

    #[test]
    fn templates_leave_identifiers_out() {
        let id = "5f4e0a3c-9d1b-4c5e-8f2a-1b2c3d4e5f60";
        let project = "4a1b2c3d4e5f60718293a4b5c6d7e8f9";
        for (path, want) in [
            ("/", "/"),
            ("/healthcheck", "/healthcheck"),
            ("/v1/openapi.json", "/v1/openapi.json"),
            ("/v1", "/v1"),
            ("/v1/", "/v1"),
            ("/v1/segments", "/v1/segments"),
            (&format!("/v1/{project}/segments.json"), "/v1/segments"),
            (&format!("/v1/segments/{id}/"), "/v1/segments/:segment_id"),
            (
                &format!("/v1/{project}/segments/{id}/hosts/{id}"),
                "/v1/segments/:segment_id/hosts/:host_id",
            ),
            (
                &format!("/v1/notifications/{id}/vmoves/{id}.json"),
                "/v1/notifications/:notification_id/vmoves/:vmove_id",
            ),
            ("/v1/extensions/vmoves", "/v1/extensions/:alias"),
            ("/v1/nothing/here/at/all", "other"),
            ("/v2/segments", "other"),
            ("/v1x", "other"),
            ("/ui", "/ui/"),
            ("/ui/", "/ui/"),
            ("/ui/state.json", "/ui/state.json"),
            ("/ui/app.js", "/ui/app.js"),
            ("/ui/../etc/passwd", "other"),
        ] {
            assert_eq!(template(path), want, "{path}");
        }
    }
}
