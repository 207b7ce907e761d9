//! The storage contract for notifications (intake, duplicates, lists, workflow steps), run on
//! every backend like `store.rs`.

mod common;

use common::{each_pair, each_store, host_down, page, payload, segment_with, vmoves, WINDOW};
use serde_json::{json, Value};
use vigil_domain::{
    NotificationStatus, NotificationType, ProgressDetail, Segment, Timestamp, WorkflowStep,
};
use vigil_store::{NotificationFilter, Page, SortDir, StoreError};

#[tokio::test]
async fn notifications_check_host_maintenance_and_duplicates() {
    each_store(async |s, b| {
        let (seg, [h]) = segment_with(s, ["node1"]).await;
        let t0 = Timestamp::from_micros(1_700_000_000_123_456);

        assert_err!(
            b,
            s.notification_create(host_down("nodeX", t0), WINDOW).await,
            StoreError::HostNameNotFound(n) if n == "nodeX"
        );

        let n = s
            .notification_create(host_down("node1", t0), WINDOW)
            .await
            .unwrap();
        assert_eq!(n.status, NotificationStatus::New);
        assert_eq!(n.source_host_uuid, h.uuid);
        assert_eq!(n.failover_segment_uuid, Some(seg.uuid));
        assert_eq!(
            n.generated_time, t0,
            "{b:?}: generated_time keeps microseconds"
        );
        assert_eq!(s.notification_get(n.uuid).await.unwrap(), n, "{b:?}");

        // Same payload, keys in another order, 60 s later: duplicate.
        let mut again = host_down("node1", Timestamp::from_micros(t0.as_micros() + 60_000_000));
        again.payload = payload(
            json!({"cluster_status": "OFFLINE", "host_status": "NORMAL", "event": "STOPPED"}),
        );
        assert_err!(
            b,
            s.notification_create(again, WINDOW).await,
            StoreError::DuplicateNotification(_)
        );
        // Earlier than the stored one: also a duplicate (Masakari checks ">= new - window").
        let earlier = host_down("node1", Timestamp::from_micros(t0.as_micros() - 1_000_000));
        assert!(
            s.notification_create(earlier, WINDOW).await.is_err(),
            "{b:?}"
        );
        // Outside the window: accepted.
        let later = host_down(
            "node1",
            Timestamp::from_micros(t0.as_micros() + 600_000_000),
        );
        s.notification_create(later, WINDOW).await.unwrap();
        // Another payload within the window: accepted.
        let mut started = host_down("node1", t0);
        started.payload = payload(
            json!({"event": "STARTED", "host_status": "NORMAL", "cluster_status": "ONLINE"}),
        );
        s.notification_create(started, WINDOW).await.unwrap();
        // Another type with the same payload: accepted.
        let mut process = host_down("node1", t0);
        process.notification_type = NotificationType::Process;
        s.notification_create(process, WINDOW).await.unwrap();

        // Finish everything so the host may be edited, then put it in maintenance.
        for n in s
            .notification_list(&NotificationFilter::default(), &Page::default())
            .await
            .unwrap()
        {
            s.notification_set_status(n.uuid, NotificationStatus::Finished, None)
                .await
                .unwrap();
        }
        s.host_update(seg.uuid, h.uuid, |h| h.on_maintenance = true)
            .await
            .unwrap();
        assert_err!(
            b,
            s.notification_create(host_down("node1", Timestamp::now()), WINDOW)
                .await,
            StoreError::HostOnMaintenance(n) if n == "node1"
        );
        // The host's report that it is back is how it leaves maintenance: accepted.
        let mut back = host_down("node1", Timestamp::now());
        back.payload = payload(json!({"event": "STARTED", "host_status": "NORMAL"}));
        let n = s.notification_create(back, WINDOW).await.unwrap();
        assert_eq!(s.notification_get(n.uuid).await.unwrap(), n, "{b:?}");
    })
    .await;
}

#[tokio::test]
async fn notifications_in_progress_hold_the_segment() {
    each_store(async |s, b| {
        let (seg, [h1, h2]) = segment_with(s, ["node1", "node2"]).await;
        let n = s
            .notification_create(host_down("node1", Timestamp::now()), WINDOW)
            .await
            .unwrap();
        for status in [
            NotificationStatus::New,
            NotificationStatus::Running,
            NotificationStatus::Error,
        ] {
            s.notification_set_status(n.uuid, status, None)
                .await
                .unwrap();
            let described = |s: &mut Segment| s.description = Some("x".into());
            assert!(
                matches!(
                    s.segment_update(seg.uuid, described).await.unwrap_err(),
                    StoreError::SegmentInUse(_)
                ),
                "{b:?} {status}"
            );
            assert!(matches!(
                s.segment_delete(seg.uuid).await.unwrap_err(),
                StoreError::SegmentInUse(_)
            ));
            // Any host of the segment, not only the failed one.
            assert!(matches!(
                s.host_delete(seg.uuid, h2.uuid).await.unwrap_err(),
                StoreError::HostInUse(id) if id == h2.uuid
            ));
            assert!(matches!(
                s.host_update(seg.uuid, h1.uuid, |h| h.reserved = true)
                    .await
                    .unwrap_err(),
                StoreError::HostInUse(_)
            ));
        }
        s.notification_set_status(n.uuid, NotificationStatus::Failed, Some("gave up".into()))
            .await
            .unwrap();
        assert_eq!(
            s.notification_get(n.uuid).await.unwrap().message.as_deref(),
            Some("gave up")
        );
        s.host_delete(seg.uuid, h2.uuid).await.unwrap();
        s.segment_delete(seg.uuid).await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn notification_list_filters_and_pages() {
    each_store(async |s, b| {
        let (_, [h1, _]) = segment_with(s, ["node1", "node2"]).await;
        let base = 1_700_000_000_000_000;
        for i in 0..12 {
            let mut n = host_down(
                if i % 2 == 0 { "node1" } else { "node2" },
                Timestamp::from_micros(base + i * 1_000_000_000),
            );
            n.notification_type = if i % 3 == 0 {
                NotificationType::Vm
            } else {
                NotificationType::ComputeHost
            };
            n.payload.insert("i".into(), Value::String(i.to_string()));
            s.notification_create(n, WINDOW).await.unwrap();
        }
        let all = NotificationFilter::default();
        let from = |h| NotificationFilter {
            source_host_uuid: Some(h),
            ..Default::default()
        };
        let of_type = |t: &str| NotificationFilter {
            notification_type: Some(t.into()),
            ..Default::default()
        };
        let since = |micros| NotificationFilter {
            generated_since: Some(Timestamp::from_micros(micros)),
            ..Default::default()
        };
        let status = |s: &str| NotificationFilter {
            status: Some(s.into()),
            ..Default::default()
        };
        let cases = [
            (all.clone(), 12),
            (from(h1.uuid), 6),
            (of_type("VM"), 4),
            (since(base + 10 * 1_000_000_000), 2),
            (status("bogus"), 0),
            (status("new"), 12),
        ];
        for (filter, want) in cases {
            let found = s.notification_list(&filter, &Page::default()).await;
            assert_eq!(found.unwrap().len(), want, "{b:?} {filter:?}");
        }
        // All created in the same second: the id tie-breaker keeps the order total.
        let first = s
            .notification_list(&all, &page(5, None, &[]))
            .await
            .unwrap();
        let second = s
            .notification_list(&all, &page(5, Some(first[4].id), &[]))
            .await
            .unwrap();
        assert_eq!(first.len(), 5);
        assert!(second.iter().all(|n| n.id < first[4].id), "{b:?}");
        let sorted = s
            .notification_list(&all, &page(3, None, &[("generated_time", SortDir::Asc)]))
            .await
            .unwrap();
        assert_eq!(sorted[0].generated_time.as_micros(), base);
        assert_err!(
            b,
            s.notification_list(&all, &page(3, None, &[("uuid", SortDir::Asc)]))
                .await,
            StoreError::InvalidSortKey(_)
        );
    })
    .await;
}

#[tokio::test]
async fn workflow_steps_round_trip() {
    each_store(async |s, b| {
        segment_with(s, ["node1"]).await;
        let n = s
            .notification_create(host_down("node1", Timestamp::now()), WINDOW)
            .await
            .unwrap();
        assert!(s.workflow_steps(n.uuid).await.unwrap().is_empty());
        assert!(vmoves(s, n.uuid).await.is_empty());
        let step = |name: &str, state: &str, progress: f64| WorkflowStep {
            name: name.into(),
            progress,
            state: state.into(),
            progress_details: vec![ProgressDetail {
                timestamp: "2026-11-25 10:00:00.000001".into(),
                progress: progress.to_string(),
                message: format!("{name} ✓"),
            }],
        };
        s.workflow_step_put(
            n.uuid,
            1,
            &step("DisableComputeServiceTask", "RUNNING", 0.5),
        )
        .await
        .unwrap();
        s.workflow_step_put(n.uuid, 0, &step("FenceTask", "SUCCESS", 1.0))
            .await
            .unwrap();
        s.workflow_step_put(
            n.uuid,
            1,
            &step("DisableComputeServiceTask", "SUCCESS", 1.0),
        )
        .await
        .unwrap();
        let steps = s.workflow_steps(n.uuid).await.unwrap();
        assert_eq!(
            steps,
            [
                step("FenceTask", "SUCCESS", 1.0),
                step("DisableComputeServiceTask", "SUCCESS", 1.0)
            ],
            "{:?}",
            b
        );
    })
    .await;
}

/// Two API replicas (two `Store`s on one database) receive the same host-failure report 50
/// times at once: exactly one is stored, every other attempt is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_store_exactly_one() {
    each_pair(async |stores, b| {
        segment_with(&stores[0], ["node1"]).await;
        let at = Timestamp::now();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let s = stores[i % 2].clone();
            tasks.push(tokio::spawn(async move {
                s.notification_create(host_down("node1", at), WINDOW).await
            }));
        }
        let mut stored = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(_) => stored += 1,
                Err(StoreError::DuplicateNotification(_)) => {}
                Err(e) => panic!("{b:?}: {e:?}"),
            }
        }
        assert_eq!(stored, 1, "{b:?}");
        let all = stores[0]
            .notification_list(&NotificationFilter::default(), &Page::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "{b:?}");
    })
    .await;
}
