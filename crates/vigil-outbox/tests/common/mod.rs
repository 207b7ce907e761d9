//! The reports the outbox tests append: `VM` reports numbered by their instance UUID.

// Each test binary uses what it needs of this module.
#![allow(dead_code)]

use serde_json::json;
use tempfile::TempDir;
use vigil_domain::{NotificationType, Timestamp};
use vigil_outbox::{Event, Outbox, OutboxOptions};

/// Report number `k` from `hostname`, `detail` as its libvirt event, generated `at`.
pub fn vm_event(k: usize, hostname: &str, detail: &str, at: Timestamp) -> Event {
    let payload = json!({
        "event": "LIFECYCLE",
        "instance_uuid": format!("00000000-0000-4000-8000-{k:012}"),
        "vir_domain_event": detail,
    });
    Event {
        notification_type: NotificationType::Vm,
        hostname: hostname.to_owned(),
        generated_time: at,
        payload: payload.as_object().unwrap().clone(),
    }
}

/// The number of a report made by [`vm_event`].
pub fn number(e: &Event) -> usize {
    e.payload["instance_uuid"].as_str().unwrap()[24..]
        .parse()
        .unwrap()
}

/// A new outbox in a scratch directory, holding `events`.
pub fn outbox_with(events: impl IntoIterator<Item = Event>) -> (TempDir, Outbox) {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(dir.path()).unwrap();
    for e in events {
        outbox.append_blocking(&e).unwrap();
    }
    (dir, outbox)
}

/// A new, empty outbox in a scratch directory, opened with `options`.
pub fn outbox_with_options(options: OutboxOptions) -> (TempDir, Outbox) {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open_with(dir.path(), options).unwrap();
    (dir, outbox)
}
