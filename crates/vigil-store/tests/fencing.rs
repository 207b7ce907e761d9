//! Leases fenced by a generation, on every backend: once a claim has been taken over, nothing
//! the old holder writes on its behalf lands, even when both holders have the same name.

mod common;

use common::{each_store, evacuation, report, setup, step, vmoves, LEASE};
use std::time::Duration;
use vigil_domain::{NotificationStatus, NotificationType, VMoveStatus};
use vigil_store::{Claimed, Store, StoreError};

/// Every write a claim's holder makes, each expected to succeed or to be refused as a lost lease.
async fn writes(s: &Store, c: &Claimed) -> Vec<(&'static str, Result<(), StoreError>)> {
    let host = c.notification.source_host_uuid;
    vec![
        ("renew", s.notification_renew(&c.lease, LEASE).await),
        (
            "step save",
            s.flow_step_save(&c.lease, &step(&c.lease.owner)).await,
        ),
        (
            "vmove put",
            s.vmove_put(&c.lease, &evacuation(VMoveStatus::Ongoing))
                .await
                .map(drop),
        ),
        (
            "vmoves announce",
            s.vmoves_announce(&c.lease, &[evacuation(VMoveStatus::Pending)])
                .await,
        ),
        (
            "vmoves put",
            s.vmoves_put(&c.lease, &[evacuation(VMoveStatus::Ignored)])
                .await,
        ),
        (
            "step progress",
            s.flow_step_progress(&c.lease, "EvacuateInstancesTask", 0.5, &[])
                .await,
        ),
        (
            "host flags",
            s.host_set_flags(&c.lease, host, Some(true), Some(true))
                .await,
        ),
        (
            "release",
            s.notification_release(&c.lease, NotificationStatus::Finished, None, None)
                .await,
        ),
    ]
}

/// Engine A claims and stalls past its lease; engine B claims the same notification. Each of
/// A's writes (renew, step save and progress, vmove put, batch put and announce, host flags,
/// release) is
/// refused and leaves no trace; B's succeed. B is once another engine and once A restarted
/// under its old name, where only the generation tells the two claims apart.
#[tokio::test]
async fn a_stale_claim_cannot_write_after_a_takeover() {
    each_store(async |s, b| {
        setup(s, 2).await;
        for (round, b_owner) in ["engine-b", "engine-a"].into_iter().enumerate() {
            let n = report(s, &format!("node{round}"), NotificationType::ComputeHost).await;
            let a = s
                .notification_claim("engine-a", Duration::from_millis(1))
                .await
                .unwrap()
                .unwrap();
            tokio::time::sleep(Duration::from_millis(20)).await;
            let taken = s.notification_claim(b_owner, LEASE).await.unwrap().unwrap();
            assert_eq!(taken.notification.uuid, n.uuid, "{b:?}");
            assert!(taken.lease.generation > a.lease.generation, "{b:?}");

            for (what, result) in writes(s, &a).await {
                assert!(
                    matches!(result, Err(StoreError::LeaseLost(id)) if id == n.uuid),
                    "{b:?}, B named {b_owner}: A's {what} was not refused: {result:?}"
                );
            }
            // None of A's writes left a trace, and B still holds the lease.
            assert!(s.flow_log_load(n.uuid).await.unwrap().is_empty(), "{b:?}");
            assert!(vmoves(s, n.uuid).await.is_empty(), "{b:?}");
            let host = s
                .host_get_by_uuid(n.source_host_uuid)
                .await
                .unwrap()
                .unwrap();
            assert!(
                !host.on_maintenance && !host.reserved,
                "{b:?}: A's host flags landed"
            );
            let (holder, _) = s.notification_lease(n.uuid).await.unwrap().unwrap();
            assert_eq!(holder, taken.lease, "{b:?}");

            for (what, result) in writes(s, &taken).await {
                assert!(
                    result.is_ok(),
                    "{b:?}, B named {b_owner}: B's {what}: {result:?}"
                );
            }
            let log = s.flow_log_load(n.uuid).await.unwrap();
            assert_eq!(log.len(), 1, "{b:?}");
            assert_eq!(log[0].step.name, b_owner, "{b:?}");
            let host = s
                .host_get_by_uuid(n.source_host_uuid)
                .await
                .unwrap()
                .unwrap();
            assert!(host.on_maintenance && host.reserved, "{b:?}");
            let got = s.notification_get(n.uuid).await.unwrap();
            assert_eq!(got.status, NotificationStatus::Finished, "{b:?}");
            // Released: the lease is gone, and so is every write on its behalf.
            assert!(
                s.notification_lease(n.uuid).await.unwrap().is_none(),
                "{b:?}"
            );
            let late = s.flow_step_save(&taken.lease, &step("late")).await;
            assert!(matches!(late, Err(StoreError::LeaseLost(_))), "{b:?}");
        }
    })
    .await;
}
