//! Notification payloads by notification type: what a monitor reports, as typed values.
//!
//! The API accepts a payload only if it matches its type's schema, so a stored payload parses;
//! but rows written by older revisions (or by hand) may not, and reading one must be an error
//! the caller can act on, never a panic. Keys outside a type's schema are ignored when reading:
//! the API refuses them on intake, and an old row carrying one is still readable.

use serde_json::{Map, Value};
use std::fmt;
use vigil_domain::NotificationType;

/// A closed set of spellings with a typed value for each.
macro_rules! payload_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

payload_enum!(
    /// What happened to a host or a process.
    Event {
        Started => "STARTED",
        Stopped => "STOPPED",
    }
);

payload_enum!(
    /// The monitor's view of the host's cluster membership.
    ClusterStatus {
        Online => "ONLINE",
        Offline => "OFFLINE",
    }
);

payload_enum!(
    /// `NORMAL`: the monitor saw the host stop cleanly; `UNKNOWN`: it lost sight of it.
    HostStatus {
        Normal => "NORMAL",
        Unknown => "UNKNOWN",
    }
);

/// `COMPUTE_HOST`: a compute host stopped or came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComputeHostPayload {
    pub event: Event,
    pub cluster_status: Option<ClusterStatus>,
    pub host_status: Option<HostStatus>,
}

/// `PROCESS`: a process on a compute host stopped or came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessPayload {
    pub process_name: String,
    pub event: Event,
}

/// `VM`: an instance's domain reported an event. The events are libvirt's and open-ended, so
/// they stay text; the engine decides which pairs it recovers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmPayload {
    pub instance_uuid: String,
    pub vir_domain_event: String,
    pub event: String,
}

/// A notification's payload, by its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    ComputeHost(ComputeHostPayload),
    Process(ProcessPayload),
    Vm(VmPayload),
}

/// Why a payload does not read as its notification type's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("a {kind} payload needs '{field}'")]
    Missing {
        kind: NotificationType,
        field: &'static str,
    },
    #[error("'{field}' of a {kind} payload is not a string")]
    NotAString {
        kind: NotificationType,
        field: &'static str,
    },
    #[error("'{value}' is not a valid '{field}' of a {kind} payload")]
    UnknownValue {
        kind: NotificationType,
        field: &'static str,
        value: String,
    },
}

/// Reads fields of one payload, naming its type in errors.
struct Fields<'a> {
    kind: NotificationType,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    /// A string field; `None` when absent or null.
    fn opt_text(&self, field: &'static str) -> Result<Option<&'a str>, PayloadError> {
        match self.map.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(PayloadError::NotAString {
                kind: self.kind,
                field,
            }),
        }
    }

    fn text(&self, field: &'static str) -> Result<&'a str, PayloadError> {
        self.opt_text(field)?.ok_or(PayloadError::Missing {
            kind: self.kind,
            field,
        })
    }

    fn opt_one_of<T>(
        &self,
        field: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, PayloadError> {
        self.opt_text(field)?
            .map(|s| {
                parse(s).ok_or_else(|| PayloadError::UnknownValue {
                    kind: self.kind,
                    field,
                    value: s.to_owned(),
                })
            })
            .transpose()
    }

    fn one_of<T>(
        &self,
        field: &'static str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, PayloadError> {
        self.opt_one_of(field, parse)?.ok_or(PayloadError::Missing {
            kind: self.kind,
            field,
        })
    }
}

impl Payload {
    /// Reads a payload as its notification type's.
    pub fn parse(
        kind: NotificationType,
        map: &Map<String, Value>,
    ) -> Result<Payload, PayloadError> {
        let f = Fields { kind, map };
        Ok(match kind {
            NotificationType::ComputeHost => Payload::ComputeHost(ComputeHostPayload {
                event: f.one_of("event", Event::parse)?,
                cluster_status: f.opt_one_of("cluster_status", ClusterStatus::parse)?,
                host_status: f.opt_one_of("host_status", HostStatus::parse)?,
            }),
            NotificationType::Process => Payload::Process(ProcessPayload {
                process_name: f.text("process_name")?.to_owned(),
                event: f.one_of("event", Event::parse)?,
            }),
            NotificationType::Vm => Payload::Vm(VmPayload {
                instance_uuid: f.text("instance_uuid")?.to_owned(),
                vir_domain_event: f.text("vir_domain_event")?.to_owned(),
                event: f.text("event")?.to_owned(),
            }),
        })
    }

    pub fn notification_type(&self) -> NotificationType {
        match self {
            Payload::ComputeHost(_) => NotificationType::ComputeHost,
            Payload::Process(_) => NotificationType::Process,
            Payload::Vm(_) => NotificationType::Vm,
        }
    }

    /// The `event` of any type, as sent.
    pub fn event(&self) -> &str {
        match self {
            Payload::ComputeHost(p) => p.event.as_str(),
            Payload::Process(p) => p.event.as_str(),
            Payload::Vm(p) => &p.event,
        }
    }

    /// The instance a `VM` report is about.
    pub fn instance_uuid(&self) -> Option<&str> {
        match self {
            Payload::Vm(p) => Some(&p.instance_uuid),
            _ => None,
        }
    }

    /// The host status a `COMPUTE_HOST` report gives, if it gives one.
    pub fn host_status(&self) -> Option<HostStatus> {
        match self {
            Payload::ComputeHost(p) => p.host_status,
            _ => None,
        }
    }

    /// The payload as the JSON object a monitor sends (optional fields left out when absent).
    pub fn to_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: &str| m.insert(k.to_owned(), Value::String(v.to_owned()));
        match self {
            Payload::ComputeHost(p) => {
                put("event", p.event.as_str());
                if let Some(c) = p.cluster_status {
                    put("cluster_status", c.as_str());
                }
                if let Some(h) = p.host_status {
                    put("host_status", h.as_str());
                }
            }
            Payload::Process(p) => {
                put("process_name", &p.process_name);
                put("event", p.event.as_str());
            }
            // masakari-monitors' instancemonitor's order.
            Payload::Vm(p) => {
                put("event", &p.event);
                put("instance_uuid", &p.instance_uuid);
                put("vir_domain_event", &p.vir_domain_event);
            }
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use NotificationType::{ComputeHost, Process, Vm};

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().expect("an object").clone()
    }

    const UUID: &str = "5f6c3e8e-34c9-4a30-9a1a-0b0a5f6c3e8e";

    #[test]
    fn payloads_the_api_accepts_parse() {
        let table = [
            (
                ComputeHost,
                json!({"event": "STOPPED", "host_status": "NORMAL", "cluster_status": "OFFLINE"}),
                Payload::ComputeHost(ComputeHostPayload {
                    event: Event::Stopped,
                    cluster_status: Some(ClusterStatus::Offline),
                    host_status: Some(HostStatus::Normal),
                }),
            ),
            (
                ComputeHost,
                json!({"event": "STARTED"}),
                Payload::ComputeHost(ComputeHostPayload {
                    event: Event::Started,
                    cluster_status: None,
                    host_status: None,
                }),
            ),
            (
                ComputeHost,
                json!({"event": "STOPPED", "host_status": "UNKNOWN", "cluster_status": "ONLINE"}),
                Payload::ComputeHost(ComputeHostPayload {
                    event: Event::Stopped,
                    cluster_status: Some(ClusterStatus::Online),
                    host_status: Some(HostStatus::Unknown),
                }),
            ),
            (
                Process,
                json!({"process_name": "nova-compute", "event": "STOPPED"}),
                Payload::Process(ProcessPayload {
                    process_name: "nova-compute".into(),
                    event: Event::Stopped,
                }),
            ),
            (
                Vm,
                json!({"instance_uuid": UUID, "vir_domain_event": "STOPPED_FAILED",
                       "event": "LIFECYCLE"}),
                Payload::Vm(VmPayload {
                    instance_uuid: UUID.into(),
                    vir_domain_event: "STOPPED_FAILED".into(),
                    event: "LIFECYCLE".into(),
                }),
            ),
        ];
        for (kind, body, want) in table {
            let got = Payload::parse(kind, &map(body.clone())).unwrap();
            assert_eq!(got, want, "{body}");
            assert_eq!(got.notification_type(), kind);
            assert_eq!(Value::Object(got.to_map()), body, "round trip");
        }
    }

    #[test]
    fn odd_payloads_are_errors_not_panics() {
        let table = [
            (
                ComputeHost,
                json!({}),
                PayloadError::Missing {
                    kind: ComputeHost,
                    field: "event",
                },
            ),
            (
                ComputeHost,
                json!({"event": "stopped"}),
                PayloadError::UnknownValue {
                    kind: ComputeHost,
                    field: "event",
                    value: "stopped".into(),
                },
            ),
            (
                ComputeHost,
                json!({"event": "STOPPED", "host_status": "DOWN"}),
                PayloadError::UnknownValue {
                    kind: ComputeHost,
                    field: "host_status",
                    value: "DOWN".into(),
                },
            ),
            (
                ComputeHost,
                json!({"event": 1}),
                PayloadError::NotAString {
                    kind: ComputeHost,
                    field: "event",
                },
            ),
            (
                ComputeHost,
                json!({"event": "STOPPED", "cluster_status": ["OFFLINE"]}),
                PayloadError::NotAString {
                    kind: ComputeHost,
                    field: "cluster_status",
                },
            ),
            (
                Process,
                json!({"event": "STOPPED", "host_status": "NORMAL"}),
                PayloadError::Missing {
                    kind: Process,
                    field: "process_name",
                },
            ),
            (
                Process,
                json!({"process_name": "libvirtd", "event": "RESTARTED"}),
                PayloadError::UnknownValue {
                    kind: Process,
                    field: "event",
                    value: "RESTARTED".into(),
                },
            ),
            (
                Vm,
                json!({"instance_uuid": UUID, "event": "LIFECYCLE"}),
                PayloadError::Missing {
                    kind: Vm,
                    field: "vir_domain_event",
                },
            ),
            (
                Vm,
                json!({"instance_uuid": null, "vir_domain_event": "X", "event": "Y"}),
                PayloadError::Missing {
                    kind: Vm,
                    field: "instance_uuid",
                },
            ),
        ];
        for (kind, body, want) in table {
            assert_eq!(
                Payload::parse(kind, &map(body.clone())),
                Err(want),
                "{body}"
            );
        }
    }

    #[test]
    fn keys_outside_the_schema_are_ignored_and_nulls_are_absent() {
        let got = Payload::parse(
            ComputeHost,
            &map(json!({"event": "STARTED", "host_status": null, "i": "7"})),
        )
        .unwrap();
        assert_eq!(
            got,
            Payload::ComputeHost(ComputeHostPayload {
                event: Event::Started,
                cluster_status: None,
                host_status: None,
            })
        );
    }

    #[test]
    fn the_filter_values_come_from_their_types() {
        let host = Payload::parse(
            ComputeHost,
            &map(json!({"event": "STOPPED", "host_status": "NORMAL"})),
        )
        .unwrap();
        assert_eq!(
            (host.event(), host.instance_uuid(), host.host_status()),
            ("STOPPED", None, Some(HostStatus::Normal))
        );
        let vm = Payload::parse(
            Vm,
            &map(
                json!({"instance_uuid": UUID, "vir_domain_event": "IO_ERROR_REPORT",
                        "event": "IO_ERROR"}),
            ),
        )
        .unwrap();
        assert_eq!(
            (vm.event(), vm.instance_uuid(), vm.host_status()),
            ("IO_ERROR", Some(UUID), None)
        );
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()), Some(*e));
        }
        for s in HostStatus::ALL {
            assert_eq!(HostStatus::parse(&s.to_string()), Some(*s));
        }
    }
}
