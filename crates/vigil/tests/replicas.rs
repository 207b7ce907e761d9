//! Two `vigil api` processes on one PostgreSQL (and one MariaDB) database receive the same
//! host-failure report 50 times at once: exactly one is stored, 49 are refused as duplicates.

mod support;

use serde_json::json;
use support::Vigil;
use vigil_store::Backend;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_store_a_report_once() {
    for backend in [Backend::Postgres, Backend::MySql] {
        let Some(db) = vigil_store::testing::server(backend).await else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let vars = [("VIGIL_DATABASE__URL", db.url.as_str())];
        let a = Vigil::start_with_env("api", &dir.path().join("a"), &[], &vars);
        let b = Vigil::start_with_env("api", &dir.path().join("b"), &[], &vars);
        let http = reqwest::Client::new();
        let seg = body_of(http.post(format!("{}/v1/segments", a.url())).json(
            &json!({"segment": {"name": "s", "recovery_method": "auto", "service_type": "C"}}),
        ))
        .await;
        let sid = seg["segment"]["uuid"].as_str().unwrap();
        let r = http
            .post(format!("{}/v1/segments/{sid}/hosts", b.url()))
            .json(&json!({"host": {"name": "node1", "type": "C", "control_attributes": "x"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let report = json!({"notification": {"type": "COMPUTE_HOST", "hostname": "node1",
            "generated_time": "2026-11-25T00:00:00",
            "payload": {"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}}});
        let mut tasks = Vec::new();
        for i in 0..50 {
            let url = format!(
                "{}/v1/notifications",
                if i % 2 == 0 { a.url() } else { b.url() }
            );
            let (http, report) = (http.clone(), report.clone());
            tasks.push(tokio::spawn(async move {
                http.post(url)
                    .json(&report)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }));
        }
        let mut codes = Vec::new();
        for t in tasks {
            codes.push(t.await.unwrap());
        }
        assert_eq!(
            codes.iter().filter(|c| **c == 202).count(),
            1,
            "{backend:?}: {codes:?}"
        );
        assert_eq!(
            codes.iter().filter(|c| **c == 409).count(),
            49,
            "{backend:?}: {codes:?}"
        );
        let list = body_of(http.get(format!("{}/v1/notifications", b.url()))).await;
        assert_eq!(list["notifications"].as_array().unwrap().len(), 1);
    }
}

/// Sends the request and reads its JSON body.
async fn body_of(request: reqwest::RequestBuilder) -> serde_json::Value {
    request.send().await.unwrap().json().await.unwrap()
}
