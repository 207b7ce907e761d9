//! The counts `/metrics` reads at scrape time, on every backend.

mod common;

use common::{each_store, report, setup, LEASE};
use std::time::Duration;
use vigil_domain::{NotificationStatus as S, NotificationType as T, Timestamp};
use vigil_store::{NotificationCount, Store};

async fn counts(s: &Store) -> Vec<(T, S, i64)> {
    let mut counts: Vec<_> = s
        .notification_counts()
        .await
        .unwrap()
        .into_iter()
        .map(|c: NotificationCount| (c.notification_type, c.status, c.count))
        .collect();
    counts.sort_by_key(|(t, s, _)| (t.as_str(), s.as_str()));
    counts
}

#[tokio::test]
async fn counts_by_type_and_status_and_the_queue_waiting_for_an_engine() {
    each_store(async |s, b| {
        setup(s, 3).await;
        assert_eq!(counts(s).await, [], "{b:?}");
        assert_eq!(s.notification_queue_depth().await.unwrap(), 0, "{b:?}");
        for (host, kind) in [
            ("node0", T::ComputeHost),
            ("node1", T::ComputeHost),
            ("node2", T::Process),
        ] {
            report(s, host, kind).await;
        }
        assert_eq!(
            counts(s).await,
            [(T::ComputeHost, S::New, 2), (T::Process, S::New, 1)],
            "{b:?}"
        );
        assert_eq!(s.notification_queue_depth().await.unwrap(), 3, "{b:?}");

        // In live hands: not waiting. Failed with a retry later: waiting again.
        let first = s.notification_claim("e1", LEASE).await.unwrap().unwrap();
        assert_eq!(s.notification_queue_depth().await.unwrap(), 2, "{b:?}");
        let later = Timestamp::from_micros(Timestamp::now().as_micros() + 3_600_000_000);
        s.notification_release(&first.lease, S::Error, Some("no".into()), Some(later))
            .await
            .unwrap();
        assert_eq!(s.notification_queue_depth().await.unwrap(), 3, "{b:?}");

        // Running under a lease that expired: its engine is gone, so it waits too.
        s.notification_claim("e2", Duration::from_millis(1))
            .await
            .unwrap()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(s.notification_queue_depth().await.unwrap(), 3, "{b:?}");
        assert_eq!(
            counts(s).await,
            [
                (T::ComputeHost, S::Error, 1),
                (T::ComputeHost, S::Running, 1),
                (T::Process, S::New, 1)
            ],
            "{b:?}"
        );
    })
    .await;
}
