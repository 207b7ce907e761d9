//! The test client: requests through the router in-process, replies with their Masakari
//! fault bodies read, and the segment, host and report most tests start from.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use vigil_api::{router, ApiState};
use vigil_store::testing::TestStore;

pub struct Api {
    pub app: axum::Router,
    pub backend: vigil_store::Backend,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
    /// A header's value as text (a missing or non-text one fails the test).
    pub fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }
    /// The message of a Masakari error body with this fault name.
    pub fn fault(&self, name: &str) -> String {
        let v = self.json();
        assert_eq!(v[name]["code"], self.status.as_u16(), "{}", self.text);
        v[name]["message"].as_str().unwrap().to_owned()
    }
}

impl Api {
    pub fn new(t: &TestStore) -> Api {
        Api {
            app: router(ApiState::new(t.store.clone())),
            backend: t.backend,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "vigil.test");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_owned())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        self.send(req).await
    }

    /// Any request, as built.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None, &[]).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(&body.to_string()), &[]).await
    }
    /// GET at microversion `version` (`1.2`, `latest`, …).
    pub async fn get_at(&self, path: &str, version: &str) -> Reply {
        let header = format!("instance-ha {version}");
        self.call("GET", path, None, &[("OpenStack-API-Version", &header)])
            .await
    }
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(&body.to_string()), &[]).await
    }

    pub async fn segment(&self, name: &str) -> Value {
        let r = self
            .post(
                "/v1/segments",
                json!({"segment": {"name": name, "recovery_method": "auto", "service_type": "COMPUTE"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?} {}", self.backend, r.text);
        r.json()["segment"].clone()
    }

    /// A segment with one host: their uuids.
    pub async fn segment_with_host(&self, segment: &str, host: &str) -> (String, String) {
        let sid = uuid(&self.segment(segment).await);
        let hid = uuid(&self.host(&sid, host).await);
        (sid, hid)
    }

    pub async fn host(&self, segment: &str, name: &str) -> Value {
        let r = self
            .post(
                &format!("/v1/segments/{segment}/hosts"),
                json!({"host": {"name": name, "type": "COMPUTE", "control_attributes": "SSH"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?} {}", self.backend, r.text);
        r.json()["host"].clone()
    }
}

/// The `uuid` of a resource body.
pub fn uuid(body: &Value) -> String {
    body["uuid"].as_str().expect("a uuid").to_owned()
}

pub fn host_down(host: &str) -> Value {
    json!({"notification": {"type": "COMPUTE_HOST", "hostname": host,
        "generated_time": "2026-11-25T01:02:03.123456",
        "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}}})
}
