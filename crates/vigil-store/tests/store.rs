//! The storage contract for segments and hosts, run on every backend: SQLite always,
//! PostgreSQL and MariaDB when reachable (required when `VIGIL_REQUIRE_DBS=1`, as in
//! `scripts/test` and CI). Notifications are in `notifications.rs`, the work queue in `queue.rs`.

mod common;

use common::{each_store, host, page, segment, FilterCase};
use vigil_domain::{RecoveryMethod, SegmentId};
use vigil_store::{HostFilter, Page, SegmentFilter, SortDir, StoreError};

#[tokio::test]
async fn migrations_are_idempotent() {
    each_store(async |s, _| {
        s.migrate().await.unwrap();
        s.migrate().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn segment_lifecycle() {
    each_store(async |s, b| {
        let mut new = segment("seg-a");
        new.description = Some("line one\nline two ✓".into());
        let created = s.segment_create(new).await.unwrap();
        assert_eq!(
            created.lifecycle.created_at.as_micros() % 1_000_000,
            0,
            "{b:?}"
        );
        assert_eq!(s.segment_get(created.uuid).await.unwrap(), created, "{b:?}");

        assert_err!(
            b,
            s.segment_create(segment("seg-a")).await,
            StoreError::SegmentNameExists(n) if n == "seg-a"
        );

        let updated = s
            .segment_update(created.uuid, |s| {
                s.enabled = false;
                s.description = None;
                s.recovery_method = RecoveryMethod::RhPriority;
            })
            .await
            .unwrap();
        assert!(!updated.enabled);
        assert_eq!(updated.description, None);
        assert!(updated.lifecycle.updated_at.is_some());
        assert_eq!(s.segment_get(created.uuid).await.unwrap(), updated, "{b:?}");

        s.segment_create(segment("seg-b")).await.unwrap();
        assert_err!(
            b,
            s.segment_update(created.uuid, |s| s.name = "seg-b".into())
                .await,
            StoreError::SegmentNameExists(_)
        );

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
    })
    .await;
}

#[tokio::test]
async fn segment_filters_work_including_the_ones_masakari_breaks() {
    each_store(async |s, b| {
        s.segment_create(segment("one")).await.unwrap();
        let mut two = segment("two");
        two.enabled = false;
        two.recovery_method = RecoveryMethod::ReservedHost;
        two.service_type = "OTHER".into();
        s.segment_create(two).await.unwrap();

        let names = |v: Vec<vigil_domain::Segment>| -> Vec<String> {
            v.into_iter().map(|s| s.name).collect()
        };
        let cases: [FilterCase<SegmentFilter>; 3] = [
            (|f| f.enabled = Some(false), "two"),
            (|f| f.name = Some("one".into()), "one"),
            (
                |f| {
                    f.recovery_method = Some(RecoveryMethod::ReservedHost);
                    f.service_type = Some("OTHER".into());
                },
                "two",
            ),
        ];
        for (set, want) in cases {
            let mut filter = SegmentFilter::default();
            set(&mut filter);
            let found = s.segment_list(&filter, &Page::default()).await.unwrap();
            assert_eq!(names(found), [want], "{b:?} {filter:?}");
        }
    })
    .await;
}

#[tokio::test]
async fn paging_reaches_every_row_in_every_order() {
    each_store(async |s, b| {
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

        let any = SegmentFilter::default();
        assert_err!(
            b,
            s.segment_list(&any, &page(5, Some(999_999), &[])).await,
            StoreError::MarkerNotFound(m) if m == "999999"
        );
        assert_err!(
            b,
            s.segment_list(&any, &page(5, None, &[("foo", SortDir::Asc)])).await,
            StoreError::InvalidSortKey(k) if k == "foo"
        );
        let none = s
            .segment_list(&SegmentFilter::default(), &page(0, None, &[]))
            .await
            .unwrap();
        assert!(none.is_empty());
    })
    .await;
}

#[tokio::test]
async fn hosts_are_unique_across_segments_and_scoped_to_theirs() {
    each_store(async |s, b| {
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

        assert_err!(
            b,
            s.host_create(other.uuid, host("compute-1")).await,
            StoreError::HostNameExists(_)
        );
        assert_err!(
            b,
            s.host_get(other.uuid, h.uuid).await,
            StoreError::HostNotFound { segment, host }
                if segment == other.uuid && host == h.uuid
        );
        assert_err!(
            b,
            s.host_get(SegmentId::new_random(), h.uuid).await,
            StoreError::SegmentNotFound(_)
        );

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
        let cases: [FilterCase<HostFilter>; 3] = [
            (|f| f.reserved = Some(true), "compute-2"),
            (|f| f.name = Some("compute-1".into()), "compute-1"),
            (|f| f.control_attributes = Some("IPMI".into()), "compute-2"),
        ];
        for (set, want) in cases {
            let mut filter = HostFilter::default();
            set(&mut filter);
            assert_eq!(names(filter.clone()).await, [want], "{b:?} {filter:?}");
        }
        assert!(s
            .host_list(other.uuid, &HostFilter::default(), &Page::default())
            .await
            .unwrap()
            .is_empty());

        let renamed = s
            .host_update(a.uuid, h.uuid, |h| {
                h.name = "compute-9".into();
                h.on_maintenance = true;
                h.host_type = None;
            })
            .await
            .unwrap();
        assert_eq!(renamed.name, "compute-9");
        assert!(renamed.on_maintenance);
        assert_eq!(renamed.host_type, None);
        assert_eq!(s.host_get(a.uuid, h.uuid).await.unwrap(), renamed, "{b:?}");
        assert_err!(
            b,
            s.host_update(a.uuid, h.uuid, |h| h.name = "compute-2".into())
                .await,
            StoreError::HostNameExists(_)
        );

        // Deleting a segment deletes its hosts and frees their names.
        s.segment_delete(a.uuid).await.unwrap();
        assert!(s.host_get_by_name("compute-2").await.is_err());
        s.host_create(other.uuid, host("compute-2")).await.unwrap();
    })
    .await;
}
