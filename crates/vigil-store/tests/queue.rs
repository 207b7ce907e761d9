//! The engines' work queue on every backend: claims, leases, takeover, fencing of stale owners.

mod common;

use common::{claimed, each_pair, each_store, evacuation, report, setup, step, vmoves, LEASE};
use std::collections::BTreeSet;
use std::time::Duration;
use vigil_domain::{NotificationStatus, NotificationType, Timestamp, VMoveStatus};
use vigil_store::{Lease, StoreError};

#[tokio::test]
async fn a_claim_is_exclusive_until_its_lease_expires() {
    each_store(async |s, b| {
        setup(s, 2).await;
        assert!(s.notification_claim("e1", LEASE).await.unwrap().is_none());
        let n = report(s, "node0", NotificationType::ComputeHost).await;

        let c = s.notification_claim("e1", LEASE).await.unwrap().unwrap();
        assert_eq!(c.notification.uuid, n.uuid);
        assert_eq!(c.notification.status, NotificationStatus::Running);
        assert_eq!(c.attempts, 1);
        assert!(
            s.notification_claim("e2", LEASE).await.unwrap().is_none(),
            "{b:?}"
        );

        // Same host, another report: waits while node0's recovery is in live hands.
        report(s, "node0", NotificationType::Process).await;
        assert!(
            s.notification_claim("e2", LEASE).await.unwrap().is_none(),
            "{b:?}"
        );
        // Another host's report is free.
        let other = report(s, "node1", NotificationType::ComputeHost).await;
        let c2 = s.notification_claim("e2", LEASE).await.unwrap().unwrap();
        assert_eq!(c2.notification.uuid, other.uuid, "{b:?}");

        s.flow_step_save(&c.lease, &step("a")).await.unwrap();
        let pretender = Lease {
            owner: "e2".into(),
            ..c.lease.clone()
        };
        assert!(matches!(
            s.flow_step_save(&pretender, &step("b")).await.unwrap_err(),
            StoreError::LeaseLost(_)
        ));
        s.notification_renew(&c.lease, Duration::from_millis(1))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;

        // Expired: another engine takes it over, and the old owner is fenced off.
        let c3 = s.notification_claim("e3", LEASE).await.unwrap().unwrap();
        assert_eq!(c3.notification.uuid, n.uuid, "{b:?}");
        assert_eq!(c3.attempts, 2);
        for err in [
            s.notification_renew(&c.lease, LEASE).await.unwrap_err(),
            s.flow_step_save(&c.lease, &step("b")).await.unwrap_err(),
            s.notification_release(&c.lease, NotificationStatus::Finished, None, None)
                .await
                .unwrap_err(),
        ] {
            assert!(matches!(err, StoreError::LeaseLost(_)), "{b:?} {err:?}");
        }
        // The new owner sees the log so far and continues it.
        s.flow_step_save(&c3.lease, &step("b")).await.unwrap();
        let mut a2 = step("a");
        a2.step.state = "FAILURE".into();
        s.flow_step_save(&c3.lease, &a2).await.unwrap();
        let log = s.flow_log_load(n.uuid).await.unwrap();
        assert_eq!(
            log.iter().map(|s| s.step.name.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(log[0].step.state, "FAILURE");
        assert_eq!(s.workflow_steps(n.uuid).await.unwrap().len(), 2);

        s.notification_release(&c3.lease, NotificationStatus::Finished, None, None)
            .await
            .unwrap();
        assert_eq!(
            s.notification_get(n.uuid).await.unwrap().status,
            NotificationStatus::Finished
        );
        // node0's process report is claimable now.
        let c4 = s.notification_claim("e1", LEASE).await.unwrap().unwrap();
        assert_eq!(
            c4.notification.notification_type,
            NotificationType::Process,
            "{b:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn errors_are_retried_when_due() {
    each_store(async |s, _| {
        let (n, c) = claimed(s).await;
        let later = Timestamp::from_micros(Timestamp::now().as_micros() + 3_600_000_000);
        s.notification_release(
            &c.lease,
            NotificationStatus::Error,
            Some("nova unreachable".into()),
            Some(later),
        )
        .await
        .unwrap();
        assert!(s.notification_claim("e1", LEASE).await.unwrap().is_none());
        let got = s.notification_get(n.uuid).await.unwrap();
        assert_eq!(got.status, NotificationStatus::Error);
        assert_eq!(got.message.as_deref(), Some("nova unreachable"));

        // A retry that is due is claimed again, counting the attempt.
        let n2 = report(s, "node0", NotificationType::Process).await;
        let c = s.notification_claim("e1", LEASE).await.unwrap().unwrap();
        assert_eq!(c.notification.uuid, n2.uuid);
        let past = Timestamp::from_micros(Timestamp::now().as_micros() - 1_000_000);
        s.notification_release(&c.lease, NotificationStatus::Error, None, Some(past))
            .await
            .unwrap();
        let c = s.notification_claim("e2", LEASE).await.unwrap().unwrap();
        assert_eq!((c.notification.uuid, c.attempts), (n2.uuid, 2));
        s.notification_release(&c.lease, NotificationStatus::Finished, None, None)
            .await
            .unwrap();
        // Expiry: everything generated before the cutoff and not in live hands fails.
        let expired = s
            .notification_expire(Timestamp::from_micros(Timestamp::now().as_micros() + 1))
            .await
            .unwrap();
        assert_eq!(expired, 1);
        assert_eq!(
            s.notification_get(n.uuid).await.unwrap().status,
            NotificationStatus::Failed
        );
    })
    .await;
}

/// Announcing a recovery's moves records each once, as stated, and never overwrites one an
/// earlier run already moved on; a batch put overwrites and adds; step progress changes a
/// running step only.
#[tokio::test]
async fn announced_vmoves_and_step_progress() {
    each_store(async |s, b| {
        let (n, c) = claimed(s).await;
        let ongoing = evacuation(VMoveStatus::Ongoing);
        s.vmove_put(&c.lease, &ongoing).await.unwrap();
        let mut other = evacuation(VMoveStatus::Pending);
        other.instance_uuid = "0b0a5f6c-34c9-4a30-9a1a-5f6c3e8e5f6c".into();
        other.instance_name = "vm2".into();
        let pending = evacuation(VMoveStatus::Pending);
        for _ in 0..2 {
            s.vmoves_announce(&c.lease, &[pending.clone(), other.clone()])
                .await
                .unwrap();
        }
        let moves = async || {
            let mut got: Vec<_> = vmoves(s, n.uuid)
                .await
                .into_iter()
                .map(|v| v.movement)
                .collect();
            got.sort_by(|a, b| a.instance_name.cmp(&b.instance_name));
            got
        };
        assert_eq!(moves().await, [ongoing.clone(), other.clone()], "{b:?}");

        // A batch put updates what is recorded and adds what is not, in one write.
        let mut left_out = other.clone();
        left_out.status = VMoveStatus::Ignored;
        left_out.message = Some("Not evacuated: not HA-enabled".into());
        let mut third = evacuation(VMoveStatus::Ignored);
        third.instance_uuid = "5e3c1f7a-8d2b-4c6e-9f0a-1b2c3d4e5f60".into();
        third.instance_name = "vm3".into();
        s.vmoves_put(&c.lease, &[left_out.clone(), third.clone()])
            .await
            .unwrap();
        assert_eq!(moves().await, [ongoing, left_out, third], "{b:?}");

        let mut running = step("EvacuateInstancesTask");
        running.step.state = "RUNNING".into();
        running.step.progress = 0.0;
        s.flow_step_save(&c.lease, &running).await.unwrap();
        let detail = vigil_domain::ProgressDetail {
            timestamp: "2026-11-30 12:00:00.000000".into(),
            progress: "0.5".into(),
            message: "1 of 2".into(),
        };
        s.flow_step_progress(
            &c.lease,
            "EvacuateInstancesTask",
            0.5,
            std::slice::from_ref(&detail),
        )
        .await
        .unwrap();
        let log = s.flow_log_load(n.uuid).await.unwrap();
        assert_eq!(log[0].step.progress, 0.5, "{b:?}");
        assert_eq!(log[0].step.progress_details, vec![detail.clone()], "{b:?}");
        // Once the step ended, a late progress report changes nothing.
        s.flow_step_save(&c.lease, &step("EvacuateInstancesTask"))
            .await
            .unwrap();
        s.flow_step_progress(&c.lease, "EvacuateInstancesTask", 0.7, &[detail])
            .await
            .unwrap();
        let log = s.flow_log_load(n.uuid).await.unwrap();
        assert_eq!(
            (log[0].step.progress, log[0].step.state.as_str()),
            (1.0, "SUCCESS")
        );
    })
    .await;
}

#[tokio::test]
async fn vmoves_and_host_flags_are_recorded_for_the_claim() {
    each_store(async |s, b| {
        let (n, c) = claimed(s).await;
        let mut rec = evacuation(VMoveStatus::Pending);
        let first = s.vmove_put(&c.lease, &rec).await.unwrap();
        assert_eq!((first.notification_uuid, &first.movement), (n.uuid, &rec));
        rec.status = VMoveStatus::Succeeded;
        rec.dest_host = Some("node1".into());
        let second = s.vmove_put(&c.lease, &rec).await.unwrap();
        assert_eq!(first.uuid, second.uuid);
        assert_eq!(second.movement, rec);
        let pretender = Lease {
            owner: "e2".into(),
            ..c.lease.clone()
        };
        assert!(matches!(
            s.vmove_put(&pretender, &rec).await.unwrap_err(),
            StoreError::LeaseLost(_)
        ));
        // Host flags on the claim's behalf; a flag left out keeps its value.
        let h = n.source_host_uuid;
        for (maintenance, reserved, want) in [
            (Some(true), None, (true, false)),
            (None, Some(true), (true, true)),
            (Some(false), None, (false, true)),
            (None, None, (false, true)),
        ] {
            s.host_set_flags(&c.lease, h, maintenance, reserved)
                .await
                .unwrap();
            let got = s.host_get_by_uuid(h).await.unwrap().unwrap();
            assert_eq!((got.on_maintenance, got.reserved), want, "{:?}", b);
        }
        assert_eq!(vmoves(s, n.uuid).await, [second]);
    })
    .await;
}

/// Four engines on two store handles drain twenty reports: each is claimed exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn competing_engines_never_share_a_notification() {
    each_pair(async |stores, b| {
        setup(&stores[0], 20).await;
        for i in 0..20 {
            report(
                &stores[0],
                &format!("node{i}"),
                NotificationType::ComputeHost,
            )
            .await;
        }
        let mut engines = Vec::new();
        for e in 0..4 {
            let s = stores[e % 2].clone();
            engines.push(tokio::spawn(async move {
                let owner = format!("engine-{e}");
                let mut mine = Vec::new();
                let mut idle = 0;
                while idle < 3 {
                    match s.notification_claim(&owner, LEASE).await.unwrap() {
                        Some(c) => {
                            idle = 0;
                            mine.push(c.notification.uuid);
                            s.notification_release(
                                &c.lease,
                                NotificationStatus::Finished,
                                None,
                                None,
                            )
                            .await
                            .unwrap();
                        }
                        None => {
                            idle += 1;
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for e in engines {
            all.extend(e.await.unwrap());
        }
        let distinct: BTreeSet<_> = all.iter().collect();
        assert_eq!(all.len(), 20, "{b:?}: {all:?}");
        assert_eq!(distinct.len(), 20, "{b:?}");
    })
    .await;
}

#[tokio::test]
async fn a_segment_cap_limits_hosts_in_recovery_at_once() {
    each_store(async |s, b| {
        setup(s, 3).await;
        for i in 0..3 {
            report(s, &format!("node{i}"), NotificationType::ComputeHost).await;
        }
        let first = s.notification_claim_capped("e1", LEASE, 2).await.unwrap();
        let second = s.notification_claim_capped("e2", LEASE, 2).await.unwrap();
        assert!(first.is_some() && second.is_some(), "{b:?}");
        assert!(
            s.notification_claim_capped("e3", LEASE, 2)
                .await
                .unwrap()
                .is_none(),
            "{b:?}: a third host of the segment was claimed past the cap"
        );
        // Without a cap the third host is claimable; with one, it is once a slot frees.
        let first = first.unwrap().lease;
        s.notification_release(&first, NotificationStatus::Finished, None, None)
            .await
            .unwrap();
        let third = s.notification_claim_capped("e3", LEASE, 2).await.unwrap();
        assert!(third.is_some(), "{b:?}");
    })
    .await;
}
