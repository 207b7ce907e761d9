//! What the storage suites share: segments, hosts and reports to store, a flow step, a page.
//! Each test file uses part of it.
#![allow(dead_code)]

use serde_json::{json, Map, Value};
use std::time::Duration;
use vigil_domain::{
    Host, InstanceMove, Notification, NotificationId, NotificationType, RecoveryMethod, Segment,
    Timestamp, VMove, VMoveStatus, VMoveType, WorkflowStep,
};
use vigil_store::testing::test_stores;
use vigil_store::{
    Backend, Claimed, FlowStep, NewHost, NewNotification, NewSegment, Page, SortDir, Store,
};

/// Asserts that `result` is an error matching `pattern`, naming the backend `b` and showing
/// what came instead.
#[macro_export]
macro_rules! assert_err {
    ($b:expr, $result:expr, $pattern:pat $(if $guard:expr)?) => {
        match $result {
            Err(e) => {
                let shown = format!("{e:?}");
                assert!(matches!(e, $pattern $(if $guard)?), "{:?}: {shown}", $b)
            }
            Ok(v) => panic!("{:?}: expected an error, got {v:?}", $b),
        }
    };
}

/// One row of a filter table: how the case sets up its filter, and the one name it finds.
pub type FilterCase<F> = (fn(&mut F), &'static str);

pub const LEASE: Duration = Duration::from_secs(60);

/// Runs `test` on a fresh store of every reachable backend (the backend is for messages).
pub async fn each_store(test: impl AsyncFn(&Store, Backend)) {
    for t in test_stores().await {
        test(&t.store, t.backend).await;
    }
}

/// A segment with one host, `node0`, whose failure engine `e1` has claimed.
pub async fn claimed(s: &Store) -> (Notification, Claimed) {
    setup(s, 1).await;
    let n = report(s, "node0", NotificationType::ComputeHost).await;
    let c = s.notification_claim("e1", LEASE).await.unwrap().unwrap();
    assert_eq!(c.notification.uuid, n.uuid);
    (n, c)
}

pub async fn setup(s: &Store, hosts: usize) {
    let seg = s
        .segment_create(NewSegment {
            name: "seg".into(),
            service_type: "COMPUTE".into(),
            enabled: true,
            description: None,
            recovery_method: RecoveryMethod::Auto,
        })
        .await
        .unwrap();
    for i in 0..hosts {
        s.host_create(
            seg.uuid,
            NewHost {
                name: format!("node{i}"),
                host_type: None,
                control_attributes: None,
                reserved: false,
                on_maintenance: false,
            },
        )
        .await
        .unwrap();
    }
}

/// A host-failure payload, whatever the type (the store does not validate payloads).
pub async fn report(s: &Store, host: &str, kind: NotificationType) -> Notification {
    report_with(
        s,
        host,
        kind,
        json!({"event": "STOPPED", "host_status": "NORMAL"}),
    )
    .await
}

pub async fn report_with(
    s: &Store,
    host: &str,
    kind: NotificationType,
    payload: serde_json::Value,
) -> Notification {
    s.notification_create(
        NewNotification {
            notification_type: kind,
            hostname: host.into(),
            generated_time: Timestamp::now(),
            payload: payload.as_object().expect("an object").clone(),
        },
        Duration::from_secs(180),
    )
    .await
    .unwrap()
}

pub fn step(name: &str) -> FlowStep {
    FlowStep {
        step: WorkflowStep {
            name: name.into(),
            state: "SUCCESS".into(),
            progress: 1.0,
            progress_details: vec![],
        },
        output: Some("{}".into()),
        message: None,
        ending: None,
    }
}

pub const WINDOW: Duration = Duration::from_secs(180);

/// Segment `a` with a host of each name (`host(name)`).
pub async fn segment_with<const N: usize>(s: &Store, names: [&str; N]) -> (Segment, [Host; N]) {
    let seg = s.segment_create(segment("a")).await.unwrap();
    let mut hosts = Vec::new();
    for name in names {
        hosts.push(s.host_create(seg.uuid, host(name)).await.unwrap());
    }
    (seg, hosts.try_into().unwrap())
}

/// Runs `test` on two handles on one fresh database (two API replicas, or two engines'
/// stores) of every reachable backend.
pub async fn each_pair(test: impl AsyncFn([Store; 2], Backend)) {
    for t in test_stores().await {
        let replica = Store::connect(&t.url).await.unwrap();
        test([t.store.clone(), replica.clone()], t.backend).await;
        replica.close().await;
    }
}

pub fn segment(name: &str) -> NewSegment {
    NewSegment {
        name: name.to_owned(),
        service_type: "COMPUTE".to_owned(),
        enabled: true,
        description: None,
        recovery_method: RecoveryMethod::Auto,
    }
}

pub fn host(name: &str) -> NewHost {
    NewHost {
        name: name.to_owned(),
        host_type: Some("COMPUTE".to_owned()),
        control_attributes: Some("SSH".to_owned()),
        reserved: false,
        on_maintenance: false,
    }
}

pub fn payload(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

pub fn host_down(hostname: &str, at: Timestamp) -> NewNotification {
    NewNotification {
        notification_type: NotificationType::ComputeHost,
        hostname: hostname.to_owned(),
        generated_time: at,
        payload: payload(
            json!({"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}),
        ),
    }
}

pub fn page(limit: u32, marker: Option<i64>, sort: &[(&str, SortDir)]) -> Page {
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

/// An evacuation of one instance from node0, in `status`.
pub fn evacuation(status: VMoveStatus) -> InstanceMove {
    InstanceMove {
        instance_uuid: "5f6c3e8e-34c9-4a30-9a1a-0b0a5f6c3e8e".into(),
        instance_name: "vm1".into(),
        source_host: Some("node0".into()),
        dest_host: None,
        start_time: Some(Timestamp::now()),
        end_time: None,
        vmove_type: VMoveType::Evacuation,
        status,
        message: None,
    }
}

/// Every live vmove of a notification, as the store lists them by default.
pub async fn vmoves(s: &Store, n: NotificationId) -> Vec<VMove> {
    s.vmove_list(n, &Default::default(), &Default::default())
        .await
        .unwrap()
}
