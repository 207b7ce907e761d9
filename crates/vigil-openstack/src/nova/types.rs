//! What Nova's answers mean to Vigil: services, servers and migration records, read leniently
//! from Nova's JSON (a field Nova leaves out reads as empty, never as an error).

use serde_json::{json, Value};
use std::collections::BTreeMap;
use vigil_domain::Timestamp;

/// A `nova-compute` (or other) service record.
#[derive(Clone, Debug, PartialEq)]
pub struct Service {
    /// The service UUID (microversion ≥ 2.53).
    pub id: String,
    pub host: String,
    /// `enabled` or `disabled`.
    pub status: String,
    /// `up` or `down`.
    pub state: String,
    pub forced_down: bool,
    pub disabled_reason: Option<String>,
    /// The service's last heartbeat; it keeps reporting while forced down.
    pub updated_at: Option<Timestamp>,
}

/// A server as Vigil sees it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Server {
    pub id: String,
    pub name: String,
    /// `OS-EXT-SRV-ATTR:host`.
    pub host: Option<String>,
    /// `OS-EXT-STS:vm_state`: `active`, `stopped`, `error`, …
    pub vm_state: String,
    pub task_state: Option<String>,
    /// `status`: `ACTIVE`, `SHUTOFF`, `ERROR`, `REBUILD`, …
    pub status: String,
    pub metadata: BTreeMap<String, String>,
    /// Flavor extra specs.
    pub extra_specs: BTreeMap<String, String>,
    /// The message of the server's fault, which Nova shows while it is in ERROR.
    pub fault: Option<String>,
}

/// An evacuation's migration record: Nova's authoritative progress of one move.
#[derive(Clone, Debug, PartialEq)]
pub struct Migration {
    pub id: i64,
    pub uuid: Option<String>,
    pub instance_uuid: String,
    pub source_compute: Option<String>,
    pub dest_compute: Option<String>,
    /// `accepted`, `pre-migrating`, `done`, `completed`, `error`, `failed`.
    pub status: String,
    pub created_at: Option<Timestamp>,
}

impl Migration {
    /// The destination finished the rebuild (`completed` once the source cleaned up).
    pub fn succeeded(&self) -> bool {
        matches!(self.status.as_str(), "done" | "completed")
    }
    /// Nova gave up; it never reschedules an evacuation, so the engine must re-issue it.
    pub fn failed(&self) -> bool {
        matches!(self.status.as_str(), "error" | "failed")
    }
}

/// Servers to boot (the lab and the bench): without a network, as the lab's fake computes
/// have none to plug.
#[derive(Clone, Debug)]
pub struct ServerCreate {
    pub name: String,
    /// The image's id, for `imageRef`.
    pub image: String,
    /// The flavor's id or name, for `flavorRef`.
    pub flavor: String,
    /// Pins the servers to a compute host (admin only, microversion ≥ 2.74).
    pub host: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// How many alike servers this one request boots (Nova's multi-create).
    pub count: u32,
}

impl ServerCreate {
    pub fn new(
        name: impl Into<String>,
        image: impl Into<String>,
        flavor: impl Into<String>,
    ) -> Self {
        ServerCreate {
            name: name.into(),
            image: image.into(),
            flavor: flavor.into(),
            host: None,
            metadata: BTreeMap::new(),
            count: 1,
        }
    }

    pub fn on_host(mut self, host: impl Into<String>) -> Self {
        self.host = Some(host.into());
        self
    }

    /// Adds a server metadata item (e.g. `HA_Enabled`, `HA_Priority`).
    pub fn meta(mut self, key: &str, value: &str) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    pub fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    pub(crate) fn body(&self) -> Value {
        let mut server = json!({
            "name": self.name, "imageRef": self.image, "flavorRef": self.flavor,
            "networks": "none",
        });
        if let Some(host) = &self.host {
            server["host"] = json!(host);
        }
        if !self.metadata.is_empty() {
            server["metadata"] = json!(self.metadata);
        }
        if self.count != 1 {
            server["min_count"] = json!(self.count);
            server["max_count"] = json!(self.count);
        }
        json!({ "server": server })
    }
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn opt_text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// Nova's times: `2026-11-25T03:00:00.000000`, UTC, with or without a `Z`.
fn nova_time(v: &Value) -> Option<Timestamp> {
    let s = v.as_str()?;
    chrono::NaiveDateTime::parse_from_str(s.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| Timestamp::from_datetime(t.and_utc()))
}

pub(crate) fn service(s: &Value) -> Service {
    Service {
        id: text(&s["id"]),
        host: text(&s["host"]),
        status: text(&s["status"]),
        state: text(&s["state"]),
        forced_down: s["forced_down"].as_bool().unwrap_or(false),
        disabled_reason: opt_text(&s["disabled_reason"]),
        updated_at: nova_time(&s["updated_at"]),
    }
}

pub(crate) fn server(v: &Value) -> Server {
    Server {
        id: text(&v["id"]),
        name: text(&v["name"]),
        host: opt_text(&v["OS-EXT-SRV-ATTR:host"]),
        vm_state: text(&v["OS-EXT-STS:vm_state"]),
        task_state: opt_text(&v["OS-EXT-STS:task_state"]),
        status: text(&v["status"]),
        metadata: string_map(&v["metadata"]),
        extra_specs: string_map(&v["flavor"]["extra_specs"]),
        fault: opt_text(&v["fault"]["message"]),
    }
}

pub(crate) fn migration(m: &Value) -> Migration {
    Migration {
        id: m["id"].as_i64().unwrap_or_default(),
        uuid: opt_text(&m["uuid"]),
        instance_uuid: text(&m["instance_uuid"]),
        source_compute: opt_text(&m["source_compute"]),
        dest_compute: opt_text(&m["dest_compute"]),
        status: text(&m["status"]),
        created_at: nova_time(&m["created_at"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_read_with_its_extensions() {
        let s = server(&json!({
            "id": "s1", "name": "web", "status": "ERROR",
            "OS-EXT-SRV-ATTR:host": "compute1", "OS-EXT-STS:vm_state": "error",
            "OS-EXT-STS:task_state": null,
            "metadata": {"HA_Enabled": "True"},
            "flavor": {"extra_specs": {"hw:evacuable": "true"}},
            "fault": {"code": 500, "message": "NoValidHost"}}));
        assert_eq!(s.host.as_deref(), Some("compute1"));
        assert_eq!(s.task_state, None);
        assert_eq!(s.metadata["HA_Enabled"], "True");
        assert_eq!(s.extra_specs["hw:evacuable"], "true");
        assert_eq!(s.fault.as_deref(), Some("NoValidHost"));
    }

    #[test]
    fn nova_times_are_read_with_or_without_zone() {
        let with = nova_time(&json!("2026-11-25T03:00:00.250000Z")).unwrap();
        let without = nova_time(&json!("2026-11-25T03:00:00.250000")).unwrap();
        assert_eq!(with, without);
        assert_eq!(nova_time(&json!(null)), None);
        let m = migration(&json!({"id": 7, "instance_uuid": "s1", "status": "done",
                                  "created_at": "2026-11-25T03:00:00.000000"}));
        assert!(m.succeeded() && !m.failed());
        assert_eq!(m.dest_compute, None);
    }

    #[test]
    fn a_multi_create_names_its_count() {
        let one = ServerCreate::new("a", "img", "tiny")
            .on_host("c1")
            .meta("k", "v");
        let body = one.body();
        assert_eq!(body["server"]["host"], "c1");
        assert_eq!(body["server"]["metadata"]["k"], "v");
        assert!(body["server"].get("min_count").is_none());
        let many = ServerCreate::new("a", "img", "tiny").count(25).body();
        assert_eq!(
            (
                many["server"]["min_count"].as_u64(),
                many["server"]["max_count"].as_u64()
            ),
            (Some(25), Some(25))
        );
    }
}
