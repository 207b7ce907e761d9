//! What the storage suites share: segments, hosts and reports to store, a flow step, a page.
//! Each test file uses part of it.
#![allow(dead_code)]

use serde_json::{json, Map, Value};
use std::time::Duration;
use vigil_domain::{
    InstanceMove, Notification, NotificationType, RecoveryMethod, Timestamp, VMoveStatus, VMoveType,
};
use vigil_store::{FlowStep, NewHost, NewNotification, NewSegment, Page, SortDir, Store};

pub const LEASE: Duration = Duration::from_secs(60);

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
        name: name.into(),
        state: "SUCCESS".into(),
        progress: 1.0,
        progress_details: vec![],
        output: Some("{}".into()),
        message: None,
        ending: None,
    }
}

pub const WINDOW: Duration = Duration::from_secs(180);

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
