//! Pure: `vigil plan`'s prediction from what `what_if` gathered, following the host flow's
//! steps in their order (the gates of `host::gate` and the worker, the choice of `planner`,
//! the destinations of `host::evacuate`).

use crate::config::EngineConfig;
use crate::planner::{self, plan, Planned, ServerFacts};
use serde::Serialize;
use std::collections::BTreeMap;
use vigil_capacity::{place, strategies, targets, Demand, SegmentFacts, Strategy};
use vigil_domain::plan::Chosen;
use vigil_domain::{Host, RecoveryMethod};
use vigil_fence::config::{FencingConfig, Policy};
use vigil_openstack::nova::Server;

/// Everything the prediction reads.
pub struct Inputs<'a> {
    pub host: &'a Host,
    pub facts: &'a SegmentFacts,
    /// Nova's servers on the host.
    pub servers: &'a [Server],
    pub config: &'a EngineConfig,
    pub fencing: &'a FencingConfig,
    /// `None` when the engine does not ask (`require_scheduler = false`).
    pub schedulers_up: Option<usize>,
    /// The segment's hosts failed within the mass-failure window, this one included.
    pub failed_hosts: i64,
    pub segment_hosts: i64,
    /// The segment's other hosts in recovery now (running notifications).
    pub in_recovery: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Passes,
    /// Depends on what happens at the failure (the report's host status, a power device).
    Depends,
    Stops,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GateCheck {
    /// What is checked, e.g. `mass failure`.
    pub check: &'static str,
    /// Where: the API, the worker, or the step that checks it.
    pub step: &'static str,
    pub verdict: Verdict,
    pub detail: String,
}

/// One server the recovery would move, in the engine's order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlannedMove {
    pub id: String,
    pub name: String,
    pub priority: i64,
    pub ha_enabled: bool,
    pub vm_state: String,
    /// With `start_in_tiers`, the start tier (1 first) of a server that was running; others
    /// are left as they were.
    pub tier: Option<usize>,
    /// The strategy that would move it; `None` when no host has room.
    pub strategy: Option<Strategy>,
    /// The reserved host it would go to; under `auto` the scheduler chooses.
    pub destination: Option<String>,
    pub fits: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WhatIf {
    pub host: String,
    pub segment: String,
    pub segment_uuid: String,
    pub recovery_method: RecoveryMethod,
    pub servers_on_host: usize,
    pub servers: Vec<PlannedMove>,
    /// Servers no host the method may use has room for.
    pub not_fitting: Vec<String>,
    /// Reserved hosts the recovery would enable in Nova and clear the `reserved` flag of: every
    /// usable one, once the recovery turns to reserved hosts.
    pub reserved_hosts_enabled: Vec<String>,
    pub gates: Vec<GateCheck>,
    /// The first check that would stop the recovery.
    pub stopped_by: Option<&'static str>,
}

pub fn predict(i: &Inputs) -> WhatIf {
    let host = &i.host.name;
    let segment = &i.host.segment;
    let method = segment.recovery_method;
    let facts: Vec<ServerFacts> = i.servers.iter().map(planner::facts_of).collect();
    let recorded = Chosen {
        servers: plan(&facts, &i.config.selection),
        start_in_tiers: i.config.host.start_in_tiers,
    };
    let chosen = &recorded.servers;
    let tier_of = recorded.tier_numbers();
    let allocations = i
        .facts
        .hosts
        .iter()
        .find(|h| &h.name == host)
        .and_then(|h| h.provider.as_ref())
        .map(|p| p.consumers.clone())
        .unwrap_or_default();
    // The engine evacuates in its order, to the first reserved host that takes each server.
    let demands: Vec<Demand> = chosen
        .iter()
        .map(|c| Demand {
            id: c.id.clone(),
            resources: allocations.get(&c.id).cloned().unwrap_or_default(),
        })
        .collect();
    let packing = place(&i.facts.hosts, host, method, &demands);
    let placed: BTreeMap<&str, _> = packing
        .placed
        .iter()
        .map(|p| (p.server.as_str(), p))
        .collect();
    let servers: Vec<PlannedMove> = chosen
        .iter()
        .map(|c| {
            let p = placed.get(c.id.as_str());
            PlannedMove {
                id: c.id.clone(),
                name: c.name.clone(),
                priority: c.priority,
                ha_enabled: c.ha_enabled,
                vm_state: c.original_vm_state.clone(),
                tier: tier_of.get(c.id.as_str()).copied(),
                strategy: p.map(|p| p.strategy),
                destination: p
                    .filter(|p| p.strategy == Strategy::Reserved)
                    .map(|p| p.host.clone()),
                fits: p.is_some(),
            }
        })
        .collect();
    let reserved_hosts_enabled = reserved_enabled(i, method, &servers);
    let gates = gates(i, chosen, &servers);
    WhatIf {
        host: host.clone(),
        segment: segment.name.clone(),
        segment_uuid: segment.uuid.to_string(),
        recovery_method: method,
        servers_on_host: i.servers.len(),
        not_fitting: servers
            .iter()
            .filter(|s| !s.fits)
            .map(|s| s.name.clone())
            .collect(),
        stopped_by: gates
            .iter()
            .find(|g| g.verdict == Verdict::Stops)
            .map(|g| g.check),
        servers,
        reserved_hosts_enabled,
        gates,
    }
}

/// The engine turns to reserved hosts when its method starts with them, or when the
/// strategies before them leave servers behind; it then enables every usable one.
fn reserved_enabled(i: &Inputs, method: RecoveryMethod, servers: &[PlannedMove]) -> Vec<String> {
    let order = strategies(method);
    let Some(at) = order.iter().position(|s| *s == Strategy::Reserved) else {
        return Vec::new();
    };
    let earlier = &order[..at];
    let left = servers
        .iter()
        .any(|s| !s.strategy.is_some_and(|st| earlier.contains(&st)));
    if !left {
        return Vec::new();
    }
    targets(&i.facts.hosts, &i.host.name, Strategy::Reserved)
        .into_iter()
        .map(|h| h.name.clone())
        .collect()
}

fn gate(step: &'static str, check: &'static str, verdict: Verdict, detail: String) -> GateCheck {
    GateCheck {
        check,
        step,
        verdict,
        detail,
    }
}

/// The checks in the order the recovery meets them.
fn gates(i: &Inputs, chosen: &[Planned], servers: &[PlannedMove]) -> Vec<GateCheck> {
    use Verdict::*;
    let (host, segment) = (&i.host.name, &i.host.segment);
    let c = &i.config.host;
    let mut out = Vec::new();
    out.push(if i.host.on_maintenance {
        gate(
            "API",
            "host on maintenance",
            Stops,
            format!("{host} is on maintenance: the API refuses its failure report (409)"),
        )
    } else {
        gate(
            "API",
            "host on maintenance",
            Passes,
            format!("{host} is in segment {}", segment.name),
        )
    });
    out.push(if segment.enabled {
        gate(
            "worker",
            "segment enabled",
            Passes,
            format!("segment {} is enabled", segment.name),
        )
    } else {
        gate(
            "worker",
            "segment enabled",
            Stops,
            format!(
                "segment {} is disabled: the report would be ignored",
                segment.name
            ),
        )
    });
    let cap = i.config.segment_recovery_cap as usize;
    out.push(if cap > 0 && i.in_recovery >= cap {
        gate(
            "worker",
            "segment recovery cap",
            Depends,
            format!(
                "{} other hosts of the segment are in recovery (segment_recovery_cap {cap}): \
                 this one would wait its turn",
                i.in_recovery
            ),
        )
    } else {
        gate(
            "worker",
            "segment recovery cap",
            Passes,
            format!(
                "{} other hosts of the segment in recovery (cap {cap})",
                i.in_recovery
            ),
        )
    });
    let levels = i
        .fencing
        .levels_for(host, &segment.name)
        .unwrap_or_default();
    out.push(gate(
        "CheckHostStatusTask",
        "host known down",
        Depends,
        if levels.is_empty() {
            "goes on only if the monitor reports host_status NORMAL (no power device is bound \
             to read the host off)"
                .to_owned()
        } else {
            format!(
                "goes on if the monitor reports host_status NORMAL, or a power device ({}) reads \
                 the host off",
                levels.join(", ")
            )
        },
    ));
    let (failed, total) = (i.failed_hosts, i.segment_hosts);
    let share = format!(
        "{failed} of {total} hosts failed within {} s, this one included (limit: more than {:.0} %)",
        c.mass_failure_window_secs,
        c.mass_failure_share * 100.0
    );
    out.push(if c.looks_like_partition(failed, total) {
        gate(
            "CheckHostStatusTask",
            "mass failure",
            Stops,
            format!("{share}: looks like a partition"),
        )
    } else {
        gate("CheckHostStatusTask", "mass failure", Passes, share)
    });
    out.push(match i.schedulers_up {
        None => gate(
            "CheckHostStatusTask",
            "scheduler up",
            Passes,
            "schedulers not required".into(),
        ),
        Some(0) => gate(
            "CheckHostStatusTask",
            "scheduler up",
            Stops,
            "Nova reports no nova-scheduler up".into(),
        ),
        Some(n) => gate(
            "CheckHostStatusTask",
            "scheduler up",
            Passes,
            format!("{n} nova-scheduler up"),
        ),
    });
    out.push(match (levels.is_empty(), i.fencing.policy(&segment.name)) {
        (true, Policy::Required) => gate(
            "FenceHostTask",
            "fencing",
            Stops,
            format!(
                "no power device is bound to {host}, and segment {} requires fencing",
                segment.name
            ),
        ),
        (true, Policy::TrustMonitor) => gate(
            "FenceHostTask",
            "fencing",
            Passes,
            format!(
                "no power device bound; segment {} trusts the monitor",
                segment.name
            ),
        ),
        (false, _) => gate(
            "FenceHostTask",
            "fencing",
            Depends,
            format!(
                "fenced through {}: stops unless one confirms the host off",
                levels.join(", ")
            ),
        ),
    });
    let service = i
        .facts
        .hosts
        .iter()
        .find(|h| &h.name == host)
        .and_then(|h| h.service);
    out.push(match service {
        Some(_) => gate(
            "DisableComputeServiceTask",
            "compute service",
            Passes,
            format!("forces {host}'s nova-compute down"),
        ),
        None => gate(
            "DisableComputeServiceTask",
            "compute service",
            Stops,
            format!("Nova has no compute service on {host}"),
        ),
    });
    out.push(gate(
        "PrepareHAEnabledInstancesTask",
        "servers chosen",
        Passes,
        if chosen.is_empty() {
            format!(
                "none of the {} servers on {host} would be moved: the recovery ends there",
                i.servers.len()
            )
        } else {
            format!("{} of {} servers chosen", chosen.len(), i.servers.len())
        },
    ));
    let lost = servers.iter().filter(|s| !s.fits).count();
    out.push(if lost == 0 {
        gate(
            "EvacuateInstancesTask",
            "room",
            Passes,
            "every chosen server has room".into(),
        )
    } else {
        gate(
            "EvacuateInstancesTask",
            "room",
            Stops,
            format!(
                "{lost} of {} servers fit nowhere the {} method may use: the rest would move and \
                 the recovery end in error",
                servers.len(),
                segment.recovery_method
            ),
        )
    });
    out
}

#[cfg(test)]
#[path = "predict_tests.rs"]
mod tests;
