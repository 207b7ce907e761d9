//! Notifications and vmoves: reports, duplicates, payloads by type, workflow details,
//! maintenance.

use crate::support::{host_down, Api};
use serde_json::json;
use vigil_store::testing::test_stores;

#[tokio::test]
async fn notifications_and_vmoves() {
    for t in test_stores().await {
        let api = Api::new(&t);
        let b = t.backend;
        let (sid, hid) = api.segment_with_host("seg", "node1").await;

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
        let r = api.get_at(&format!("/v1/notifications/{nid}"), "1.1").await;
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
        let refused = [
            (
                format!("/v1/notifications/{vm_id}/vmoves"),
                "badRequest",
                format!("This notification {vm_id} without vm moves."),
            ),
            (
                format!("/v1/notifications/{nid}/vmoves/nope"),
                "itemNotFound",
                "No vm move with id nope.".to_owned(),
            ),
        ];
        for (path, fault, message) in refused {
            assert_eq!(api.get(&path).await.fault(fault), message, "{path}");
        }

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
