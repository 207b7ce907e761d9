//! The API's wire behaviour, request by request, on every backend the machine has.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use vigil_api::{router, ApiState};
use vigil_store::testing::{test_stores, TestStore};

struct Api {
    app: axum::Router,
    backend: vigil_store::Backend,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|_| panic!("not JSON: {}", self.text))
    }
    /// The message of a Masakari error body with this fault name.
    fn fault(&self, name: &str) -> String {
        let v = self.json();
        assert_eq!(v[name]["code"], self.status.as_u16(), "{}", self.text);
        v[name]["message"].as_str().unwrap().to_owned()
    }
}

impl Api {
    fn new(t: &TestStore) -> Api {
        Api {
            app: router(ApiState::new(t.store.clone())),
            backend: t.backend,
        }
    }

    async fn call(
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

    async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None, &[]).await
    }
    async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(&body.to_string()), &[]).await
    }
    async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(&body.to_string()), &[]).await
    }

    async fn segment(&self, name: &str) -> Value {
        let r = self
            .post(
                "/v1/segments",
                json!({"segment": {"name": name, "recovery_method": "auto", "service_type": "COMPUTE"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?} {}", self.backend, r.text);
        r.json()["segment"].clone()
    }

    async fn host(&self, segment: &str, name: &str) -> Value {
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

fn host_down(host: &str) -> Value {
    json!({"notification": {"type": "COMPUTE_HOST", "hostname": host,
        "generated_time": "2026-11-25T01:02:03.123456",
        "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}}})
}

#[tokio::test]
async fn versions_microversions_and_routing() {
    for t in test_stores().await {
        let api = Api::new(&t);
        let r = api.get("/").await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["versions"][0]["id"], "v1.0");
        assert_eq!(r.json()["versions"][0]["version"], "1.3");
        assert_eq!(
            r.json()["versions"][0]["links"][0]["href"],
            "http://vigil.test/v1/"
        );
        assert_eq!(api.get("/v2").await.status, 300);
        let r = api.get("/v1/").await;
        assert_eq!(
            r.json()["version"]["media-types"][0]["base"],
            "application/json"
        );
        assert_eq!(api.get("/healthcheck").await.text, "OK");

        let r = api
            .call(
                "GET",
                "/v1/segments",
                None,
                &[("OpenStack-API-Version", "instance-ha 1.2")],
            )
            .await;
        assert_eq!(r.headers["openstack-api-version"], "instance-ha 1.2");
        assert_eq!(r.headers["vary"], "OpenStack-API-Version");
        let r = api
            .call(
                "GET",
                "/v1/segments",
                None,
                &[("OpenStack-API-Version", "instance-ha latest")],
            )
            .await;
        assert_eq!(r.headers["openstack-api-version"], "instance-ha 1.3");
        let r = api
            .call(
                "GET",
                "/v1/segments",
                None,
                &[("OpenStack-API-Version", "instance-ha 2.0")],
            )
            .await;
        assert_eq!(r.status, 406);
        assert!(r.headers.get("openstack-api-version").is_none());
        r.fault("masakariFault");
        let r = api
            .call(
                "GET",
                "/v1/segments",
                None,
                &[("OpenStack-API-Version", "instance-ha x")],
            )
            .await;
        assert_eq!(r.status, 400);

        // Project-id prefix and .json suffix.
        assert_eq!(api.get("/v1/0123abcd/segments").await.status, 200);
        assert_eq!(api.get("/v1/segments.json").await.status, 200);
        let r = api.get("/v1/p1/segments").await;
        assert_eq!(r.status, 404);
        assert!(r.text.starts_with("404 Not Found"), "{}", r.text);
        assert!(r.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"));
        let r = api
            .call(
                "GET",
                "/v1/0123/segments",
                None,
                &[("X-Project-Id", "abcd")],
            )
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(
            r.fault("badRequest"),
            "Malformed request URL: URL's project_id '0123' doesn't match Context's project_id 'abcd'"
        );
        assert_eq!(
            api.call("PATCH", "/v1/segments/x", None, &[]).await.status,
            404
        );
        let r = api.call("DELETE", "/v1/notifications/x", None, &[]).await;
        assert_eq!(
            r.fault("badMethod"),
            "The request method: 'DELETE' with action: 'delete' is not allowed on this resource"
        );
        let ext = api.get("/v1/extensions").await.json();
        assert_eq!(ext["extensions"].as_array().unwrap().len(), 6);
        assert_eq!(api.get("/v1/extensions/vmoves").await.status, 200);
        assert_eq!(api.get("/v1/extensions/nope").await.status, 404);
    }
}

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
        let resp = api.app.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 400);
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

#[tokio::test]
async fn segments_and_hosts() {
    for t in test_stores().await {
        let api = Api::new(&t);
        let b = t.backend;
        let seg = api.segment("seg").await;
        let sid = seg["uuid"].as_str().unwrap();
        let keys: Vec<&String> = seg.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "id",
                "uuid",
                "name",
                "service_type",
                "enabled",
                "description",
                "recovery_method",
                "created_at",
                "updated_at",
                "deleted_at",
                "deleted"
            ]
        );
        assert!(seg["created_at"].as_str().unwrap().ends_with(".000000"));
        let r = api
            .post(
                "/v1/segments",
                json!({"segment": {"name": "seg", "recovery_method": "auto", "service_type": "C"}}),
            )
            .await;
        assert_eq!(r.status, 409);
        assert_eq!(
            r.fault("conflictingRequest"),
            "Failover segment with name seg already exists."
        );
        let r = api.get("/v1/segments/not-a-uuid").await;
        assert_eq!(
            r.fault("itemNotFound"),
            "No failover segment with id not-a-uuid."
        );
        let r = api
            .put(&format!("/v1/segments/{sid}"), json!({"segment": {}}))
            .await;
        assert_eq!(r.fault("badRequest"), "Invalid input for field/attribute segment. Value: {}. {} is not valid under any of the given schemas");

        let host = api.host(sid, "node1").await;
        let hid = host["uuid"].as_str().unwrap();
        assert_eq!(host["failover_segment_id"], sid);
        assert_eq!(host["failover_segment"]["name"], "seg");
        let r = api
            .post(
                &format!("/v1/segments/{sid}/hosts"),
                json!({"host": {"name": "n2", "type": "COMPUTE_HOST", "control_attributes": "x"}}),
            )
            .await;
        assert_eq!(r.status, 400, "{b:?}: type must match ^[a-zA-Z0-9]*$");
        let other = api.segment("other").await;
        let oid = other["uuid"].as_str().unwrap();
        let r = api
            .post(
                &format!("/v1/segments/{oid}/hosts"),
                json!({"host": {"name": "node1", "type": "C", "control_attributes": "x"}}),
            )
            .await;
        assert_eq!(
            r.fault("conflictingRequest"),
            "Host with name node1 already exists."
        );
        let r = api.get(&format!("/v1/segments/{oid}/hosts/{hid}")).await;
        assert_eq!(
            r.fault("itemNotFound"),
            format!("Host '{hid}' under failover_segment '{oid}' could not be found.")
        );
        let r = api
            .get(&format!("/v1/segments/{sid}/hosts?reserved=maybe"))
            .await;
        assert!(r
            .fault("badRequest")
            .starts_with("Invalid value for reserved: Unrecognized value 'maybe'"));
        let list = api
            .get(&format!("/v1/segments/{sid}/hosts?name=nomatch"))
            .await
            .json();
        assert_eq!(
            list["hosts"].as_array().unwrap().len(),
            0,
            "{b:?}: name filter works"
        );
        let r = api
            .put(
                &format!("/v1/segments/{sid}/hosts/{hid}"),
                json!({"host": {"on_maintenance": "True"}}),
            )
            .await;
        assert_eq!(r.json()["host"]["on_maintenance"], true, "{}", r.text);

        // Lists: filters, sorting, paging with next links, bad parameters.
        for i in 0..4 {
            api.segment(&format!("s{i}")).await;
        }
        let list = api
            .get("/v1/segments?enabled=true&sort_key=name&sort_dir=asc")
            .await
            .json();
        let names: Vec<&str> = list["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["other", "s0", "s1", "s2", "s3", "seg"]);
        let page = api
            .get("/v1/segments?limit=2&sort_key=name&sort_dir=asc")
            .await
            .json();
        let next = page["segments_links"][0]["href"].as_str().unwrap();
        assert!(next.starts_with("http://vigil.test/v1/segments?"), "{next}");
        let path = next.trim_start_matches("http://vigil.test");
        let page2 = api.get(path).await.json();
        assert_eq!(page2["segments"][0]["name"], "s1");
        for (q, msg) in [
            ("limit=-1", "Invalid input received: limit must be >= 0"),
            ("marker=999999", "Marker 999999 could not be found."),
            (
                "sort_dir=up",
                "Invalid input received: Unknown sort direction, must be 'asc' or 'desc'",
            ),
            (
                "sort_key=foo",
                "InvalidSortKey('Sort key supplied is invalid: foo')",
            ),
            (
                "sort_dir=asc&sort_dir=desc",
                "Invalid input received: Sort direction size exceeds sort key size",
            ),
        ] {
            let r = api.get(&format!("/v1/segments?{q}")).await;
            assert_eq!(r.fault("badRequest"), msg, "{b:?} {q}");
        }

        let r = api
            .call("DELETE", &format!("/v1/segments/{sid}"), None, &[])
            .await;
        assert_eq!(r.status, 204);
        assert!(r.text.is_empty());
        assert_eq!(
            api.get(&format!("/v1/segments/{sid}/hosts/{hid}"))
                .await
                .status,
            404
        );
    }
}

#[tokio::test]
async fn notifications_and_vmoves() {
    for t in test_stores().await {
        let api = Api::new(&t);
        let b = t.backend;
        let seg = api.segment("seg").await;
        let sid = seg["uuid"].as_str().unwrap();
        let host = api.host(sid, "node1").await;
        let hid = host["uuid"].as_str().unwrap();

        let r = api.post("/v1/notifications", host_down("nodeX")).await;
        assert_eq!(
            r.fault("badRequest"),
            "Host with name nodeX could not be found."
        );
        let r = api.post("/v1/notifications", host_down("node1")).await;
        assert_eq!(r.status, 202, "{b:?} {}", r.text);
        let n = r.json()["notification"].clone();
        assert_eq!(n["status"], "new");
        assert_eq!(n["generated_time"], "2026-11-25T01:02:03.123456");
        assert_eq!(n["source_host_uuid"], hid);
        assert_eq!(n["failover_segment_uuid"], sid);
        let nid = n["notification_uuid"].as_str().unwrap();
        let r = api.post("/v1/notifications", host_down("node1")).await;
        assert_eq!(
            r.fault("conflictingRequest"),
            "Notification received from host node1 of type COMPUTE_HOST is duplicate."
        );

        // Type-specific payloads.
        let bad = [
            (json!({"event": "stopped"}), "COMPUTE_HOST"),
            (json!({"event": "STOPPED", "extra": "x"}), "COMPUTE_HOST"),
            (json!({"event": "STOPPED"}), "PROCESS"),
            (
                json!({"instance_uuid": "nope", "vir_domain_event": "x", "event": "y"}),
                "VM",
            ),
            (json!({"event": 1}), "COMPUTE_HOST"),
        ];
        for (payload, kind) in bad {
            let body = json!({"notification": {"type": kind, "hostname": "node1", "generated_time": "2026-11-25T01:00:00", "payload": payload}});
            let r = api.post("/v1/notifications", body).await;
            assert_eq!(r.status, 400, "{b:?} {kind} {payload}: {}", r.text);
        }
        let r = api
            .post("/v1/notifications", json!({"notification": {"type": "VM", "hostname": "node1", "generated_time": "not a time", "payload": {}}}))
            .await;
        assert_eq!(r.fault("badRequest"), "Invalid input for field/attribute generated_time. Value: 'not a time'. 'not a time' is not a 'date-time'");
        let vm = json!({"notification": {"type": "VM", "hostname": "node1", "generated_time": "2026-11-25 10:00:00+09:00",
            "payload": {"instance_uuid": "5f6c3e8e-34c9-4a30-9a1a-0b0a5f6c3e8e", "vir_domain_event": "STOPPED_FAILED", "event": "LIFECYCLE"}}});
        let r = api.post("/v1/notifications", vm).await;
        assert_eq!(r.status, 202, "{}", r.text);
        assert_eq!(
            r.json()["notification"]["generated_time"],
            "2026-11-25T01:00:00.000000"
        );
        let vm_id = r.json()["notification"]["notification_uuid"]
            .as_str()
            .unwrap()
            .to_owned();

        // Show: workflow details from 1.1 on.
        let r = api.get(&format!("/v1/notifications/{nid}")).await;
        assert!(r.json()["notification"]
            .get("recovery_workflow_details")
            .is_none());
        let r = api
            .call(
                "GET",
                &format!("/v1/notifications/{nid}"),
                None,
                &[("OpenStack-API-Version", "instance-ha 1.1")],
            )
            .await;
        assert_eq!(
            r.json()["notification"]["recovery_workflow_details"],
            json!([])
        );
        let r = api.get("/v1/notifications/nope").await;
        assert_eq!(r.fault("itemNotFound"), "No notification with id nope.");

        let list = api.get("/v1/notifications?type=VM").await.json();
        assert_eq!(list["notifications"].as_array().unwrap().len(), 1);
        let list = api
            .get("/v1/notifications?generated-since=2026-11-25T01:01:00")
            .await
            .json();
        assert_eq!(list["notifications"].as_array().unwrap().len(), 1, "{b:?}");
        let r = api.get("/v1/notifications?generated-since=soon").await;
        assert_eq!(r.fault("badRequest"), "Invalid generated-since value");
        let r = api.get("/v1/notifications?sort_key=uuid").await;
        assert_eq!(r.status, 400);

        // The segment is in use while the report is new.
        let r = api
            .put(
                &format!("/v1/segments/{sid}"),
                json!({"segment": {"description": "x"}}),
            )
            .await;
        assert_eq!(
            r.fault("conflictingRequest"),
            format!(
                "Failover segment {sid} can't be updated as it is in-use to process notifications."
            )
        );
        let r = api
            .call(
                "DELETE",
                &format!("/v1/segments/{sid}/hosts/{hid}"),
                None,
                &[],
            )
            .await;
        assert_eq!(
            r.fault("conflictingRequest"),
            format!("Host {hid} can't be updated as it is in-use to process notifications.")
        );

        // vmoves.
        let r = api.get(&format!("/v1/notifications/{nid}/vmoves")).await;
        assert_eq!(r.json(), json!({"vmoves": []}));
        let r = api.get(&format!("/v1/notifications/{vm_id}/vmoves")).await;
        assert_eq!(
            r.fault("badRequest"),
            format!("This notification {vm_id} without vm moves.")
        );
        let r = api
            .get(&format!("/v1/notifications/{nid}/vmoves/nope"))
            .await;
        assert_eq!(r.fault("itemNotFound"), "No vm move with id nope.");

        // Maintenance.
        for n in t
            .store
            .notification_list(&Default::default(), &Default::default())
            .await
            .unwrap()
        {
            t.store
                .notification_set_status(n.uuid, vigil_domain::NotificationStatus::Finished, None)
                .await
                .unwrap();
        }
        api.put(
            &format!("/v1/segments/{sid}/hosts/{hid}"),
            json!({"host": {"on_maintenance": true}}),
        )
        .await;
        let mut again = host_down("node1");
        again["notification"]["generated_time"] = json!("2026-11-26T00:00:00");
        let r = api.post("/v1/notifications", again).await;
        assert_eq!(r.fault("conflictingRequest"), "Notification received from host node1 of type 'COMPUTE_HOST' is ignored as the host is already under maintenance.");
        // The host reporting it is back is how it rejoins: accepted despite maintenance.
        let mut back = host_down("node1");
        back["notification"]["payload"]["event"] = json!("STARTED");
        let r = api.post("/v1/notifications", back).await;
        assert_eq!(r.status, 202, "{}", r.text);
    }
}
