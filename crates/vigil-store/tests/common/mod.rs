//! What the storage suites share: a segment of hosts, a host-failure report, a flow step.
//! Each test file uses part of it.
#![allow(dead_code)]

use serde_json::json;
use std::time::Duration;
use vigil_domain::{Notification, NotificationType, RecoveryMethod, Timestamp};
use vigil_store::{FlowStep, NewHost, NewNotification, NewSegment, Store};

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
