//! Segments and hosts: their fields, conflicts, lists with filters, sorting and paging.

use crate::support::Api;
use serde_json::json;
use vigil_store::testing::test_stores;

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
        let elsewhere = api.get(&format!("/v1/segments/{oid}/hosts/{hid}")).await;
        assert_eq!(
            elsewhere.fault("itemNotFound"),
            format!("Host '{hid}' under failover_segment '{oid}' could not be found.")
        );
        let maybe = format!("/v1/segments/{sid}/hosts?reserved=maybe");
        assert!(api
            .get(&maybe)
            .await
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
