//! The status page at `/ui/`: a read-only view for operators of segments, hosts, recoveries in
//! flight (server by server), recent notifications and headroom.
//!
//! The HTML, script and style sheet are embedded in the binary and carry no data, so they are
//! served to anyone; the page polls `/ui/state.json`, which is authenticated and authorised as
//! the API's list calls are (a 401 makes the page ask for a token). Everything an operator named
//! reaches the page as JSON and is put in the document as text, never as markup.

mod state;
mod view;

use crate::error::{plain_not_found, ApiError};
use crate::policy::PolicyTarget;
use crate::routes::{authenticated, json_response};
use crate::ApiState;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");

/// The policy rules of the list calls whose data the page shows; a caller needs them all.
const RULES: &[&str] = &[
    "os_masakari_api:segments:index",
    "os_masakari_api:os-hosts:index",
    "os_masakari_api:notifications:index",
    "os_masakari_api:vmoves:index",
];

/// Only what the page's own files are allowed to do: no inline script, nothing from elsewhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// Whether `path` is the status page's (`/ui` and below).
pub(crate) fn is_ui(path: &str) -> bool {
    path == "/ui" || path.starts_with("/ui/")
}

/// The route template of a page path, for the request metrics.
pub(crate) fn template(path: &str) -> &'static str {
    match path {
        "/ui" | "/ui/" | "/ui/index.html" => "/ui/",
        "/ui/app.js" => "/ui/app.js",
        "/ui/app.css" => "/ui/app.css",
        "/ui/state.json" => "/ui/state.json",
        _ => "other",
    }
}

/// Answers a request for a path [`is_ui`] accepts.
pub(crate) async fn answer(
    st: &ApiState,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
) -> Response {
    let file = match path {
        "/ui" => return redirect("/ui/"),
        "/ui/" | "/ui/index.html" => Some((INDEX, "text/html; charset=utf-8")),
        "/ui/app.js" => Some((SCRIPT, "text/javascript; charset=utf-8")),
        "/ui/app.css" => Some((STYLE, "text/css; charset=utf-8")),
        "/ui/state.json" => None,
        _ => return plain_not_found(),
    };
    if *method != Method::GET && *method != Method::HEAD {
        let mut resp = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("The status page is read-only: {method} is not allowed"),
        )
        .into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return resp;
    }
    let resp = match file {
        Some((text, content_type)) => {
            let mut resp = (StatusCode::OK, text).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            resp
        }
        None => state_json(st, headers).await,
    };
    secured(resp)
}

/// The page's data, for a caller the API would let list every resource shown.
async fn state_json(st: &ApiState, headers: &HeaderMap) -> Response {
    let ctx = match authenticated(st, headers).await {
        Ok(ctx) => ctx,
        Err(refused) => return refused,
    };
    let target = PolicyTarget {
        project_id: ctx.project_id.clone(),
    };
    if let Some(rule) = RULES
        .iter()
        .find(|rule| !st.policy.enforce(rule, &ctx, &target))
    {
        return ApiError::forbidden(rule).into_response();
    }
    match state::load(&st.store, st.headroom.as_ref()).await {
        Ok(state) => {
            let mut resp = json_response(StatusCode::OK, &state);
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            resp
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

fn redirect(to: &'static str) -> Response {
    let mut resp = StatusCode::MOVED_PERMANENTLY.into_response();
    resp.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    resp
}

/// The headers that keep the page from being framed, sniffed or given foreign script.
fn secured(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        HeaderName::from_static("referrer-policy"),
        HeaderValue::from_static("no-referrer"),
    );
    resp
}
