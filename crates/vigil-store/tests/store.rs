//! The storage contract, run on every backend: SQLite always, PostgreSQL and MariaDB when
//! reachable (required when `VIGIL_REQUIRE_DBS=1`, as in `scripts/test` and CI).

use serde_json::{json, Map, Value};
use std::time::Duration;
use vigil_domain::{
    NotificationStatus, NotificationType, ProgressDetail, RecoveryMethod, SegmentId, Timestamp,
    WorkflowStep,
};
use vigil_store::testing::test_stores;
use vigil_store::{
    HostFilter, HostUpdate, NewHost, NewNotification, NewSegment, NotificationFilter, Page,
    SegmentFilter, SegmentUpdate, SortDir, Store, StoreError, VMoveFilter,
};

const WINDOW: Duration = Duration::from_secs(180);

fn segment(name: &str) -> NewSegment {
    NewSegment {
        name: name.to_owned(),
        service_type: "COMPUTE".to_owned(),
        enabled: true,
        description: None,
        recovery_method: RecoveryMethod::Auto,
    }
}

fn host(name: &str) -> NewHost {
    NewHost {
        name: name.to_owned(),
        host_type: Some("COMPUTE".to_owned()),
        control_attributes: Some("SSH".to_owned()),
        reserved: false,
        on_maintenance: false,
    }
}

fn payload(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn host_down(hostname: &str, at: Timestamp) -> NewNotification {
    NewNotification {
        notification_type: NotificationType::ComputeHost,
        hostname: hostname.to_owned(),
        generated_time: at,
        payload: payload(
            json!({"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}),
        ),
    }
}

fn page(limit: u32, marker: Option<i64>, sort: &[(&str, SortDir)]) -> Page {
    let mut p = Page {
        limit,
        marker,
        ..Page::default()
    };
    if !sort.is_empty() {
        p.sort = sort.iter().map(|(k, d)| (k.to_string(), *d)).collect();
    }
    p
}

#[tokio::test]
async fn migrations_are_idempotent() {
    for t in test_stores().await {
        t.store.migrate().await.unwrap();
        t.store.migrate().await.unwrap();
    }
}

#[tokio::test]
async fn segment_lifecycle() {
    for t in test_stores().await {
        let s = &t.store;
        let b = t.backend;
        let mut new = segment("seg-a");
        new.description = Some("line one\nline two ✓".into());
        let created = s.segment_create(new).await.unwrap();
        assert_eq!(created.created_at.as_micros() % 1_000_000, 0, "{b:?}");
        assert_eq!(s.segment_get(created.uuid).await.unwrap(), created, "{b:?}");

        let err = s.segment_create(segment("seg-a")).await.unwrap_err();
        assert!(
            matches!(err, StoreError::SegmentNameExists(n) if n == "seg-a"),
            "{b:?}"
        );

        let updated = s
            .segment_update(
                created.uuid,
                SegmentUpdate {
                    enabled: Some(false),
                    description: Some(None),
                    recovery_method: Some(RecoveryMethod::RhPriority),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(!updated.enabled);
        assert_eq!(updated.description, None);
        assert!(updated.updated_at.is_some());
        assert_eq!(s.segment_get(created.uuid).await.unwrap(), updated, "{b:?}");

        s.segment_create(segment("seg-b")).await.unwrap();
        let err = s
            .segment_update(
                created.uuid,
                SegmentUpdate {
                    name: Some("seg-b".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::SegmentNameExists(_)), "{b:?}");

        s.segment_delete(created.uuid).await.unwrap();
        assert!(matches!(
            s.segment_get(created.uuid).await.unwrap_err(),
            StoreError::SegmentNotFound(_)
        ));
        // A deleted segment's name is free again.
        s.segment_create(segment("seg-a")).await.unwrap();
        let missing = SegmentId::new_random();
        assert!(matches!(
            s.segment_delete(missing).await.unwrap_err(),
            StoreError::SegmentNotFound(id) if id == missing
        ));
    }
}

#[tokio::test]
async fn segment_filters_work_including_the_ones_masakari_breaks() {
    for t in test_stores().await {
        let s = &t.store;
        let b = t.backend;
        s.segment_create(segment("one")).await.unwrap();
        let mut two = segment("two");
        two.enabled = false;
        two.recovery_method = RecoveryMethod::ReservedHost;
        two.service_type = "OTHER".into();
        s.segment_create(two).await.unwrap();

        let names = |v: Vec<vigil_domain::Segment>| -> Vec<String> {
            v.into_iter().map(|s| s.name).collect()
        };
        let all = Page::default();
        let f = SegmentFilter {
            enabled: Some(false),
            ..Default::default()
        };
        assert_eq!(
            names(s.segment_list(&f, &all).await.unwrap()),
            ["two"],
            "{b:?}"
        );
        let f = SegmentFilter {
            name: Some("one".into()),
            ..Default::default()
        };
        assert_eq!(
            names(s.segment_list(&f, &all).await.unwrap()),
            ["one"],
            "{b:?}"
        );
        let f = SegmentFilter {
            recovery_method: Some(RecoveryMethod::ReservedHost),
            service_type: Some("OTHER".into()),
            ..Default::default()
        };
        assert_eq!(
            names(s.segment_list(&f, &all).await.unwrap()),
            ["two"],
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn paging_reaches_every_row_in_every_order() {
    for t in test_stores().await {
        let s = &t.store;
        let b = t.backend;
        for i in 0..23 {
            let mut new = segment(&format!("s{:02}", (i * 7) % 23));
            new.description = (i % 3 == 0).then(|| format!("d{}", i % 4));
            s.segment_create(new).await.unwrap();
        }
        let orders: &[&[(&str, SortDir)]] = &[
            &[],
            &[("name", SortDir::Asc)],
            &[("description", SortDir::Asc), ("name", SortDir::Desc)],
            &[("updated_at", SortDir::Desc), ("id", SortDir::Asc)],
        ];
        for sort in orders {
            let full = s
                .segment_list(&SegmentFilter::default(), &page(1000, None, sort))
                .await
                .unwrap();
            assert_eq!(full.len(), 23);
            let mut seen = Vec::new();
            let mut marker = None;
            loop {
                let chunk = s
                    .segment_list(&SegmentFilter::default(), &page(5, marker, sort))
                    .await
                    .unwrap();
                if chunk.is_empty() {
                    break;
                }
                marker = Some(chunk.last().unwrap().id);
                seen.extend(chunk);
            }
            assert_eq!(seen, full, "{b:?} sort {sort:?}");
        }
        let by_name = s
            .segment_list(
                &SegmentFilter::default(),
                &page(3, None, &[("name", SortDir::Asc)]),
            )
            .await
            .unwrap();
        let names: Vec<_> = by_name.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["s00", "s01", "s02"], "{b:?}");

        let err = s
            .segment_list(&SegmentFilter::default(), &page(5, Some(999_999), &[]))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::MarkerNotFound(m) if m == "999999"),
            "{b:?}"
        );
        let err = s
            .segment_list(
                &SegmentFilter::default(),
                &page(5, None, &[("foo", SortDir::Asc)]),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidSortKey(k) if k == "foo"),
            "{b:?}"
        );
        let none = s
            .segment_list(&SegmentFilter::default(), &page(0, None, &[]))
            .await
            .unwrap();
        assert!(none.is_empty());
    }
}

#[tokio::test]
async fn hosts_are_unique_across_segments_and_scoped_to_theirs() {
    for t in test_stores().await {
        let s = &t.store;
        let b = t.backend;
        let a = s.segment_create(segment("a")).await.unwrap();
        let other = s.segment_create(segment("b")).await.unwrap();
        let h = s.host_create(a.uuid, host("compute-1")).await.unwrap();
        assert_eq!(h.segment, a);
        assert_eq!(s.host_get(a.uuid, h.uuid).await.unwrap(), h, "{b:?}");
        assert_eq!(s.host_get_by_name("compute-1").await.unwrap(), h, "{b:?}");
        assert!(
            matches!(
                s.host_get_by_name("COMPUTE-1").await.unwrap_err(),
                StoreError::HostNameNotFound(_)
            ),
            "{b:?}: host names are case-sensitive"
        );

        let err = s
            .host_create(other.uuid, host("compute-1"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::HostNameExists(_)), "{b:?}");
        let err = s.host_get(other.uuid, h.uuid).await.unwrap_err();
        assert!(
            matches!(err, StoreError::HostNotFound { segment, host } if segment == other.uuid && host == h.uuid),
            "{b:?}"
        );
        let err = s
            .host_get(SegmentId::new_random(), h.uuid)
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::SegmentNotFound(_)), "{b:?}");

        let mut spare = host("compute-2");
        spare.reserved = true;
        spare.control_attributes = Some("IPMI".into());
        s.host_create(a.uuid, spare).await.unwrap();
        let names = |f: HostFilter| async move {
            s.host_list(a.uuid, &f, &Page::default())
                .await
                .unwrap()
                .into_iter()
                .map(|h| h.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(HostFilter {
                reserved: Some(true),
                ..Default::default()
            })
            .await,
            ["compute-2"],
            "{b:?}"
        );
        assert_eq!(
            names(HostFilter {
                name: Some("compute-1".into()),
                ..Default::default()
            })
            .await,
            ["compute-1"],
            "{b:?}"
        );
        assert_eq!(
            names(HostFilter {
                control_attributes: Some("IPMI".into()),
                ..Default::default()
            })
            .await,
            ["compute-2"],
            "{b:?}"
        );
        assert!(s
            .host_list(other.uuid, &HostFilter::default(), &Page::default())
            .await
            .unwrap()
            .is_empty());

        let renamed = s
            .host_update(
                a.uuid,
                h.uuid,
                HostUpdate {
                    name: Some("compute-9".into()),
                    on_maintenance: Some(true),
                    host_type: Some(None),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(renamed.name, "compute-9");
        assert!(renamed.on_maintenance);
        assert_eq!(renamed.host_type, None);
        assert_eq!(s.host_get(a.uuid, h.uuid).await.unwrap(), renamed, "{b:?}");
        let err = s
            .host_update(
                a.uuid,
                h.uuid,
                HostUpdate {
                    name: Some("compute-2".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::HostNameExists(_)), "{b:?}");

        // Deleting a segment deletes its hosts and frees their names.
        s.segment_delete(a.uuid).await.unwrap();
        assert!(s.host_get_by_name("compute-2").await.is_err());
        s.host_create(other.uuid, host("compute-2")).await.unwrap();
    }
}

#[tokio::test]
async fn notifications_check_host_maintenance_and_duplicates() {
    for t in test_stores().await {
        let s = &t.store;
        let b = t.backend;
        let seg = s.segment_create(segment("a")).await.unwrap();
        let h = s.host_create(seg.uuid, host("node1")).await.unwrap();
        let t0 = Timestamp::from_micros(1_700_000_000_123_456);

        let err = s
            .notification_create(host_down("nodeX", t0), WINDOW)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::HostNameNotFound(n) if n == "nodeX"),
            "{b:?}"
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
        let err = s.notification_create(again, WINDOW).await.unwrap_err();
        assert!(matches!(err, StoreError::DuplicateNotification(_)), "{b:?}");
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
        s.host_update(
            seg.uuid,
            h.uuid,
            HostUpdate {
                on_maintenance: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let err = s
            .notification_create(host_down("node1", Timestamp::now()), WINDOW)
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::HostOnMaintenance(n) if n == "node1"),
            "{b:?}"
        );
    }
}

#[tokio::test]
async fn notifications_in_progress_hold_the_segment() {
    for t in test_stores().await {
        let s = &t.store;
        let b = t.backend;
        let seg = s.segment_create(segment("a")).await.unwrap();
        let h1 = s.host_create(seg.uuid, host("node1")).await.unwrap();
        let h2 = s.host_create(seg.uuid, host("node2")).await.unwrap();
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
            let upd = SegmentUpdate {
                description: Some(Some("x".into())),
                ..Default::default()
            };
            assert!(
                matches!(
                    s.segment_update(seg.uuid, upd).await.unwrap_err(),
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
            let upd = HostUpdate {
                reserved: Some(true),
                ..Default::default()
            };
            assert!(matches!(
                s.host_update(seg.uuid, h1.uuid, upd).await.unwrap_err(),
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
    }
}

#[tokio::test]
async fn notification_list_filters_and_pages() {
    for t in test_stores().await {
        let s = &t.store;
        let b = t.backend;
        let seg = s.segment_create(segment("a")).await.unwrap();
        let h1 = s.host_create(seg.uuid, host("node1")).await.unwrap();
        s.host_create(seg.uuid, host("node2")).await.unwrap();
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
        let list = |f: NotificationFilter| async move {
            s.notification_list(&f, &Page::default()).await.unwrap()
        };
        assert_eq!(list(NotificationFilter::default()).await.len(), 12, "{b:?}");
        assert_eq!(
            list(NotificationFilter {
                source_host_uuid: Some(h1.uuid),
                ..Default::default()
            })
            .await
            .len(),
            6
        );
        assert_eq!(
            list(NotificationFilter {
                notification_type: Some("VM".into()),
                ..Default::default()
            })
            .await
            .len(),
            4
        );
        assert_eq!(
            list(NotificationFilter {
                generated_since: Some(Timestamp::from_micros(base + 10 * 1_000_000_000)),
                ..Default::default()
            })
            .await
            .len(),
            2
        );
        assert!(list(NotificationFilter {
            status: Some("bogus".into()),
            ..Default::default()
        })
        .await
        .is_empty());
        assert_eq!(
            list(NotificationFilter {
                status: Some("new".into()),
                ..Default::default()
            })
            .await
            .len(),
            12
        );
        // All created in the same second: the id tie-breaker keeps the order total.
        let first = s
            .notification_list(&NotificationFilter::default(), &page(5, None, &[]))
            .await
            .unwrap();
        let second = s
            .notification_list(
                &NotificationFilter::default(),
                &page(5, Some(first[4].id), &[]),
            )
            .await
            .unwrap();
        assert_eq!(first.len(), 5);
        assert!(second.iter().all(|n| n.id < first[4].id), "{b:?}");
        let sorted = s
            .notification_list(
                &NotificationFilter::default(),
                &page(3, None, &[("generated_time", SortDir::Asc)]),
            )
            .await
            .unwrap();
        assert_eq!(sorted[0].generated_time.as_micros(), base);
        let err = s
            .notification_list(
                &NotificationFilter::default(),
                &page(3, None, &[("uuid", SortDir::Asc)]),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::InvalidSortKey(_)), "{b:?}");
    }
}

#[tokio::test]
async fn workflow_steps_round_trip() {
    for t in test_stores().await {
        let s = &t.store;
        let seg = s.segment_create(segment("a")).await.unwrap();
        s.host_create(seg.uuid, host("node1")).await.unwrap();
        let n = s
            .notification_create(host_down("node1", Timestamp::now()), WINDOW)
            .await
            .unwrap();
        assert!(s.workflow_steps(n.uuid).await.unwrap().is_empty());
        assert!(s
            .vmove_list(n.uuid, &VMoveFilter::default(), &Page::default())
            .await
            .unwrap()
            .is_empty());
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
            t.backend
        );
    }
}

/// Two API replicas (two `Store`s on one database) receive the same host-failure report 50
/// times at once: exactly one is stored, every other attempt is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_store_exactly_one() {
    for t in test_stores().await {
        let b = t.backend;
        let replica = Store::connect(&t.url).await.unwrap();
        let seg = t.store.segment_create(segment("a")).await.unwrap();
        t.store.host_create(seg.uuid, host("node1")).await.unwrap();
        let at = Timestamp::now();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let s = if i % 2 == 0 {
                t.store.clone()
            } else {
                replica.clone()
            };
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
        let all = t
            .store
            .notification_list(&NotificationFilter::default(), &Page::default())
            .await
            .unwrap();
        assert_eq!(all.len(), 1, "{b:?}");
        replica.close().await;
    }
}
