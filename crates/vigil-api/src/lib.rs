//! The Masakari-compatible HTTP API, serving the bodies `vigil_wire` defines.
//!
//! `routes` dispatches (versions, microversions, project-id prefixes, Masakari's 404/405
//! rules), `resources` handles each resource, `schema` validates bodies with Masakari's
//! messages before they are read into their wire types, `error` renders failures. `ui` is the
//! operators' status page at `/ui/`, with its data at `/ui/state.json`.

pub mod auth;
pub mod compute_check;
#[cfg(test)]
mod edge_tests;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod headroom;
pub mod limits;
mod microversion;
mod openapi;
pub mod policy;
mod resources;
mod routes;
mod schema;
mod ui;

use std::sync::Arc;
use std::time::Duration;

/// What the API needs to serve requests.
#[derive(Clone)]
pub struct ApiState {
    pub store: vigil_store::Store,
    pub auth: auth::Authenticator,
    pub policy: Arc<policy::Policy>,
    pub compute_check: Option<Arc<dyn compute_check::ComputeHostCheck>>,
    /// `duplicate_notification_detection_interval` (Masakari default 180 s).
    pub dedup_window: Duration,
    /// `osapi_masakari_link_prefix`; `None` builds links from the request's Host header.
    pub link_prefix: Option<String>,
    /// The scheme links get without a prefix or `X-Forwarded-Proto`: `https` when Vigil itself
    /// serves TLS.
    pub scheme: &'static str,
    /// Requests with larger bodies get 413 (Masakari's `max_request_body_size`).
    pub max_body_size: usize,
    /// Header size and per-client rate, checked before a request is dispatched.
    pub limits: limits::Limits,
    /// Called after a notification is stored, so an engine in the same process starts at once.
    pub on_notification: Option<Arc<dyn Fn() + Send + Sync>>,
    /// Where request latencies are recorded (served by the binary when configured).
    pub metrics: vigil_metrics::Metrics,
    /// Each segment's capacity headroom for the status page; `None`: shown as unknown.
    pub headroom: Option<Arc<dyn headroom::HeadroomSource>>,
}

impl ApiState {
    /// The embedded defaults: no auth, admin-only policy, no Nova check.
    pub fn new(store: vigil_store::Store) -> Self {
        Self {
            store,
            auth: auth::Authenticator::NoAuth,
            policy: Arc::new(policy::Policy::defaults()),
            compute_check: None,
            dedup_window: Duration::from_secs(180),
            link_prefix: None,
            scheme: "http",
            max_body_size: 114_688,
            limits: limits::Limits::default(),
            on_notification: None,
            metrics: vigil_metrics::Metrics::new(),
            headroom: None,
        }
    }
}

pub fn router(state: ApiState) -> axum::Router {
    axum::Router::new()
        .fallback(routes::dispatch)
        .with_state(state)
}
