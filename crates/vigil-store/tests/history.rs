//! The failure history the engine's decisions count on, on every backend: queries on the
//! payload columns filled at intake, and migration 0004 filling them for rows stored before it.

mod common;

use common::{each_store, report, report_with, setup};
use serde_json::{json, Value};
use sqlx::{AnyConnection, Connection, Row};
use vigil_domain::{NotificationId, NotificationStatus, NotificationType, Timestamp};
use vigil_store::testing::test_stores_before;
use vigil_store::NewNotification;

const X: &str = "5f6c3e8e-34c9-4a30-9a1a-0b0a5f6c3e8e";
const Y: &str = "0b0a5f6c-34c9-4a30-9a1a-5f6c3e8e0b0a";

fn vm(instance: &str, domain_event: &str) -> Value {
    json!({"instance_uuid": instance, "vir_domain_event": domain_event, "event": "LIFECYCLE"})
}

#[tokio::test]
async fn history_queries_read_the_payload_columns() {
    each_store(async |s, b| {
        setup(s, 3).await;
        let long_ago = Timestamp::from_micros(0);
        let failed = report(s, "node0", NotificationType::ComputeHost).await;
        let segment = s
            .host_get_by_uuid(failed.source_host_uuid)
            .await
            .unwrap()
            .unwrap()
            .segment
            .uuid;
        let back = report_with(
            s,
            "node0",
            NotificationType::ComputeHost,
            json!({"event": "STARTED", "host_status": "NORMAL"}),
        )
        .await;
        report_with(
            s,
            "node1",
            NotificationType::Process,
            json!({"process_name": "nova-compute", "event": "STOPPED"}),
        )
        .await;
        let ignored = report(s, "node2", NotificationType::ComputeHost).await;
        s.notification_set_status(ignored.uuid, NotificationStatus::Ignored, None)
            .await
            .unwrap();
        // A host stopped (node0); a host came back, a process stopped, an ignored report: not
        // host failures.
        let count = s.segment_failure_count(segment, long_ago).await.unwrap();
        assert_eq!(count, (1, 3), "{b:?}");
        let later = Timestamp::from_micros(Timestamp::now().as_micros() + 1_000_000);
        assert_eq!(
            s.segment_failure_count(segment, later).await.unwrap(),
            (0, 3),
            "{b:?}"
        );

        let last = s
            .host_last_failure(failed.source_host_uuid, back.uuid)
            .await;
        assert_eq!(last.unwrap().map(|n| n.uuid), Some(failed.uuid), "{b:?}");
        let again = report_with(
            s,
            "node0",
            NotificationType::ComputeHost,
            json!({"event": "STOPPED", "host_status": "UNKNOWN"}),
        )
        .await;
        let last = s
            .host_last_failure(failed.source_host_uuid, back.uuid)
            .await;
        assert_eq!(last.unwrap().map(|n| n.uuid), Some(again.uuid), "{b:?}");
        let last = s
            .host_last_failure(failed.source_host_uuid, again.uuid)
            .await;
        assert_eq!(last.unwrap().map(|n| n.uuid), Some(failed.uuid), "{b:?}");

        let x1 = report_with(s, "node1", NotificationType::Vm, vm(X, "STOPPED_FAILED")).await;
        let y = report_with(s, "node1", NotificationType::Vm, vm(Y, "STOPPED_FAILED")).await;
        let x2 = report_with(s, "node2", NotificationType::Vm, vm(X, "IO_ERROR_REPORT")).await;
        let x3 = report_with(s, "node2", NotificationType::Vm, vm(X, "STOPPED_FAILED")).await;
        for n in [&x1, &y, &x2] {
            s.notification_set_status(n.uuid, NotificationStatus::Finished, None)
                .await
                .unwrap();
        }
        // Finished reports of X only (x3 is not), newest first, the asking one left out.
        let earlier = |except: NotificationId| s.instance_recoveries(X, long_ago, except);
        assert_eq!(earlier(x3.uuid).await.unwrap(), [x2.uuid, x1.uuid], "{b:?}");
        assert_eq!(earlier(x2.uuid).await.unwrap(), [x1.uuid], "{b:?}");
        assert!(
            s.instance_recoveries(X, later, x3.uuid)
                .await
                .unwrap()
                .is_empty(),
            "{b:?}"
        );
    })
    .await;
}

/// Reads a text column whichever way the driver hands it over (MySQL: bytes).
fn text(row: &sqlx::any::AnyRow, col: &str) -> Option<String> {
    match row.try_get::<Option<String>, _>(col) {
        Ok(v) => v,
        Err(_) => row
            .try_get::<Option<Vec<u8>>, _>(col)
            .expect("a text column")
            .map(|b| String::from_utf8(b).expect("UTF-8")),
    }
}

type Columns = (Option<String>, Option<String>, Option<String>);

async fn columns(url: &str) -> Vec<(String, Value, Columns)> {
    let mut conn = AnyConnection::connect(url).await.unwrap();
    let rows = sqlx::query(
        "SELECT type, payload, event, instance_uuid, host_status FROM notifications ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    rows.iter()
        .map(|r| {
            let payload = text(r, "payload").unwrap();
            (
                text(r, "type").unwrap(),
                serde_json::from_str(&payload).unwrap(),
                (
                    text(r, "event"),
                    text(r, "instance_uuid"),
                    text(r, "host_status"),
                ),
            )
        })
        .collect()
}

/// Rows stored before migration 0004 get the payload columns intake gives the same reports,
/// and nothing from values of the wrong type.
#[tokio::test]
async fn migration_4_fills_the_payload_columns_of_stored_rows() {
    let some = |s: &str| Some(s.to_owned());
    let reports = [
        (
            "COMPUTE_HOST",
            json!({"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}),
            (some("STOPPED"), None, some("NORMAL")),
        ),
        (
            "COMPUTE_HOST",
            json!({"event": "STARTED"}),
            (some("STARTED"), None, None),
        ),
        (
            "VM",
            vm(X, "STOPPED_FAILED"),
            (some("LIFECYCLE"), some(X), None),
        ),
        (
            "PROCESS",
            json!({"process_name": "nova-compute", "event": "STOPPED"}),
            (some("STOPPED"), None, None),
        ),
    ];
    let odd = [
        (
            "VM",
            json!({"instance_uuid": 7, "event": "LIFECYCLE"}),
            (some("LIFECYCLE"), None, None),
        ),
        (
            "COMPUTE_HOST",
            json!({"event": ["STOPPED"]}),
            (None, None, None),
        ),
    ];
    for t in test_stores_before(4).await {
        let b = t.backend;
        let mut conn = AnyConnection::connect(&t.url).await.unwrap();
        for (i, (kind, payload, _)) in reports.iter().chain(&odd).enumerate() {
            let uuid = NotificationId::new_random();
            let statement = format!(
                "INSERT INTO notifications (notification_uuid, generated_time, type, payload, \
                 payload_digest, status, source_host_uuid, created_at, deleted) \
                 VALUES ('{uuid}', {i}, '{kind}', '{payload}', 'd{i}', 'finished', '{X}', {i}, 0)"
            );
            sqlx::query(&statement).execute(&mut conn).await.unwrap();
        }
        let _ = conn.close().await;
        let s = &t.store;
        s.migrate().await.unwrap();
        let before = columns(&t.url).await;
        let want: Vec<_> = reports
            .iter()
            .chain(&odd)
            .map(|(k, p, c)| (k.to_string(), p.clone(), c.clone()))
            .collect();
        assert_eq!(before, want, "{b:?}");

        // The same reports through intake today: the same columns.
        setup(s, 1).await;
        for (kind, payload, _) in &reports {
            s.notification_create(
                NewNotification {
                    notification_type: kind.parse().unwrap(),
                    hostname: "node0".into(),
                    generated_time: Timestamp::now(),
                    payload: payload.as_object().unwrap().clone(),
                },
                std::time::Duration::from_secs(180),
            )
            .await
            .unwrap();
        }
        let after = columns(&t.url).await;
        assert_eq!(after[want.len()..], want[..reports.len()], "{b:?}");
    }
}
