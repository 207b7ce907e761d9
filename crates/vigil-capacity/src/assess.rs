//! Pure: a segment's headroom. For each host whose failure Vigil would recover, could the
//! servers on it be placed elsewhere (by its recovery method's rules); and the verdicts: the
//! segment survives the loss of its largest host, of any one host.

use crate::facts::{HostFacts, SegmentFacts, ServiceState};
use crate::pack::{largest_first, place, Demand, Placed};
use serde::Serialize;
use std::collections::BTreeMap;
use vigil_domain::RecoveryMethod;

#[derive(Clone, Debug, Serialize)]
pub struct SegmentReport {
    pub segment: String,
    pub uuid: String,
    pub recovery_method: RecoveryMethod,
    /// A disabled segment's failures are not recovered at all.
    pub enabled: bool,
    pub hosts: Vec<HostReport>,
    /// The host using the most resources, relative to the segment's capacity.
    pub largest_host: Option<String>,
    pub survives_largest_host: bool,
    pub survives_any_host: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct HostReport {
    pub name: String,
    pub reserved: bool,
    pub on_maintenance: bool,
    /// Nova's compute service; `None`: Nova has none of this name.
    pub service: Option<ServiceState>,
    /// Placement's numbers per resource class; empty without a provider.
    pub resources: BTreeMap<String, ClassReport>,
    /// The consumers (servers) with an allocation on this host.
    pub servers: Vec<String>,
    /// What its failure would do; `None` on maintenance (Vigil does not recover it).
    pub loss: Option<Loss>,
    /// What the numbers cannot show (no provider, no compute service).
    pub notes: Vec<String>,
}

/// One resource class of a host, as Placement counts it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassReport {
    pub total: i64,
    pub reserved: i64,
    pub allocation_ratio: f64,
    pub max_unit: i64,
    /// `(total - reserved) * allocation_ratio`, rounded down.
    pub capacity: i64,
    pub used: i64,
    pub free: i64,
}

/// The failure of one host: where its servers would go, and which fit nowhere.
#[derive(Clone, Debug, Serialize)]
pub struct Loss {
    pub placed: Vec<Placed>,
    pub not_fitting: Vec<String>,
    pub survives: bool,
}

/// The segment's headroom. Servers are packed largest first, the best a scheduler could do.
pub fn assess(facts: &SegmentFacts) -> SegmentReport {
    let method = facts.segment.recovery_method;
    let hosts: Vec<HostReport> = facts
        .hosts
        .iter()
        .map(|h| host_report(h, &facts.hosts, method))
        .collect();
    let largest = largest(&facts.hosts);
    let survives = |h: &HostReport| h.loss.as_ref().is_none_or(|l| l.survives);
    SegmentReport {
        segment: facts.segment.name.clone(),
        uuid: facts.segment.uuid.to_string(),
        recovery_method: method,
        enabled: facts.segment.enabled,
        survives_largest_host: largest
            .and_then(|name| hosts.iter().find(|h| h.name == name))
            .is_none_or(survives),
        survives_any_host: hosts.iter().all(survives),
        largest_host: largest.map(str::to_owned),
        hosts,
    }
}

/// The servers on `h`, as Placement allocates them there.
pub(crate) fn demands(h: &HostFacts) -> Vec<Demand> {
    h.provider
        .iter()
        .flat_map(|p| &p.consumers)
        .map(|(id, resources)| Demand {
            id: id.clone(),
            resources: resources.clone(),
        })
        .collect()
}

fn host_report(h: &HostFacts, all: &[HostFacts], method: RecoveryMethod) -> HostReport {
    let mut notes = Vec::new();
    if h.provider.is_none() {
        notes.push(format!(
            "Placement has no resource provider named {}",
            h.name
        ));
    }
    if h.service.is_none() {
        notes.push(format!("Nova has no compute service on {}", h.name));
    }
    let free = h.free();
    let resources = h.provider.as_ref().map_or_else(BTreeMap::new, |p| {
        p.inventories
            .iter()
            .map(|(class, inv)| {
                let report = ClassReport {
                    total: inv.total,
                    reserved: inv.reserved,
                    allocation_ratio: inv.allocation_ratio,
                    max_unit: inv.max_unit,
                    capacity: inv.capacity(),
                    used: p.usages.get(class).copied().unwrap_or(0),
                    free: free.get(class).copied().unwrap_or(0),
                };
                (class.clone(), report)
            })
            .collect()
    });
    let mut servers = demands(h);
    let ids = servers.iter().map(|d| d.id.clone()).collect();
    let loss = (!h.on_maintenance).then(|| {
        largest_first(&mut servers, all);
        let packing = place(all, &h.name, method, &servers);
        Loss {
            survives: packing.unplaced.is_empty(),
            placed: packing.placed,
            not_fitting: packing.unplaced,
        }
    });
    HostReport {
        name: h.name.clone(),
        reserved: h.reserved,
        on_maintenance: h.on_maintenance,
        service: h.service,
        resources,
        servers: ids,
        loss,
        notes,
    }
}

/// The recovered host (not on maintenance) using the most: the sum of its usage shares of the
/// segment's capacity per class. Ties go to the first listed.
fn largest(hosts: &[HostFacts]) -> Option<&str> {
    let mut capacity: BTreeMap<&str, i64> = BTreeMap::new();
    for p in hosts.iter().filter_map(|h| h.provider.as_ref()) {
        for (class, inv) in &p.inventories {
            *capacity.entry(class.as_str()).or_default() += inv.capacity().max(0);
        }
    }
    let weight = |h: &HostFacts| -> f64 {
        h.provider.as_ref().map_or(0.0, |p| {
            p.usages
                .iter()
                .map(|(c, &u)| {
                    u as f64 / capacity.get(c.as_str()).copied().unwrap_or(1).max(1) as f64
                })
                .sum()
        })
    };
    let mut best: Option<(&HostFacts, f64)> = None;
    for h in hosts.iter().filter(|h| !h.on_maintenance) {
        let w = weight(h);
        if best.is_none_or(|(_, b)| w > b) {
            best = Some((h, w));
        }
    }
    best.map(|(h, _)| h.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pack::tests::host;
    use vigil_domain::{Lifecycle, Segment};

    fn segment(method: RecoveryMethod, hosts: Vec<HostFacts>) -> SegmentFacts {
        SegmentFacts {
            segment: Segment {
                id: 1,
                uuid: "00000000-0000-0000-0000-000000000001".parse().unwrap(),
                name: "s".into(),
                service_type: "COMPUTE".into(),
                enabled: true,
                description: None,
                recovery_method: method,
                lifecycle: Lifecycle::created(vigil_domain::Timestamp::from_micros(0)),
            },
            hosts,
        }
    }

    /// A host of 8 VCPU (4 at 2.0) and 1,000 MB carrying `servers` of `(id, vcpu, ram)`.
    fn carrying(name: &str, servers: &[(&str, i64, i64)]) -> HostFacts {
        let vcpu: i64 = servers.iter().map(|s| s.1).sum();
        let ram: i64 = servers.iter().map(|s| s.2).sum();
        let mut h = host(
            name,
            &[
                ("VCPU", 4, 0, 2.0, 4, vcpu),
                ("MEMORY_MB", 1000, 0, 1.0, 1000, ram),
            ],
        );
        let p = h.provider.as_mut().unwrap();
        for (id, v, r) in servers {
            p.consumers.insert(
                (*id).into(),
                [("VCPU".into(), *v), ("MEMORY_MB".into(), *r)].into(),
            );
        }
        h
    }

    /// 8 VCPU at 1.0 with a `max_unit` of 8, carrying one 6-VCPU server `b1`.
    fn wide_b() -> HostFacts {
        let mut h = host(
            "b",
            &[
                ("VCPU", 8, 0, 1.0, 8, 6),
                ("MEMORY_MB", 1000, 0, 1.0, 1000, 100),
            ],
        );
        let p = h.provider.as_mut().unwrap();
        p.consumers.insert(
            "b1".into(),
            [("VCPU".into(), 6), ("MEMORY_MB".into(), 100)].into(),
        );
        h
    }

    fn reserved(mut h: HostFacts) -> HostFacts {
        h.reserved = true;
        h
    }

    #[test]
    fn verdict_table() {
        use RecoveryMethod::*;
        // (what, method, hosts, largest, survives largest, survives any, not fitting per host)
        type Case = (
            &'static str,
            RecoveryMethod,
            Vec<HostFacts>,
            Option<&'static str>,
            bool,
            bool,
            Vec<(&'static str, Vec<&'static str>)>,
        );
        let cases: Vec<Case> = vec![
            (
                "room everywhere",
                Auto,
                vec![
                    carrying("a", &[("a1", 1, 300)]),
                    carrying("b", &[("b1", 1, 200)]),
                    carrying("c", &[]),
                ],
                Some("a"),
                true,
                true,
                vec![],
            ),
            (
                "the largest host's servers fit, a smaller one's does not (max_unit)",
                Auto,
                vec![
                    carrying("a", &[("a1", 1, 350), ("a2", 1, 350)]),
                    wide_b(),
                    carrying("c", &[("c1", 1, 100)]),
                ],
                Some("a"),
                true,
                false,
                // b1 needs 6 VCPU; a and c have more free, but take at most 4 per server.
                vec![("a", vec![]), ("b", vec!["b1"]), ("c", vec![])],
            ),
            (
                "full survivors: nothing fits anywhere",
                Auto,
                vec![
                    carrying("a", &[("a1", 2, 900)]),
                    carrying("b", &[("b1", 2, 900)]),
                    carrying("c", &[("c1", 1, 950)]),
                ],
                Some("a"),
                false,
                false,
                vec![("a", vec!["a1"]), ("b", vec!["b1"]), ("c", vec!["c1"])],
            ),
            (
                "reserved_host: room on the other host does not count, the reserved one's does",
                ReservedHost,
                vec![
                    carrying("a", &[("a1", 1, 600)]),
                    carrying("b", &[]),
                    reserved(carrying("r", &[("r1", 1, 500)])),
                ],
                Some("a"),
                false,
                false,
                vec![("a", vec!["a1"])],
            ),
            (
                "auto_priority: the reserved host takes what the others cannot",
                AutoPriority,
                vec![
                    carrying("a", &[("a1", 1, 600)]),
                    carrying("b", &[("b1", 1, 600)]),
                    reserved(carrying("r", &[])),
                ],
                Some("a"),
                true,
                true,
                vec![],
            ),
        ];
        for (what, method, hosts, want_largest, want_largest_ok, want_any_ok, want_not_fitting) in
            cases
        {
            let r = assess(&segment(method, hosts));
            assert_eq!(r.largest_host.as_deref(), want_largest, "{what}");
            assert_eq!(r.survives_largest_host, want_largest_ok, "{what}");
            assert_eq!(r.survives_any_host, want_any_ok, "{what}");
            for (host, not_fitting) in want_not_fitting {
                let h = r.hosts.iter().find(|h| h.name == host).unwrap();
                assert_eq!(
                    h.loss.as_ref().unwrap().not_fitting,
                    not_fitting,
                    "{what}: {host}"
                );
            }
        }
    }

    #[test]
    fn a_host_on_maintenance_is_neither_a_loss_nor_a_survivor() {
        let mut m = carrying("m", &[("m1", 4, 900)]);
        m.on_maintenance = true;
        let r = assess(&segment(
            RecoveryMethod::Auto,
            vec![carrying("a", &[("a1", 1, 600)]), m],
        ));
        assert!(r.hosts[1].loss.is_none());
        assert_eq!(r.largest_host.as_deref(), Some("a"));
        assert_eq!(r.hosts[0].loss.as_ref().unwrap().not_fitting, ["a1"]);
        assert_eq!(r.hosts[1].resources["MEMORY_MB"].free, 100);
        assert!(!r.survives_any_host);
    }
}
