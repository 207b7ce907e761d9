//! Whole requests through the router on a real SQLite store: never a 5xx, and every refusal a
//! 4xx with Masakari's fault body (or the plain-text 404 of a path no route serves).
//!
//! Input: a method byte, then NUL-separated path, query, microversion header, content type
//! and body.
#![no_main]

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use tower::ServiceExt;

struct World {
    rt: tokio::runtime::Runtime,
    app: axum::Router,
    _store: vigil_store::testing::TestStore,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let store = rt.block_on(vigil_store::testing::sqlite());
    let app = vigil_api::router(vigil_api::ApiState::new(store.store.clone()));
    World {
        rt,
        app,
        _store: store,
    }
});

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

fuzz_target!(|data: &[u8]| {
    let Some((&m, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(5, |b| *b == 0);
    let mut next = || parts.next().unwrap_or_default();
    let (path, query, version, content_type, body) = (next(), next(), next(), next(), next());
    let mut uri = format!("/v1/{}", String::from_utf8_lossy(path));
    if !query.is_empty() {
        uri = format!("{uri}?{}", String::from_utf8_lossy(query));
    }
    let mut req = Request::builder()
        .method(METHODS[usize::from(m) % METHODS.len()])
        .uri(uri)
        .header("host", "fuzz.test");
    if !version.is_empty() {
        req = req.header("OpenStack-API-Version", version);
    }
    if !content_type.is_empty() {
        req = req.header("content-type", content_type);
    }
    // What `http` refuses to build never reaches a server.
    let Ok(req) = req.body(Body::from(body.to_vec())) else {
        return;
    };
    let w = &*WORLD;
    let (status, text) = w.rt.block_on(async {
        let resp = w.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.expect("a body").to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    });
    assert!(status < 500, "{status} {text}");
    if status < 400 || (status == 404 && text.starts_with("404 Not Found")) {
        return;
    }
    let v: serde_json::Value = serde_json::from_str(&text).expect("a JSON fault body");
    let name = vigil_wire::fault_name(status);
    assert_eq!(v[name]["code"], status, "{text}");
});
