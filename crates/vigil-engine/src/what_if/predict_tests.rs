//! Tables: what `vigil plan` predicts for a host of a small segment.

use super::*;
use std::collections::BTreeMap;
use vigil_capacity::{HostFacts, ProviderFacts, ServiceState};
use vigil_domain::{HostId, Lifecycle, Segment, SegmentId, Timestamp};
use vigil_openstack::placement::Inventory;

fn segment(method: RecoveryMethod) -> Segment {
    Segment {
        id: 1,
        uuid: SegmentId::new_random(),
        name: "seg".into(),
        service_type: "COMPUTE".into(),
        enabled: true,
        description: None,
        recovery_method: method,
        lifecycle: Lifecycle::created(Timestamp::from_micros(0)),
    }
}

fn failed_host(segment: Segment) -> Host {
    Host {
        id: 1,
        uuid: HostId::new_random(),
        name: "f".into(),
        segment,
        host_type: None,
        control_attributes: None,
        reserved: false,
        on_maintenance: false,
        lifecycle: Lifecycle::created(Timestamp::from_micros(0)),
    }
}

/// A compute of 1,000 MB (max_unit 1,000) with `used` MB in use, carrying `servers` (id, MB).
fn compute(name: &str, used: i64, servers: &[(&str, i64)]) -> HostFacts {
    let inv = Inventory {
        total: 1000,
        reserved: 0,
        min_unit: 1,
        max_unit: 1000,
        step_size: 1,
        allocation_ratio: 1.0,
    };
    let consumers = servers
        .iter()
        .map(|(id, mb)| {
            (
                (*id).to_owned(),
                BTreeMap::from([("MEMORY_MB".to_owned(), *mb)]),
            )
        })
        .collect();
    HostFacts {
        name: name.into(),
        service: Some(ServiceState {
            up: true,
            enabled: true,
        }),
        provider: Some(ProviderFacts {
            uuid: format!("rp-{name}"),
            inventories: BTreeMap::from([("MEMORY_MB".to_owned(), inv)]),
            usages: BTreeMap::from([("MEMORY_MB".to_owned(), used)]),
            consumers,
        }),
        ..Default::default()
    }
}

fn spare(name: &str, up: bool) -> HostFacts {
    let mut h = compute(name, 0, &[]);
    h.reserved = true;
    h.service = Some(ServiceState { up, enabled: false });
    h
}

fn server(id: &str, state: &str, priority: &str) -> Server {
    Server {
        id: id.into(),
        name: format!("vm-{id}"),
        host: Some("f".into()),
        vm_state: state.into(),
        metadata: BTreeMap::from([("HA_Priority".to_owned(), priority.to_owned())]),
        ..Default::default()
    }
}

struct Case {
    what: &'static str,
    method: RecoveryMethod,
    hosts: Vec<HostFacts>,
    config: EngineConfig,
    fencing: &'static str,
    schedulers: Option<usize>,
    failed: i64,
    /// (server, destination, tier, fits), in the engine's order.
    moves: Vec<(&'static str, Option<&'static str>, Option<usize>, bool)>,
    enabled: Vec<&'static str>,
    stopped_by: Option<&'static str>,
}

fn case(what: &'static str, method: RecoveryMethod, hosts: Vec<HostFacts>) -> Case {
    Case {
        what,
        method,
        hosts,
        config: EngineConfig::default(),
        fencing: "",
        schedulers: Some(1),
        failed: 1,
        moves: vec![],
        enabled: vec![],
        stopped_by: None,
    }
}

fn failed_with(servers: &[(&str, i64)]) -> HostFacts {
    compute("f", servers.iter().map(|s| s.1).sum(), servers)
}

/// The failed host and two empty computes: room for everything.
fn roomy(on_failed: &[(&str, i64)]) -> Vec<HostFacts> {
    vec![
        failed_with(on_failed),
        compute("o", 0, &[]),
        compute("p", 0, &[]),
    ]
}

/// The servers c, a, b (the engine's order) to the scheduler's choice, untiered.
fn every_server(fits: bool) -> Vec<(&'static str, Option<&'static str>, Option<usize>, bool)> {
    ["c", "a", "b"]
        .into_iter()
        .map(|s| (s, None, None, fits))
        .collect()
}

/// An `auto` segment with room for everything, whose recovery the check `by` stops.
fn stopped(what: &'static str, by: &'static str, on_failed: &[(&str, i64)]) -> Case {
    Case {
        moves: every_server(true),
        stopped_by: Some(by),
        ..case(what, RecoveryMethod::Auto, roomy(on_failed))
    }
}

#[test]
fn prediction_table() {
    use RecoveryMethod::*;
    let on_f = [("a", 300), ("b", 200), ("c", 600)];
    let tiered = {
        let mut c = EngineConfig::default();
        c.host.start_in_tiers = true;
        c
    };
    let cases = vec![
        Case {
            // Priority order; the down spare is skipped; the first usable spare takes what it
            // can, the next the rest; every usable spare is enabled.
            moves: vec![
                ("c", Some("r1"), None, true),
                ("a", Some("r1"), None, true),
                ("b", Some("r2"), None, true),
            ],
            enabled: vec!["r1", "r2"],
            ..case(
                "reserved_host",
                ReservedHost,
                vec![
                    failed_with(&on_f),
                    compute("o", 0, &[]),
                    spare("r0", false),
                    spare("r1", true),
                    spare("r2", true),
                ],
            )
        },
        Case {
            moves: vec![
                ("c", None, Some(1), true),
                ("a", None, Some(2), true),
                ("b", None, None, true),
            ],
            config: tiered,
            ..case(
                "auto, tiered: only running servers get a tier",
                Auto,
                roomy(&on_f),
            )
        },
        Case {
            moves: vec![
                ("c", None, None, false),
                ("a", None, None, true),
                ("b", None, None, true),
            ],
            stopped_by: Some("room"),
            ..case(
                "auto, short of room",
                Auto,
                vec![failed_with(&on_f), compute("o", 500, &[])],
            )
        },
        Case {
            moves: vec![
                ("c", Some("r1"), None, true),
                ("a", None, None, true),
                ("b", None, None, true),
            ],
            enabled: vec!["r1"],
            ..case(
                "auto_priority falls back for what auto cannot place",
                AutoPriority,
                vec![
                    failed_with(&on_f),
                    compute("o", 500, &[]),
                    spare("r1", true),
                ],
            )
        },
        Case {
            moves: every_server(true),
            ..case(
                "auto_priority never reaches the spares when auto has room",
                AutoPriority,
                [roomy(&on_f), vec![spare("r1", true)]].concat(),
            )
        },
        Case {
            moves: every_server(false),
            stopped_by: Some("room"),
            ..case(
                "reserved_host without a usable spare",
                ReservedHost,
                vec![failed_with(&on_f), compute("o", 0, &[]), spare("r0", false)],
            )
        },
        Case {
            fencing: "[segments.seg]\nfencing = \"required\"\n",
            ..stopped("required fencing without a device", "fencing", &on_f)
        },
        Case {
            failed: 2,
            ..stopped(
                "two of three hosts down is a partition",
                "mass failure",
                &on_f,
            )
        },
        Case {
            schedulers: Some(0),
            ..stopped("no scheduler", "scheduler up", &on_f)
        },
    ];
    for c in cases {
        let host = failed_host(segment(c.method));
        let facts = SegmentFacts {
            segment: host.segment.clone(),
            hosts: c.hosts,
        };
        // c: active, priority 9; a: active, 5; b: stopped, 5.
        let servers = [
            server("a", "active", "5"),
            server("b", "stopped", "5"),
            server("c", "active", "9"),
        ];
        let fencing: FencingConfig = toml::from_str(c.fencing).unwrap();
        let total = facts.hosts.len() as i64;
        let got = predict(&Inputs {
            host: &host,
            facts: &facts,
            servers: &servers,
            config: &c.config,
            fencing: &fencing,
            schedulers_up: c.schedulers,
            failed_hosts: c.failed,
            segment_hosts: total,
            in_recovery: 0,
        });
        let moves: Vec<_> = got
            .servers
            .iter()
            .map(|m| (m.id.as_str(), m.destination.as_deref(), m.tier, m.fits))
            .collect();
        assert_eq!(moves, c.moves, "{}", c.what);
        assert_eq!(got.reserved_hosts_enabled, c.enabled, "{}", c.what);
        assert_eq!(got.stopped_by, c.stopped_by, "{}: {:#?}", c.what, got.gates);
    }
}

#[test]
fn maintenance_and_a_disabled_segment_stop_before_anything() {
    let mut host = failed_host(segment(RecoveryMethod::Auto));
    host.on_maintenance = true;
    host.segment.enabled = false;
    let facts = SegmentFacts {
        segment: host.segment.clone(),
        hosts: vec![failed_with(&[]), compute("o", 0, &[])],
    };
    let got = predict(&Inputs {
        host: &host,
        facts: &facts,
        servers: &[],
        config: &EngineConfig::default(),
        fencing: &FencingConfig::default(),
        schedulers_up: Some(1),
        failed_hosts: 1,
        segment_hosts: 2,
        in_recovery: 4,
    });
    assert_eq!(got.stopped_by, Some("host on maintenance"));
    let stops: Vec<&str> = got
        .gates
        .iter()
        .filter(|g| g.verdict == Verdict::Stops)
        .map(|g| g.check)
        .collect();
    assert_eq!(stops, ["host on maintenance", "segment enabled"]);
    // Four other hosts in recovery reach the default cap: this one would wait, not stop.
    let cap = got
        .gates
        .iter()
        .find(|g| g.check == "segment recovery cap")
        .unwrap();
    assert_eq!(cap.verdict, Verdict::Depends, "{cap:?}");
}
