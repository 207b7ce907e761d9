//! Bodies that are not what a resource takes: each a 4xx with Masakari's message, never a 500.

use crate::support::Api;
use axum::body::Body;
use axum::http::Request;
use serde_json::json;
use vigil_store::testing::test_stores;

#[tokio::test]
async fn bad_bodies_are_400_415_413_never_500() {
    for t in test_stores().await {
        let api = Api::new(&t);
        let b = t.backend;
        let cases: &[(&str, &str)] = &[
            ("{", "Malformed request body"),
            ("[1,2]", "[1, 2] is not of type 'object'"),
            ("", "None is not of type 'object'"),
            (r#"{"segment": {"name": 1, "recovery_method": "auto", "service_type": "C"}}"#,
             "Invalid input for field/attribute name. Value: 1. 1 is not of type 'string'"),
            (r#"{"segment": {"name": "a", "service_type": "C"}}"#,
             "Invalid input for field/attribute segment. Value: {'name': 'a', 'service_type': 'C'}. 'recovery_method' is a required property"),
            (r#"{"segment": {"name": "a", "recovery_method": "fast", "service_type": "C"}}"#,
             "Invalid input for field/attribute recovery_method. Value: 'fast'. 'fast' is not one of ['auto', 'reserved_host', 'auto_priority', 'rh_priority']"),
            (r#"{"segment": {"name": " a", "recovery_method": "auto", "service_type": "C"}}"#,
             "An invalid 'name' value was provided. The name must be: printable characters. Can not start or end with whitespace."),
            (r#"{"segment": {"name": "a", "recovery_method": "auto", "service_type": "C", "enabled": false}}"#,
             "Invalid input for field/attribute segment. Value: {'name': 'a', 'recovery_method': 'auto', 'service_type': 'C', 'enabled': False}. Additional properties are not allowed ('enabled' was unexpected)"),
            (r#"{"segment": {"name": "a", "recovery_method": "auto", "service_type": "C"}, "x": 1}"#, "Additional properties are not allowed ('x' was unexpected)"),
        ];
        for (body, message) in cases {
            let r = api.call("POST", "/v1/segments", Some(body), &[]).await;
            assert_eq!(r.status, 400, "{b:?} {body}: {}", r.text);
            assert_eq!(r.fault("badRequest"), *message, "{b:?} {body}");
        }
        // Not UTF-8.
        let r = api
            .call(
                "POST",
                "/v1/segments",
                Some("{\"segment\": \"\u{fffd}\"}"),
                &[],
            )
            .await;
        assert_eq!(r.status, 400);
        let mut raw = b"{\"segment\": {\"name\": \"".to_vec();
        raw.extend([0xff, 0xfe]);
        raw.extend(b"\"}}");
        let req = Request::builder()
            .method("POST")
            .uri("/v1/segments")
            .body(Body::from(raw))
            .unwrap();
        assert_eq!(api.send(req).await.status, 400);
        // Content type and size.
        let r = api
            .call(
                "POST",
                "/v1/segments",
                None,
                &[("content-type", "application/xml")],
            )
            .await;
        assert_eq!(r.fault("badMediaType"), "Unsupported Content-Type");
        let huge = format!("{{\"segment\": {{\"name\": \"{}\"}}}}", "a".repeat(200_000));
        let r = api.call("POST", "/v1/segments", Some(&huge), &[]).await;
        assert_eq!(r.status, 413);
        r.fault("overLimit");
        // enabled at 1.2 accepts Masakari's boolean strings.
        let r = api
            .call(
                "POST",
                "/v1/segments",
                Some(r#"{"segment": {"name": "e", "recovery_method": "auto", "service_type": "C", "enabled": "off"}}"#),
                &[("OpenStack-API-Version", "instance-ha 1.2")],
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        assert_eq!(r.json()["segment"]["enabled"], false);
        let r = api.put("/v1/segments/x", json!({"segment": {}})).await;
        assert_eq!(r.status, 404);
    }
}
