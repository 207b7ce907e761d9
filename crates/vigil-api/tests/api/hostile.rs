//! Hostile input through the whole router (property tests): any method, path, query,
//! headers and body. The API never answers 5xx, and every refusal is a 4xx with Masakari's
//! fault body, except the paths no route serves (Masakari's plain-text 404) and the 300 of
//! other versions.

use crate::support::{Api, Reply};
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use serde_json::{json, Value};
use vigil_store::testing;

/// What a request is made of; generated, then sent.
#[derive(Debug, Clone)]
struct Hostile {
    method: &'static str,
    path: String,
    query: String,
    microversion: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
}

const IDS: [&str; 3] = [
    "5f4e0a3c-9d1b-4c5e-8f2a-1b2c3d4e5f60",
    "00000000-0000-0000-0000-000000000000",
    "0123abcd",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec!["segments", "hosts", "notifications", "vmoves",
            "extensions", "action", "openapi.json", "v1", "vmoves", ".json", "..", "%2F", ""])
            .prop_map(str::to_owned),
        2 => proptest::sample::select(IDS.to_vec()).prop_map(str::to_owned),
        1 => "[^/?#]{0,12}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    let resource = proptest::sample::select(vec!["segment", "host", "notification"]);
    let field = proptest::sample::select(vec![
        "name",
        "recovery_method",
        "service_type",
        "enabled",
        "type",
        "control_attributes",
        "reserved",
        "on_maintenance",
        "hostname",
        "generated_time",
        "payload",
        "description",
    ]);
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,300}".prop_map(Value::String),
        Just(serde_json::json!({"event": "STOPPED", "host_status": "NORMAL"})),
        Just(serde_json::json!([1, {"a": null}])),
    ];
    let shaped =
        (resource, prop::collection::vec((field, scalar), 0..6)).prop_map(|(r, fields)| {
            let inner: serde_json::Map<String, Value> =
                fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            serde_json::to_vec(&serde_json::json!({ r: inner })).unwrap()
        });
    prop_oneof![
        2 => Just(Vec::new()),
        4 => shaped,
        1 => prop::collection::vec(any::<u8>(), 0..64),
        1 => Just(b"{\"segment\": {\"name\": \"a\"".to_vec()),
        1 => Just(b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]".to_vec()),
    ]
}

fn hostile() -> impl Strategy<Value = Hostile> {
    let method = proptest::sample::select(vec![
        "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS",
    ]);
    let path = prop::collection::vec(word(), 0..5).prop_map(|words| {
        let rest: String = words.iter().map(|w| format!("/{w}")).collect();
        format!("/v1{rest}")
    });
    let key = proptest::sample::select(vec![
        "limit",
        "marker",
        "sort_key",
        "sort_dir",
        "enabled",
        "reserved",
        "on_maintenance",
        "generated-since",
        "source_host_uuid",
        "recovery_method",
        "status",
        "type",
        "x",
    ]);
    let query = prop::collection::vec((key, ".{0,12}"), 0..4).prop_map(|pairs| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            q.append_pair(k, &v);
        }
        q.finish()
    });
    let microversion = proptest::option::of(prop_oneof![
        "instance-ha (1\\.[0-5]|latest|LATEST|0\\.9|1\\.01|[0-9]{1,12}\\.[0-9]{1,12})",
        "[ -~]{0,20}",
    ]);
    let content_type = proptest::option::of(proptest::sample::select(vec![
        "application/json",
        "text/plain",
        "application/xml",
        "application/json; charset=UTF-8",
        "",
        ";;;",
    ]));
    (method, path, query, microversion, content_type, body()).prop_map(
        |(method, path, query, microversion, content_type, body)| Hostile {
            method,
            path,
            query,
            microversion,
            content_type,
            body,
        },
    )
}

impl Hostile {
    fn request(&self) -> Option<Request<Body>> {
        let uri = if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        };
        let mut req = Request::builder()
            .method(self.method)
            .uri(uri)
            .header("host", "vigil.test");
        if let Some(v) = &self.microversion {
            req = req.header("OpenStack-API-Version", v.as_str());
        }
        if let Some(ct) = self.content_type {
            req = req.header("content-type", ct);
        }
        // A path or header `http` itself refuses never reaches the server.
        req.body(Body::from(self.body.clone())).ok()
    }
}

/// The property every answer has.
fn well_formed(h: &Hostile, r: &Reply) -> Result<(), TestCaseError> {
    let status = r.status.as_u16();
    prop_assert!(status < 500, "{h:?} -> {status} {}", r.text);
    // A HEAD answer has no body to check.
    if status < 400 || status == 300 || h.method == "HEAD" {
        return Ok(());
    }
    if status == 404 && r.text.starts_with("404 Not Found") {
        prop_assert!(r.header("content-type").starts_with("text/plain"));
        return Ok(());
    }
    let v: Value = serde_json::from_str(&r.text)
        .map_err(|_| TestCaseError::fail(format!("{h:?} -> {status} not JSON: {}", r.text)))?;
    let name = vigil_wire::fault_name(status);
    prop_assert_eq!(v.as_object().map(|o| o.len()), Some(1), "{}", r.text);
    prop_assert_eq!(&v[name]["code"], &Value::from(status), "{}", r.text);
    prop_assert!(v[name]["message"].is_string(), "{}", r.text);
    Ok(())
}

#[test]
fn hostile_requests_get_4xx_faults_never_5xx() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = rt.block_on(testing::sqlite());
    let api = Api::new(&t);
    // Some ids exist, so requests reach the store as well as the validators.
    rt.block_on(async {
        api.segment_with_host("seg", "host-1").await;
        let r = api
            .post("/v1/notifications", crate::support::host_down("host-1"))
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
    });
    let config = ProptestConfig {
        cases: 512,
        ..ProptestConfig::default()
    };
    proptest!(config, |(h in hostile())| {
        let Some(req) = h.request() else { return Ok(()) };
        let reply = rt.block_on(api.send(req));
        well_formed(&h, &reply)?;
    });
}

/// PostgreSQL refuses a NUL character in text ("invalid byte sequence"), which answered 500 for
/// a filter such as `?name=a%00b`. Every database now gets the same 400 before the store is
/// asked, and nothing is stored.
#[tokio::test]
async fn nul_characters_are_refused_on_every_backend() {
    for t in testing::test_stores().await {
        let api = Api::new(&t);
        let b = t.backend;
        let (segment, _) = api.segment_with_host("seg", "node-1").await;
        for path in [
            "/v1/segments?service_type=%00".to_owned(),
            "/v1/segments?name=a%00b".to_owned(),
            "/v1/notifications?status=%00".to_owned(),
            format!("/v1/segments/{segment}/hosts?type=%00"),
            "/v1/segments?na%00me=x".to_owned(),
        ] {
            let r = api.get(&path).await;
            assert_eq!(r.status, 400, "{b:?} {path}: {}", r.text);
            assert!(r.fault("badRequest").contains("NUL"), "{b:?} {path}");
        }
        let bodies = [
            (
                "/v1/segments",
                json!({"segment": {"name": "a\u{0}b", "recovery_method": "auto", "service_type": "C"}}),
            ),
            (
                "/v1/notifications",
                json!({"notification": {"type": "VM", "hostname": "node-1", "generated_time": "2026-12-01T10:00:00", "payload": {"event": "LIFECYCLE", "instance_uuid": "x\u{0}", "vir_domain_event": "STOPPED_FAILED"}}}),
            ),
        ];
        for (path, body) in bodies {
            let r = api.post(path, body).await;
            assert_eq!(r.status, 400, "{b:?} {path}: {}", r.text);
            assert!(r.fault("badRequest").contains("NUL"), "{b:?} {path}");
        }
        let r = api.get("/v1/segments").await;
        assert_eq!(r.json()["segments"].as_array().unwrap().len(), 1, "{b:?}");
        let r = api.get("/v1/notifications").await;
        assert_eq!(r.json()["notifications"], json!([]), "{b:?}");
    }
}
